"""Bad input: one line saying what is wrong, a hint, exit code 2, and nothing written."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from sagelift import cli


def sagelift(project: Path, *args: str, home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sagelift", "-C", str(project), *args],
        capture_output=True,
        text=True,
        env={**os.environ, "HOME": str(home)},
        timeout=60,
        check=False,
    )


def assert_usage_error(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert result.returncode == 2, result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2, lines
    assert lines[0].startswith("sagelift: ")
    assert lines[1].startswith("  hint: ")
    for needle in needles:
        assert needle in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture
def ok_project(make_project) -> Path:
    project = make_project("ok")
    (project.parent / "outside.py").write_text("print('outside')\n")
    (project / "data").mkdir()
    (project / "data" / "x.csv").write_text("1\n")
    return project


def assert_nothing_written(project: Path) -> None:
    assert not (project / ".sagelift").exists()


CASES = {
    "missing entry point": (["run", "nope.py"], ["nope.py", "not found"]),
    "entry point outside the source dir": (["run", "../outside.py"], ["outside the source dir"]),
    "missing channel path": (["run", "--channel", "train=data/missing"], ["does not exist"]),
    "invalid channel name": (["run", "--channel", "tr ain=data"], ["not a valid channel name"]),
    "too long hyperparameter value": (["run", "--hp", "x=" + "a" * 2600], ["hyperparameters.x"]),
    "too long hyperparameter key": (["run", "--hp", "k" * 257 + "=1"], ["257 characters"]),
    "unknown profile": (["run", "--profile", "gpu"], ["unknown profile 'gpu'"]),
    "invalid job name": (["run", "--job-name", "bad_name!"], ["not a valid SageMaker job name"]),
    "script and module": (["run", "train.py", "-m", "pkg.train"], ["one entry point"]),
    "isolated and current": (["run", "--isolated", "--dependencies", "current"], ["conflicts"]),
    "bad duration": (["run", "--max-runtime", "soon"], ["max_runtime"]),
    "unknown flag": (["run", "--epohcs", "3"], ["unrecognized arguments", "hint"]),
    "malformed --hp": (["run", "--hp", "epochs"], ["KEY=VALUE"]),
    "secret in environment": (["run", "--env", "AWS_SECRET_ACCESS_KEY=x"], ["secret"]),
    "remote channel on local": (["run", "--channel", "train=ftp://x/y"], ["unsupported scheme"]),
    "fetch of unknown job": (["fetch", "nope"], ["no job named 'nope'"]),
    "logs of unknown job": (["logs", "nope"], ["no job named 'nope'"]),
    "stop of unknown job": (["stop", "nope"], ["no job named 'nope'"]),
    "describe of unknown job": (["describe", "nope"], ["no job named 'nope'"]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_one_line_exit_2_no_side_effect(case, ok_project, home):
    args, needles = CASES[case]
    result = sagelift(ok_project, *args, home=home)
    assert_usage_error(result, *needles)
    assert_nothing_written(ok_project)


def test_too_many_hyperparameters(ok_project, home):
    hps = [a for i in range(101) for a in ("--hp", f"k{i}={i}")]
    assert_usage_error(sagelift(ok_project, "run", *hps, home=home), "100")
    assert_nothing_written(ok_project)


def test_hyperparameter_of_unencodable_type(ok_project, home):
    (ok_project / "sagelift.toml").write_text(
        'entry_point = "train.py"\n[hyperparameters]\nwhen = 1979-05-27T07:32:00Z\n'
    )
    assert_usage_error(sagelift(ok_project, "run", home=home), "hyperparameters.when")
    assert_nothing_written(ok_project)


def test_unknown_config_key_suggests_the_closest(ok_project, home):
    (ok_project / "sagelift.toml").write_text('entry_point = "train.py"\ninstance_typ = "local"\n')
    result = sagelift(ok_project, "run", home=home)
    assert_usage_error(result, "unknown key 'instance_typ'", "did you mean 'instance_type'")
    assert_nothing_written(ok_project)


def test_malformed_toml_names_file_line_and_column(ok_project, home):
    (ok_project / "sagelift.toml").write_text('entry_point = "train.py"\nepochs = = 3\n')
    result = sagelift(ok_project, "run", home=home)
    assert_usage_error(result, "sagelift.toml", "line 2", "column")
    assert_nothing_written(ok_project)


def test_unreadable_entry_point(ok_project, home):
    if os.geteuid() == 0:
        pytest.skip("root reads every file; unreadable files cannot be made here")
    (ok_project / "train.py").chmod(0)
    assert_usage_error(sagelift(ok_project, "run", home=home), "not readable")


def test_internal_error_says_so_and_where_to_report(monkeypatch, capsys):
    from sagelift.cli import job_commands

    def boom(args, project):
        raise RuntimeError("unexpected")

    monkeypatch.setitem(job_commands.COMMANDS, "ls", boom)
    code = cli.main(["ls"])
    err = capsys.readouterr().err
    assert code == 70
    assert "internal error: RuntimeError: unexpected" in err
    assert "please report it at https://" in err
