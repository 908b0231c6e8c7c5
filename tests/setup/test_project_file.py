from __future__ import annotations

from pathlib import Path

import pytest
import tomllib

from sagelift.errors import ConfigError
from sagelift.provision.project_file import set_table_values, write_settings

VALUES = {"region": "eu-west-1", "bucket": "b", "role": "arn:aws:iam::1:role/r"}


def test_existing_table_is_updated_in_place_keeping_comments() -> None:
    text = (
        '# my project\nentry_point = "train.py"  # the script\n\n[aws]\n'
        '# pinned\nregion = "us-east-1"\nprofile = "dev"\n\n[channels]\ntrain = "data"\n'
    )
    updated = set_table_values(text, "aws", VALUES)
    assert "# my project" in updated
    assert "# the script" in updated
    assert "# pinned" in updated
    parsed = tomllib.loads(updated)
    assert parsed["aws"] == {**VALUES, "profile": "dev"}
    assert parsed["channels"] == {"train": "data"}
    assert updated.index("bucket") < updated.index("[channels]")


def test_missing_table_is_appended() -> None:
    updated = set_table_values('entry_point = "train.py"\n', "aws", VALUES)
    assert tomllib.loads(updated) == {"entry_point": "train.py", "aws": VALUES}


@pytest.mark.parametrize(
    "text", ['aws = { region = "x" }\n', 'aws.region = "x"\n[channels]\na = "b"\n']
)
def test_tables_it_cannot_edit_safely_are_refused(text: str) -> None:
    with pytest.raises(ConfigError) as caught:
        set_table_values(text, "aws", VALUES)
    assert caught.value.hint
    assert "[aws]" in caught.value.hint


def test_pyproject_tool_table_and_no_rewrite_when_unchanged(tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(
        '[project]\nname = "x"\n\n[tool.sagelift]\nentry_point = "train.py"\n', encoding="utf-8"
    )
    path, changed = write_settings(tmp_path, VALUES)
    assert path == pyproject
    assert changed
    assert tomllib.loads(pyproject.read_text(encoding="utf-8"))["tool"]["sagelift"]["aws"] == VALUES
    assert not (tmp_path / "sagelift.toml").exists()
    assert write_settings(tmp_path, VALUES) == (pyproject, False)
