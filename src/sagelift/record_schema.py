"""The JSON shape of a job's record: ``job.json`` and ``status.json`` as dicts, and back.

Pure: typed :class:`~sagelift.job.JobRecord`, :class:`~sagelift.job.JobStatus` and
:class:`RecordHeader` in, dicts out, and the inverse. ``job.json`` carries ``schema``
(:data:`SCHEMA_VERSION`); a record without it is schema 1 and decodes to the same types, and one
written by a newer sagelift is refused (ValueError). A decoder raises KeyError, TypeError,
ValueError or AttributeError on a dict that is not a record. Reading and writing the files is
:mod:`sagelift.records`' alone, and it is the only caller of the decoders here: everything else
goes through it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sagelift.aws import AwsSettings
from sagelift.contract.distribution import Distribution
from sagelift.job import (
    ChannelInput,
    CloudJob,
    ContainerImage,
    JobHandle,
    JobRecord,
    JobState,
    JobStatus,
    LocalRun,
)
from sagelift.spec import Channel, EntryPoint, JobSpec, MetricDefinition

__all__ = [
    "SCHEMA_VERSION",
    "RecordHeader",
    "aws_from_dict",
    "aws_to_dict",
    "header_from_dict",
    "record_from_dict",
    "record_to_dict",
    "status_as_dict",
    "status_from_dict",
]

SCHEMA_VERSION = 2


def aws_to_dict(aws: AwsSettings) -> dict[str, Any]:
    """The JSON form of ``aws`` (no secrets: boto3 resolves those)."""
    return {
        "profile": aws.profile,
        "region": aws.region,
        "endpoint_url": aws.endpoint_url,
        "max_attempts": aws.max_attempts,
    }


def aws_from_dict(data: Mapping[str, Any] | None) -> AwsSettings:
    """Inverse of ``aws_to_dict``; nothing recorded gives boto3's defaults."""
    if not data:
        return AwsSettings()
    return AwsSettings(
        profile=data.get("profile"),
        region=data.get("region"),
        endpoint_url=data.get("endpoint_url"),
        max_attempts=int(data.get("max_attempts") or 5),
    )


def _spec_to_dict(spec: JobSpec) -> dict[str, Any]:
    data = asdict(spec)
    data["project_dir"] = str(spec.project_dir)
    data["source_dir"] = str(spec.source_dir)
    data["requirements"] = None if spec.requirements is None else str(spec.requirements)
    data["hyperparameters"] = dict(spec.hyperparameters)
    data["environment"] = dict(spec.environment)
    return data


def _spec_from_dict(data: Mapping[str, Any]) -> JobSpec:
    fields = dict(data)
    fields["project_dir"] = Path(fields["project_dir"])
    fields["source_dir"] = Path(fields["source_dir"])
    fields["requirements"] = (
        None if fields.get("requirements") is None else Path(fields["requirements"])
    )
    fields["entry_point"] = EntryPoint(
        kind=fields["entry_point"]["kind"], argv=tuple(fields["entry_point"]["argv"])
    )
    fields["channels"] = tuple(
        Channel(**{**c, "attribute_names": tuple(c.get("attribute_names") or ())})
        for c in fields.get("channels", ())
    )
    fields["metric_definitions"] = tuple(
        MetricDefinition(**m) for m in fields.get("metric_definitions", ())
    )
    fields["exclude"] = tuple(fields.get("exclude", ()))
    fields["interruptions"] = tuple(fields.get("interruptions", ()))
    if fields.get("distribution") is not None:
        fields["distribution"] = Distribution(**fields["distribution"])
    known = set(JobSpec.__dataclass_fields__)
    return JobSpec(**{k: v for k, v in fields.items() if k in known})


def _run_to_dict(run: LocalRun) -> dict[str, Any]:
    return {
        "layout_root": str(run.layout_root),
        "launcher": list(run.launcher),
        "launcher_status": str(run.launcher_status),
        "env": dict(run.env),
        "artifacts_dir": str(run.artifacts_dir),
        "output_uri": run.output_uri,
        "checkpoint_path": run.checkpoint_path,
        "interruptions": list(run.interruptions),
        "overlay_channels": list(run.overlay_channels),
        "max_runtime": run.max_runtime,
        "enforce_max_runtime": run.enforce_max_runtime,
        "aws": aws_to_dict(run.aws),
    }


