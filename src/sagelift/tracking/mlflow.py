"""MlflowTracker: runs recorded in an MLflow tracking store through ``MlflowClient``.

``mlflow`` (the light ``mlflow-skinny`` is enough) is imported on first use; a missing package
raises MissingDependency naming the ``sagelift[mlflow]`` extra. Every client failure becomes a
TrackingError. HTTP retries are bounded by ``max_retries``/``timeout`` so that an unreachable
server costs seconds, not minutes.
"""

from __future__ import annotations

import logging
import os
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sagelift.errors import MissingDependency
from sagelift.tracking.base import Artifact, RunInfo, RunOutcome, TrackingError
from sagelift.tracking.metrics import MetricPoint

__all__ = ["MlflowTracker", "artifact_location", "import_mlflow", "run_link"]

log = logging.getLogger(__name__)

# mlflow reads these per request (mlflow.environment_variables): a dead server fails fast.
_RETRY_ENV = ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "MLFLOW_HTTP_REQUEST_TIMEOUT")
BATCH_SIZE = 1000
_CHATTY_LOGGERS = ("mlflow", "alembic")


def import_mlflow() -> Any:
    """The ``mlflow`` module, or MissingDependency naming the extra."""
    try:
        import mlflow
    except ImportError as exc:
        raise MissingDependency(
            "MLflow tracking needs the mlflow client package",
            hint="pip install 'sagelift[mlflow]' (the light mlflow-skinny client is enough)",
        ) from exc
    return mlflow


def run_link(uri: str, experiment_id: str, run_id: str) -> str | None:
    """The MLflow UI address of a run, for http(s) tracking URIs."""
    if not uri.startswith(("http://", "https://")):
        return None
    return f"{uri.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}"


def artifact_location(uri: str) -> str | None:
    """Where a new experiment keeps its artifacts: beside a SQLite store (``mlartifacts/``), so
    that a local store never writes ``./mlruns`` into the working directory; the server's
    choice otherwise."""
    if not uri.startswith("sqlite:///"):
        return None
    return (Path(uri.removeprefix("sqlite:///")).parent / "mlartifacts").absolute().as_uri()


@dataclass(slots=True, kw_only=True)
class MlflowTracker:
    """A tracker on the MLflow store at ``uri`` (http(s)://, sqlite:///, file:…)."""

    uri: str
    max_retries: int = 0
    timeout: int = 5
    _client: Any = None

    @contextmanager
    def _calls(self, action: str) -> Iterator[Any]:
        mlflow = import_mlflow()
        saved = {name: os.environ.get(name) for name in _RETRY_ENV}
        os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = str(self.max_retries)
        os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] = str(self.timeout)
        quiet = {name: logging.getLogger(name) for name in _CHATTY_LOGGERS}
        levels = {name: logger.level for name, logger in quiet.items()}
        try:
            with warnings.catch_warnings():
                # Deprecation warnings from mlflow's store dependencies (SQLAlchemy, alembic)
                # are not the user's concern.
                warnings.simplefilter("ignore")
                # Nor are mlflow's own INFO lines ("View run …", store migrations): sagelift
                # says what it recorded, once.
                for logger in quiet.values():
                    logger.setLevel(logging.WARNING)
                if self._client is None:
                    self._client = mlflow.tracking.MlflowClient(tracking_uri=self.uri)
                yield self._client
        except MissingDependency:
            raise
        except Exception as exc:
            raise TrackingError(
                f"MLflow at {self.uri}: could not {action}: {_short(exc)}",
                hint="check that the tracking server is running and tracking.uri is right",
            ) from exc
        finally:
            for name, logger in quiet.items():
                logger.setLevel(levels[name])
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value

    def start(
        self,
        *,
        experiment: str,
        run_name: str,
        params: Mapping[str, str],
        tags: Mapping[str, str],
    ) -> RunInfo:
        with self._calls("create the run") as client:
            found = client.get_experiment_by_name(experiment)
            experiment_id = (
                found.experiment_id
                if found is not None
                else client.create_experiment(
                    experiment, artifact_location=artifact_location(self.uri)
                )
            )
            run = client.create_run(experiment_id, run_name=run_name, tags=dict(tags))
            run_id = run.info.run_id
            entities = import_mlflow().entities
            items = [entities.Param(k, v) for k, v in params.items()]
            for start in range(0, len(items), 100):
                client.log_batch(run_id, params=items[start : start + 100])
        return RunInfo(
            uri=self.uri,
            experiment_id=str(experiment_id),
            run_id=run_id,
            link=run_link(self.uri, str(experiment_id), run_id),
        )

    def log_metrics(self, run: RunInfo, points: Sequence[MetricPoint]) -> None:
        if not points:
            return
        with self._calls("log metrics") as client:
            entities = import_mlflow().entities
            now = int(time.time() * 1000)
            metrics = [entities.Metric(p.key, p.value, now, p.step) for p in points]
            for start in range(0, len(metrics), BATCH_SIZE):
                client.log_batch(run.run_id, metrics=metrics[start : start + BATCH_SIZE])

    def set_tags(self, run: RunInfo, tags: Mapping[str, str]) -> None:
        if not tags:
            return
        with self._calls("set tags") as client:
            entities = import_mlflow().entities
            client.log_batch(run.run_id, tags=[entities.RunTag(k, v) for k, v in tags.items()])

    def logged_keys(self, run: RunInfo) -> frozenset[str]:
        with self._calls("read the run") as client:
            return frozenset(client.get_run(run.run_id).data.metrics)

    def log_artifacts(self, run: RunInfo, artifacts: Sequence[Artifact]) -> None:
        with self._calls("upload artifacts") as client:
            for artifact in artifacts:
                if artifact.path.is_dir():
                    client.log_artifacts(run.run_id, str(artifact.path), artifact.artifact_path)
                else:
                    client.log_artifact(run.run_id, str(artifact.path), artifact.artifact_path)

    def finish(self, run: RunInfo, outcome: RunOutcome, *, end_time_ms: int | None) -> None:
        with self._calls("end the run") as client:
            client.set_terminated(run.run_id, status=outcome, end_time=end_time_ms)

    def download_artifacts(self, run: RunInfo, artifact_path: str, dest: Path) -> Path:
        with self._calls("download artifacts") as client:
            dest.mkdir(parents=True, exist_ok=True)
            return Path(client.download_artifacts(run.run_id, artifact_path, str(dest)))


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:200]}" if text else type(exc).__name__
