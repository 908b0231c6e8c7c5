"""``--rehearse`` of a request of two instances: the real CreateTrainingJob request (moto S3
for code and data) executed as two containers algo-1 and algo-2 that find each other by name;
the sharded channel's objects are dealt out between them."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest

from sagelift import jobs, records
from sagelift.aws import AwsSettings, client
from sagelift.backends.base import JobState
from sagelift.images.base import BaseImage
from tests.conftest import FIXTURES, dump_toml
from tests.container_infra import cpu_base_image, image_namespace

__all__ = ["cpu_base_image", "image_namespace"]

pytestmark = pytest.mark.slow

BUCKET = "sagelift-rehearsal-hosts"


@pytest.fixture
def bucket(aws_settings: AwsSettings, role_arn: str) -> str:
    client("s3", aws_settings).create_bucket(Bucket=BUCKET)
    return BUCKET


def _env(endpoint: str, image: str) -> dict[str, str]:
    return {
        **os.environ,
        "SAGELIFT_AWS_ENDPOINT_URL": endpoint,
        "SAGELIFT_AWS_REGION": "us-east-1",
        "SAGELIFT_AWS_ROLE": "sagelift-test",
        "SAGELIFT_AWS_BUCKET": BUCKET,
        "SAGELIFT_IMAGE_URI": image,
        "SAGELIFT_IMAGE_CONTAINER_CLI": "podman",
    }


def test_two_instances_rehearsed_as_two_containers_complete_with_the_total(
    tmp_path: Path,
    moto_endpoint: str,
    aws_settings: AwsSettings,
    bucket: str,
    container_environ: dict[str, str],
    cpu_base_image: BaseImage,
) -> None:
    project = tmp_path / "two_hosts"
    shutil.copytree(FIXTURES / "two_hosts", project)
    (project / "sagelift.toml").write_text(
        dump_toml(
            {
                "entry_point": "train.py",
                "instance_type": "ml.m5.large",
                "instance_count": 2,
                "channels": {"train": {"path": "data", "distribution": "ShardedByS3Key"}},
            }
        )
    )
    done = subprocess.run(
        [sys.executable, "-m", "sagelift", "-C", str(project), "run", "--rehearse"],
        capture_output=True,
        text=True,
        timeout=600,
        env=_env(moto_endpoint, cpu_base_image.ref),
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert client("sagemaker", aws_settings).list_training_jobs()["TrainingJobSummaries"] == []
    (name,) = [r.name for r in records.scan_records(project)]
    record = records.read_record(records.jobs_root(project) / name)
    assert record.backend == "rehearsal"
    assert record.cloud is not None
    assert record.cloud.request["ResourceConfig"]["InstanceCount"] == 2
    status = jobs.describe(project, name)
    assert status.state is JobState.COMPLETED, status.failure_reason
    assert any(n.startswith("algo-2: Completed") for n in status.notes)
    logs = "\n".join(jobs.logs(project, name))
    assert "[algo-1] total 210" in logs
    assert "[algo-2] algo-2 holds" in logs
    keys = [o["Key"] for o in client("s3", aws_settings).list_objects_v2(Bucket=BUCKET)["Contents"]]
    model_key = next(k for k in keys if k.endswith(f"{name}/output/model.tar.gz"))
    body = client("s3", aws_settings).get_object(Bucket=BUCKET, Key=model_key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body)) as tar:
        model: dict[str, Any] = {
            m.name.removeprefix("./"): tar.extractfile(m).read().decode()  # type: ignore[union-attr]
            for m in tar.getmembers()
            if m.isfile()
        }
    assert model == {"total.txt": "210", "algo-1.txt": "90", "algo-2.txt": "120"}
