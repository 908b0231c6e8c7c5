"""The library façade: load a spec, run / wait / describe / logs / stop / fetch jobs.

The CLI is a view of these functions; a Python user calls them directly::

    spec = sagelift.load_spec(Path("."), hyperparameters={"epochs": 3})
    result = sagelift.run(spec)
    print(result.status.state, result.model_artifacts)
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from sagelift import preflight, records
from sagelift.aws import resolve_region
from sagelift.backends import get_backend
from sagelift.backends.base import (
    Backend,
    Capability,
    LineSink,
    StatusSink,
    check_capabilities,
)
from sagelift.config import Resolved, load_config
from sagelift.errors import (
    EndpointUnreachable,
    JobFailed,
    JobVanished,
    SageliftError,
    SpecError,
    StorageError,
    UnsupportedFeature,
    UsageError,
)
from sagelift.job import JobHandle, JobRecord, JobState, JobStatus, PreparedJob
from sagelift.redaction import secret_names, secrets_notice
from sagelift.settings import Settings, settings_from_config
from sagelift.spec import (
    JobSpec,
    is_remote_uri,
    parse_job_spec,
    validate_job_name,
)

if TYPE_CHECKING:
    from sagelift.tracking.base import RunInfo

__all__ = [
    "JobListing",
    "JobResult",
    "describe",
    "fetch",
    "handle_for",
    "list_jobs",
    "load_settings",
    "load_spec",
    "logs",
    "run",
    "scan_jobs",
    "stop",
    "stream",
    "submit",
    "track",
    "wait",
]

log = logging.getLogger(__name__)

WAIT_POLL_SECONDS = 0.05
#: The region of a job when neither the settings, the environment nor an AWS profile name one
#: (a local job's ``sagemaker_region``).
DEFAULT_REGION = "us-east-1"
#: Written by sagelift.tracking.session for tracked jobs (kept here so untracked runs never
#: import the tracking stack).
TRACKING_FILE = "tracking.json"


@dataclass(frozen=True, slots=True, kw_only=True)
class JobResult:
    """The outcome of a finished job."""

    handle: JobHandle
    status: JobStatus

    @property
    def ok(self) -> bool:
        return self.status.state is JobState.COMPLETED

    @property
    def model_artifacts(self) -> str | None:
        return self.status.model_artifacts


def load_config_for(
    project_dir: Path,
    *,
    environ: Mapping[str, str] | None = None,
    cli: Mapping[str, Any] | None = None,
    profile: str | None = None,
) -> Resolved:
    return load_config(
        project_dir, environ=os.environ if environ is None else environ, cli=cli, profile=profile
    )


def load_spec(
    project_dir: Path | str = ".",
    *,
    environ: Mapping[str, str] | None = None,
    profile: str | None = None,
    **overrides: Any,
) -> JobSpec:
    """The job spec of ``project_dir`` with its layers; ``overrides`` act as CLI flags.

    Table overrides are mappings: ``hyperparameters={"epochs": 3}``.
    """
    cli: dict[str, Any] = {}
    for key, value in overrides.items():
        if isinstance(value, Mapping):
            cli.update({f"{key}.{sub}": v for sub, v in value.items()})
        else:
            cli[key] = value
    project = Path(project_dir)
    config = load_config_for(project, environ=environ, cli=cli, profile=profile)
    return parse_job_spec(config, project)


def backend_for(spec: JobSpec, settings: Settings | None = None) -> Backend:
    """``ml.*`` instance types run on SageMaker (or, with ``backend = "rehearsal"``, their
    SageMaker request runs here in its image); ``local``/``local_gpu`` on this machine, as a
    process (default) or in a container image (``backend = "container"``)."""
    chosen = settings.backend if settings is not None else None
    if spec.instance_type.startswith("ml."):
        return get_backend("rehearsal" if chosen == "rehearsal" else "sagemaker")
    if chosen == "rehearsal":
        raise UnsupportedFeature(
            "a rehearsal runs the SageMaker request of an ml.* instance type; "
            f"'{spec.instance_type}' is not one",
            hint="pass --instance-type ml.m5.large (or another ml.* type) with --rehearse",
        )
    return get_backend(chosen if chosen in ("local", "container") else "local")


def new_job_name(base: str, when: datetime) -> str:
    """``<base>-YYYYMMDD-HHMMSS-<4 hex>``: unique, sortable, SageMaker-valid."""
    suffix = f"-{when:%Y%m%d-%H%M%S}-{os.urandom(2).hex()}"
    return base[: 63 - len(suffix)].rstrip("-") + suffix


def load_settings(
    project_dir: Path | str = ".",
    *,
    environ: Mapping[str, str] | None = None,
    profile: str | None = None,
) -> Settings:
    """The settings (AWS, images, tracking) of ``project_dir``, from the same layers as the spec."""
    return settings_from_config(
        load_config_for(Path(project_dir), environ=environ, profile=profile)
    )


def submit(
    spec: JobSpec, *, settings: Settings | None = None, allow_dirty_data: bool = False
) -> JobHandle:
    """Validate ``spec`` and start it; returns at once.

    Every check happens before the first side effect: a UsageError leaves nothing behind.
    A DVC-tracked channel that differs from its DVC record is refused (DirtyData) unless
    ``allow_dirty_data``. With tracking on, the job's MLflow run is created here and the job
    gets MLFLOW_TRACKING_URI / MLFLOW_RUN_ID / MLFLOW_EXPERIMENT_ID when it can reach the store.
    """
    if settings is None:
        settings = load_settings(spec.project_dir)
    backend = backend_for(spec, settings)
    check_capabilities(backend, spec)
    backend.check(spec)
    preflight.check_local_inputs(spec)
    preflight.check_channels_leave_code_alone(spec)
    from sagelift.data.channels import dvc_versions

    data_versions = dvc_versions(spec, allow_dirty=allow_dirty_data)
    warn_secret_hyperparameters(spec)
    created = records.now()
    name = spec.job_name or new_job_name(spec.base_job_name, created)
    validate_job_name(name)
    record_dir = records.jobs_root(spec.project_dir) / name
    if record_dir.exists():
        raise SpecError(
            f"job_name: a job named '{name}' already exists",
            hint="job names are unique: drop job_name to get a generated one",
            field="job_name",
        )
    job = PreparedJob(
        spec=spec,
        name=name,
        record_dir=record_dir,
        created_at=created,
        region=resolve_region(settings.aws) or DEFAULT_REGION,
        settings=settings,
    )
    backend.preflight(job)
    records.create_record_dir(record_dir)
    try:
        records.write_record(
            record_dir,
            JobRecord(
                name=name,
                backend=backend.name,
                created_at=created,
                spec=spec,
                data_versions=data_versions,
            ),
        )
        if settings.tracking.uri:
            from sagelift.tracking import session

            tracking_env = session.begin(job)
            if tracking_env:
                environment = {**tracking_env, **spec.environment}
                job = replace(job, spec=replace(spec, environment=environment))
        handle = backend.submit(job)
    except BaseException as exc:
        # A backend raises a SageliftError only before the job has started: leave nothing
        # behind. Interrupted, it has recorded how the job ended once the job had a status;
        # before that the record was never visible, and goes.
        if isinstance(exc, SageliftError) or not records.has_status(record_dir):
            _remove_record(record_dir)
        raise
    if (record_dir / TRACKING_FILE).exists():
        from sagelift.tracking import session

        session.submitted(record_dir)
    return handle


def warn_secret_hyperparameters(spec: JobSpec) -> tuple[str, ...]:
    """Log one warning naming the hyperparameters that look like secrets; returns their names.

    Their values are masked in sagelift's own output (``sagelift.redaction``), but the job and,
    on SageMaker, the job's description carry them in the clear.
    """
    names = secret_names(spec.hyperparameters)
    if names:
        log.warning("%s", secrets_notice(names, remote=not spec.is_local))
    return names


def _remove_record(record_dir: Path) -> None:
    shutil.rmtree(record_dir, ignore_errors=True)
    for parent in (record_dir.parent, record_dir.parent.parent):
        with contextlib.suppress(OSError):
            parent.rmdir()  # only when empty: .sagelift/jobs, then .sagelift


def handle_for(project_dir: Path, name: str) -> JobHandle:
    """The handle of job ``name`` (a name, a unique prefix or ``last``) in ``project_dir``.

    Raises JobNotFound, or DamagedRecord when that job's record cannot be read.
    """
    return records.handle_of(records.find_record(project_dir, name))


def capabilities_of(handle: JobHandle) -> frozenset[Capability]:
    """What the backend that runs ``handle`` can do (e.g. whether the job outlives this
    process, which decides what Ctrl-C means)."""
    return get_backend(handle.backend).capabilities


def describe(project_dir: Path, name: str) -> JobStatus:
    """The job's status now. Raises JobNotFound, DamagedRecord (its record cannot be read),
    JobVanished / EndpointUnreachable (a cloud job its backend cannot report)."""
    return current_status(handle_for(project_dir, name))


def current_status(handle: JobHandle) -> JobStatus:
    """What the job's backend reports now; a job still being created (no status recorded yet)
    is ``InProgress`` / ``Starting`` with a note saying so."""
    if not records.has_status(handle.record_dir):
        return _creating(handle, records.read_header(handle.record_dir).created_at)
    return get_backend(handle.backend).describe(handle)


def _creating(handle: JobHandle, created: datetime) -> JobStatus:
    return JobStatus(
        name=handle.name,
        backend=handle.backend,
        state=JobState.IN_PROGRESS,
        secondary_status="Starting",
        created_at=created,
        transitions=(("Starting", created),),
        notes=("being created: no status recorded yet",),
    )


Condition = Literal["ok", "creating", "unknown", "damaged"]


@dataclass(frozen=True, slots=True, kw_only=True)
class JobListing:
    """One row of a project's job list.

    ``condition``: ``ok`` (``status`` is current), ``creating`` (no status recorded yet;
    ``status`` is a placeholder), ``unknown`` (the backend could not be asked, ``status`` is the
    last one recorded, ``reason`` says why) or ``damaged`` (the record cannot be read;
    ``status`` is None, ``reason`` says what is wrong and ``hint`` how to move it aside).
    """

    name: str
    record_dir: Path
    backend: str | None
    condition: Condition
    status: JobStatus | None
    reason: str | None = None
    hint: str | None = None
    problem: SageliftError | None = field(default=None, compare=False)

    @property
    def label(self) -> str:
        """The status column of ``sagelift ls``."""
        if self.condition == "damaged":
            return "damaged"
        if self.condition == "unknown":
            return f"unknown ({self.reason})"
        if self.condition == "creating":
            return "creating"
        assert self.status is not None
        return self.status.state.value


def scan_jobs(project_dir: Path) -> list[JobListing]:
    """Every recorded job of the project, newest first, damaged records last; never raises
    for one job's sake.

    Each record is read once. A job whose recorded status is terminal is listed from that
    status alone: a finished job's status never changes (SageMaker's Completed, Failed and
    Stopped are final too), so no backend is asked. A running job is described by its backend;
    when that fails the row keeps the last recorded status and says why (``unknown``), and an
    endpoint found unreachable is not tried again for the other jobs of the listing.
    """
    listing = []
    unreachable: dict[tuple[str, ...], EndpointUnreachable] = {}
    for entry in records.scan_records(project_dir):
        header = entry.header
        if header is None:
            assert entry.damage is not None
            listing.append(_damaged(entry.record_dir, None, entry.damage))
            continue
        handle = header.handle(entry.record_dir)
        try:
            recorded = records.read_status(entry.record_dir)
            if recorded.state.is_terminal:
                listing.append(_row(handle, "ok", recorded))
                continue
            endpoint = _endpoint_of(handle)
            if endpoint in unreachable:
                listing.append(_unknown(handle, recorded, unreachable[endpoint]))
                continue
            listing.append(_row(handle, "ok", get_backend(header.backend).describe(handle)))
        except FileNotFoundError:  # no status.json yet
            listing.append(_row(handle, "creating", _creating(handle, header.created_at)))
        except records.DamagedRecord as exc:
            listing.append(_damaged(entry.record_dir, header.backend, exc))
        except EndpointUnreachable as exc:
            unreachable[endpoint] = exc
            listing.append(_unknown(handle, recorded, exc))
        except SageliftError as exc:
            listing.append(_unknown(handle, recorded, exc))
    return listing


def _endpoint_of(handle: JobHandle) -> tuple[str, ...]:
    """Which API a job's backend asks about it: jobs sharing one share its reachability."""
    if handle.backend != "sagemaker":
        return (handle.backend,)
    cloud = records.read_record(handle.record_dir).cloud
    if cloud is None:
        return (handle.backend, handle.name)
    return (handle.backend, cloud.region, cloud.aws.endpoint_url or "", cloud.aws.profile or "")


