"""A submission killed around CreateTrainingJob never hides a job that SageMaker runs."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from sagelift import jobs, records
from sagelift.aws import AwsSettings, client
from sagelift.backends.lifecycle import SUBMITTER_PID, write_holder
from sagelift.backends.sagemaker import backend as sagemaker_backend
from sagelift.backends.sagemaker.client import TrainingJobs
from sagelift.job import JobState
from tests.aws_server import REGION
from tests.conftest import MakeProject

IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
BUCKET = "sagelift-jobs"


class Killed(BaseException):
    """What a kill of the submitting process looks like from inside it."""


def _project(make_project: MakeProject, endpoint: str) -> Path:
    return make_project(
        "ok",
        instance_type="ml.m5.xlarge",
        aws={"endpoint_url": endpoint, "region": REGION, "role": "sagelift-test", "bucket": BUCKET},
        image={"uri": IMAGE},
    )


@pytest.fixture
def ready(aws_settings: AwsSettings, role_arn: str) -> AwsSettings:
    client("s3", aws_settings).create_bucket(Bucket=BUCKET)
    return aws_settings


def _submit(project: Path) -> None:
    spec = jobs.load_spec(project, environ={})
    with pytest.raises(Killed):
        jobs.submit(spec, settings=jobs.load_settings(project, environ={}))


def test_a_kill_after_create_training_job_leaves_the_job_listed(
    make_project: MakeProject,
    moto_endpoint: str,
    ready: AwsSettings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    project = _project(make_project, moto_endpoint)
    update = records.update_record

    def killed_once_created(record_dir: Path, **changes: Any) -> Any:
        cloud = changes.get("cloud")
        if cloud is not None and cloud.arn is not None:
            monkeypatch.setattr(records, "update_record", update)
            raise Killed
        return update(record_dir, **changes)

    monkeypatch.setattr(records, "update_record", killed_once_created)
    _submit(project)

    created = client("sagemaker", ready).list_training_jobs()["TrainingJobSummaries"]
    assert len(created) == 1
    name = created[0]["TrainingJobName"]
    assert [s.name for s in jobs.list_jobs(project)] == [name]
    status = jobs.describe(project, name)
    assert status.name == name
    assert status.state is not JobState.FAILED
    record = records.read_record(records.jobs_root(project) / name)
    assert record.cloud is not None
    assert record.cloud.arn == created[0]["TrainingJobArn"]


def test_a_kill_before_create_training_job_ends_as_failed(
    make_project: MakeProject,
    moto_endpoint: str,
    ready: AwsSettings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    project = _project(make_project, moto_endpoint)

    def killed(_self: TrainingJobs, _request: dict[str, Any]) -> str:
        raise Killed

    monkeypatch.setattr(sagemaker_backend.TrainingJobs, "create", killed)
    _submit(project)
    monkeypatch.undo()
    (record,) = records.list_records(project)
    gone = subprocess.Popen(["true"])
    gone.wait()
    write_holder(record / SUBMITTER_PID, gone.pid)  # the submitting process is gone

    status = jobs.describe(project, record.name)
    assert status.state is JobState.FAILED
    assert "submission interrupted before CreateTrainingJob" in (status.failure_reason or "")
    assert jobs.stop(records.handle_of(record)).state is JobState.FAILED
