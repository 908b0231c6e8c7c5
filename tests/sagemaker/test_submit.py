"""SageMaker jobs against a moto server on loopback: the stored request, watching, bad input."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from sagelift import jobs, records
from sagelift.aws import AwsSettings, client
from sagelift.backends.sagemaker import SageMakerBackend
from sagelift.backends.sagemaker.watch import Backoff
from sagelift.errors import ConfigError, CredentialsError, SpecError
from tests.aws_server import REGION
from tests.conftest import MakeProject

IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
BUCKET = "sagelift-jobs"


def _project(
    make_project: MakeProject,
    endpoint: str,
    *,
    image: dict[str, str] | None = None,
    **extra: Any,
) -> Path:
    config: dict[str, Any] = {
        "instance_type": "ml.m5.xlarge",
        "hyperparameters": {"epochs": 2},
        "aws": {
            "endpoint_url": endpoint,
            "region": REGION,
            "role": "sagelift-test",
            "bucket": BUCKET,
        },
        "image": image or {"uri": IMAGE},
    }
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            config[key] = {**config[key], **value}
        else:
            config[key] = value
    return make_project("ok", **config)


@pytest.fixture
def bucket(aws_settings: AwsSettings) -> str:
    client("s3", aws_settings).create_bucket(Bucket=BUCKET)
    return BUCKET


def _objects(aws: AwsSettings) -> list[str]:
    answer = client("s3", aws).list_objects_v2(Bucket=BUCKET)
    return [o["Key"] for o in answer.get("Contents", [])]


def _jobs_on_server(aws: AwsSettings) -> list[str]:
    summaries = client("sagemaker", aws).list_training_jobs()["TrainingJobSummaries"]
    return [s["TrainingJobName"] for s in summaries]


def test_submit_stores_the_request_field_by_field(
    make_project: MakeProject,
    moto_endpoint: str,
    aws_settings: AwsSettings,
    role_arn: str,
    bucket: str,
) -> None:
    project = _project(make_project, moto_endpoint, channels={"train": "data"})
    (project / "data").mkdir()
    (project / "data" / "rows.csv").write_text("1,2\n", encoding="utf-8")
    spec = jobs.load_spec(project, environ={})
    handle = jobs.submit(spec, settings=jobs.load_settings(project, environ={}))

    stored = client("sagemaker", aws_settings).describe_training_job(TrainingJobName=handle.name)
    assert stored["RoleArn"] == role_arn
    algorithm = stored["AlgorithmSpecification"]
    assert algorithm["TrainingImage"] == IMAGE
    assert algorithm["TrainingInputMode"] == "File"
    assert algorithm["ContainerEntrypoint"][0].startswith("python")
    assert "--program" in algorithm["ContainerArguments"]
    hps = stored["HyperParameters"]
    assert hps["epochs"] == "2"
    assert hps["sagemaker_program"] == '"train.py"'
    assert hps["sagemaker_job_name"] == json.dumps(handle.name)
    code_uri = json.loads(hps["sagemaker_submit_directory"])
    assert code_uri.startswith(f"s3://{BUCKET}/sagelift/code/")
    assert code_uri.removeprefix(f"s3://{BUCKET}/") in _objects(aws_settings)
    channels = {c["ChannelName"]: c for c in stored["InputDataConfig"]}
    assert set(channels) == {"train", "sagelift-code"}
    train_uri = channels["train"]["DataSource"]["S3DataSource"]["S3Uri"]
    assert any(
        key.startswith(train_uri.removeprefix(f"s3://{BUCKET}/")) and key.endswith("rows.csv")
        for key in _objects(aws_settings)
    )
    assert stored["OutputDataConfig"]["S3OutputPath"] == f"s3://{BUCKET}/sagelift/output"
    assert stored["ResourceConfig"] == {
        "InstanceType": "ml.m5.xlarge",
        "InstanceCount": 1,
        "VolumeSizeInGB": 30,
    }
    assert stored["StoppingCondition"]["MaxRuntimeInSeconds"] == 86400
    tags = client("sagemaker", aws_settings).list_tags(ResourceArn=stored["TrainingJobArn"])
    keys = {t["Key"] for t in tags["Tags"]}
    assert {"sagelift:project", "sagelift:version"} <= keys

    record = records.read_record(handle.record_dir)
    assert record.cloud is not None
    assert record.backend == "sagemaker"
    assert record.cloud.arn == stored["TrainingJobArn"]
    assert record.cloud.request["Environment"] == {"SAGELIFT_BACKEND": "sagemaker"}
    assert "testing" not in (handle.record_dir / "job.json").read_text()  # no credentials


def test_a_tensorflow_framework_job_gets_the_tensorflow_estimators_model_dir(
    make_project: MakeProject,
    moto_endpoint: str,
    aws_settings: AwsSettings,
    role_arn: str,
    bucket: str,
) -> None:
    """``image.framework = "tensorflow"`` reaches the request: ``model_dir`` is
    ``<output path>/<job>/model``, as the TensorFlow estimator sends it."""
    tensorflow = {"framework": "tensorflow", "framework_version": "2.13.0"}
    project = _project(make_project, moto_endpoint, image=tensorflow)
    spec = jobs.load_spec(project, environ={})
    assert spec.kind == "framework"
    handle = jobs.submit(spec, settings=jobs.load_settings(project, environ={}))

    stored = client("sagemaker", aws_settings).describe_training_job(TrainingJobName=handle.name)
    assert stored["AlgorithmSpecification"]["TrainingImage"].endswith(
        "/tensorflow-training:2.13.0-cpu-py310"
    )
    output = stored["OutputDataConfig"]["S3OutputPath"]
    assert stored["HyperParameters"]["model_dir"] == json.dumps(f"{output}/{handle.name}/model")


def _set_state(name: str, **attributes: Any) -> None:
    from moto.sagemaker.models import sagemaker_backends

    job = sagemaker_backends["123456789012"][REGION].training_jobs[name]
    for key, value in attributes.items():
        setattr(job, key, value)


def _put_logs(aws: AwsSettings, name: str, lines: list[str]) -> None:
    logs: Any = client("logs", aws)
    group = "/aws/sagemaker/TrainingJobs"
    with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
        logs.create_log_group(logGroupName=group)
    stream = f"{name}/algo-1-1700000000"
    with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
        logs.create_log_stream(logGroupName=group, logStreamName=stream)
    now = int(time.time() * 1000)
    logs.put_log_events(
        logGroupName=group,
        logStreamName=stream,
        logEvents=[{"timestamp": now + i, "message": line} for i, line in enumerate(lines)],
    )


def test_watch_reports_transitions_and_streams_logs(
    make_project: MakeProject,
    moto_endpoint: str,
    aws_settings: AwsSettings,
    role_arn: str,
    bucket: str,
) -> None:
    project = _project(make_project, moto_endpoint)
    handle = jobs.submit(
        jobs.load_spec(project, environ={}), settings=jobs.load_settings(project, environ={})
    )
    _set_state(handle.name, training_job_status="InProgress", secondary_status="Starting")
    script = [
        {"secondary_status": "Training"},
        {"training_job_status": "Completed", "secondary_status": "Completed"},
    ]
    logged = [["epoch 1"], ["epoch 2", "done"]]

    def sleep(_: float) -> None:
        if logged:
            _put_logs(aws_settings, handle.name, logged.pop(0))
        if script:
            _set_state(handle.name, **script.pop(0))

    backend = SageMakerBackend(backoff=Backoff(initial=0.0, maximum=0.0), sleep=sleep)
    seen: list[str] = []
    lines: list[str] = []
    status = backend.watch(
        handle,
        on_line=lines.append,
        on_status=lambda s: seen.append(f"{s.state.value}/{s.secondary_status}"),
    )
    assert seen == ["InProgress/Starting", "InProgress/Training", "Completed/Completed"]
    assert lines == ["epoch 1", "epoch 2", "done"]
    assert (
        status.model_artifacts == f"s3://{BUCKET}/sagelift/output/{handle.name}/output/model.tar.gz"
    )
    assert list(backend.logs(handle)) == ["epoch 1", "epoch 2", "done"]


def _cli(
    project: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(
        [sys.executable, "-m", "sagelift", "-C", str(project), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
        check=False,
    )


def test_failed_job_exits_1_with_the_failure_reason(
    make_project: MakeProject,
    moto_endpoint: str,
    aws_settings: AwsSettings,
    role_arn: str,
    bucket: str,
) -> None:
    project = _project(make_project, moto_endpoint)
    handle = jobs.submit(
        jobs.load_spec(project, environ={}), settings=jobs.load_settings(project, environ={})
    )
    _set_state(
        handle.name,
        training_job_status="Failed",
        secondary_status="Failed",
        failure_reason="AlgorithmError: ValueError: bad lr",
    )
    status = jobs.describe(project, handle.name)
    assert status.failure_reason == "AlgorithmError: ValueError: bad lr"
    result = _cli(project, "describe", handle.name)
    assert result.returncode == 0, result.stderr
    assert "bad lr" in result.stdout


def test_run_end_to_end_from_the_cli(
    make_project: MakeProject,
    moto_endpoint: str,
    aws_settings: AwsSettings,
    role_arn: str,
    bucket: str,
) -> None:
    project = _project(make_project, moto_endpoint)
    result = _cli(project, "run")
    assert result.returncode == 0, result.stderr
    assert "Completed" in result.stderr
    assert len(_jobs_on_server(aws_settings)) == 1
    listed = _cli(project, "ls")
    assert "sagemaker" in listed.stdout


@pytest.mark.parametrize(
    ("extra", "error", "field"),
    [
        ({"instance_type": "ml.m5.xlarg"}, SpecError, "instance_type"),
        ({"aws": {"role": ""}}, ConfigError, None),
        ({"channels": {"train": "s3://Bad_Bucket/x"}}, SpecError, "channels.train"),
        ({"hyperparameters": {"notes": "x" * 2600}}, SpecError, "hyperparameters.notes"),
        ({"channels": {"a" * 60: "s3://datasets/x"}, "aws": {"prefix": "p"}}, None, None),
    ],
    ids=["instance-type", "no-role", "malformed-s3", "hp-too-long", "ok-control"],
)
def test_bad_input_uploads_nothing_and_creates_no_job(
    make_project: MakeProject,
    moto_endpoint: str,
    aws_settings: AwsSettings,
    role_arn: str,
    bucket: str,
    extra: dict[str, Any],
    error: type[Exception] | None,
    field: str | None,
) -> None:
    project = _project(make_project, moto_endpoint, **extra)

    def submit() -> None:
        spec = jobs.load_spec(project, environ={})
        jobs.submit(spec, settings=jobs.load_settings(project, environ={}))

    if error is None:
        client("s3", aws_settings).create_bucket(Bucket="datasets")  # input buckets must exist
        submit()
        assert _objects(aws_settings)
        assert _jobs_on_server(aws_settings)
        return
    with pytest.raises(error) as caught:
        submit()
    assert caught.value.exit_code == 2  # type: ignore[attr-defined]
    assert caught.value.hint  # type: ignore[attr-defined]
    if field is not None:
        assert caught.value.field == field  # type: ignore[attr-defined]
    assert _objects(aws_settings) == []
    assert _jobs_on_server(aws_settings) == []


def test_bad_input_from_the_cli_exits_2(
    make_project: MakeProject,
    moto_endpoint: str,
    aws_settings: AwsSettings,
    role_arn: str,
    bucket: str,
) -> None:
    project = _project(make_project, moto_endpoint)
    result = _cli(project, "run", "--instance-type", "ml.m5.xlarg")
    assert result.returncode == 2
    assert "ml.m5.xlarge" in result.stderr
    assert _objects(aws_settings) == []
    assert _jobs_on_server(aws_settings) == []


def test_missing_credentials_exit_3_with_the_fix(
    make_project: MakeProject,
    moto_endpoint: str,
    aws_settings: AwsSettings,
    role_arn: str,
    bucket: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    project = _project(make_project, moto_endpoint)
    empty = tmp_path / "empty"
    empty.write_text("", encoding="utf-8")
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(empty))
    with pytest.raises(CredentialsError) as caught:
        jobs.submit(
            jobs.load_spec(project, environ={}), settings=jobs.load_settings(project, environ={})
        )
    assert caught.value.exit_code == 3
    assert "aws configure" in (caught.value.hint or "")
    result = _cli(project, "run")
    assert result.returncode == 3
    assert "hint:" in result.stderr
