"""A submission's plan: where its code, data, output and checkpoints go under the job's S3
root, and the CreateTrainingJob request assembled from it.

The request is assembled twice: first with placeholders for the code and the local channels
(``planned_request``), so that it is validated before anything is built or uploaded, then with
what the ``Shipper`` uploaded (``training_request``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sagelift.backends.base import PreparedJob
from sagelift.backends.sagemaker.request import build_create_training_job_request
from sagelift.backends.sagemaker.resources import Resources
from sagelift.job import ChannelInput
from sagelift.spec import JobSpec, is_remote_uri

__all__ = [
    "CODE_CHANNEL",
    "Shipper",
    "input_record",
    "planned_request",
    "s3_locations",
    "spot_max_wait",
    "training_request",
]

CODE_CHANNEL = "sagelift-code"


class _Code(Protocol):
    @property
    def digest(self) -> str: ...
    @property
    def prefix_uri(self) -> str: ...
    @property
    def channel_name(self) -> str: ...
    @property
    def container_entrypoint(self) -> tuple[str, ...]: ...
    @property
    def container_arguments(self) -> tuple[str, ...]: ...


class _Channel(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def uri(self) -> str: ...


class Shipper(Protocol):
    """Uploads code and local channels (``sagelift.uploads`` is the real one)."""

    def ship_code(self, spec: JobSpec, *, storage: Any, root_uri: str) -> Any: ...

    def ship_channels(self, spec: JobSpec, *, storage: Any, root_uri: str) -> Sequence[Any]: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class _PlannedCode:
    """Where the code will go, for validating the request before anything is uploaded."""

    digest: str
    prefix_uri: str
    channel_name: str = CODE_CHANNEL
    container_entrypoint: tuple[str, ...] = ("python3",)
    container_arguments: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class _PlannedChannel:
    name: str
    uri: str


def s3_locations(spec: JobSpec) -> dict[str, str]:
    """``field -> s3:// URI`` for every location of the spec already in S3."""
    found = {f"channels.{c.name}": c.uri for c in spec.channels if c.uri.startswith("s3://")}
    for field, uri in (
        ("output_path", spec.output_path),
        ("checkpoint_path", spec.checkpoint_path),
    ):
        if uri is not None and uri.startswith("s3://"):
            found[field] = uri
    return found


def spot_max_wait(spec: JobSpec) -> int:
    """MaxWaitTimeInSeconds: the spec's, else twice the max runtime (capped at 28 days) so the
    job may wait for spot capacity as long as it may run."""
    if spec.max_wait is not None:
        return spec.max_wait
    return max(spec.max_runtime, min(2 * spec.max_runtime, 28 * 24 * 3600))


def training_request(
    job: PreparedJob,
    resources: Resources,
    image_uri: str,
    code: _Code | None,
    channels: Sequence[_Channel],
    tags: dict[str, str],
) -> dict[str, Any]:
    """The CreateTrainingJob request for ``job``: output under the job's S3 root unless the
    spec names a remote path, and checkpoints under it too when the spec's checkpoint path is
    local or a spot job names none."""
    spec = job.spec
    root = resources.root_uri
    output = spec.output_path if is_remote_uri(spec.output_path) else f"{root}/output"
    checkpoint = spec.checkpoint_path
    if (checkpoint is not None and not is_remote_uri(checkpoint)) or (
        checkpoint is None and spec.spot
    ):
        # Stable across re-runs of the same experiment, so a re-submitted job resumes too.
        checkpoint = f"{root}/checkpoints/{spec.base_job_name}"
    return build_create_training_job_request(
        spec,
        job_name=job.name,
        role_arn=resources.role_arn,
        image_uri=image_uri,
        code=code,  # type: ignore[arg-type]
        channels=channels,  # type: ignore[arg-type]
        output_path=output,
        checkpoint_s3_uri=checkpoint,
        region=resources.region,
        tags=tags,
        enable_spot=spec.spot,
        max_wait=spot_max_wait(spec) if spec.spot else None,
        framework=job.settings.image.framework,
    )


def planned_request(
    job: PreparedJob, resources: Resources, image_uri: str, tags: dict[str, str]
) -> dict[str, Any]:
    """``training_request`` with placeholders (an all-zero digest) where the shipped code and
    local channels will go: what to validate before anything is built or uploaded."""
    spec = job.spec
    code = _PlannedCode(digest="0" * 64, prefix_uri=f"{resources.root_uri}/code/{'0' * 64}/")
    channels = [
        _PlannedChannel(
            name=c.name,
            uri=f"{resources.root_uri}/data/{spec.base_job_name}/{c.name}/{'0' * 64}/",
        )
        for c in spec.channels
        if not is_remote_uri(c.uri)
    ]
    return training_request(job, resources, image_uri, code, channels, tags)


def input_record(channels: Sequence[Any]) -> dict[str, ChannelInput]:
    """Each channel's S3 URI as the job reads it and the content digest of its immutable
    snapshot (None for an ``s3://`` channel read where it is)."""
    return {c.name: ChannelInput(uri=c.uri, digest=getattr(c, "digest", None)) for c in channels}
