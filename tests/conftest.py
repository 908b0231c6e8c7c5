from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

FIXTURES = Path(__file__).parent / "fixtures" / "jobs"


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(value)


def dump_toml(config: Mapping[str, Any]) -> str:
    """A small TOML writer for test configs: scalars first, then one [table] per mapping."""
    lines = [f"{k} = {toml_value(v)}" for k, v in config.items() if not isinstance(v, Mapping)]
    for key, table in config.items():
        if isinstance(table, Mapping):
            lines.append(f"\n[{key}]")
            lines += [f"{json.dumps(k)} = {toml_value(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


MakeProject = Callable[..., Path]


@pytest.fixture
def make_project(tmp_path: Path) -> MakeProject:
    """Copy a fixture project into tmp_path and write its sagelift.toml."""

    def make(fixture: str, *, name: str | None = None, **config: Any) -> Path:
        dest = tmp_path / (name or fixture)
        shutil.copytree(FIXTURES / fixture, dest)
        config.setdefault("entry_point", "train.py")
        (dest / "sagelift.toml").write_text(dump_toml(config), encoding="utf-8")
        return dest

    return make


@pytest.fixture
def clean_environ(tmp_path: Path) -> dict[str, str]:
    """An environment with no user config and no SAGELIFT_* variables."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    return {"HOME": str(home)}