def _overlays_in(argv: list[str]) -> tuple[str, ...]:
    # Schema 1 kept the overlaid channels only in the launcher's argv.
    return tuple(
        argv[i + 1].partition("=")[0]
        for i, arg in enumerate(argv[:-1])
        if arg == "--overlay-channel"
    )


def _run_from_dict(data: Mapping[str, Any], max_runtime: int) -> LocalRun:
    launcher = list(data["launcher"])
    return LocalRun(
        layout_root=Path(data["layout_root"]),
        launcher=tuple(launcher),
        launcher_status=Path(data["launcher_status"]),
        env=dict(data.get("env") or {}),
        artifacts_dir=Path(data["artifacts_dir"]),
        output_uri=data.get("output_uri"),
        checkpoint_path=data.get("checkpoint_path"),
        interruptions=tuple(float(t) for t in data.get("interruptions") or ()),
        overlay_channels=tuple(data.get("overlay_channels") or _overlays_in(launcher)),
        max_runtime=int(data.get("max_runtime") or max_runtime),
        enforce_max_runtime=bool(data.get("enforce_max_runtime")),
        aws=aws_from_dict(data.get("aws")),
    )


def record_to_dict(record: JobRecord) -> dict[str, Any]:
    """The JSON form of ``record`` (what ``job.json`` holds), at :data:`SCHEMA_VERSION`."""
    data: dict[str, Any] = {
        "schema": SCHEMA_VERSION,
        "name": record.name,
        "backend": record.backend,
        "created_at": record.created_at.isoformat(),
        "spec": None if record.spec is None else _spec_to_dict(record.spec),
        "data_versions": dict(record.data_versions),
        "inputs": {name: asdict(value) for name, value in record.inputs.items()},
        "code_digest": record.code_digest,
        "image_uri": record.image_uri,
        "image_digest": record.image_digest,
        "emulates": record.emulates,
        "run": None if record.run is None else _run_to_dict(record.run),
        "container": None if record.container is None else asdict(record.container),
        "cloud": None,
    }
    if record.cloud is not None:
        data["cloud"] = {
            "arn": record.cloud.arn,
            "region": record.cloud.region,
            "account": record.cloud.account,
            "aws": aws_to_dict(record.cloud.aws),
            "request": dict(record.cloud.request),
            "hourly_price": record.cloud.hourly_price,
            "data_sources": dict(record.cloud.data_sources),
        }
    return data


def record_from_dict(data: Mapping[str, Any]) -> JobRecord:
    """Inverse of :func:`record_to_dict`; a schema 1 record too. Raises ValueError for a newer
    schema, KeyError / TypeError / ValueError / AttributeError for a dict that is no record."""
    schema = int(data.get("schema") or 1)
    if schema > SCHEMA_VERSION:
        raise ValueError(f"written by a newer sagelift (schema {schema})")
    spec_data = data.get("spec") or {}
    spec = _spec_from_dict(spec_data) if "entry_point" in spec_data else None
    max_runtime = int(spec_data.get("max_runtime") or 86400)
    container = data.get("container")
    cloud = data.get("cloud")
    image_uri = data.get("image_uri")
    if schema == 1:
        # Schema 1: a container job kept {"ref", "id", "mode"} under "image" and the CLI apart;
        # a cloud job kept its image URI under "image" and its request at the top level.
        image = data.get("image")
        if isinstance(image, Mapping):
            container = {
                "ref": image["ref"],
                "image_id": image.get("id"),
                "mode": image.get("mode", "given"),
                "cli": data.get("container_cli", "podman"),
            }
        elif isinstance(image, str):
            image_uri = image
        if data.get("request") is not None:
            cloud = {
                "arn": data.get("arn"),
                "region": data.get("region") or "",
                "account": data.get("account"),
                "request": data["request"],
                "hourly_price": data.get("hourly_price"),
                "data_sources": data.get("data_sources") or {},
            }
    if cloud:
        cloud = {**cloud, "aws": aws_from_dict(cloud.get("aws"))}
    return JobRecord(
        name=data["name"],
        backend=data["backend"],
        created_at=datetime.fromisoformat(data["created_at"]),
        spec=spec,
        data_versions=dict(data.get("data_versions") or {}),
        inputs={
            name: ChannelInput(uri=value["uri"], digest=value.get("digest"))
            for name, value in (data.get("inputs") or {}).items()
        },
        code_digest=data.get("code_digest"),
        image_uri=image_uri,
        image_digest=data.get("image_digest"),
        emulates=data.get("emulates"),
        run=None if not data.get("run") else _run_from_dict(data["run"], max_runtime),
        container=None if not container else ContainerImage(**container),
        cloud=None if not cloud else CloudJob(**cloud),
    )