def _row(handle: JobHandle, condition: Condition, status: JobStatus) -> JobListing:
    return JobListing(
        name=handle.name,
        record_dir=handle.record_dir,
        backend=handle.backend,
        condition=condition,
        status=status,
    )


def _damaged(record_dir: Path, backend: str | None, exc: SageliftError) -> JobListing:
    return JobListing(
        name=record_dir.name,
        record_dir=record_dir,
        backend=backend,
        condition="damaged",
        status=None,
        reason=exc.message,
        hint=records.aside_hint(record_dir),
        problem=exc,
    )


def _unknown(handle: JobHandle, recorded: JobStatus, exc: SageliftError) -> JobListing:
    if isinstance(exc, EndpointUnreachable):
        reason = "endpoint unreachable"
    elif isinstance(exc, JobVanished):
        reason = "job not found in SageMaker" if handle.backend == "sagemaker" else "job not found"
    else:
        reason = exc.headline
    return JobListing(
        name=handle.name,
        record_dir=handle.record_dir,
        backend=handle.backend,
        condition="unknown",
        status=recorded,
        reason=reason,
        hint=exc.hint,
        problem=exc,
    )


def list_jobs(project_dir: Path) -> list[JobStatus]:
    """The status of every readable recorded job of the project, newest first (the last
    recorded one where the backend cannot be asked; :func:`scan_jobs` says which and why)."""
    return [row.status for row in scan_jobs(project_dir) if row.status is not None]


