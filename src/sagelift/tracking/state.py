"""A job's tracking state: ``tracking.json`` beside its record.

It holds the store, the run (once created), the params and tags the run starts with, how far
each metric has been logged, and the problems met, so that ``sagelift track JOB`` knows what is
left to record.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sagelift import records
from sagelift.tracking.base import RunInfo

__all__ = ["TRACKING_FILE", "run_info"]

TRACKING_FILE = "tracking.json"


def _read(record_dir: Path) -> dict[str, Any] | None:
    path = record_dir / TRACKING_FILE
    if not path.is_file():
        return None
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def _write(record_dir: Path, data: Mapping[str, Any]) -> None:
    records.write_json_atomic(record_dir / TRACKING_FILE, data)


def _info(state: Mapping[str, Any]) -> RunInfo | None:
    run = state.get("run")
    if not run:
        return None
    return RunInfo(
        uri=state["uri"],
        experiment_id=run["experiment_id"],
        run_id=run["run_id"],
        link=run.get("link"),
    )


def run_info(record_dir: Path) -> RunInfo | None:
    """The job's run, when one was created."""
    state = _read(record_dir)
    return None if state is None else _info(state)


def _later(name: str) -> str:
    return f"record it later with: sagelift track {name}"