def status_as_dict(status: JobStatus) -> dict[str, Any]:
    """The JSON form of ``status`` (what ``status.json`` and ``--json`` output hold)."""
    # Field by field, not asdict(): its deep copies made listing 10,000 jobs take seconds.
    data = {name: getattr(status, name) for name in JobStatus.__dataclass_fields__}
    data["state"] = status.state.value
    for key in ("created_at", "started_at", "ended_at"):
        value = getattr(status, key)
        data[key] = None if value is None else value.isoformat()
    data["transitions"] = [[name, when.isoformat()] for name, when in status.transitions]
    data["notes"] = list(status.notes)
    return data


def status_from_dict(data: Mapping[str, Any]) -> JobStatus:
    """Inverse of :func:`status_as_dict`. Raises KeyError / TypeError / ValueError for a dict
    that is no status."""

    def when(value: str | None) -> datetime | None:
        return None if value is None else datetime.fromisoformat(value)

    return JobStatus(
        name=data["name"],
        backend=data["backend"],
        state=JobState(data["state"]),
        secondary_status=data["secondary_status"],
        failure_reason=data.get("failure_reason"),
        created_at=datetime.fromisoformat(data["created_at"]),
        started_at=when(data.get("started_at")),
        ended_at=when(data.get("ended_at")),
        exit_code=data.get("exit_code"),
        model_artifacts=data.get("model_artifacts"),
        output_artifacts=data.get("output_artifacts"),
        transitions=tuple((n, datetime.fromisoformat(t)) for n, t in data.get("transitions", [])),
        notes=tuple(data.get("notes", [])),
        training_seconds=data.get("training_seconds"),
        billable_seconds=data.get("billable_seconds"),
        cost_usd=data.get("cost_usd"),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordHeader:
    """What listing and addressing a job need of its record: ``job.json`` without the plan."""

    name: str
    backend: str
    created_at: datetime

    def handle(self, record_dir: Path) -> JobHandle:
        return JobHandle(backend=self.backend, name=self.name, record_dir=record_dir)


#: The parts of job.json that are objects when present (checked by the header read too).
_SECTIONS = ("spec", "run", "cloud", "container", "inputs", "data_versions")


def header_from_dict(data: Mapping[str, Any]) -> RecordHeader:
    """The header of the record ``data``, its sections checked to be objects but not decoded.
    Raises as :func:`record_from_dict` does; a naive creation time is taken as UTC."""
    schema = int(data.get("schema") or 1)
    if schema > SCHEMA_VERSION:
        raise ValueError(f"written by a newer sagelift (schema {schema})")
    name, backend = data["name"], data["backend"]
    if not isinstance(name, str) or not isinstance(backend, str):
        raise TypeError("name and backend must be strings")
    for section in _SECTIONS:
        if not isinstance(data.get(section) or {}, dict):  # json.loads gives dicts
            raise TypeError(f"'{section}' must be an object")
    created = datetime.fromisoformat(data["created_at"])
    if created.tzinfo is None:
        created = created.replace(tzinfo=timezone.utc)
    return RecordHeader(name=name, backend=backend, created_at=created)
