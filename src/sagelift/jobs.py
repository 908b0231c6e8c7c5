"""The library façade: load a spec, run / wait / describe / logs / stop / fetch jobs.

The CLI is a view of these functions; a Python user calls them directly::

    spec = sagelift.load_spec(Path("."), hyperparameters={"epochs": 3})
    result = sagelift.run(spec)
    print(result.status.state, result.model_artifacts)
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sagelift import records
from sagelift.backends import get_backend
from sagelift.backends.base import Backend, JobHandle, JobState, JobStatus, PreparedJob
from sagelift.config import Resolved, load_config
from sagelift.errors import JobFailed, SageliftError, SpecError, StorageError, UsageError
from sagelift.redaction import secret_names, secrets_notice
from sagelift.settings import Settings, settings_from_config
from sagelift.spec import (
    JobSpec,
    check_local_inputs,
    is_remote_uri,
    parse_job_spec,
    validate_job_name,
)

if TYPE_CHECKING:
    from sagelift.tracking.base import RunInfo

__all__ = [
    "JobResult",
    "describe",
    "fetch",
    "list_jobs",
    "load_settings",
    "load_spec",
    "logs",
    "run",
    "stop",
    "stream",
    "submit",
    "track",
    "wait",
]

log = logging.getLogger(__name__)

WAIT_POLL_SECONDS = 0.05
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
    """``ml.*`` instance types run on SageMaker; ``local``/``local_gpu`` on this machine, as a
    process (default) or in a container image (``backend = "container"``)."""
    if spec.instance_type.startswith("ml."):
        return get_backend("sagemaker")
    chosen = settings.backend if settings is not None else None
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
    backend.check(spec)
    check_local_inputs(spec)
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
        region=settings.aws.region or _default_region(),
        settings=settings,
    )
    records.create_record_dir(record_dir)
    try:
        records.write_json_atomic(
            record_dir / records.JOB_FILE,
            {
                "name": name,
                "backend": backend.name,
                "created_at": created.isoformat(),
                "spec": records.spec_to_dict(spec),
                "data_versions": data_versions,
            },
        )
        if settings.tracking.uri:
            from sagelift.tracking import session

            tracking_env = session.begin(job, backend=backend.name, data_versions=data_versions)
            if tracking_env:
                environment = {**tracking_env, **spec.environment}
                job = replace(job, spec=replace(spec, environment=environment))
        handle = backend.submit(job)
    except SageliftError:
        # A backend raises only before the job has started: leave nothing behind.
        shutil.rmtree(record_dir, ignore_errors=True)
        for parent in (record_dir.parent, record_dir.parent.parent):
            with contextlib.suppress(OSError):
                parent.rmdir()  # only when empty: .sagelift/jobs, then .sagelift
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


def _default_region() -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


def handle_for(project_dir: Path, name: str) -> JobHandle:
    record_dir = records.find_record(project_dir, name)
    data = records.read_job(record_dir)
    return JobHandle(backend=data["backend"], name=data["name"], record_dir=record_dir)


def describe(project_dir: Path, name: str) -> JobStatus:
    handle = handle_for(project_dir, name)
    return get_backend(handle.backend).describe(handle)


def list_jobs(project_dir: Path) -> list[JobStatus]:
    """Every recorded job of the project, newest first."""
    statuses = []
    for record_dir in records.list_records(project_dir):
        data = records.read_job(record_dir)
        handle = JobHandle(backend=data["backend"], name=data["name"], record_dir=record_dir)
        if (record_dir / records.STATUS_FILE).exists():
            statuses.append(get_backend(handle.backend).describe(handle))
    return statuses


def logs(project_dir: Path, name: str, *, follow: bool = False) -> Iterator[str]:
    return stream(handle_for(project_dir, name), follow=follow)


def stream(handle: JobHandle, *, follow: bool = False) -> Iterator[str]:
    """The job's output lines; with ``follow``, until the job ends."""
    return get_backend(handle.backend).logs(handle, follow=follow)


def wait(
    handle: JobHandle,
    *,
    on_line: Callable[[str], None] | None = None,
    timeout: float | None = None,
) -> JobStatus:
    """Block until the job ends, passing each output line to ``on_line``.

    A tracked job's metric lines go to its MLflow run as they come; when it has ended, the run
    is completed (see ``sagelift.tracking.session``; tracking problems are warnings only).
    """
    backend = get_backend(handle.backend)
    tracked = (handle.record_dir / TRACKING_FILE).exists()
    if tracked:
        from sagelift.tracking import session
    if on_line is not None:
        sink = session.sink_for(handle) if tracked else None
        for line in backend.logs(handle, follow=True):
            on_line(line)
            if sink is not None:
                sink(line)
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        status = backend.describe(handle)
        if status.state.is_terminal:
            if tracked:
                session.finish_job(handle, status)
            return status
        if deadline is not None and time.monotonic() > deadline:
            return status
        time.sleep(WAIT_POLL_SECONDS)


def stop(handle: JobHandle) -> JobStatus:
    """Ask the job to stop (SIGTERM, grace, SIGKILL) and return its current status."""
    backend = get_backend(handle.backend)
    status = backend.describe(handle)
    if status.state.is_terminal:
        return status
    backend.stop(handle)
    return backend.describe(handle)


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


def fetch(project_dir: Path, name: str, dest: Path | None = None, *, force: bool = False) -> Path:
    """Extract the job's model (and output data, under ``output/``) into ``dest``.

    Extraction refuses absolute paths, ``..`` and links that leave ``dest``. An existing,
    non-empty ``dest`` is never overwritten without ``force``.
    """
    from sagelift.packaging import safe_extract

    handle = handle_for(project_dir, name)
    status = get_backend(handle.backend).describe(handle)
    if status.model_artifacts is None:
        raise UsageError(
            f"job {handle.name} has no model artifacts (status {status.state.value})",
            hint="fetch works once a job has completed or was stopped",
        )
    target = dest if dest is not None else Path("models") / handle.name
    if target.exists() and any(target.iterdir()) and not force:
        raise UsageError(
            f"{target} exists and is not empty", hint="pick another destination or pass --force"
        )
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="sagelift-fetch-") as tmp:
        model = _local_artifact(project_dir, handle, status.model_artifacts, Path(tmp))
        safe_extract(model, target)
        if status.output_artifacts and is_remote_uri(status.output_artifacts):
            try:
                output = _local_artifact(project_dir, handle, status.output_artifacts, Path(tmp))
            except StorageError:
                # A job that wrote nothing to /opt/ml/output/data may have no output.tar.gz.
                log.info("no output data at %s", status.output_artifacts)
            else:
                safe_extract(output, target / "output")
        elif status.output_artifacts and Path(status.output_artifacts).is_file():
            safe_extract(Path(status.output_artifacts), target / "output")
    return target


def _local_artifact(project_dir: Path, handle: JobHandle, uri: str, tmp: Path) -> Path:
    """``uri`` itself when local, else a download of it into ``tmp`` (same file name)."""
    if not is_remote_uri(uri):
        return Path(uri)
    from sagelift.backends.artifacts import aws_from_dict
    from sagelift.storage import open_storage

    recorded = records.read_job(handle.record_dir).get("run", {}).get("aws")
    aws = aws_from_dict(recorded) if recorded else load_settings(project_dir).aws
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
    status = get_backend(handle.backend).describe(handle)
    return session.replay(
        handle, status, uri=resolved, experiment=experiment or settings.tracking.experiment
    )
