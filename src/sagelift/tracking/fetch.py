"""``sagelift fetch --from-mlflow``: the model as the job's MLflow run holds it."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from sagelift import records
from sagelift.errors import UsageError
from sagelift.tracking.state import run_info
from sagelift.tracking.store import tracker_for

__all__ = ["fetch_from_mlflow"]


def fetch_from_mlflow(
    project_dir: Path,
    name: str,
    dest: Path | None = None,
    *,
    force: bool = False,
    max_bytes: int | None = None,
) -> Path:
    """Download the ``model`` artifact of job ``name``'s run into ``dest``
    (``<project_dir>/models/<job>``), as ``jobs.fetch`` extracts a model: the destination
    checked before anything is downloaded, a dir it creates marked so it never ships as code,
    the size capped (``max_bytes``, default ``unpacking.DEFAULT_MAX_BYTES``) and checked
    against the free space, nothing left behind when refused or failed.

    Raises UsageError when the job has no run, for a bad destination or past the cap,
    InfrastructureError past the free space, TrackingError when the store fails.
    """
    from sagelift.codefiles import FETCH_MARKER
    from sagelift.unpacking import DEFAULT_MAX_BYTES, check_destination, place_tree

    record_dir = records.find_record(project_dir, name)
    run = run_info(record_dir)
    if run is None:
        raise UsageError(
            f"job {record_dir.name} has no MLflow run",
            hint=f"run 'sagelift track {record_dir.name}', or fetch without --from-mlflow",
        )
    target = dest if dest is not None else Path(project_dir) / "models" / record_dir.name
    check_destination(target, force=force)
    marker = json.dumps({"job": record_dir.name, "mlflow_run": run.run_id}) + "\n"
    with tempfile.TemporaryDirectory(prefix="sagelift-mlflow-") as tmp:
        got = tracker_for(run.uri).download_artifacts(run, "model", Path(tmp))
        return place_tree(
            got,
            target,
            force=force,
            max_bytes=DEFAULT_MAX_BYTES if max_bytes is None else max_bytes,
            marker=(FETCH_MARKER, marker),
        )
