"""Duration, training and billable seconds and cost reach the run as metrics when known.

A SageMaker-shaped job record is tracked in the project's own SQLite store (``tracking.uri =
"sqlite"``); the ended status carries what DescribeTrainingJob reports.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from sagelift import jobs, records
from sagelift.job import CloudJob, JobHandle, JobRecord, JobState, JobStatus, PreparedJob
from sagelift.tracking import session
from tests.conftest import MakeProject

pytest.importorskip("mlflow")
pytest.importorskip("sqlalchemy")

IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/sagelift:test"


def tracked_job(project: Path, name: str, environ: dict[str, str]) -> JobHandle:
    spec = jobs.load_spec(project, environ=environ)
    record_dir = records.jobs_root(project) / name
    created = records.now()
    records.write_record(
        record_dir,
        JobRecord(
            name=name,
            backend="sagemaker",
            created_at=created,
            spec=spec,
            image_uri=IMAGE,
            code_digest="c0de" * 16,
            cloud=CloudJob(
                arn=f"arn:aws:sagemaker:us-east-1:123456789012:training-job/{name}",
                region="us-east-1",
            ),
        ),
    )
    job = PreparedJob(
        spec=spec,
        name=name,
        record_dir=record_dir,
        created_at=created,
        region="us-east-1",
        settings=jobs.load_settings(project, environ=environ),
    )
    assert session.begin(job) == {}
    return JobHandle(backend="sagemaker", name=name, record_dir=record_dir)


def ended(handle: JobHandle, **bill: Any) -> JobStatus:
    created = records.now() - timedelta(minutes=12)
    return JobStatus(
        name=handle.name,
        backend="sagemaker",
        state=JobState.COMPLETED,
        secondary_status="Completed",
        created_at=created,
        started_at=created + timedelta(minutes=2),
        ended_at=created + timedelta(minutes=12),
        **bill,
    )


def metrics_of(handle: JobHandle, lines: list[str], status: JobStatus) -> dict[str, float]:
    import mlflow

    spec = records.read_record(handle.record_dir).spec
    assert spec is not None
    run = session.finish(handle, status, spec=spec, lines=lines)
    assert run is not None
    got = mlflow.tracking.MlflowClient(tracking_uri=run.uri).get_run(run.run_id)
    assert got.info.status == "FINISHED"
    assert got.data.tags["sagelift.job_arn"].endswith(handle.name)
    assert got.data.tags["sagelift.image_uri"] == IMAGE
    return dict(got.data.metrics)


def test_billable_seconds_and_cost_are_logged_when_the_status_has_them(
    make_project: MakeProject, clean_environ: dict[str, str]
) -> None:
    project = make_project(
        "ok",
        instance_type="ml.m5.large",
        tracking={"uri": "sqlite"},
        metrics={"loss": r"loss=([0-9.]+)"},
    )
    billed = tracked_job(project, "billed-1", clean_environ)
    metrics = metrics_of(
        billed,
        ["epoch=0 loss=0.5"],
        ended(billed, training_seconds=600, billable_seconds=240, cost_usd=0.0154),
    )
    assert metrics == {
        "loss": 0.5,
        "sagelift.duration_s": 600.0,
        "sagelift.training_s": 600.0,
        "sagelift.billable_s": 240.0,
        "sagelift.cost_usd": 0.0154,
    }

    unbilled = tracked_job(project, "unbilled-1", clean_environ)
    assert set(metrics_of(unbilled, [], ended(unbilled))) == {"sagelift.duration_s"}


def test_the_sqlite_shorthand_keeps_the_store_and_artifacts_in_the_project(
    make_project: MakeProject, clean_environ: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlflow

    project = make_project("ok", tracking={"uri": "sqlite", "experiment": "local-store"})
    elsewhere = project.parent / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    result = jobs.run(
        jobs.load_spec(project, environ=clean_environ),
        settings=jobs.load_settings(project, environ=clean_environ),
    )
    assert result.ok, result.status.failure_reason
    run = session.run_info(result.handle.record_dir)
    assert run is not None
    store = project / ".sagelift" / "mlflow.db"
    assert run.uri == f"sqlite:///{store}"
    assert store.is_file()
    client = mlflow.tracking.MlflowClient(tracking_uri=run.uri)
    got = client.get_run(run.run_id)
    assert got.info.status == "FINISHED"
    assert client.get_experiment(run.experiment_id).name == "local-store"
    assert got.info.artifact_uri.startswith((project / ".sagelift").as_uri())
    assert {a.path for a in client.list_artifacts(run.run_id)} >= {"model", "logs"}
    assert list(elsewhere.iterdir()) == []
