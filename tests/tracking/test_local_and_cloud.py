"""A local run and a cloud-prepared run of the same project give MLflow runs of the same shape.

The cloud run is prepared as for SageMaker: code shipped to S3 (the loopback moto server), the
CreateTrainingJob request built and created on the moto SageMaker API; the request as that API
stores it is then executed on this machine (``backends.emulator``) and recorded with
``sagelift track``, as a job whose tracking server was out of reach would be.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from sagelift import jobs
from sagelift.aws import AwsSettings, client
from sagelift.backends.base import JobState
from sagelift.backends.emulator import submit_request
from sagelift.backends.sagemaker.request import build_create_training_job_request
from sagelift.backends.sagemaker.validation import validate_request
from sagelift.storage import open_storage
from sagelift.tracking.state import run_info
from sagelift.uploads import ship_channels, ship_code
from tests.tracking.mlflow_server import MlflowServer
from tests.tracking.test_mlflow_runs import client as mlflow_client
from tests.tracking.test_mlflow_runs import history, make, run_job

pytestmark = pytest.mark.slow

BUCKET = "sagelift-cloud"
ROOT = f"s3://{BUCKET}/sagelift"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/sagelift:test"


def prepare_cloud_request(project: Path, aws: AwsSettings, environ: dict[str, str]) -> Any:
    """The stored request of a job created on the moto SageMaker API, and its spec."""
    spec = jobs.load_spec(project, environ=environ, instance_type="ml.m5.large")
    client("s3", aws).create_bucket(Bucket=BUCKET)
    iam: Any = client("iam", aws)
    role = iam.create_role(RoleName="sagelift-test", AssumeRolePolicyDocument="{}")["Role"]
    storage = open_storage("s3", aws=aws)
    code = ship_code(spec, storage=storage, root_uri=ROOT)
    request = build_create_training_job_request(
        spec,
        job_name="cloud-metrics-1",
        role_arn=role["Arn"],
        image_uri=IMAGE,
        code=code,
        channels=ship_channels(spec, storage=storage, root_uri=ROOT),
        output_path=f"{ROOT}/output",
        checkpoint_s3_uri=None,
        region="us-east-1",
        tags={"sagelift:project": "metrics"},
    )
    validate_request(request)
    sagemaker: Any = client("sagemaker", aws)
    sagemaker.create_training_job(**request)
    stored = sagemaker.describe_training_job(TrainingJobName="cloud-metrics-1")
    return spec, code.digest, stored


HEX64 = re.compile(r"^[0-9a-f]{64}$")


def assert_well_formed_tags(tags: dict[str, str]) -> None:
    """What every backend's run must carry, whatever the backend: a code digest, where the
    code came from and who ran it (MLflow's "Source" and "Created by"), plain-string values."""
    assert HEX64.match(tags["sagelift.code_digest"]), tags["sagelift.code_digest"]
    assert tags["mlflow.source.name"] == "train.py"
    assert tags["mlflow.user"] not in ("", "-")
    for key, value in tags.items():
        assert not value.startswith(("{", "[")), (key, value)  # no printed Python structures


def test_local_and_cloud_prepared_runs_have_the_same_params_tags_metrics_and_model(
    tmp_path: Path,
    mlflow_server: MlflowServer,
    aws_settings: AwsSettings,
    clean_environ: dict[str, str],
) -> None:
    project = make(tmp_path, "metrics", mlflow_server.url)
    local = run_job(project, clean_environ)
    assert local.ok, local.status.failure_reason
    local_run = run_info(local.handle.record_dir)
    assert local_run is not None

    spec, digest, stored = prepare_cloud_request(project, aws_settings, clean_environ)
    handle = submit_request(stored, project_dir=project, aws=aws_settings, spec=spec)
    status = jobs.wait(handle, timeout=120)
    assert status.state is JobState.COMPLETED, status.failure_reason
    cloud_run = jobs.track(project, handle.name)

    mlflow = mlflow_client(mlflow_server.url)
    a = mlflow.get_run(local_run.run_id)
    b = mlflow.get_run(cloud_run.run_id)
    assert a.info.experiment_id == b.info.experiment_id
    assert a.info.status == b.info.status == "FINISHED"
    assert a.data.params == b.data.params == {"epochs": "3", "lr": "0.1", "optimizer": "adam"}
    assert set(a.data.tags) == set(b.data.tags)
    assert a.data.tags["sagelift.backend"] == "local"
    assert b.data.tags["sagelift.backend"] == "emulator"
    assert b.data.tags["sagelift.instance_type"] == "ml.m5.large"
    assert b.data.tags["sagelift.job_arn"] == stored["TrainingJobArn"]
    assert b.data.tags["sagelift.code_digest"] == digest
    assert b.data.tags["sagelift.image_uri"] == IMAGE
    for run in (a, b):
        assert_well_formed_tags(run.data.tags)
        artifacts = {f.path for f in mlflow.list_artifacts(run.info.run_id)}
        assert "output" not in artifacts  # the job wrote no output data: nothing to log
    for key in ("loss", "acc"):
        assert history(mlflow_server.url, a.info.run_id, key) == history(
            mlflow_server.url, b.info.run_id, key
        )
    assert history(mlflow_server.url, b.info.run_id, "loss") == [(0, 1.0), (1, 0.5), (2, 0.3333)]
    for run in (a, b):
        got = mlflow.download_artifacts(run.info.run_id, "model/model.json", str(tmp_path))
        assert Path(got).read_text() == '{"epochs": 3}'
        assert run.data.metrics["sagelift.duration_s"] > 0