def logs(project_dir: Path, name: str, *, follow: bool = False) -> Iterator[str]:
    """The job's output lines; with ``follow``, until the job ends. A job still being created
    has no output yet: nothing, or with ``follow`` a UsageError saying so."""
    handle = handle_for(project_dir, name)
    if not records.has_status(handle.record_dir):
        if follow:
            raise UsageError(
                f"job {handle.name} is still being created: it has no status or output yet",
                hint=f"try again in a moment; if it stays so, its creation was interrupted: "
                f"{records.aside_hint(handle.record_dir)}",
            )
        return iter(())
    return stream(handle, follow=follow)


def stream(handle: JobHandle, *, follow: bool = False) -> Iterator[str]:
    """The job's output lines; with ``follow``, until the job ends."""
    return get_backend(handle.backend).logs(handle, follow=follow)


def wait(
    handle: JobHandle,
    *,
    on_line: LineSink | None = None,
    on_status: StatusSink | None = None,
    timeout: float | None = None,
) -> JobStatus:
    """Block until the job ends, passing each output line to ``on_line`` and each new status
    to ``on_status``; with ``timeout``, return the status after that many seconds at most.

    The one orchestrator of waiting and tracking: the backend is watched, and a tracked job's
    metric lines go to its MLflow run as they come; when it has ended, the run is completed
    (``sagelift.tracking.session``; tracking problems are warnings only).
    """
    backend = get_backend(handle.backend)
    tracked = (handle.record_dir / TRACKING_FILE).exists()
    if timeout is not None:
        deadline = time.monotonic() + timeout
        status = backend.describe(handle)
        while not status.state.is_terminal and time.monotonic() < deadline:
            time.sleep(WAIT_POLL_SECONDS)
            status = backend.describe(handle)
        if not status.state.is_terminal:
            return status
    else:
        sink: LineSink | None = on_line
        if tracked and on_line is not None:
            from sagelift.tracking import session

            metrics = session.sink_for(handle)

            def sink(line: str) -> None:
                on_line(line)
                metrics(line)

        status = backend.watch(handle, on_line=sink, on_status=on_status)
    if tracked:
        from sagelift.tracking import session

        session.finish_job(handle, status, lines=lambda: backend.logs(handle, follow=False))
    return status


