"""Each cloud job reads the data it was submitted with, whatever is submitted after it.

Detached SageMaker submissions against a moto server on loopback: the moto SageMaker API stores
the job (nothing runs), so a job's data is what lies under its channel's S3Uri in the stored
request. Bytes leaving the client are counted with a botocore hook on every client sagelift
makes (the Content-Length of each PutObject and UploadPart, and each CopyObject), by key.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from sagelift import jobs, records
from sagelift.aws import AwsSettings, client
from sagelift.job import JobRecord
from tests.aws_server import REGION, aws_settings, moto_endpoint
from tests.conftest import MakeProject

__all__ = ["aws_settings", "moto_endpoint"]

IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
BUCKET = "sagelift-jobs"
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


@dataclass
class Sent:
    """Upload bodies and server-side copies by S3 key."""

    puts: dict[str, int] = field(default_factory=dict)
    copies: list[str] = field(default_factory=list)

    def count(self, request: Any, **_: Any) -> None:
        key = request.url.split("?", 1)[0].split("/", 4)[-1]
        if "x-amz-copy-source" in request.headers:
            self.copies.append(key)
            return
        self.puts[key] = self.puts.get(key, 0) + int(request.headers.get("Content-Length") or 0)

    def data_bytes(self) -> int:
        """Bytes sent to keys under the channel data prefix (manifests and hints included)."""
        return sum(n for key, n in self.puts.items() if "/data/" in f"/{key}")

    def clear(self) -> None:
        self.puts.clear()
        self.copies.clear()


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> Sent:
    import boto3.session

    seen = Sent()
    original = boto3.session.Session.client

    def hooked(self: Any, *args: Any, **kwargs: Any) -> Any:
        made = original(self, *args, **kwargs)
        for operation in ("PutObject", "UploadPart", "CopyObject"):
            made.meta.events.register(f"before-send.s3.{operation}", seen.count)
        return made

    monkeypatch.setattr(boto3.session.Session, "client", hooked)
    return seen


@pytest.fixture
def cloud(aws_settings: AwsSettings) -> AwsSettings:
    client("s3", aws_settings).create_bucket(Bucket=BUCKET)
    client("iam", aws_settings).create_role(
        RoleName="sagelift-test", AssumeRolePolicyDocument=json.dumps(TRUST)
    )
    return aws_settings


def _project(make_project: MakeProject, aws: AwsSettings, **extra: Any) -> Path:
    project = make_project(
        "reads_channels",
        base_job_name="immutable",
        instance_type="ml.m5.xlarge",
        channels={"train": "data/train"},
        aws={
            "endpoint_url": aws.endpoint_url,
            "region": REGION,
            "role": "sagelift-test",
            "bucket": BUCKET,
        },
        image={"uri": IMAGE},
        **extra,
    )
    train = project / "data" / "train"
    (train / "sub").mkdir(parents=True)
    (train / "a.csv").write_text("1,2\n" * 100)
    (train / "b.csv").write_text("3,4\n" * 100)
    (train / "sub" / "c.csv").write_text("5,6\n" * 100)
    return project


def _submit(project: Path) -> JobRecord:
    """Submit (detached) and return the job record."""
    handle = jobs.submit(
        jobs.load_spec(project, environ={}), settings=jobs.load_settings(project, environ={})
    )
    return records.read_record(handle.record_dir)


def _channel_uri(aws: AwsSettings, name: str) -> str:
    stored = client("sagemaker", aws).describe_training_job(TrainingJobName=name)
    channels = {c["ChannelName"]: c for c in stored["InputDataConfig"]}
    uri: str = channels["train"]["DataSource"]["S3DataSource"]["S3Uri"]
    return uri


def _channel_data(aws: AwsSettings, uri: str) -> dict[str, bytes]:
    """What a job reading the S3Prefix ``uri`` downloads, by path relative to the prefix."""
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    s3: Any = client("s3", aws)
    found: dict[str, bytes] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
            found[item["Key"][len(prefix) :].lstrip("/")] = body
    return found


def _local(train: Path) -> dict[str, bytes]:
    return {
        p.relative_to(train).as_posix(): p.read_bytes()
        for p in sorted(train.rglob("*"))
        if p.is_file()
    }


def test_a_later_submission_leaves_an_earlier_jobs_data_alone(
    make_project: MakeProject, cloud: AwsSettings, sent: Sent
) -> None:
    import mlflow

    project = _project(make_project, cloud, tracking={"uri": "sqlite"})
    train = project / "data" / "train"
    first_data = _local(train)
    first = _submit(project)

    (train / "b.csv").write_text("edited\n")
    (train / "sub" / "c.csv").unlink()
    (train / "d.csv").write_text("new\n")
    second_data = _local(train)
    sent.clear()
    second = _submit(project)

    # Each job's channel holds exactly the data it was submitted with.
    assert _channel_data(cloud, _channel_uri(cloud, first.name)) == first_data
    assert _channel_data(cloud, _channel_uri(cloud, second.name)) == second_data
    # The record says which snapshot each job reads; the digests differ.
    one, two = first.inputs["train"], second.inputs["train"]
    assert one.digest != two.digest
    assert one.uri == _channel_uri(cloud, first.name)
    assert two.uri == _channel_uri(cloud, second.name)
    assert one.uri.endswith(f"/{one.digest}/")
    assert two.uri.endswith(f"/{two.digest}/")
    # Incremental: the edited and the new file are sent, the unchanged a.csv is copied in S3.
    sent_files = {k.rsplit("/", 1)[-1] for k in sent.puts if "/data/" in f"/{k}"}
    assert {"b.csv", "d.csv"} <= sent_files
    assert "a.csv" not in sent_files
    assert [k.rsplit("/", 1)[-1] for k in sent.copies if "/data/" in f"/{k}"] == ["a.csv"]
    # The MLflow run of each job carries the digest of the data it read.
    for record in (first, second):
        tracking = json.loads(
            (project / ".sagelift" / "jobs" / record.name / "tracking.json").read_text()
        )
        run = mlflow.tracking.MlflowClient(tracking_uri=tracking["uri"]).get_run(
            tracking["run"]["run_id"]
        )
        assert run.data.tags["sagelift.channel.train.digest"] == record.inputs["train"].digest


def test_an_unchanged_resubmission_sends_nothing_and_copies_nothing(
    make_project: MakeProject, cloud: AwsSettings, sent: Sent
) -> None:
    project = _project(make_project, cloud)
    first = _submit(project)
    assert sent.data_bytes() >= 3 * 400
    sent.clear()
    again = _submit(project)

    assert sent.data_bytes() == 0, sent.puts
    assert sent.copies == []
    assert again.inputs == first.inputs
    assert _channel_uri(cloud, again.name) == _channel_uri(cloud, first.name)


def test_a_snapshot_deleted_in_s3_is_sent_again(
    make_project: MakeProject, cloud: AwsSettings, sent: Sent
) -> None:
    project = _project(make_project, cloud)
    train = project / "data" / "train"
    first = _submit(project)
    uri = _channel_uri(cloud, first.name)
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    s3: Any = client("s3", cloud)
    for item in s3.list_objects_v2(Bucket=bucket, Prefix=prefix)["Contents"]:
        s3.delete_object(Bucket=bucket, Key=item["Key"])
    assert _channel_data(cloud, uri) == {}

    sent.clear()
    again = _submit(project)

    assert _channel_data(cloud, _channel_uri(cloud, again.name)) == _local(train)
    assert sent.data_bytes() >= sum(len(v) for v in _local(train).values())
    assert again.inputs["train"] == first.inputs["train"]


def test_one_object_removed_from_a_snapshot_is_restored(
    make_project: MakeProject, cloud: AwsSettings, sent: Sent
) -> None:
    project = _project(make_project, cloud)
    train = project / "data" / "train"
    first = _submit(project)
    bucket, _, prefix = _channel_uri(cloud, first.name).removeprefix("s3://").partition("/")
    client("s3", cloud).delete_object(Bucket=bucket, Key=f"{prefix.rstrip('/')}/sub/c.csv")

    sent.clear()
    again = _submit(project)

    assert _channel_data(cloud, _channel_uri(cloud, again.name)) == _local(train)
    sent_files = {k.rsplit("/", 1)[-1] for k in sent.puts if "/data/" in f"/{k}"}
    assert "c.csv" in sent_files
    assert not {"a.csv", "b.csv"} & sent_files
