"""The library façade: load a spec, run / wait / describe / logs / stop / fetch jobs.

The CLI is a view of these functions; a Python user calls them directly::

    spec = sagelift.load_spec(Path("."), hyperparameters={"epochs": 3})
    result = sagelift.run(spec)
    print(result.status.state, result.model_artifacts)

Loading and submitting live in :mod:`sagelift.submission`, the job listing in
:mod:`sagelift.listing`; both are offered here too.
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sagelift import records
from sagelift.backends import get_backend
from sagelift.backends.base import Capability, LineSink, StatusSink
from sagelift.errors import JobFailed, StorageError, UsageError
from sagelift.job import JobHandle, JobState, JobStatus
from sagelift.listing import JobListing, creating_status, list_jobs, scan_jobs
from sagelift.settings import Settings
from sagelift.spec import JobSpec, is_remote_uri
from sagelift.submission import (
    TRACKING_FILE,
    load_config_for,
    load_settings,
    load_spec,
    submit,
)

if TYPE_CHECKING:
    from sagelift.tracking.base import RunInfo

__all__ = [
    "TRACKING_FILE",
    "JobListing",
    "JobResult",
    "describe",
    "fetch",
    "handle_for",
    "list_jobs",
    "load_config_for",
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
        return creating_status(handle, records.read_header(handle.record_dir).created_at)
    return get_backend(handle.backend).describe(handle)


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
