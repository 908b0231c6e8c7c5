"""From an empty (loopback) account: init → aws setup → run on SageMaker, no other step."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import boto3
import pytest

from sagelift.aws import AwsSettings
from sagelift.cli import main

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("sagelift.backends.sagemaker") is None,
    reason="needs the SageMaker backend (sagelift.backends.sagemaker)",
)


def test_init_setup_run_submits_a_valid_job(
    aws_env: AwsSettings, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["-C", str(project), "init"]) == 0
    assert main(["-C", str(project), "aws", "setup"]) == 0
    capsys.readouterr()
    assert main(["-C", str(project), "run", "--instance-type", "ml.m5.large", "--detach"]) == 0
    job_name = capsys.readouterr().out.strip().splitlines()[-1]

    sagemaker = boto3.client(
        "sagemaker", region_name="us-east-1", endpoint_url=aws_env.endpoint_url
    )
    job = sagemaker.describe_training_job(TrainingJobName=job_name)
    role = boto3.client("iam", endpoint_url=aws_env.endpoint_url).get_role(
        RoleName="sagelift-wine-sagemaker"
    )["Role"]
    assert job["RoleArn"] == role["Arn"]
    assert job["ResourceConfig"]["InstanceType"] == "ml.m5.large"
    bucket = "sagelift-123456789012-us-east-1"
    assert job["OutputDataConfig"]["S3OutputPath"].startswith(f"s3://{bucket}/")
    channels = {c["ChannelName"]: c for c in job["InputDataConfig"]}
    assert set(channels) >= {"train", "test"}
    for channel in channels.values():
        uri = channel["DataSource"]["S3DataSource"]["S3Uri"]
        assert uri.startswith(f"s3://{bucket}/sagelift/")
    assert "sagemaker-scikit-learn" in job["AlgorithmSpecification"]["TrainingImage"]
