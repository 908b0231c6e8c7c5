"""Watching a SageMaker job: status transitions and CloudWatch log lines, as they happen.

DescribeTrainingJob is polled with a backoff that starts short, grows while nothing changes and
starts short again on any news. Output goes to callbacks; nothing here prints.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from sagelift.backends.base import JobStatus
from sagelift.backends.sagemaker.client import TrainingJobs

__all__ = ["Backoff", "follow_lines", "watch"]

Sleep = Callable[[float], None]


@dataclass(frozen=True, slots=True, kw_only=True)
class Backoff:
    """Poll delays in seconds: ``initial``, times ``factor`` per quiet poll, up to ``maximum``."""

    initial: float = 2.0
    factor: float = 1.5
    maximum: float = 30.0

    def next(self, delay: float, *, news: bool) -> float:
        return self.initial if news else min(delay * self.factor, self.maximum)


def _events(
    jobs: TrainingJobs,
    name: str,
    *,
    follow: bool,
    backoff: Backoff,
    sleep: Sleep,
    on_status: Callable[[JobStatus], None] | None,
) -> Iterator[str | JobStatus]:
    """Log lines, then (when following) the terminal status as the last item."""
    tokens: dict[str, str | None] = {}
    if not follow:
        yield from (event.message for event in jobs.tail(name, tokens))
        return
    delay = backoff.initial
    seen: tuple[str, str] | None = None
    while True:
        status = jobs.describe(name)
        news = (status.state.value, status.secondary_status) != seen
        if news:
            seen = (status.state.value, status.secondary_status)
            if on_status is not None:
                on_status(status)
        for event in jobs.tail(name, tokens):
            news = True
            yield event.message
        if status.state.is_terminal:
            # CloudWatch can lag the status: read once more before the end.
            yield from (event.message for event in jobs.tail(name, tokens))
            yield status
            return
        delay = backoff.next(delay, news=news)
        sleep(delay)


def follow_lines(
    jobs: TrainingJobs,
    name: str,
    *,
    follow: bool,
    backoff: Backoff = Backoff(),
    sleep: Sleep = time.sleep,
) -> Iterator[str]:
    """The job's log lines from the start; with ``follow``, until the job has ended."""
    for item in _events(jobs, name, follow=follow, backoff=backoff, sleep=sleep, on_status=None):
        if isinstance(item, str):
            yield item


def watch(
    jobs: TrainingJobs,
    name: str,
    *,
    on_line: Callable[[str], None] | None = None,
    on_status: Callable[[JobStatus], None] | None = None,
    backoff: Backoff = Backoff(),
    sleep: Sleep = time.sleep,
) -> JobStatus:
    """Follow job ``name`` to its end; returns the terminal status.

    ``on_status`` gets the first status and every change of status or secondary status;
    ``on_line`` every log line, in order per stream. A KeyboardInterrupt propagates and leaves
    the job running.
    """
    for item in _events(jobs, name, follow=True, backoff=backoff, sleep=sleep, on_status=on_status):
        if isinstance(item, str):
            if on_line is not None:
                on_line(item)
        else:
            return item
    raise AssertionError("unreachable: following ends with the terminal status")
