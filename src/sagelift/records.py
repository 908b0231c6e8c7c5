"""Job records: ``<project>/.sagelift/jobs/<name>/`` with ``job.json``, ``status.json``, the log.

Records are private (``sagelift.private_files``): ``.sagelift``, ``.sagelift/jobs`` and each
record directory are 0700, the files sagelift writes there 0600. The only module that knows the
records' JSON shape: everything else reads and writes the typed
:class:`~sagelift.job.JobRecord` and :class:`~sagelift.job.JobStatus`. Every write is atomic
(a temporary file, then a rename), so a reader never sees half a record even while the job
runs. ``job.json`` carries ``schema``; records written before it existed are read as schema 1.
A record that cannot be read raises :class:`DamagedRecord`, and listing skips nothing: it
reports the damaged ones so that one bad file never hides the other jobs. Listing reads each
``job.json`` once and only its header (:class:`RecordHeader`); finding a job by name or prefix
reads directory names only, so both stay linear in the number of records.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sagelift.aws import AwsSettings
from sagelift.contract.distribution import Distribution
from sagelift.errors import JobNotFound, UsageError
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
from sagelift.private_files import private_dir, write_private_text
from sagelift.spec import Channel, EntryPoint, JobSpec, MetricDefinition

__all__ = [
    "JOB_FILE",
    "LOG_FILE",
    "SCHEMA_VERSION",
    "STATUS_FILE",
    "DamagedRecord",
    "RecordEntry",
    "RecordHeader",
    "advance",
    "aside_hint",
    "aws_from_dict",
    "aws_to_dict",
    "create_record_dir",
    "find_record",
    "handle_of",
    "has_status",
    "jobs_root",
    "list_records",
    "now",
    "read_header",
    "read_record",
    "read_status",
    "scan_records",
    "status_as_dict",
    "update_record",
    "write_json_atomic",
    "write_record",
    "write_status",
]

JOB_FILE = "job.json"
STATUS_FILE = "status.json"
LOG_FILE = "output.log"
SCHEMA_VERSION = 2


class DamagedRecord(UsageError):
    """A job's ``job.json`` or ``status.json`` cannot be read (truncated, edited, foreign)."""

    headline = "damaged job record"


def aside_hint(record_dir: Path) -> str:
    """How to move a damaged record out of the way (out of ``jobs/``, so listing skips it)."""
    aside = record_dir.parent.parent / f"{record_dir.name}.damaged"
    return f"move it aside: mv {record_dir} {aside} (other jobs are unaffected)"


def now() -> datetime:
    return datetime.now(timezone.utc)


def jobs_root(project_dir: Path) -> Path:
    return project_dir / ".sagelift" / "jobs"


def create_record_dir(record_dir: Path) -> None:
    """Create the record directory ``record_dir`` (``<project>/.sagelift/jobs/<name>``), and
    its two parents where missing, all 0700. Raises FileExistsError when the record exists."""
    private_dir(record_dir.parent.parent)
    private_dir(record_dir.parent)
    private_dir(record_dir, exist_ok=False)


def write_json_atomic(path: Path, data: Any) -> None:
    """Replace ``path`` atomically with ``data`` as indented JSON, in a 0600 file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(data, indent=2, sort_keys=True, default=str) + "\n"
    write_private_text(path, text)


# --- the JSON shape -------------------------------------------------------------------------


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


def _record_to_dict(record: JobRecord) -> dict[str, Any]:
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


def _record_from_dict(data: Mapping[str, Any]) -> JobRecord:
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


def _status_to_dict(status: JobStatus) -> dict[str, Any]:
    # Field by field, not asdict(): its deep copies made listing 10,000 jobs take seconds.
    data = {name: getattr(status, name) for name in JobStatus.__dataclass_fields__}
    data["state"] = status.state.value
    for key in ("created_at", "started_at", "ended_at"):
        value = getattr(status, key)
        data[key] = None if value is None else value.isoformat()
    data["transitions"] = [[name, when.isoformat()] for name, when in status.transitions]
    data["notes"] = list(status.notes)
    return data


def status_as_dict(status: JobStatus) -> dict[str, Any]:
    """The JSON form of ``status`` (what ``status.json`` and ``--json`` output hold)."""
    return _status_to_dict(status)


def _status_from_dict(data: Mapping[str, Any]) -> JobStatus:
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


# --- reading and writing --------------------------------------------------------------------


def _load(record_dir: Path, name: str) -> Mapping[str, Any]:
    """The JSON object in ``record_dir/name``. Raises FileNotFoundError, or DamagedRecord."""
    # A plain string path and open(): listing reads two files per job, and pathlib's wrappers
    # cost about as much as the reading itself.
    try:
        with open(os.path.join(record_dir, name), "rb") as stream:
            data = json.loads(stream.read())
    except FileNotFoundError:
        raise
    except (OSError, ValueError) as exc:
        path = record_dir / name
        raise DamagedRecord(f"{path} cannot be read ({exc})", hint=aside_hint(record_dir)) from exc
    if not isinstance(data, dict):
        raise DamagedRecord(f"{record_dir / name} is not a job record", hint=aside_hint(record_dir))
    return data


def _decode(record_dir: Path, name: str, decode: Any) -> Any:
    data = _load(record_dir, name)
    try:
        return decode(data)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise DamagedRecord(
            f"{record_dir / name} is damaged ({type(exc).__name__}: {exc})",
            hint=aside_hint(record_dir),
        ) from exc


def write_record(record_dir: Path, record: JobRecord) -> None:
    write_json_atomic(record_dir / JOB_FILE, _record_to_dict(record))


def read_record(record_dir: Path) -> JobRecord:
    """The job's record. Raises DamagedRecord when it cannot be read."""
    record: JobRecord = _decode(record_dir, JOB_FILE, _record_from_dict)
    return record


