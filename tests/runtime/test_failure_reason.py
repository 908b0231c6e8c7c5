from __future__ import annotations

import signal
from pathlib import Path

from sagelift.runtime.failure import (
    FAILURE_REASON_LIMIT,
    failure_reason,
    last_exception_line,
    write_failure_file,
)

TRACEBACK = """\
epoch 1 loss 0.3
Traceback (most recent call last):
  File "/opt/ml/code/train.py", line 12, in <module>
    main()
  File "/opt/ml/code/train.py", line 9, in main
    fit(lr)
  File "/opt/ml/code/train.py", line 5, in fit
    raise ValueError("bad lr")
ValueError: bad lr
"""


def test_exception_line_comes_first_then_exit_code_then_traceback_tail() -> None:
    text = failure_reason(TRACEBACK, 1, None)
    lines = text.splitlines()
    assert lines[0] == "AlgorithmError: ValueError: bad lr"
    assert "ExitCode 1" in text[:FAILURE_REASON_LIMIT]
    assert 'raise ValueError("bad lr")' in text
    assert "in fit" in text
    assert "epoch 1 loss" not in text


def test_chained_exceptions_report_the_last_one() -> None:
    stderr = """\
Traceback (most recent call last):
  File "train.py", line 2, in <module>
    open("missing")
FileNotFoundError: [Errno 2] No such file or directory: 'missing'

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File "train.py", line 4, in <module>
    raise RuntimeError("no data")
RuntimeError: no data
"""
    assert last_exception_line(stderr) == "RuntimeError: no data"
    assert failure_reason(stderr, 1, None).startswith("AlgorithmError: RuntimeError: no data\n")


def test_multiline_message_and_notes_keep_the_exception_line() -> None:
    stderr = """\
Traceback (most recent call last):
  File "train.py", line 1, in <module>
KeyError: 'lr'
add --lr to the hyperparameters
"""
    assert last_exception_line(stderr) == "KeyError: 'lr'"


def test_output_after_the_traceback_does_not_hide_it() -> None:
    text = failure_reason(TRACEBACK + "wandb: finishing run\n", 1, None)
    assert text.startswith("AlgorithmError: ValueError: bad lr\n")


def test_non_python_failure_uses_the_last_stderr_line() -> None:
    text = failure_reason("loading\n\nerror: disk full\n\n", 3, None)
    assert text.startswith("AlgorithmError: error: disk full\n")
    assert "ExitCode 3" in text
    assert "Stderr tail:\nloading\nerror: disk full" in text


def test_exception_group_box_drawing_is_stripped() -> None:
    stderr = """\
  + Exception Group Traceback (most recent call last):
  |   File "train.py", line 1, in <module>
  | ExceptionGroup: workers failed (1 sub-exception)
  +-+---------------- 1 ----------------
    | ValueError: shard 3
    +------------------------------------
"""
    assert failure_reason(stderr, 1, None).startswith("AlgorithmError: ValueError: shard 3\n")


def test_silent_death_by_signal_says_so() -> None:
    text = failure_reason("", 137, signal.SIGKILL)
    assert text.startswith("AlgorithmError: the training process was killed by SIGKILL")
    assert "out-of-memory" in text.splitlines()[0]
    assert "ExitCode 137" in text


def test_signal_is_named_after_a_traceback_too() -> None:
    text = failure_reason(TRACEBACK, 134, signal.SIGABRT)
    assert text.startswith("AlgorithmError: ValueError: bad lr\n")
    assert "killed by SIGABRT (signal 6)" in text


def test_silent_exit_is_described() -> None:
    assert failure_reason("", 2, None) == (
        "AlgorithmError: the training process exited with code 2\n\nExitCode 2\n"
    )


def test_huge_message_keeps_the_exit_code_within_the_reported_prefix() -> None:
    stderr = 'Traceback (most recent call last):\n  File "t.py"\nValueError: ' + "x" * 5000
    text = failure_reason(stderr, 1, None)
    assert "ExitCode 1" in text[:FAILURE_REASON_LIMIT]
    assert text.splitlines()[0].endswith("...")


def test_failure_file_written_when_absent_or_blank(tmp_path: Path) -> None:
    path = tmp_path / "output" / "failure"
    assert write_failure_file(path, "first\n")
    assert path.read_text() == "first\n"
    path.write_text("  \n")
    assert write_failure_file(path, "second\n")
    assert path.read_text() == "second\n"


def test_failure_file_of_the_script_is_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "failure"
    path.write_text("data channel empty")
    assert not write_failure_file(path, "AlgorithmError: ...")
    assert path.read_text() == "data channel empty"
