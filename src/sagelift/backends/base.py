"""The Backend seam: what every backend does, what it can do, and one check of the latter.

The job types that cross the seam live in :mod:`sagelift.job` (re-exported here).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator
from typing import ClassVar, Protocol

from sagelift.errors import ConfigError, UnsupportedFeature
from sagelift.job import (
    TERMINAL_STATES,
    JobHandle,
    JobState,
    JobStatus,
    PreparedJob,
)
from sagelift.settings import ImageSettings
from sagelift.spec import JobSpec, is_remote_uri

__all__ = [
    "TERMINAL_STATES",
    "Backend",
    "Capability",
    "JobHandle",
    "JobState",
    "JobStatus",
    "LineSink",
    "PreparedJob",
    "StatusSink",
    "check_byo_image",
    "check_capabilities",
    "required_capabilities",
]

LineSink = Callable[[str], None]
StatusSink = Callable[[JobStatus], None]


class Capability(str, enum.Enum):
    DETACH = "detach"
    CHECKPOINTS = "checkpoints"
    GPU = "gpu"
    REMOTE_CHANNELS = "remote-channels"
    MULTI_INSTANCE = "multi-instance"
    SPOT = "spot"
    #: Spot interruptions rehearsed on this machine (``--simulate-interruptions``).
    INTERRUPTION_REHEARSAL = "interruption-rehearsal"
    #: The job runs elsewhere and outlives the client: Ctrl-C leaves it running unless the
    #: user asked to stop it. Without it, Ctrl-C stops the job.
    OUTLIVES_CLIENT = "outlives-client"


_WHY: dict[Capability, tuple[str, str]] = {
    Capability.SPOT: ("spot = true", "spot instances exist on SageMaker only: use an ml.* type"),
    Capability.MULTI_INSTANCE: (
        "instance_count > 1",
        "run one instance here, or several on SageMaker with an ml.* instance type",
    ),
    Capability.GPU: ("a GPU", "use an instance type with a GPU"),
    Capability.REMOTE_CHANNELS: ("an s3:// channel", "point the channel at a local directory"),
    Capability.INTERRUPTION_REHEARSAL: (
        "--simulate-interruptions (spot interruptions rehearsed locally)",
        "rehearse interruptions with instance_type = 'local' first; on SageMaker real spot "
        "capacity decides",
    ),
}


def required_capabilities(spec: JobSpec) -> frozenset[Capability]:
    """What running ``spec`` needs of a backend, read off the spec alone (pure)."""
    needed = set()
    if spec.spot:
        needed.add(Capability.SPOT)
    if spec.instance_count > 1:
        needed.add(Capability.MULTI_INSTANCE)
    if spec.instance_type == "local_gpu":
        needed.add(Capability.GPU)
    if any(is_remote_uri(c.uri) for c in spec.channels):
        needed.add(Capability.REMOTE_CHANNELS)
    if spec.interruptions:
        needed.add(Capability.INTERRUPTION_REHEARSAL)
    return frozenset(needed)


def check_capabilities(backend: Backend, spec: JobSpec) -> None:
    """Raise UnsupportedFeature (exit 2) for the first thing ``spec`` needs that ``backend``
    cannot do; run before the backend's own ``check``."""
    for capability in sorted(required_capabilities(spec) - backend.capabilities):
        what, hint = _WHY.get(capability, (capability.value, "choose another backend"))
        raise UnsupportedFeature(
            f"{what} is not available on the {backend.name} backend", hint=hint
        )


def check_byo_image(spec: JobSpec, image_uri: str | None) -> None:
    """A bring-your-own job (``kind = "byo"``) in a container runs its own image: raise
    ConfigError (exit 2) when none is named (``image.uri``), unless the job is a built-in
    algorithm, whose image sagelift knows. Pure; run before any side effect."""
    if spec.is_byo and spec.algorithm is None and not image_uri:
        raise ConfigError(
            "kind = 'byo' runs your own image, and image.uri names none",
            hint="set image.uri to the image that holds your code (sagelift.toml [image] uri = "
            "'...'), or set kind = 'script' to have sagelift build one from requirements.txt",
        )


def check_framework_image(spec: JobSpec, image: ImageSettings) -> None:
    """A framework job (``kind = "framework"``) in a container runs a prebuilt framework
    image: raise ConfigError (exit 2) when neither ``image.framework`` nor ``image.uri`` names
    one. Pure; run before any side effect."""
    if spec.is_framework and not (image.framework or image.uri):
        raise ConfigError(
            "kind = 'framework' runs a prebuilt framework image, and none is set",
            hint="set image.framework (e.g. 'sklearn') or image.uri, or set kind = 'script'",
        )


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

    def watch(
        self,
        handle: JobHandle,
        *,
        on_line: LineSink | None = None,
        on_status: StatusSink | None = None,
    ) -> JobStatus:
        """Follow the job to its end: each output line to ``on_line``, each new status (state
        or secondary status) to ``on_status``; returns the terminal status."""

    def stop(self, handle: JobHandle) -> None:
        """Ask the job to stop: SIGTERM, then SIGKILL after the spec's grace period."""
