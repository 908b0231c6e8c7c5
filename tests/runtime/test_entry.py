from __future__ import annotations

import sys
from pathlib import Path

import pytest

from sagelift.errors import ConfigError, SpecError
from sagelift.runtime.entry import EntryPoint, build_argv, check_entry, resolve_entry
from sagelift.runtime.launcher import final_state
from sagelift.runtime.main import parse_args

ARGS = ["--epochs", "3", "--lr", "0.01"]


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        (EntryPoint(kind="program", target=("train.py",)), ["py", "train.py", *ARGS]),
        (EntryPoint(kind="program", target=("run.sh",)), ["/bin/sh", "run.sh", *ARGS]),
        (EntryPoint(kind="program", target=("train",)), ["./train", *ARGS]),
        (EntryPoint(kind="program", target=("bin/train",)), ["bin/train", *ARGS]),
        (EntryPoint(kind="module", target=("pkg.train",)), ["py", "-m", "pkg.train", *ARGS]),
        (EntryPoint(kind="command", target=("torchrun", "t.py")), ["torchrun", "t.py", *ARGS]),
    ],
)
def test_build_argv(entry: EntryPoint, expected: list[str]) -> None:
    assert build_argv(entry, python="py", user_args=ARGS) == expected


def test_explicit_entry_wins() -> None:
    entry = resolve_entry(module="pkg.train", configured_program="train.py", environ={})
    assert entry == EntryPoint(kind="module", target=("pkg.train",))


def test_sagemaker_program_env_wins_over_the_hyperparameter() -> None:
    environ = {"SAGEMAKER_PROGRAM": "other.py"}
    entry = resolve_entry(configured_program="train.py", environ=environ)
    assert entry.target == ("other.py",)
    assert resolve_entry(configured_program="train.py", environ={}).target == ("train.py",)


def test_no_entry_point_is_a_spec_error() -> None:
    with pytest.raises(SpecError, match="no entry point") as caught:
        resolve_entry(configured_program=None, environ={})
    assert caught.value.hint


def test_two_entry_points_are_refused() -> None:
    with pytest.raises(SpecError, match="choose one"):
        resolve_entry(program="a.py", command=["b"], configured_program=None, environ={})


def test_check_entry_finds_missing_and_unrunnable_programs(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text("")
    (tmp_path / "train").write_text("")
    check_entry(EntryPoint(kind="program", target=("train.py",)), **_where(tmp_path))
    with pytest.raises(SpecError, match="not found"):
        check_entry(EntryPoint(kind="program", target=("nope.py",)), **_where(tmp_path))
    with pytest.raises(SpecError, match="not executable"):
        check_entry(EntryPoint(kind="program", target=("train",)), **_where(tmp_path))
    with pytest.raises(SpecError, match="command 'no-such-tool'"):
        check_entry(EntryPoint(kind="command", target=("no-such-tool",)), **_where(tmp_path))
    with pytest.raises(SpecError, match="python interpreter"):
        check_entry(
            EntryPoint(kind="module", target=("m",)),
            python="/nonexistent/python",
            code_dir=tmp_path,
            path="/usr/bin:/bin",
        )


def _where(code_dir: Path) -> dict[str, object]:
    return {"python": sys.executable, "code_dir": code_dir, "path": "/usr/bin:/bin"}


def test_command_takes_the_rest_of_the_line() -> None:
    request = parse_args(
        ["--root", "/r", "--grace", "5", "--command", "python", "-u", "--grace", "x"], {}
    )
    assert request.command == ("python", "-u", "--grace", "x")
    assert request.grace == 5
    assert request.root == Path("/r")


def test_root_defaults_to_sagemaker_base_dir_then_opt_ml() -> None:
    assert parse_args([], {"SAGEMAKER_BASE_DIR": "/base"}).root == Path("/base")
    request = parse_args([], {})
    assert request.root == Path("/opt/ml")
    assert request.grace == 120
    assert request.bind_opt_ml == "off"
    assert request.max_runtime is None


@pytest.mark.parametrize(
    "argv",
    [
        ["--program", "a.py", "--module", "b"],
        ["--program", "a.py", "--command", "b"],
        ["--command"],
        ["--max-runtime", "0"],
        ["--grace", "-1"],
        ["--bind-opt-ml", "sometimes"],
        ["--frobnicate"],
    ],
)
def test_bad_arguments_are_config_errors(argv: list[str]) -> None:
    with pytest.raises(ConfigError):
        parse_args(argv, {})


def test_a_stop_decides_the_state_whatever_the_exit_code() -> None:
    assert final_state(None, 0) == "Completed"
    assert final_state(None, 3) == "Failed"
    assert final_state("Stopped", 0) == "Stopped"
    assert final_state("MaxRuntimeExceeded", -9) == "MaxRuntimeExceeded"
