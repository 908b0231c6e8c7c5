"""The launcher's status record: how the job ended, as JSON written atomically."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

__all__ = ["LaunchState", "LaunchStatus", "now_iso", "read_status", "write_status"]

LaunchState = Literal["Completed", "Failed", "Stopped", "MaxRuntimeExceeded"]


@dataclass(frozen=True)
class LaunchStatus:
    """How one launch ended.

    ``exit_code`` is the launcher's exit code (the child's, or 128 + signal number when a
    signal killed it, as a shell reports it); ``signal`` is that signal number or ``None``.
    ``opt_ml`` is ``"bound"``, ``"off"`` or ``"unavailable: <why>"``.
    """

    state: LaunchState
    exit_code: int | None
    signal: int | None
    failure_reason: str | None
    started_at: str
    ended_at: str
    opt_ml: str

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"


def now_iso() -> str:
    """The current UTC time in ISO 8601 with milliseconds."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def write_status(path: Path, status: LaunchStatus) -> None:
    """Write ``status`` to ``path`` atomically: readers see the old file or the whole new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(status.to_json())
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_status(path: Path) -> LaunchStatus | None:
    """The status at ``path``, or None when the launcher wrote none (or it cannot be read)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return LaunchStatus(**data)
    except (OSError, ValueError, TypeError):
        return None
