"""The Backend seam and the data that crosses it."""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import ClassVar, Protocol

from sagelift.settings import Settings
from sagelift.spec import JobSpec

__all__ = [
    "TERMINAL_STATES",
    "Backend",
    "Capability",
    "JobHandle",
    "JobState",
    "JobStatus",
    "PreparedJob",
]


class JobState(str, enum.Enum):
    """SageMaker's TrainingJobStatus values, shared by every backend."""

    IN_PROGRESS = "InProgress"
    COMPLETED = "Completed"
    FAILED = "Failed"
    STOPPING = "Stopping"
    STOPPED = "Stopped"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATES


TERMINAL_STATES = frozenset({JobState.COMPLETED, JobState.FAILED, JobState.STOPPED})


class Capability(str, enum.Enum):
    DETACH = "detach"
    CHECKPOINTS = "checkpoints"
    GPU = "gpu"
    REMOTE_CHANNELS = "remote-channels"
    MULTI_INSTANCE = "multi-instance"
    SPOT = "spot"


@dataclass(frozen=True, slots=True, kw_only=True)
class PreparedJob:
    """A validated spec with its unique name and the directory holding its record."""

    spec: JobSpec
    name: str
    record_dir: Path
    created_at: datetime
    region: str
    settings: Settings


@dataclass(frozen=True, slots=True, kw_only=True)
class JobHandle:
    backend: str
    name: str
    record_dir: Path


@dataclass(frozen=True, slots=True, kw_only=True)
class JobStatus:
    """A snapshot of a job, as ``sagelift describe`` shows it."""

    name: str
    backend: str
    state: JobState
    secondary_status: str
    failure_reason: str | None = None
    created_at: datetime
    started_at: datetime | None = None
    ended_at: datetime | None = None
    exit_code: int | None = None
    model_artifacts: str | None = None
    output_artifacts: str | None = None
    transitions: tuple[tuple[str, datetime], ...] = ()
    notes: tuple[str, ...] = ()
    training_seconds: int | None = None
    billable_seconds: int | None = None
    cost_usd: float | None = None

    @property
    def duration(self) -> float | None:
        if self.started_at is None:
            return None
        end = self.ended_at or datetime.now(self.started_at.tzinfo)
        return (end - self.started_at).total_seconds()


class Backend(Protocol):
    """Where jobs run. Unsupported requests fail in ``check`` before any side effect."""

    name: ClassVar[str]
    capabilities: ClassVar[frozenset[Capability]]

    def check(self, spec: JobSpec) -> None:
        """Raise UsageError for anything in ``spec`` this backend cannot do. No side effects."""

    def preflight(self, job: PreparedJob) -> None:
        """Checks that need the settings (AWS resources, costs), before the job's record is
        created. Reads only; raises UsageError or InfrastructureError."""

    def submit(self, job: PreparedJob) -> JobHandle:
        """Start the job and return at once."""

    def describe(self, handle: JobHandle) -> JobStatus: ...

    def logs(self, handle: JobHandle, *, follow: bool = False) -> Iterator[str]:
        """The job's output lines; with ``follow``, until the job ends."""

    def stop(self, handle: JobHandle) -> None:
        """Ask the job to stop: SIGTERM, then SIGKILL after the spec's grace period."""