def stop(handle: JobHandle) -> JobStatus:
    """Ask the job to stop (SIGTERM, grace, SIGKILL) and return its current status."""
    backend = get_backend(handle.backend)
    status = current_status(handle)
    if status.state.is_terminal:
        return status
    backend.stop(handle)
    return current_status(handle)


def run(
    spec: JobSpec,
    *,
    settings: Settings | None = None,
    on_line: Callable[[str], None] | None = None,
    check: bool = False,
) -> JobResult:
    """Run ``spec`` to the end. With ``check``, raise JobFailed unless it completed."""
    handle = submit(spec, settings=settings)
    status = wait(handle, on_line=on_line)
    if check and status.state is not JobState.COMPLETED:
        raise JobFailed(
            f"job {handle.name} {status.state.value.lower()}: {status.failure_reason or ''}",
            job_name=handle.name,
            reason=status.failure_reason,
        )
    return JobResult(handle=handle, status=status)


def fetch(
    project_dir: Path,
    name: str,
    dest: Path | None = None,
    *,
    force: bool = False,
    max_bytes: int | None = None,
) -> Path:
    """Extract the job's model (and output data, under ``output/``) into ``dest``.

    ``dest`` defaults to ``<project_dir>/models/<job>``; a dir that fetch creates is marked
    (``codefiles.FETCH_MARKER``) and so never ships as code. Extraction refuses absolute paths,
    ``..`` and links that leave ``dest``, and archives unpacking to more than ``max_bytes``
    (default ``unpacking.DEFAULT_MAX_BYTES``) or than the free space there. A refused or failed
    fetch leaves nothing at ``dest``. An existing, non-empty ``dest`` is never written without
    ``force``; with it, archive members overwrite files of the same path and nothing else there
    changes.
    """
    from sagelift.codefiles import FETCH_MARKER
    from sagelift.unpacking import DEFAULT_MAX_BYTES, Part, check_destination, unpack

    handle = handle_for(project_dir, name)
    status = current_status(handle)
    if status.model_artifacts is None:
        raise UsageError(
            f"job {handle.name} has no model artifacts (status {status.state.value})",
            hint="fetch works once a job has completed or was stopped",
        )
    target = dest if dest is not None else Path(project_dir) / "models" / handle.name
    check_destination(target, force=force)
    with tempfile.TemporaryDirectory(prefix="sagelift-fetch-") as tmp:
        parts = [
            Part(archive=_local_artifact(project_dir, handle, status.model_artifacts, Path(tmp)))
        ]
        if status.output_artifacts and is_remote_uri(status.output_artifacts):
            try:
                output = _local_artifact(project_dir, handle, status.output_artifacts, Path(tmp))
            except StorageError:
                # A job that wrote nothing to /opt/ml/output/data may have no output.tar.gz.
                log.info("no output data at %s", status.output_artifacts)
            else:
                parts.append(Part(archive=output, under="output"))
        elif status.output_artifacts and Path(status.output_artifacts).is_file():
            parts.append(Part(archive=Path(status.output_artifacts), under="output"))
        marker = json.dumps({"job": handle.name, "model": status.model_artifacts}) + "\n"
        return unpack(
            parts,
            target,
            force=force,
            max_bytes=DEFAULT_MAX_BYTES if max_bytes is None else max_bytes,
            marker=(FETCH_MARKER, marker),
        )


