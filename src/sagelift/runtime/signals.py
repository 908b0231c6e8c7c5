"""Stopping the job the way SageMaker does: SIGTERM to the whole job, SIGKILL after a grace.

StopTrainingJob and MaxRuntimeInSeconds both send SIGTERM and SIGKILL 120 s later (botocore
``StopTrainingJob`` doc). The sagemaker-training toolkit never passes the SIGTERM on to the
training script (toolkit issues #125 and #173), so the script cannot checkpoint; here every
SIGTERM, SIGINT and SIGHUP the launcher receives goes to the script's process group.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING, Literal

__all__ = ["FORWARDED_SIGNALS", "StopController", "StopReason", "kill_group"]

log = logging.getLogger(__name__)

FORWARDED_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)

StopReason = Literal["Stopped", "MaxRuntimeExceeded"]

if TYPE_CHECKING:
    _Handler = Callable[[int, FrameType | None], object] | int | None


def kill_group(pgid: int, signum: int) -> bool:
    """Send ``signum`` to process group ``pgid``; ``False`` when the group is already gone."""
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:
        return False
    except PermissionError as exc:
        log.warning("could not signal process group %d: %s", pgid, exc)
        return False
    return True


class StopController:
    """Turns stop requests into signals to the job's process group and a SIGKILL deadline.

    ``install`` sets explicit handlers (so it also works as PID 1 in a container, where the
    default dispositions are ignored) and must run in the main thread. A signal that arrives
    before ``attach`` is kept and sent once the group exists. The first request fixes
    ``reason`` and ``signum`` and starts the grace period; later ones are forwarded without
    extending it.
    """

    def __init__(self, *, grace: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.grace = grace
        self.reason: StopReason | None = None
        self.signum: int | None = None
        self.kill_at: float | None = None
        self.killed = False
        self._clock = clock
        self._pgid: int | None = None
        self._pending: list[int] = []
        self._previous: dict[int, _Handler] = {}

    def install(self) -> None:
        for signum in FORWARDED_SIGNALS:
            self._previous[signum] = signal.signal(signum, self._on_signal)

    def restore(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
        self._previous.clear()

    def attach(self, pgid: int) -> None:
        """From now on signals go to ``pgid``; send the ones that arrived before it existed."""
        self._pgid = pgid
        pending, self._pending = self._pending, []
        for signum in pending:
            kill_group(pgid, signum)

    def stop_reason(self) -> StopReason | None:
        """Why the job is being stopped, or ``None`` while nobody asked it to stop."""
        return self.reason

    def request_stop(self, signum: int, reason: StopReason) -> None:
        """Ask the job to stop with ``signum``; SIGKILL follows after the grace period."""
        if self.reason is None:
            self.reason = reason
            self.signum = signum
            self.kill_at = self._clock() + self.grace
            log.info(
                "%s: sending %s to the training process group, SIGKILL in %g s",
                reason,
                signal.Signals(signum).name,
                self.grace,
            )
        self._send(signum)

    def expire(self) -> None:
        """The maximum runtime is over: stop as StopTrainingJob would."""
        self.request_stop(signal.SIGTERM, "MaxRuntimeExceeded")

    def kill_if_due(self) -> None:
        """SIGKILL the group once the grace period after a stop request is over."""
        if self.kill_at is not None and not self.killed and self._clock() >= self.kill_at:
            self.killed = True
            log.info("grace period of %g s is over: sending SIGKILL", self.grace)
            self._send(signal.SIGKILL)

    def seconds_to_kill(self) -> float | None:
        if self.kill_at is None or self.killed:
            return None
        return max(0.0, self.kill_at - self._clock())

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self.request_stop(signum, "Stopped")

    def _send(self, signum: int) -> None:
        if self._pgid is None:
            self._pending.append(signum)
        else:
            kill_group(self._pgid, signum)
