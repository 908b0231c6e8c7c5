"""Which MLflow store a job is tracked in, the tracker on it, and what lets the job reach it.

``tracker_for`` imports the MLflow tracker only when called (``mlflow`` itself on first use).
"""

from __future__ import annotations

from pathlib import Path

from sagelift.tracking.base import RunInfo, Tracker

__all__ = ["LOCAL_SHORTHANDS", "LOCAL_STORE", "job_environment", "resolve_uri", "tracker_for"]

LOCAL_STORE = ".sagelift/mlflow.db"
#: ``tracking.uri`` values that mean "on, with the project's own SQLite store".
LOCAL_SHORTHANDS = frozenset({"sqlite", "local", "on", "true", "1", "yes"})


def resolve_uri(uri: str | None, project_dir: Path) -> str | None:
    """The tracking URI, ``None`` when tracking is off; shorthands mean the project's store."""
    if uri is None or uri.strip().lower() in ("", "off", "false", "0", "no"):
        return None
    if uri.strip().lower() in LOCAL_SHORTHANDS:
        return f"sqlite:///{(project_dir / LOCAL_STORE).absolute()}"
    return uri


def tracker_for(uri: str) -> Tracker:
    from sagelift.tracking.mlflow import MlflowTracker

    return MlflowTracker(uri=uri)


def job_environment(run: RunInfo, *, local: bool) -> dict[str, str]:
    """What lets the script's own ``mlflow`` calls land in the job's run.

    Only when the job can reach the store: any URI for a job on this machine; for a cloud job
    only an http(s) server that is not on loopback.
    """
    reachable = local or (
        run.uri.startswith(("http://", "https://"))
        and not any(h in run.uri for h in ("://127.", "://localhost", "://[::1]"))
    )
    if not reachable:
        return {}
    return {
        "MLFLOW_TRACKING_URI": run.uri,
        "MLFLOW_RUN_ID": run.run_id,
        "MLFLOW_EXPERIMENT_ID": run.experiment_id,
    }
