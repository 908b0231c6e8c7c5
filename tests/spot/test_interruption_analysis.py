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


def test_work_lost_by_a_restart_from_scratch_counts_from_the_attempts_start():
    # Interrupted 30 s into the attempt; a checkpoint was written at 25 s, but the next attempt
    # began at epoch 1 again: all 30 s are lost, not the 5 s since the checkpoint.
    before = attempt(0, [1, 2, 3], started=100.0, ended=32 + 100.0, last_write=125.0)
    before.interrupted_at = 130.0
    reports = analyse([before, attempt(1, [1, 2, 3, 4], restored=1)])
    assert reports[0].verdict == "restarted from scratch"
    assert reports[0].lost_seconds == pytest.approx(30.0)


def test_work_lost_counts_to_the_interruption_not_past_the_grace_period():
    before = attempt(0, [1, 2, 3, 4], started=0.0, ended=40.0, last_write=20.0)
    before.interrupted_at = 30.0
    reports = analyse([before, attempt(1, [5, 6], restored=1)])
    assert reports[0].verdict == "resumed"
    assert reports[0].lost_seconds == pytest.approx(10.0)


def test_a_restored_checkpoint_is_not_a_write_of_this_attempt():
    # Attempt 2 restored a checkpoint from attempt 1 (mtime 5 s) and wrote nothing itself.
    second = attempt(1, [3, 4], restored=1, started=50.0, ended=80.0, last_write=5.0)
    second.interrupted_at = 78.0
    reports = analyse([attempt(0, [1, 2]), second, attempt(2, [3, 4, 5], restored=1)])
    assert reports[1].lost_seconds == pytest.approx(28.0)


def test_a_checkpoint_saved_in_the_grace_period_loses_nothing():
    before = attempt(0, [1, 2, 3], started=0.0, ended=12.0, last_write=11.0)
    before.interrupted_at = 10.0
    reports = analyse([before, attempt(1, [4, 5], restored=1)])
    assert reports[0].lost_seconds == 0.0


def test_planned_interruptions_that_never_came_are_named():
    from sagelift.backends.interruptions import unfired

    done = attempt(0, [1], started=100.0, ended=104.2)
    assert unfired((30.0,), [done]) == [
        "interruption 1 planned at 30 s never happened: the job ended after 4.2 s"
    ]
    first = attempt(0, [1], started=0.0, ended=10.0)
    first.interrupted = True
    second = attempt(1, [2], started=12.0, ended=14.5)
    assert unfired((10.0, 30.0, 30.0), [first, second]) == [
        "interruption 2 planned at 30 s never happened: the job ended 2.5 s into attempt 2",
        "interruption 3 planned at 30 s never happened: the job ended before it",
    ]
    second_interrupted = attempt(1, [2], started=12.0, ended=14.5)
    second_interrupted.interrupted = True
    assert unfired((10.0, 2.0), [first, second_interrupted, attempt(2, [3])]) == []
