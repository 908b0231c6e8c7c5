"""Metric points into a job's run without duplicates: live (``MetricSink``) and at the end.

Metric rule: a key belongs to whoever logs it first. The script's own MLflow logging goes into
the job's run (MLFLOW_RUN_ID is passed); a metric line parsed from the output is held
``HOLD_SECONDS`` and logged only if, then, the run has no metric of that key that sagelift did
not log. At finish the whole log is parsed again and only points not logged yet are sent
(``_log_parsed``). How far each key was logged is kept in the job's tracking state.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sagelift.job import JobHandle
from sagelift.spec import JobSpec
from sagelift.tracking.base import RunInfo, Tracker
from sagelift.tracking.metrics import MetricParser, MetricPoint
from sagelift.tracking.state import _info, _later, _read, _write
from sagelift.tracking.store import tracker_for

__all__ = ["HOLD_SECONDS", "MetricSink"]

log = logging.getLogger(__name__)

HOLD_SECONDS = 2.0


@dataclass(slots=True, kw_only=True)
class MetricSink:
    """Feed it the job's output lines: metric lines reach the run, live, without duplicates."""

    handle: JobHandle
    spec: JobSpec
    tracker: Tracker | None = None
    run: RunInfo | None = None
    hold: float = HOLD_SECONDS
    _parser: MetricParser | None = None
    _held: list[tuple[float, MetricPoint]] = field(default_factory=list)
    _owned: dict[str, bool] = field(default_factory=dict)
    _logged: dict[str, int] = field(default_factory=dict)
    _broken: bool = False

    @classmethod
    def for_job(cls, handle: JobHandle, spec: JobSpec) -> MetricSink:
        sink = cls(handle=handle, spec=spec)
        try:
            state = _read(handle.record_dir)
            run = None if state is None else _info(state)
            if run is not None and spec.metric_definitions:
                sink.run = run
                sink.tracker = tracker_for(run.uri)
                sink._parser = MetricParser(definitions=spec.metric_definitions)
        except Exception as exc:
            log.warning("MLflow: live metrics off for job %s (%s)", handle.name, exc)
        return sink

    def __call__(self, line: str) -> None:
        if self._parser is None or self._broken:
            return
        try:
            now = time.monotonic()
            self._held += [(now, p) for p in self._parser.feed(line)]
            self._flush(now - self.hold)
        except Exception as exc:
            self._broken = True
            log.warning(
                "MLflow: live metrics for job %s stopped (%s); they are logged at the end of "
                "the job, or %s",
                self.handle.name,
                exc,
                _later(self.handle.name),
            )

    def _flush(self, before: float) -> None:
        ready = [p for t, p in self._held if t <= before]
        if not ready or self.tracker is None or self.run is None:
            return
        self._held = [(t, p) for t, p in self._held if t > before]
        undecided = {p.key for p in ready if p.key not in self._owned}
        if undecided:
            present = self.tracker.logged_keys(self.run)
            for key in undecided:
                self._owned[key] = key not in present
        points = [p for p in ready if self._owned[p.key]]
        self.tracker.log_metrics(self.run, points)
        for point in points:
            self._logged[point.key] = max(self._logged.get(point.key, 0), point.index + 1)
        self._save()

    def _save(self) -> None:
        state = _read(self.handle.record_dir)
        if state is None:
            return
        state["logged"] = dict(self._logged)
        state["script_keys"] = sorted(k for k, mine in self._owned.items() if not mine)
        _write(self.handle.record_dir, state)


def _log_parsed(
    tracker: Tracker, run: RunInfo, state: dict[str, Any], points: Sequence[MetricPoint]
) -> None:
    """Log the points of ``points`` not logged yet and not the script's own; update ``state``."""
    logged: dict[str, int] = state.get("logged", {})
    script_keys = set(state.get("script_keys", []))
    fresh = {p.key for p in points} - set(logged) - script_keys
    if fresh:
        script_keys |= fresh & tracker.logged_keys(run)
    todo = [p for p in points if p.key not in script_keys and p.index >= logged.get(p.key, 0)]
    tracker.log_metrics(run, todo)
    for point in todo:
        logged[point.key] = max(logged.get(point.key, 0), point.index + 1)
    state["logged"] = logged
    state["script_keys"] = sorted(script_keys)
