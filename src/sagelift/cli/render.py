"""Everything the CLI prints: errors with hints, tables, job summaries."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sagelift.backends.base import JobState, JobStatus
from sagelift.errors import SageliftError

if TYPE_CHECKING:
    from sagelift.listing import JobListing
    from sagelift.sourcedir import PackageListing

__all__ = ["error", "internal_error", "line", "status_summary", "table"]


def line(text: str = "", *, err: bool = True) -> None:
    print(text, file=sys.stderr if err else sys.stdout, flush=True)


def out(text: str) -> None:
    print(text, flush=True)


def error(exc: SageliftError) -> None:
    line(f"sagelift: {exc.headline}: {exc.message}")
    if exc.hint:
        line(f"  hint: {exc.hint}")


def internal_error(exc: BaseException, issues_url: str) -> None:
    line(f"sagelift: internal error: {type(exc).__name__}: {exc}")
    line(f"  this is a bug in sagelift, not in your project; please report it at {issues_url}")
    line("  with the output of the same command run with --debug")


def table(rows: Sequence[Sequence[str]], headers: Sequence[str]) -> None:
    """Columns padded to their widest cell, written at once (a long listing is one write)."""
    widths = [max(len(str(c)) for c in col) for col in zip(headers, *rows, strict=False)]
    text = "\n".join(
        "  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=False)).rstrip()
        for row in (headers, *rows)
    )
    out(text)


def job_table(listing: Sequence[JobListing], *, links: Sequence[str]) -> None:
    """``sagelift ls``: one row per job, damaged and unreachable ones included."""
    rows = []
    for row, link in zip(listing, links, strict=True):
        status = row.status
        rows.append(
            [
                row.name,
                row.label,
                "-" if status is None else status.secondary_status,
                row.backend or "-",
                "-" if status is None else when(status.created_at),
                "-" if status is None else seconds(status.duration),
                link,
            ]
        )
    table(rows, ["job", "status", "secondary", "backend", "created", "duration", "mlflow"])


def listing_warnings(listing: Sequence[JobListing]) -> None:
    """After ``sagelift ls``: why rows are damaged or unknown, one line and a hint each (on
    stderr, one per distinct problem)."""
    damaged = [row for row in listing if row.condition == "damaged"]
    for row in damaged:
        line(f"sagelift: warning: job record {row.name} is damaged: {row.reason}")
        line(f"  hint: {row.hint}")
    shown: set[str] = set()
    for row in listing:
        if row.condition != "unknown" or row.problem is None or row.reason in shown:
            continue
        shown.add(row.reason or "")
        same = sum(1 for other in listing if other.reason == row.reason)
        line(
            f"sagelift: warning: {same} job(s) shown with their last recorded status "
            f"({row.reason}): {row.problem.message}"
        )
        if row.problem.hint:
            line(f"  hint: {row.problem.hint}")


def listing_dict(row: JobListing) -> dict[str, Any]:
    """A row of ``sagelift ls --json``: the status fields (none for a damaged record) and
    ``condition``; ``reason`` and ``hint`` when the row is damaged or unknown."""
    data: dict[str, Any] = {} if row.status is None else status_dict(row.status)
    data.update(name=row.name, backend=row.backend, condition=row.condition)
    if row.condition == "damaged":
        data["state"] = "damaged"
    if row.reason is not None:
        data["reason"] = row.reason
        data["hint"] = row.hint
        data["record_dir"] = str(row.record_dir)
    if row.problem is not None and row.condition == "unknown":
        data["detail"] = row.problem.message
    return data


def seconds(value: float | None) -> str:
    if value is None:
        return "-"
    if value < 60:
        return f"{value:.1f}s"
    minutes, secs = divmod(int(value), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def when(value: datetime | None) -> str:
    return "-" if value is None else value.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def status_summary(status: JobStatus) -> None:
    """The end-of-run summary, on stderr so stdout stays the script's."""
    detail = (
        "" if status.secondary_status == status.state.value else f" ({status.secondary_status})"
    )
    line(f"sagelift: job {status.name} {status.state.value}{detail} in {seconds(status.duration)}")
    if status.failure_reason:
        first, *rest = status.failure_reason.strip().splitlines() or [""]
        line(f"  reason: {first}")
        for extra in rest[:12]:
            line(f"          {extra}")
    if status.model_artifacts:
        line(f"  model:  {status.model_artifacts}")
    for note in status.notes:
        line(f"  note:   {note}")
    if status.state is JobState.COMPLETED:
        line(f"  next:   sagelift fetch {status.name}")
    elif status.state is JobState.FAILED:
        line(f"  logs:   sagelift logs {status.name}")


def status_dict(status: JobStatus) -> dict[str, Any]:
    from sagelift.records import status_as_dict

    return status_as_dict(status)


def describe(status: JobStatus) -> None:
    fields = [
        ("name", status.name),
        ("backend", status.backend),
        ("status", status.state.value),
        ("secondary", status.secondary_status),
        ("created", when(status.created_at)),
        ("started", when(status.started_at)),
        ("ended", when(status.ended_at)),
        ("duration", seconds(status.duration)),
        ("exit code", "-" if status.exit_code is None else str(status.exit_code)),
        ("model", status.model_artifacts or "-"),
        ("output", status.output_artifacts or "-"),
    ]
    for key, value in fields:
        out(f"{key:<10} {value}")
    if status.failure_reason:
        out("reason     " + status.failure_reason.replace("\n", "\n           "))
    for note in status.notes:
        out(f"note       {note}")
    out("history    " + " -> ".join(f"{n} ({when(t)[11:]})" for n, t in status.transitions))


def as_json(data: Any) -> None:
    out(json.dumps(data, indent=2, sort_keys=True, default=str))


def as_json_rows(rows: Sequence[Any]) -> None:
    """A JSON array with one compact object per line: a long listing stays fast to write (the
    indenting encoder is pure Python) and easy to grep."""
    body = ",\n".join(json.dumps(row, sort_keys=True, default=str) for row in rows)
    out(f"[\n{body}\n]" if rows else "[]")


_LEFT_OUT_REASONS = {
    "always": "always left out",
    "ignored": "an ignore rule",
    "secret": "a secret, left out by default",
    "fetched": "a model sagelift fetch wrote",
    "channel": "a channel's data",
    "link": "a link sagelift does not follow",
}


def package_listing(listing: PackageListing) -> None:
    """``sagelift package --list``: shipped files with sizes, totals, then what was left out."""
    from sagelift.sourcedir import format_size

    table([[str(size), rel] for rel, size in listing.files], ["bytes", "shipped"])
    out(
        f"{len(listing.files)} files, {format_size(listing.total_bytes)}; "
        f"sourcedir.tar.gz {format_size(listing.tarball_bytes)}, sha256 {listing.digest}"
    )
    if listing.left_out:
        out("")
        table(
            [[item.path, _LEFT_OUT_REASONS[item.reason], item.rule] for item in listing.left_out],
            ["left out", "why", "rule"],
        )
    if listing.risky:
        out("")
        out("shipped, but named like secrets: " + ", ".join(listing.risky))
        out("  leave them out in .sagemakerignore, or keep them with a '!name' line there")


def package_dict(listing: PackageListing) -> dict[str, Any]:
    return {
        "files": [{"path": rel, "bytes": size} for rel, size in listing.files],
        "total_bytes": listing.total_bytes,
        "tarball_bytes": listing.tarball_bytes,
        "sha256": listing.digest,
        "left_out": [
            {"path": i.path, "reason": i.reason, "rule": i.rule} for i in listing.left_out
        ],
        "risky": list(listing.risky),
    }