def _local_artifact(project_dir: Path, handle: JobHandle, uri: str, tmp: Path) -> Path:
    """``uri`` itself when local, else a download of it into ``tmp`` (same file name)."""
    if not is_remote_uri(uri):
        return Path(uri)
    from sagelift.storage import open_storage

    record = records.read_record(handle.record_dir)
    if record.run is not None:
        aws = record.run.aws
    elif record.cloud is not None:
        aws = record.cloud.aws
    else:
        aws = load_settings(project_dir).aws
    path = tmp / uri.rstrip("/").rsplit("/", 1)[-1]
    open_storage(uri, aws=aws).download_file(uri, path)
    return path


def track(
    project_dir: Path, name: str, *, uri: str | None = None, experiment: str | None = None
) -> RunInfo:
    """Record an ended job in MLflow now (a run the tracking server missed, or any past job).

    ``uri`` defaults to the project's tracking.uri. Raises UsageError when tracking is off or the
    job has not ended, TrackingError when the store fails.
    """
    from sagelift.tracking import session

    settings = load_settings(project_dir)
    resolved = session.resolve_uri(uri or settings.tracking.uri, Path(project_dir))
    if resolved is None:
        raise UsageError(
            "tracking is off: no tracking.uri", hint="set tracking.uri or pass --tracking-uri"
        )
    handle = handle_for(project_dir, name)
    backend = get_backend(handle.backend)
    return session.replay(
        handle,
        backend.describe(handle),
        lines=lambda: backend.logs(handle, follow=False),
        uri=resolved,
        experiment=experiment or settings.tracking.experiment,
    )
