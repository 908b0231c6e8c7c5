"""``sagelift fetch --from-mlflow``: the model as the job's MLflow run holds it."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from sagelift import records
from sagelift.errors import UsageError
from sagelift.tracking.session import run_info, tracker_for

__all__ = ["fetch_from_mlflow"]


def fetch_from_mlflow(
    project_dir: Path, name: str, dest: Path | None = None, *, force: bool = False
) -> Path:
    """Download the ``model`` artifact of job ``name``'s run into ``dest`` (``models/<job>``).

    Raises UsageError when the job has no run or ``dest`` is not empty (without ``force``),
    TrackingError when the store fails.
    """
    record_dir = records.find_record(project_dir, name)
    run = run_info(record_dir)
    if run is None:
        raise UsageError(
            f"job {record_dir.name} has no MLflow run",
            hint=f"run 'sagelift track {record_dir.name}', or fetch without --from-mlflow",
        )
    target = dest if dest is not None else Path("models") / record_dir.name
    if target.exists() and any(target.iterdir()) and not force:
        raise UsageError(
            f"{target} exists and is not empty", hint="pick another destination or pass --force"
        )
    with tempfile.TemporaryDirectory(prefix="sagelift-mlflow-") as tmp:
        got = tracker_for(run.uri).download_artifacts(run, "model", Path(tmp))
        target.mkdir(parents=True, exist_ok=True)
        shutil.copytree(got, target, dirs_exist_ok=True)
    return target
