"""A DVC-tracked channel of a SageMaker job (moto): read from the DVC remote, not re-uploaded.

Bytes leaving the client are counted with a botocore hook on every client sagelift makes: the
Content-Length of each PutObject and UploadPart, by key.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from sagelift import jobs, records
from sagelift.aws import AwsSettings, client
from sagelift.job import JobRecord
from tests.aws_server import REGION
from tests.conftest import FIXTURES, dump_toml

pytest.importorskip("dvc")
pytestmark = pytest.mark.slow

DVC = str(Path(sys.executable).with_name("dvc"))
BUCKET = "sagelift-jobs"
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
DATA_BYTES = 3 * 200_000
TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "sagemaker.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}


def sh(cwd: Path, *argv: str, env: dict[str, str] | None = None) -> None:
    subprocess.run(argv, cwd=cwd, check=True, capture_output=True, env=env)


@dataclass
class Sent:
    """Upload bodies by S3 key."""

    puts: dict[str, int] = field(default_factory=dict)

    def count(self, request: Any, **_: Any) -> None:
        key = request.url.split("?", 1)[0].split("/", 3)[-1]
        size = int(request.headers.get("Content-Length") or 0)
        self.puts[key] = self.puts.get(key, 0) + size

    def data_bytes(self) -> int:
        """Bytes sent to keys that hold channel data (not code, not sagelift's small markers)."""
        return sum(
            n
            for key, n in self.puts.items()
            if "/code/" not in key and not key.endswith((".sagelift-dvc.json", ".sagelift-tree"))
        )


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> Sent:
    import boto3.session

    seen = Sent()
    original = boto3.session.Session.client

    def hooked(self: Any, *args: Any, **kwargs: Any) -> Any:
        made = original(self, *args, **kwargs)
        for operation in ("PutObject", "UploadPart"):
            made.meta.events.register(f"before-send.s3.{operation}", seen.count)
        return made

    monkeypatch.setattr(boto3.session.Session, "client", hooked)
    return seen


@pytest.fixture
def cloud_project(tmp_path: Path, aws_settings: AwsSettings) -> Path:
    project = tmp_path / "proj"
    shutil.copytree(FIXTURES / "reads_channels", project)
    train = project / "data" / "train"
    (train / "sub").mkdir(parents=True)
    for index, rel in enumerate(("a.bin", "b.bin", "sub/c.bin")):
        (train / rel).write_bytes(bytes([index]) * 7 + os.urandom(DATA_BYTES // 3 - 7))
    client("s3", aws_settings).create_bucket(Bucket="dvc-remote")
    client("s3", aws_settings).create_bucket(Bucket=BUCKET)
    client("iam", aws_settings).create_role(
        RoleName="sagelift-test", AssumeRolePolicyDocument=json.dumps(TRUST)
    )
    sh(project, "git", "init", "-q")
    sh(project, "git", "config", "user.email", "t@example.com")
    sh(project, "git", "config", "user.name", "t")
    sh(project, DVC, "init", "-q")
    sh(project, DVC, "remote", "add", "-d", "storage", "s3://dvc-remote/store")
    sh(project, DVC, "add", "-q", "data/train")
    sh(project, "git", "add", "-A")
    sh(project, "git", "commit", "-qm", "data")
    config: dict[str, Any] = {
        "entry_point": "train.py",
        "instance_type": "ml.m5.xlarge",
        "channels": {"train": "data/train"},
        "aws": {
            "endpoint_url": aws_settings.endpoint_url,
            "region": REGION,
            "role": "sagelift-test",
            "bucket": BUCKET,
        },
        "image": {"uri": IMAGE},
        "tracking": {"uri": "sqlite"},
    }
    (project / "sagelift.toml").write_text(dump_toml(config), encoding="utf-8")
    return project


def dvc_push(project: Path, aws_settings: AwsSettings) -> None:
    sh(
        project,
        DVC,
        "push",
        "-q",
        env={**os.environ, "AWS_ENDPOINT_URL": str(aws_settings.endpoint_url)},
    )


def submit(project: Path) -> tuple[JobRecord, dict[str, Any]]:
    """The job's record and the request as sent."""
    spec = jobs.load_spec(project, environ={})
    handle = jobs.submit(spec, settings=jobs.load_settings(project, environ={}))
    record = records.read_record(handle.record_dir)
    assert record.cloud is not None
    return record, dict(record.cloud.request)


def train_uri(request: dict[str, Any]) -> str:
    channels = {c["ChannelName"]: c for c in request["InputDataConfig"]}
    uri: str = channels["train"]["DataSource"]["S3DataSource"]["S3Uri"]
    return uri


def keys_under(aws: AwsSettings, uri: str) -> dict[str, bytes]:
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    s3 = client("s3", aws)
    found = s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
    return {
        o["Key"][len(prefix) :]: s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()
        for o in found
    }


def test_a_pushed_dvc_channel_reaches_the_job_with_0_bytes_from_the_client(
    cloud_project: Path, aws_settings: AwsSettings, sent: Sent
) -> None:
    import mlflow

    # Not pushed yet: uploaded like any local channel, and the record says why.
    record, request = submit(cloud_project)
    assert sent.data_bytes() >= DATA_BYTES
    assert record.cloud is not None
    assert record.cloud.data_sources["train"]["from"] == "upload"
    assert "dvc push" in record.cloud.data_sources["train"]["reason"]
    assert "/data/" in train_uri(request)

    dvc_push(cloud_project, aws_settings)
    sent.puts.clear()
    record, request = submit(cloud_project)

    assert sent.data_bytes() == 0, sent.puts
    version = record.data_versions["train"]
    assert record.cloud is not None
    assert version.endswith(".dir")
    assert record.cloud.data_sources["train"] == {
        "from": "dvc-remote",
        "uri": f"s3://{BUCKET}/sagelift/dvc/{version.removesuffix('.dir')}/",
        "version": version,
        "files": 3,
    }
    stored = client("sagemaker", aws_settings).describe_training_job(TrainingJobName=record.name)
    assert train_uri(stored) == record.cloud.data_sources["train"]["uri"]
    train = cloud_project / "data" / "train"
    assert keys_under(aws_settings, train_uri(stored)) == {
        rel: (train / rel).read_bytes() for rel in ("a.bin", "b.bin", "sub/c.bin")
    }

    tracking = json.loads(
        (cloud_project / ".sagelift" / "jobs" / record.name / "tracking.json").read_text()
    )
    run = mlflow.tracking.MlflowClient(tracking_uri=tracking["uri"]).get_run(
        tracking["run"]["run_id"]
    )
    assert run.data.tags["sagelift.channel.train.dvc"] == version
    assert run.data.tags["sagelift.job_arn"] == stored["TrainingJobArn"]
    assert run.data.tags["sagelift.image_uri"] == IMAGE
