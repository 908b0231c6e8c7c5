"""Rehearsing spot interruptions locally: the plan, and what each interruption cost.

SageMaker's lifecycle for an interrupted spot job is ``Training → Interrupted → Starting →
Downloading → Training …`` and the script runs again from the start with the checkpoints
restored (docs ``model-managed-spot-training.html``, ``model-checkpoints.html``). Whether the
script then *resumes* is up to it. The analysis here tells the user, from two things any
script leaves behind: its checkpoint files, and progress lines in its output (``epoch=3``,
``Epoch 3/20``, ``step: 400``).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from sagelift.spec import DEFAULT_INTERVAL, InterruptionPlan, parse_interrupt_times

__all__ = [
    "DEFAULT_INTERVAL",
    "Attempt",
    "InterruptionPlan",
    "InterruptionReport",
    "analyse",
    "parse_interrupt_times",
    "progress_of",
    "unfired",
]

_RESUMING = re.compile(r"resum|restor|load|checkpoint", re.IGNORECASE)
_PROGRESS = re.compile(r"\b(?:epoch|step|iteration|iter)\b\s*[=:]?\s*(\d+)", re.IGNORECASE)


def progress_of(line: str) -> int | None:
    """The epoch/step number a log line reports, if any.

    Lines about resuming ("resuming after epoch 5", "loaded checkpoint of step 400") name the
    work already done, not work being done, and are skipped.
    """
    if _RESUMING.search(line):
        return None
    match = _PROGRESS.search(line)
    return None if match is None else int(match.group(1))


@dataclass(slots=True, kw_only=True)
class Attempt:
    """What one run of the script did. Times are seconds on one clock (``time.time()``):
    ``interrupted_at`` is when the simulated reclaim came (SIGTERM), ``ended`` when the script
    had exited (after its grace period)."""

    index: int
    started: float
    ended: float | None = None
    interrupted: bool = False
    interrupted_at: float | None = None
    restored_files: int = 0
    progress: list[int] = field(default_factory=list)
    last_checkpoint_write: float | None = None
    checkpoint_files_at_end: int = 0

    def observe(self, line: str) -> None:
        value = progress_of(line)
        if value is not None:
            self.progress.append(value)


@dataclass(frozen=True, slots=True, kw_only=True)
class InterruptionReport:
    """The verdict on one interruption: did the next attempt resume, and what was lost."""

    index: int
    verdict: str  # "resumed", "restarted from scratch", "no checkpoint", "unknown"
    detail: str
    lost_seconds: float | None
    redone: int | None


def _lost(before: Attempt, *, from_scratch: bool) -> float | None:
    """Seconds of work the interruption of ``before`` cost: from the attempt's start when the
    next attempt began from scratch (or nothing was written), else from the last checkpoint
    written during the attempt (a restored, older one counts as the attempt's start), up to
    the interruption. A checkpoint written in the grace period loses nothing."""
    end = before.interrupted_at if before.interrupted_at is not None else before.ended
    if end is None:
        return None
    since = before.started
    written = before.last_checkpoint_write
    if not from_scratch and written is not None and written > before.started:
        since = written
    return max(0.0, end - since)


def analyse(attempts: Sequence[Attempt]) -> list[InterruptionReport]:
    """One report per interruption (each attempt but the last was interrupted)."""
    reports = []
    first_progress = _first(attempts[0].progress) if attempts else None
    for before, after in itertools.pairwise(attempts):
        resumed_at = _first(after.progress)
        scratch = (before.checkpoint_files_at_end == 0 and after.restored_files == 0) or (
            resumed_at is not None
            and first_progress is not None
            and bool(before.progress)
            and resumed_at <= first_progress
        )
        lost = _lost(before, from_scratch=scratch)
        last = before.progress[-1] if before.progress else None
        index = before.index + 1
        if before.checkpoint_files_at_end == 0 and after.restored_files == 0:
            reports.append(
                InterruptionReport(
                    index=index,
                    verdict="no checkpoint",
                    detail="the script wrote no checkpoint before the interruption, so the next "
                    "attempt started from scratch; write checkpoints to /opt/ml/checkpoints",
                    lost_seconds=lost,
                    redone=None if last is None else last - (first_progress or 0) + 1,
                )
            )
        elif resumed_at is None or last is None:
            reports.append(
                InterruptionReport(
                    index=index,
                    verdict="unknown",
                    detail=f"{after.restored_files} checkpoint file(s) were restored; print "
                    "progress lines such as 'epoch=3' so sagelift can tell whether the script "
                    "resumed from them",
                    lost_seconds=lost,
                    redone=None,
                )
            )
        elif first_progress is not None and resumed_at <= first_progress:
            reports.append(
                InterruptionReport(
                    index=index,
                    verdict="restarted from scratch",
                    detail=f"{after.restored_files} checkpoint file(s) were restored, but the "
                    f"script began again at {resumed_at} after reaching {last}; load the latest "
                    "checkpoint at start (see sagelift.checkpoints)",
                    lost_seconds=lost,
                    redone=last - resumed_at + 1,
                )
            )
        else:
            redone = max(0, last - resumed_at + 1)
            reports.append(
                InterruptionReport(
                    index=index,
                    verdict="resumed",
                    detail=f"interrupted at {last}, resumed at {resumed_at} ({redone} redone)",
                    lost_seconds=lost,
                    redone=redone,
                )
            )
    return reports


def unfired(plan: Sequence[float], attempts: Sequence[Attempt]) -> list[str]:
    """A note for each planned interruption that never came because the job ended first.

    ``plan[k]`` is the number of seconds into attempt ``k`` at which interruption ``k + 1`` is
    due; ``attempts`` are the attempts that ran, the last one not interrupted.
    """
    if not attempts or attempts[-1].interrupted:
        return []
    last = attempts[-1]
    ran = None if last.ended is None else last.ended - last.started
    notes = []
    for k in range(last.index, len(plan)):
        if k > last.index or ran is None:
            ended = "the job ended before it"
        elif k == 0:
            ended = f"the job ended after {ran:.1f} s"
        else:
            ended = f"the job ended {ran:.1f} s into attempt {k + 1}"
        notes.append(f"interruption {k + 1} planned at {plan[k]:g} s never happened: {ended}")
    return notes


def _first(values: Iterable[int]) -> int | None:
    for value in values:
        return value
    return None
