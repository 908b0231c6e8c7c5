"""Simulated spot interruptions: ``--simulate-interruptions N`` and ``--interrupt-at``, as the times
into each attempt at which it is interrupted."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sagelift.errors import SpecError

__all__ = ["DEFAULT_INTERVAL", "InterruptionPlan", "parse_interrupt_times"]

#: Seconds into each attempt when no times are given.
DEFAULT_INTERVAL = 10.0


@dataclass(frozen=True, slots=True, kw_only=True)
class InterruptionPlan:
    """Interrupt each attempt ``after[i]`` seconds after it starts training, then let it finish."""

    after: tuple[float, ...]

    @property
    def count(self) -> int:
        return len(self.after)


def parse_interrupt_times(count: int, at: str | None, default_interval: float) -> InterruptionPlan:
    """``--simulate-interruptions N`` with ``--interrupt-at 5,12`` (seconds into each attempt).

    Without ``at`` every attempt is interrupted ``default_interval`` seconds in.
    Raises ValueError on a malformed or mismatched list.
    """
    if count < 0:
        raise ValueError("the number of interruptions cannot be negative")
    if at is None:
        return InterruptionPlan(after=(default_interval,) * count)
    times = tuple(float(part) for part in at.split(",") if part.strip())
    if any(t <= 0 for t in times):
        raise ValueError("interruption times must be positive seconds")
    if count and len(times) != count:
        raise ValueError(f"{count} interruptions but {len(times)} times given")
    return InterruptionPlan(after=times)


def _interruptions(count: Any, at: Any) -> tuple[float, ...]:
    if count in (None, 0) and at in (None, ""):
        return ()
    if count is not None and (isinstance(count, bool) or not isinstance(count, int)):
        raise SpecError(
            f"simulate_interruptions: expected a number of interruptions, got {count!r}",
            hint="e.g. --simulate-interruptions 2",
            field="simulate_interruptions",
        )
    text = ",".join(str(v) for v in at) if isinstance(at, list) else at
    try:
        plan = parse_interrupt_times(
            count or 0, None if text in (None, "") else str(text), DEFAULT_INTERVAL
        )
    except ValueError as exc:
        raise SpecError(
            f"interrupt_at: {exc}",
            hint="give one time in seconds per interruption, e.g. --interrupt-at 5,12",
            field="interrupt_at",
        ) from exc
    return plan.after
