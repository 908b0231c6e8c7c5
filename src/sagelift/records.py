"""Job records: ``<project>/.sagelift/jobs/<name>/`` with ``job.json``, ``status.json``, the log.

Every write is atomic (write to a temporary file, then rename), so a reader never sees half a
record even while the job runs. Records are private (``sagelift.private_files``): ``.sagelift``,
``.sagelift/jobs`` and each record directory are 0700, the files sagelift writes there 0600.
"""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sagelift.backends.base import JobState, JobStatus
from sagelift.errors import JobNotFound
from sagelift.private_files import private_dir, write_private_text
from sagelift.spec import Channel, EntryPoint, JobSpec, MetricDefinition

__all__ = [
    "JOB_FILE",
    "LOG_FILE",
    "STATUS_FILE",
    "create_record_dir",
    "find_record",
    "jobs_root",
    "list_records",
    "now",
    "read_job",
    "read_status",
    "spec_from_dict",
    "spec_to_dict",
    "write_json_atomic",
    "write_status",
]

JOB_FILE = "job.json"
STATUS_FILE = "status.json"
LOG_FILE = "output.log"


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


def spec_to_dict(spec: JobSpec) -> dict[str, Any]:
    data = asdict(spec)
    data["project_dir"] = str(spec.project_dir)
    data["source_dir"] = str(spec.source_dir)
    data["requirements"] = None if spec.requirements is None else str(spec.requirements)
    data["hyperparameters"] = dict(spec.hyperparameters)
    data["environment"] = dict(spec.environment)
    return data


def spec_from_dict(data: dict[str, Any]) -> JobSpec:
    fields = dict(data)
    fields["project_dir"] = Path(fields["project_dir"])
    fields["source_dir"] = Path(fields["source_dir"])
    fields["requirements"] = (
        None if fields["requirements"] is None else Path(fields["requirements"])
    )
    fields["entry_point"] = EntryPoint(
        kind=fields["entry_point"]["kind"], argv=tuple(fields["entry_point"]["argv"])
    )
    fields["channels"] = tuple(Channel(**c) for c in fields["channels"])
    fields["metric_definitions"] = tuple(
        MetricDefinition(**m) for m in fields["metric_definitions"]
    )
    fields["exclude"] = tuple(fields["exclude"])
    return JobSpec(**fields)


def status_to_dict(status: JobStatus) -> dict[str, Any]:
    data = asdict(status)
    data["state"] = status.state.value
    for key in ("created_at", "started_at", "ended_at"):
        value = getattr(status, key)
        data[key] = None if value is None else value.isoformat()
    data["transitions"] = [[name, when.isoformat()] for name, when in status.transitions]
    data["notes"] = list(status.notes)
    return data


def status_from_dict(data: dict[str, Any]) -> JobStatus:
    def when(value: str | None) -> datetime | None:
        return None if value is None else datetime.fromisoformat(value)

    created = when(data["created_at"])
    assert created is not None
    return JobStatus(
        name=data["name"],
        backend=data["backend"],
        state=JobState(data["state"]),
        secondary_status=data["secondary_status"],
        failure_reason=data.get("failure_reason"),
        created_at=created,
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


def write_status(record_dir: Path, status: JobStatus) -> None:
    write_json_atomic(record_dir / STATUS_FILE, status_to_dict(status))


def read_status(record_dir: Path) -> JobStatus:
    return status_from_dict(json.loads((record_dir / STATUS_FILE).read_text(encoding="utf-8")))


def advance(status: JobStatus, secondary: str, **changes: Any) -> JobStatus:
    """``status`` moved to a new secondary status, the transition recorded."""
    return replace(
        status,
        secondary_status=secondary,
        transitions=(*status.transitions, (secondary, now())),
        **changes,
    )


def read_job(record_dir: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((record_dir / JOB_FILE).read_text(encoding="utf-8"))
    return data


def list_records(project_dir: Path) -> list[Path]:
    """Record directories of the project, newest first."""
    root = jobs_root(project_dir)
    if not root.is_dir():
        return []
    records = [p for p in root.iterdir() if (p / JOB_FILE).is_file()]
    return sorted(records, key=lambda p: read_job(p).get("created_at", ""), reverse=True)


def find_record(project_dir: Path, name: str) -> Path:
    """The record of job ``name``: an exact name, a unique prefix, or ``last``.

    Raises JobNotFound (exit 2) with the closest names as a hint.
    """
    records = list_records(project_dir)
    if name == "last" and records:
        return records[0]
    exact = [p for p in records if p.name == name]
    if exact:
        return exact[0]
    prefixed = [p for p in records if p.name.startswith(name)]
    if len(prefixed) == 1:
        return prefixed[0]
    if len(prefixed) > 1:
        shown = ", ".join(p.name for p in prefixed[:5])
        raise JobNotFound(
            f"'{name}' matches {len(prefixed)} jobs", hint=f"be more precise: {shown}"
        )
    hint = (
        "run 'sagelift ls' to list this project's jobs"
        if records
        else f"no jobs recorded under {jobs_root(project_dir)}; run 'sagelift run' first"
    )
    raise JobNotFound(f"no job named '{name}' in this project", hint=hint)
