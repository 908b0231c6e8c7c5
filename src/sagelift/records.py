"""Job records: ``<project>/.sagelift/jobs/<name>/`` with ``job.json``, ``status.json``, the log.

Records are private (``sagelift.private_files``): ``.sagelift``, ``.sagelift/jobs`` and each
record directory are 0700, the files sagelift writes there 0600. The only module that reads and
writes the records' JSON, whose shape is :mod:`sagelift.record_schema`'s: everything else reads
and writes the typed :class:`~sagelift.job.JobRecord` and :class:`~sagelift.job.JobStatus`.
Every write is atomic (a temporary file, then a rename), so a reader never sees half a record
even while the job runs. ``job.json`` carries ``schema``; records written before it existed are
read as schema 1.
A record that cannot be read raises :class:`DamagedRecord`, and listing skips nothing: it
reports the damaged ones so that one bad file never hides the other jobs. Listing reads each
``job.json`` once and only its header (:class:`RecordHeader`); finding a job by name or prefix
reads directory names only, so both stay linear in the number of records.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sagelift.errors import JobNotFound, UsageError
from sagelift.job import JobHandle, JobRecord, JobStatus
from sagelift.private_files import private_dir, write_private_text
from sagelift.record_schema import (
    SCHEMA_VERSION,
    RecordHeader,
    aws_from_dict,
    aws_to_dict,
    header_from_dict,
    record_from_dict,
    record_to_dict,
    status_as_dict,
    status_from_dict,
)

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
    write_json_atomic(record_dir / JOB_FILE, record_to_dict(record))


def read_record(record_dir: Path) -> JobRecord:
    """The job's record. Raises DamagedRecord when it cannot be read."""
    record: JobRecord = _decode(record_dir, JOB_FILE, record_from_dict)
    return record


def update_record(record_dir: Path, **changes: Any) -> JobRecord:
    """Rewrite the record with ``changes`` (fields of JobRecord); returns the new record."""
    record = replace(read_record(record_dir), **changes)
    write_record(record_dir, record)
    return record


def handle_of(record_dir: Path) -> JobHandle:
    """The handle of the record in ``record_dir``, read whole. Raises DamagedRecord."""
    return read_record(record_dir).handle(record_dir)


def read_header(record_dir: Path) -> RecordHeader:
    """The record's name, backend and creation time, without decoding the rest of it (the
    whole file is still parsed, so a truncated one is found). Raises DamagedRecord."""
    header: RecordHeader = _decode(record_dir, JOB_FILE, header_from_dict)
    return header


def write_status(record_dir: Path, status: JobStatus) -> None:
    write_json_atomic(record_dir / STATUS_FILE, status_as_dict(status))


def has_status(record_dir: Path) -> bool:
    """Whether the job has a status yet (a job being created has none)."""
    return (record_dir / STATUS_FILE).is_file()


def read_status(record_dir: Path) -> JobStatus:
    """The job's last recorded status. Raises DamagedRecord when it cannot be read."""
    status: JobStatus = _decode(record_dir, STATUS_FILE, status_from_dict)
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
