"""The job listing: every recorded job of a project with its status, as ``sagelift ls`` shows it.

A listing never raises for one job's sake: a damaged record, a backend that cannot be asked or a
job still being created each becomes a row that says so (:class:`JobListing`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal

from sagelift import records
from sagelift.backends import get_backend
from sagelift.errors import EndpointUnreachable, JobVanished, SageliftError
from sagelift.job import JobHandle, JobState, JobStatus

__all__ = ["Condition", "JobListing", "creating_status", "list_jobs", "scan_jobs"]


def creating_status(handle: JobHandle, created: datetime) -> JobStatus:
    """The status of a job still being created (created at ``created``, no status recorded
    yet): ``InProgress`` / ``Starting``, with a note saying so."""
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
            listing.append(_row(handle, "creating", creating_status(handle, header.created_at)))
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
