"""The cloud data path end to end, on a loopback S3 server.

A real fixture project is shipped (code tarball + launcher bundle, data channel) to the server,
the CreateTrainingJob request is built from the spec as for SageMaker, and the request is
executed on this machine: code and data downloaded from S3, the launcher run as the container
entry point, model.tar.gz uploaded to <S3OutputPath>/<job>/output/ and fetched from there.
"""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path
from typing import Any

import pytest

from sagelift import jobs
from sagelift.aws import AwsSettings, client
from sagelift.backends.base import JobState
from sagelift.backends.emulator import submit_request
from sagelift.backends.sagemaker.request import build_create_training_job_request
from sagelift.backends.sagemaker.validation import validate_request
from sagelift.spec import JobSpec
from sagelift.storage import Storage, open_storage
from sagelift.uploads import ship_channels, ship_code
from tests.conftest import MakeProject

BUCKET = "sagelift-e2e"
ROOT = f"s3://{BUCKET}/sagelift"
OUTPUT = f"s3://{BUCKET}/sagelift/output"
ROLE = "arn:aws:iam::123456789012:role/sagelift-test"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/sagelift:test"


@pytest.fixture
def s3(aws_settings: AwsSettings) -> Storage:
    client("s3", aws_settings).create_bucket(Bucket=BUCKET)
    return open_storage("s3", aws=aws_settings)


def _project(make_project: MakeProject) -> Path:
    project = make_project(
        "reads_channels",
        base_job_name="e2e",
        channels={"train": "data/train"},
        hyperparameters={"epochs": 3, "name": "cloud"},
        instance_type="ml.m5.large",
    )
    train = project / "data" / "train"
    train.mkdir(parents=True)
    (train / "rows.csv").write_text("1,2,3\n" * 100)
    (train / "more.csv").write_text("4,5,6\n")
    return project


def _request(spec: JobSpec, storage: Storage, job_name: str) -> dict[str, Any]:
    code = ship_code(spec, storage=storage, root_uri=ROOT)
    channels = ship_channels(spec, storage=storage, root_uri=ROOT)
    request = build_create_training_job_request(
        spec,
        job_name=job_name,
        role_arn=ROLE,
        image_uri=IMAGE,
        code=code,
        channels=channels,
        output_path=OUTPUT,
        checkpoint_s3_uri=None,
        region="us-east-1",
        tags={"sagelift:project": "e2e"},
    )
    validate_request(request)
    return request


def test_shipped_job_runs_from_s3_and_its_model_is_fetched(
    s3: Storage,
    aws_settings: AwsSettings,
    make_project: MakeProject,
    clean_environ: dict[str, str],
    tmp_path: Path,
) -> None:
    project = _project(make_project)
    spec = jobs.load_spec(project, environ=clean_environ)
    request = _request(spec, s3, "e2e-job-1")
    # The code reaches the job only through S3: the project's own files are gone.
    (project / "train.py").unlink()

    handle = submit_request(request, project_dir=project, aws=aws_settings)
    status = jobs.wait(handle, timeout=120)

    log = "\n".join(jobs.logs(project, handle.name))
    assert status.state is JobState.COMPLETED, f"{status.failure_reason}\n{log}"
    model_uri = f"{OUTPUT}/e2e-job-1/output/model.tar.gz"
    assert status.model_artifacts == model_uri
    with tarfile.open(fileobj=io.BytesIO(s3.get_bytes(model_uri))) as archive:
        seen = json.load(archive.extractfile("channels.json"))  # type: ignore[arg-type]
    # Only the job's own channel: the code channel is hidden from SM_CHANNELS.
    assert seen == {"train": ["more.csv", "rows.csv"]}
    assert "channels {'train': ['more.csv', 'rows.csv']}" in log

    fetched = jobs.fetch(project, handle.name, tmp_path / "model")
    assert json.loads((fetched / "channels.json").read_text()) == seen


def test_hyperparameters_and_environment_follow_the_request(
    s3: Storage,
    aws_settings: AwsSettings,
    make_project: MakeProject,
    clean_environ: dict[str, str],
    tmp_path: Path,
) -> None:
    project = make_project(
        "ok",
        base_job_name="e2e",
        hyperparameters={"epochs": 7, "lr": 0.5},
        instance_type="ml.m5.large",
    )
    spec = jobs.load_spec(project, environ=clean_environ)
    request = _request(spec, s3, "e2e-job-2")

    handle = submit_request(request, project_dir=project, aws=aws_settings)
    status = jobs.wait(handle, timeout=120)
    assert status.state is JobState.COMPLETED, status.failure_reason

    fetched = jobs.fetch(project, handle.name, tmp_path / "model")
    assert json.loads((fetched / "model.json").read_text()) == {
        "epochs": 7,
        "lr": 0.5,
        "name": "none",
    }
    env = json.loads((fetched / "env.json").read_text())
    assert env["argv"] == ["--epochs", "7", "--lr", "0.5"]
    assert env["env"]["SM_CURRENT_INSTANCE_TYPE"] == "ml.m5.large"
    assert json.loads(env["env"]["SM_CHANNELS"]) == []
    assert env["env"]["TRAINING_JOB_NAME"] == "e2e-job-2"
    assert json.loads((fetched / "output" / "metrics.json").read_text()) == {"accuracy": 0.5}


def test_a_failing_job_reports_its_reason_and_uploads_nothing(
    s3: Storage,
    aws_settings: AwsSettings,
    make_project: MakeProject,
    clean_environ: dict[str, str],
) -> None:
    project = make_project("failure_file", base_job_name="e2e", instance_type="ml.m5.large")
    spec = jobs.load_spec(project, environ=clean_environ)
    request = _request(spec, s3, "e2e-job-3")

    handle = submit_request(request, project_dir=project, aws=aws_settings)
    status = jobs.wait(handle, timeout=120)
    assert status.state is JobState.FAILED
    assert "DataError: the training set is empty" in (status.failure_reason or "")
    assert list(s3.list(f"{OUTPUT}/e2e-job-3")) == []