def update_record(record_dir: Path, **changes: Any) -> JobRecord:
    """Rewrite the record with ``changes`` (fields of JobRecord); returns the new record."""
    record = replace(read_record(record_dir), **changes)
    write_record(record_dir, record)
    return record


def handle_of(record_dir: Path) -> JobHandle:
    """The handle of the record in ``record_dir``, read whole. Raises DamagedRecord."""
    return read_record(record_dir).handle(record_dir)


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


def _header_from_dict(data: Mapping[str, Any]) -> RecordHeader:
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


def read_header(record_dir: Path) -> RecordHeader:
    """The record's name, backend and creation time, without decoding the rest of it (the
    whole file is still parsed, so a truncated one is found). Raises DamagedRecord."""
    header: RecordHeader = _decode(record_dir, JOB_FILE, _header_from_dict)
    return header


def write_status(record_dir: Path, status: JobStatus) -> None:
    write_json_atomic(record_dir / STATUS_FILE, _status_to_dict(status))


def has_status(record_dir: Path) -> bool:
    """Whether the job has a status yet (a job being created has none)."""
    return (record_dir / STATUS_FILE).is_file()


def read_status(record_dir: Path) -> JobStatus:
    """The job's last recorded status. Raises DamagedRecord when it cannot be read."""
    status: JobStatus = _decode(record_dir, STATUS_FILE, _status_from_dict)
    return status


def advance(status: JobStatus, secondary: str, **changes: Any) -> JobStatus:
    """``status`` moved to a new secondary status, the transition recorded."""
    return replace(
        status,
        secondary_status=secondary,
        transitions=(*status.transitions, (secondary, now())),
        **changes,
    )


# --- finding records ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordEntry:
    """One record directory as listing found it: its header, or why it cannot be read."""

    record_dir: Path
    header: RecordHeader | None
    damage: DamagedRecord | None = None

    @property
    def name(self) -> str:
        return self.header.name if self.header is not None else self.record_dir.name


def _record_dirs(project_dir: Path, *, checked: bool = True) -> list[Path]:
    """Directories under ``jobs/`` that hold a ``job.json`` (one being created may not yet);
    unless ``checked``, every directory (the caller finds out reading it)."""
    root = jobs_root(project_dir)
    try:
        entries = list(os.scandir(root))
    except (FileNotFoundError, NotADirectoryError):
        return []
    return [
        root / entry.name
        for entry in entries
        if entry.is_dir() and (not checked or os.path.isfile(os.path.join(entry.path, JOB_FILE)))
    ]


def scan_records(project_dir: Path) -> list[RecordEntry]:
    """Every record directory of the project, newest first; damaged ones last, never raised.

    Each ``job.json`` is read once, for its header only (see :func:`read_header`).
    """
    entries = []
    for path in _record_dirs(project_dir, checked=False):
        try:
            entries.append(RecordEntry(record_dir=path, header=read_header(path)))
        except FileNotFoundError:
            continue
        except DamagedRecord as exc:
            entries.append(RecordEntry(record_dir=path, header=None, damage=exc))
    epoch = datetime.min.replace(tzinfo=timezone.utc)

    def key(entry: RecordEntry) -> tuple[bool, datetime, str]:
        created = entry.header.created_at if entry.header is not None else epoch
        return (entry.header is not None, created, entry.record_dir.name)

    return sorted(entries, key=key, reverse=True)


def list_records(project_dir: Path) -> list[Path]:
    """Record directories of the project that can be read, newest first."""
    return [e.record_dir for e in scan_records(project_dir) if e.header is not None]


def find_record(project_dir: Path, name: str) -> Path:
    """The record of job ``name``: an exact name, a unique prefix, or ``last``.

    Raises JobNotFound (exit 2) with the closest names as a hint. A damaged record is found by
    its directory name, so commands on it say what is wrong with it. Only ``last`` reads
    records; a name or a prefix is matched against directory names.
    """
    if name == "last":
        readable = list_records(project_dir)
        if readable:
            return readable[0]
    exact = jobs_root(project_dir) / name
    if name not in ("", ".", "..") and "/" not in name and (exact / JOB_FILE).is_file():
        return exact
    dirs = _record_dirs(project_dir)
    prefixed = sorted((p for p in dirs if p.name.startswith(name)), key=lambda p: p.name)
    if len(prefixed) == 1:
        return prefixed[0]
    if len(prefixed) > 1:
        shown = ", ".join(p.name for p in prefixed[:5])
        raise JobNotFound(
            f"'{name}' matches {len(prefixed)} jobs", hint=f"be more precise: {shown}"
        )
    hint = (
        "run 'sagelift ls' to list this project's jobs"
        if dirs
        else f"no jobs recorded under {jobs_root(project_dir)}; run 'sagelift run' first"
    )
    raise JobNotFound(f"no job named '{name}' in this project", hint=hint)
