"""The Tracker seam: where a job's run is recorded (MLflow, or nowhere).

A tracker records one run per job. Every method may raise ``TrackingError``; callers in
``sagelift.tracking.session`` and ``sagelift.tracking.sink`` turn that into a warning, never into
a failed job.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from sagelift.errors import InfrastructureError
from sagelift.tracking.metrics import MetricPoint

__all__ = [
    "Artifact",
    "NullTracker",
    "RunInfo",
    "RunOutcome",
    "Tracker",
    "TrackingError",
]

RunOutcome = Literal["FINISHED", "FAILED", "KILLED"]


class TrackingError(InfrastructureError):
    """The tracking store could not be reached or refused a request."""

    headline = "tracking error"


@dataclass(frozen=True, slots=True, kw_only=True)
class RunInfo:
    """Where a job's run lives; ``link`` is a browser URL when the store has a UI."""

    uri: str
    experiment_id: str
    run_id: str
    link: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Artifact:
    """A local file or directory logged under ``artifact_path`` of the run."""

    path: Path
    artifact_path: str | None = None


class Tracker(Protocol):
    """Records runs. Implementations import their client library lazily."""

    def start(
        self,
        *,
        experiment: str,
        run_name: str,
        params: Mapping[str, str],
        tags: Mapping[str, str],
    ) -> RunInfo:
        """Create the run (and its experiment if needed) and return where it lives."""

    def log_metrics(self, run: RunInfo, points: Sequence[MetricPoint]) -> None: ...

    def set_tags(self, run: RunInfo, tags: Mapping[str, str]) -> None: ...

    def logged_keys(self, run: RunInfo) -> frozenset[str]:
        """The metric keys the run holds now, whoever logged them."""

    def log_artifacts(self, run: RunInfo, artifacts: Sequence[Artifact]) -> None: ...

    def finish(self, run: RunInfo, outcome: RunOutcome, *, end_time_ms: int | None) -> None:
        """Set the run's final status (and end time when known)."""

    def download_artifacts(self, run: RunInfo, artifact_path: str, dest: Path) -> Path:
        """Download ``artifact_path`` of the run into ``dest``; return the local path."""


class NullTracker:
    """Tracking turned off: every call succeeds and records nothing."""

    def start(
        self,
        *,
        experiment: str,
        run_name: str,
        params: Mapping[str, str],
        tags: Mapping[str, str],
    ) -> RunInfo:
        return RunInfo(uri="", experiment_id="", run_id="")

    def log_metrics(self, run: RunInfo, points: Sequence[MetricPoint]) -> None:
        return None

    def set_tags(self, run: RunInfo, tags: Mapping[str, str]) -> None:
        return None

    def logged_keys(self, run: RunInfo) -> frozenset[str]:
        return frozenset()

    def log_artifacts(self, run: RunInfo, artifacts: Sequence[Artifact]) -> None:
        return None

    def finish(self, run: RunInfo, outcome: RunOutcome, *, end_time_ms: int | None) -> None:
        return None

    def download_artifacts(self, run: RunInfo, artifact_path: str, dest: Path) -> Path:
        raise TrackingError(
            "tracking is off: there is no run to download from",
            hint="set tracking.uri in sagelift.toml to record runs",
        )
