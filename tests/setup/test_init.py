from __future__ import annotations

import sys
from pathlib import Path

import pytest
import tomllib

from sagelift import init
from sagelift.cli import main


@pytest.fixture(autouse=True)
def _ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")


def _toml(project: Path) -> dict[str, object]:
    return tomllib.loads((project / "sagelift.toml").read_text(encoding="utf-8"))


def test_scan_detects_entry_point_requirements_data_and_dvc(project: Path) -> None:
    (project / ".dvc").mkdir()
    (project / "data" / "extra.dvc").write_text("outs:\n- path: extra\n", encoding="utf-8")
    scan = init.scan_project(project)
    best = scan.entry_points[0]
    assert (best.entry_point, best.source_dir) == ("train.py", None)
    assert scan.requirements == "requirements.txt"
    assert scan.channels == {"extra": "data/extra", "test": "data/test", "train": "data/train"}
    assert scan.dvc
    assert scan.dvc_files == ("data/extra.dvc",)
    proposal = init.propose(scan, init.InitChoices())
    assert any("dvc pull data/extra.dvc" in note for note in proposal.notes)


def test_init_writes_a_valid_project_file_and_gitignore_once(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / ".gitignore").write_text("*.pyc", encoding="utf-8")
    assert main(["-C", str(project), "init"]) == 0
    config = _toml(project)
    assert config["entry_point"] == "train.py"
    assert config["requirements"] == "requirements.txt"
    assert config["instance_type"] == "local"
    assert config["base_job_name"] == "wine"
    assert config["channels"] == {"train": "data/train", "test": "data/test"}
    err = capsys.readouterr().err
    assert "sagelift.toml" in err
    assert "sagelift run" in err
    assert (project / ".gitignore").read_text(encoding="utf-8") == "*.pyc\n.sagelift/\n"
    assert main(["-C", str(project), "config"]) == 0

    assert main(["-C", str(project), "init", "--force"]) == 0
    assert (project / ".gitignore").read_text(encoding="utf-8").count(".sagelift") == 1


def test_init_never_overwrites_without_force(project: Path) -> None:
    (project / "sagelift.toml").write_text('entry_point = "mine.py"\n', encoding="utf-8")
    assert main(["-C", str(project), "init"]) == 2
    assert _toml(project) == {"entry_point": "mine.py"}
    assert main(["-C", str(project), "init", "--force", "--entry-point", "train.py"]) == 0
    assert _toml(project)["entry_point"] == "train.py"


def test_init_refuses_when_pyproject_holds_sagelift_settings(project: Path) -> None:
    (project / "pyproject.toml").write_text(
        '[project]\nname = "wine"\n\n[tool.sagelift]\nentry_point = "train.py"\n',
        encoding="utf-8",
    )
    assert main(["-C", str(project), "init"]) == 2
    assert not (project / "sagelift.toml").exists()


def test_flags_override_detection(project: Path) -> None:
    argv = [
        "-C",
        str(project),
        "init",
        "--entry-point",
        "-m wine.train",
        "--channel",
        "training=data",
        "--instance-type",
        "ml.m5.large",
        "--base-job-name",
        "grapes",
    ]
    assert main(argv) == 0
    config = _toml(project)
    assert config["entry_point"] == "-m wine.train"
    assert config["channels"] == {"training": "data"}
    assert config["instance_type"] == "ml.m5.large"
    assert config["base_job_name"] == "grapes"


def test_no_entry_point_is_a_usage_error(tmp_path: Path) -> None:
    assert main(["-C", str(tmp_path), "init"]) == 2
    assert not (tmp_path / "sagelift.toml").exists()


def test_src_layout_main_and_project_scripts(tmp_path: Path) -> None:
    pkg = tmp_path / "src" / "grape"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("", encoding="utf-8")
    (pkg / "__main__.py").write_text("print('hi')\n", encoding="utf-8")
    (pkg / "cli.py").write_text("def main():\n    return 0\n", encoding="utf-8")
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "Grape Press"\ndependencies = ["numpy"]\n'
        '[project.scripts]\ngrape = "grape.cli:main"\n',
        encoding="utf-8",
    )
    (tmp_path / "uv.lock").write_text("", encoding="utf-8")
    scan = init.scan_project(tmp_path)
    first, second = scan.entry_points[:2]
    assert (first.entry_point, first.source_dir) == ("-m grape", "src")
    command, source = second.entry_point, second.source_dir
    assert source == "src"
    assert isinstance(command, list)
    assert command[:2] == ["python", "-c"]
    assert scan.name == "Grape Press"
    assert scan.dependency_source == "uv.lock"
    proposal = init.propose(scan, init.InitChoices())
    assert proposal.base_job_name == "Grape-Press"
    assert any("uv export" in note for note in proposal.notes)
    config = tomllib.loads(init.render_project_file(proposal))
    assert config["entry_point"] == "-m grape"
    assert config["source_dir"] == "src"
    assert config["channels"] == {}


def test_single_data_dir_takes_the_channel_name_the_script_reads(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "x.csv").write_text("1\n", encoding="utf-8")
    (tmp_path / "train.py").write_text(
        "import os\nos.environ['SM_CHANNEL_WINE']\n", encoding="utf-8"
    )
    assert init.scan_project(tmp_path).channels == {"wine": "data"}


def test_interactive_answers_are_used(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sagelift.cli import setup_commands
    from sagelift.cli.parser import build_parser

    monkeypatch.delenv("CI")
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True)
    answers = {
        "entry point": "main.py",
        "channels": "train=data/train",
        "instance type": "ml.g5.xlarge",
        "write sagelift.toml?": "y",
    }
    asked: list[str] = []

    def ask(question: str, default: str) -> str:
        asked.append(question)
        return next((a for q, a in answers.items() if question.startswith(q)), default)

    (project / "main.py").write_text("print(1)\n", encoding="utf-8")
    args = build_parser().parse_args(["init"])
    assert setup_commands.cmd_init(args, project, ask=ask) == 0
    assert len(asked) == 4
    config = _toml(project)
    assert config["entry_point"] == "main.py"
    assert config["channels"] == {"train": "data/train"}
    assert config["instance_type"] == "ml.g5.xlarge"

    answers = {"sagelift.toml has sagelift settings": "n"}
    before = (project / "sagelift.toml").read_text(encoding="utf-8")
    assert setup_commands.cmd_init(args, project, ask=ask) == 0
    assert (project / "sagelift.toml").read_text(encoding="utf-8") == before
