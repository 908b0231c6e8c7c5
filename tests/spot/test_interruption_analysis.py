"""The verdicts the interruption simulator gives, from progress lines and checkpoints."""

from __future__ import annotations

import pytest

from sagelift.backends.interruptions import Attempt, analyse, parse_interrupt_times, progress_of


@pytest.mark.parametrize(
    ("line", "value"),
    [
        ("epoch=3 loss=0.1", 3),
        ("Epoch 4/20", 4),
        ("step: 400", 400),
        ("loss=0.1", None),
        ("resuming after epoch 5", None),
        ("loaded checkpoint of step 400", None),
    ],
)
def test_progress_lines(line, value):
    assert progress_of(line) == value


def attempt(index, progress, *, restored=0, files=1, started=0.0, ended=10.0, last_write=9.0):
    return Attempt(
        index=index,
        started=started,
        ended=ended,
        progress=list(progress),
        restored_files=restored,
        checkpoint_files_at_end=files,
        last_checkpoint_write=last_write,
    )


def test_resumed():
    reports = analyse([attempt(0, [1, 2, 3, 4]), attempt(1, [5, 6, 7], restored=1)])
    assert reports[0].verdict == "resumed"
    assert reports[0].redone == 0
    assert reports[0].lost_seconds == pytest.approx(1.0)


def test_resumed_redoing_one_epoch():
    reports = analyse([attempt(0, [1, 2, 3, 4]), attempt(1, [4, 5], restored=1)])
    assert (reports[0].verdict, reports[0].redone) == ("resumed", 1)


def test_restarted_from_scratch():
    reports = analyse([attempt(0, [1, 2, 3]), attempt(1, [1, 2, 3, 4], restored=1)])
    assert reports[0].verdict == "restarted from scratch"
    assert reports[0].redone == 3


def test_no_checkpoint_written():
    reports = analyse([attempt(0, [1, 2], files=0), attempt(1, [1, 2, 3], restored=0)])
    assert reports[0].verdict == "no checkpoint"


def test_plan_parsing():
    assert parse_interrupt_times(2, None, 5.0).after == (5.0, 5.0)
    assert parse_interrupt_times(2, "1.5,3", 5.0).after == (1.5, 3.0)
    with pytest.raises(ValueError, match="2 interruptions but 1"):
        parse_interrupt_times(2, "3", 5.0)
