"""Jobs recorded in a real MLflow server (SQLite backend) started by the tests."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

import pytest

from sagelift import jobs
from sagelift.backends.base import JobState
from sagelift.tracking.state import run_info
from tests.conftest import dump_toml
from tests.tracking.mlflow_server import MlflowServer, free_port

pytestmark = pytest.mark.slow

PROJECTS = Path(__file__).parent / "projects"


def make(tmp_path: Path, name: str, uri: str, **extra: Any) -> Path:
    project = tmp_path / name
    shutil.copytree(PROJECTS / name, project)
    config: dict[str, Any] = {
        "entry_point": "train.py",
        "hyperparameters": {"epochs": 3, "lr": 0.1, "optimizer": "adam"},
        "metrics": {"loss": r"loss=([0-9.]+)", "acc": r"acc=([0-9.]+)"},
        "tracking": {"uri": uri, "experiment": f"exp-{name}"},
        **extra,
    }
    (project / "sagelift.toml").write_text(dump_toml(config), encoding="utf-8")
    return project


def run_job(project: Path, clean_environ: dict[str, str]) -> jobs.JobResult:
    spec = jobs.load_spec(project, environ=clean_environ)
    settings = jobs.load_settings(project, environ=clean_environ)
    lines: list[str] = []
    return jobs.run(spec, settings=settings, on_line=lines.append)


def client(uri: str) -> Any:
    import mlflow

    return mlflow.tracking.MlflowClient(tracking_uri=uri)


def history(uri: str, run_id: str, key: str) -> list[tuple[int, float]]:
    return sorted((m.step, m.value) for m in client(uri).get_metric_history(run_id, key))


def test_a_local_job_is_one_run_with_params_tags_metrics_model_and_status(
    tmp_path: Path, mlflow_server: MlflowServer, clean_environ: dict[str, str]
) -> None:
    project = make(tmp_path, "metrics", mlflow_server.url)
    result = run_job(project, clean_environ)
    assert result.ok
    run = run_info(result.handle.record_dir)
    assert run is not None
    assert run.link
    assert run.run_id in run.link
    got = client(run.uri).get_run(run.run_id)
    assert got.info.status == "FINISHED"
    assert got.info.run_name == result.handle.name
    assert got.data.params == {"epochs": "3", "lr": "0.1", "optimizer": "adam"}
    tags = got.data.tags
    assert tags["sagelift.backend"] == "local"
    assert tags["sagelift.job_name"] == result.handle.name
    assert tags["sagelift.instance_type"] == "local"
    assert {"sagelift.git.commit", "sagelift.code_digest", "sagelift.image_uri"} <= set(tags)
    assert history(run.uri, run.run_id, "loss") == [(0, 1.0), (1, 0.5), (2, 0.3333)]
    assert history(run.uri, run.run_id, "acc") == [(0, 0.5), (1, 0.6), (2, 0.7)]
    assert got.data.metrics["sagelift.duration_s"] > 0
    names = {a.path for a in client(run.uri).list_artifacts(run.run_id)}
    assert {"model", "logs"} <= names
    model = client(run.uri).download_artifacts(run.run_id, "model/model.json", str(tmp_path))
    assert Path(model).read_text() == '{"epochs": 3}'


def test_a_failed_job_is_a_failed_run_with_its_reason(
    tmp_path: Path, mlflow_server: MlflowServer, clean_environ: dict[str, str]
) -> None:
    project = make(tmp_path, "metrics", mlflow_server.url, hyperparameters={"fail": "yes"})
    result = run_job(project, clean_environ)
    assert result.status.state is JobState.FAILED
    run = run_info(result.handle.record_dir)
    assert run is not None
    got = client(run.uri).get_run(run.run_id)
    assert got.info.status == "FAILED"
    assert "diverged" in got.data.tags["sagelift.failure_reason"]


def test_script_logging_and_printing_the_same_metric_gives_no_duplicates(
    tmp_path: Path, mlflow_server: MlflowServer, clean_environ: dict[str, str]
) -> None:
    project = make(tmp_path, "selflog", mlflow_server.url)
    result = run_job(project, clean_environ)
    assert result.ok, result.status.failure_reason
    run = run_info(result.handle.record_dir)
    assert run is not None
    assert history(run.uri, run.run_id, "loss") == [(0, 1.0), (1, 0.5), (2, 1 / 3)]
    assert history(run.uri, run.run_id, "acc") == [(0, 0.5), (1, 0.6), (2, 0.7)]


def test_tracking_server_down_the_job_completes_and_can_be_recorded_later(
    tmp_path: Path,
    mlflow_server: MlflowServer,
    clean_environ: dict[str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    down = f"http://127.0.0.1:{free_port()}"
    project = make(tmp_path, "metrics", down)
    with caplog.at_level(logging.WARNING):
        result = run_job(project, clean_environ)
    assert result.ok
    assert (tmp_path / "metrics" / ".sagelift").is_dir()
    warning = " ".join(r.getMessage() for r in caplog.records)
    assert "no run recorded" in warning
    assert f"sagelift track {result.handle.name}" in warning
    assert run_info(result.handle.record_dir) is None

    run = jobs.track(project, result.handle.name, uri=mlflow_server.url)
    got = client(run.uri).get_run(run.run_id)
    assert got.info.status == "FINISHED"
    assert got.data.params["epochs"] == "3"
    assert history(run.uri, run.run_id, "loss")[0] == (0, 1.0)
    assert jobs.track(project, result.handle.name, uri=mlflow_server.url).run_id == run.run_id
