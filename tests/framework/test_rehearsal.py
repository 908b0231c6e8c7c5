"""``sagelift run --instance-type ml.m5.large --rehearse``: the real SageMaker request of the
default ``sagelift init`` project, executed in the stand-in scikit-learn 1.2-1 image (Python
3.9, the sagemaker-training toolkit) against the moto server, as SageMaker would run it."""

from __future__ import annotations

import io
import json
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
from tests.framework.projects import framework_project
from tests.framework.standin import OFFICIAL_URI, ensure_sklearn_standin

pytestmark = pytest.mark.slow

BUCKET = "sagelift-rehearsal"


@pytest.fixture
def standin(podman_cli: Any, container_environ: dict[str, str]) -> str:
    return ensure_sklearn_standin(podman_cli)


@pytest.fixture
def bucket(aws_settings: AwsSettings, role_arn: str) -> str:
    client("s3", aws_settings).create_bucket(Bucket=BUCKET)
    return BUCKET


def _cli(project: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sagelift", "-C", str(project), *args],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, **env},
        check=False,
    )


def _aws_env(endpoint: str) -> dict[str, str]:
    return {
        "SAGELIFT_AWS_ENDPOINT_URL": endpoint,
        "SAGELIFT_AWS_REGION": "us-east-1",
        "SAGELIFT_AWS_ROLE": "sagelift-test",
        "SAGELIFT_AWS_BUCKET": BUCKET,
    }


def _init_project(tmp_path: Path, moto_endpoint: str, *, extra_requirement: bool) -> Path:
    """A scikit-learn project given the sagelift.toml that ``sagelift init`` writes."""
    project = framework_project(tmp_path / "wine", extra_requirement=extra_requirement)
    kept = (project / "sagelift.toml").read_text()
    (project / "sagelift.toml").unlink()
    done = _cli(project, "init", env=_aws_env(moto_endpoint))
    assert done.returncode == 0, done.stderr
    written = (project / "sagelift.toml").read_text()
    assert 'framework = "sklearn"' in written  # what init proposes for scikit-learn
    if extra_requirement:  # the test's offline pip settings, in the job's Environment
        written += '\n[environment]\nPIP_FIND_LINKS = "wheels"\nPIP_NO_INDEX = "1"\n'
    if "[channels]" not in written:
        written += '\n[channels]\ntrain = "data/train"\n'
    (project / "sagelift.toml").write_text(written)
    assert "sklearn" in kept
    return project


def _model_facts(aws: AwsSettings, key: str) -> dict[str, Any]:
    body = client("s3", aws).get_object(Bucket=BUCKET, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body)) as tar:
        member = tar.extractfile("facts.json")
        assert member is not None
        data: dict[str, Any] = json.loads(member.read())
        return data


@pytest.mark.parametrize("extra_requirement", [False, True], ids=["init-project", "extra-req"])
def test_the_init_project_rehearsed_in_the_sklearn_image_completes(
    tmp_path: Path,
    moto_endpoint: str,
    aws_settings: AwsSettings,
    bucket: str,
    standin: str,
    extra_requirement: bool,
) -> None:
    project = _init_project(tmp_path, moto_endpoint, extra_requirement=extra_requirement)
    done = _cli(
        project, "run", "--instance-type", "ml.m5.large", "--rehearse", env=_aws_env(moto_endpoint)
    )
    assert done.returncode == 0, done.stdout + done.stderr
    # No job reached SageMaker.
    answer = client("sagemaker", aws_settings).list_training_jobs()
    assert answer["TrainingJobSummaries"] == []
    (name,) = [r.name for r in records.scan_records(project)]
    record = records.read_record(records.jobs_root(project) / name)
    assert record.backend == "rehearsal"
    assert record.cloud is not None
    assert record.cloud.arn is None
    request = record.cloud.request
    assert request["AlgorithmSpecification"]["TrainingImage"] == OFFICIAL_URI
    assert "ContainerEntrypoint" not in request["AlgorithmSpecification"]
    status = jobs.describe(project, name)
    assert status.state is JobState.COMPLETED, status.failure_reason
    assert [s for s, _ in status.transitions][:2] == ["Starting", "Downloading"]
    assert "Training" in [s for s, _ in status.transitions]
    # model.tar.gz where SageMaker puts it, in the moto bucket.
    keys = [o["Key"] for o in client("s3", aws_settings).list_objects_v2(Bucket=BUCKET)["Contents"]]
    model_key = next(k for k in keys if k.endswith(f"{name}/output/model.tar.gz"))
    facts = _model_facts(aws_settings, model_key)
    assert facts["python"] == "3.9"  # the framework image's own Python ran the script
    assert facts["greeting"] == facts["subprocess_greeting"] == "hello from mylib"
    assert facts["train_files"] == ["rows.csv"]
    assert facts["tinydep"] == ("tinydep 1.0" if extra_requirement else None)
    logs = _cli(project, "logs", name, env=_aws_env(moto_endpoint))
    assert "train_accuracy=0.9" in logs.stdout


def test_a_failing_script_gives_the_toolkit_failure_reason(
    tmp_path: Path, moto_endpoint: str, aws_settings: AwsSettings, bucket: str, standin: str
) -> None:
    project = _init_project(tmp_path, moto_endpoint, extra_requirement=False)
    (project / "train.py").write_text("import sys\nsys.exit(7)\n")
    done = _cli(
        project, "run", "--instance-type", "ml.m5.large", "--rehearse", env=_aws_env(moto_endpoint)
    )
    assert done.returncode == 1, done.stdout + done.stderr
    (name,) = [r.name for r in records.scan_records(project)]
    status = jobs.describe(project, name)
    assert status.state is JobState.FAILED
    assert status.failure_reason is not None
    assert "ExitCode 7" in status.failure_reason


def test_rehearse_needs_an_ml_instance_type(tmp_path: Path) -> None:
    project = framework_project(tmp_path / "p")
    done = _cli(project, "run", "--rehearse", env={})
    assert done.returncode == 2
    assert "ml." in done.stderr
    assert shutil.which("python3") is not None
