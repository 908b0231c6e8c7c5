"""What a job is, for every backend: its state, status, handle and record. Pure data.

A job's record (``.sagelift/jobs/<name>/job.json``, read and written only by
:mod:`sagelift.records`) is a :class:`JobRecord`: what was asked (the spec), what the backend
decided when it submitted (a :class:`LocalRun` plan for the supervisor, the container image, the
cloud job), and what the job was given (code and data digests). The status (``status.json``) is a
:class:`JobStatus`, which every backend reports in SageMaker's terms.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sagelift.aws import AwsSettings
from sagelift.settings import Settings
from sagelift.spec import JobSpec

__all__ = [
    "TERMINAL_STATES",
    "ChannelInput",
    "CloudJob",
    "ContainerImage",
    "JobHandle",
    "JobRecord",
    "JobState",
    "JobStatus",
    "LocalRun",
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


@dataclass(frozen=True, slots=True, kw_only=True)
class JobHandle:
    """How every command addresses one recorded job."""

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
class LocalRun:
    """The supervisor's plan for a job on this machine: what to start and where things go.

    ``launcher`` is the argv of the process the supervisor starts (the launcher itself, or the
    container runner); ``overlay_channels`` are the channels that process shows as overlays
    (the supervisor does not stage them again on a restart); ``artifacts_dir`` is where
    ``model.tar.gz`` is packed, uploaded to ``output_uri`` when that is set.
    """

    layout_root: Path
    launcher: tuple[str, ...]
    launcher_status: Path
    env: Mapping[str, str] = field(default_factory=dict)
    artifacts_dir: Path
    output_uri: str | None = None
    checkpoint_path: str | None = None
    interruptions: tuple[float, ...] = ()
    overlay_channels: tuple[str, ...] = ()
    max_runtime: int
    #: The supervisor stops the job at ``max_runtime`` itself, as the SageMaker platform does
    #: (a request run as SageMaker would); otherwise the launcher enforces it.
    enforce_max_runtime: bool = False
    aws: AwsSettings = field(default_factory=AwsSettings)


@dataclass(frozen=True, slots=True, kw_only=True)
class ContainerImage:
    """The image a container job runs: its reference, its local id and how it was made."""

    ref: str
    image_id: str | None = None
    mode: str = "given"
    cli: str = "podman"


@dataclass(frozen=True, slots=True, kw_only=True)
class CloudJob:
    """A SageMaker training job: the request as sent and what pricing knew of it.

    ``arn`` is None for a request rehearsed locally that never reached SageMaker.
    """

    arn: str | None = None
    region: str
    account: str | None = None
    aws: AwsSettings = field(default_factory=AwsSettings)
    request: Mapping[str, Any] = field(default_factory=dict)
    hourly_price: float | None = None
    data_sources: Mapping[str, Any] = field(default_factory=dict)

    @property
    def instance_count(self) -> int:
        return int((self.request.get("ResourceConfig") or {}).get("InstanceCount", 1))

    @property
    def spot(self) -> bool:
        return bool(self.request.get("EnableManagedSpotTraining"))


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelInput:
    """One input channel as the job reads it: its URI and the content digest of its immutable
    snapshot (None for an ``s3://`` channel read where it is)."""

    uri: str
    digest: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class JobRecord:
    """Everything recorded about one job when it was submitted (``job.json``).

    ``spec`` is None only for a job made from a bare CreateTrainingJob request (the emulator),
    which has no project spec. ``code_digest`` is the content digest of the code the job ran,
    on every backend; ``image_uri``/``image_digest`` the image it ran in, where there was one.
    """

    name: str
    backend: str
    created_at: datetime
    spec: JobSpec | None
    data_versions: Mapping[str, str] = field(default_factory=dict)
    inputs: Mapping[str, ChannelInput] = field(default_factory=dict)
    code_digest: str | None = None
    image_uri: str | None = None
    image_digest: str | None = None
    run: LocalRun | None = None
    container: ContainerImage | None = None
    cloud: CloudJob | None = None
    emulates: str | None = None

    def handle(self, record_dir: Path) -> JobHandle:
        return JobHandle(backend=self.backend, name=self.name, record_dir=record_dir)

    @property
    def spot(self) -> bool:
        return bool((self.spec is not None and self.spec.spot) or (self.cloud and self.cloud.spot))
