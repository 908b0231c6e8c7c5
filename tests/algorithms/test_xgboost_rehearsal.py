"""XGBoost built-in, CSV and libsvm: a local run and ``--rehearse`` on the stand-in
``sagemaker-xgboost:1.7-1`` image (tagged as the official URI, so the request runs as sent)
give the same ``xgboost-model`` (equal predictions on held-out rows) and the same validation
metric. The rehearsal reads its channels from the moto bucket and uploads ``model.tar.gz``
there, as SageMaker would."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sagelift import jobs, records
from sagelift.aws import AwsSettings, client
from sagelift.backends.base import JobState
from sagelift.backends.local import opt_ml_bindable
from tests.algorithms.standin import OFFICIAL_URI, ensure_xgboost_standin
from tests.algorithms.test_algorithm_jobs import PARAMS, _project

xgb = pytest.importorskip("xgboost")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings(
        "ignore::UserWarning", "ignore::pytest.PytestUnraisableExceptionWarning"
    ),
]

BUCKET = "sagelift-xgb-rehearsal"
VALIDATION = re.compile(r"^\[(\d+)\](?:\t|#011).*validation-auc:(\S+)")


@pytest.fixture
def standin(podman_cli: Any, container_environ: dict[str, str]) -> str:
    return ensure_xgboost_standin(podman_cli)


@pytest.fixture
def bucket(aws_settings: AwsSettings, role_arn: str) -> str:
    client("s3", aws_settings).create_bucket(Bucket=BUCKET)
    return BUCKET


def _aws_env(endpoint: str) -> dict[str, str]:
    return {
        "SAGELIFT_AWS_ENDPOINT_URL": endpoint,
        "SAGELIFT_AWS_REGION": "us-east-1",
        "SAGELIFT_AWS_ROLE": "sagelift-test",
        "SAGELIFT_AWS_BUCKET": BUCKET,
    }


def _booster(tar_bytes: bytes) -> Any:
    with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as tar:
        assert tar.getnames() == ["xgboost-model"]
        member = tar.extractfile("xgboost-model")
        assert member is not None
        return xgb.Booster(model_file=bytearray(member.read()))


def _validation_series(lines: list[str]) -> list[float]:
    return [float(m.group(2)) for line in lines if (m := VALIDATION.match(line))]


@pytest.mark.skipif(not opt_ml_bindable(), reason="/opt/ml cannot be bound on this machine")
@pytest.mark.parametrize("content_type", ["text/csv", "text/libsvm"])
def test_local_run_and_rehearsal_train_the_same_model(
    tmp_path: Path,
    clean_environ: dict[str, str],
    moto_endpoint: str,
    aws_settings: AwsSettings,
    bucket: str,
    standin: str,
    content_type: str,
) -> None:
    project, held_out, _ = _project(tmp_path / "proj", content_type)

    lines: list[str] = []
    local = jobs.run(jobs.load_spec(project, environ=clean_environ), on_line=lines.append)
    assert local.status.state is JobState.COMPLETED, local.status.failure_reason
    assert local.status.model_artifacts is not None
    local_model = _booster(Path(local.status.model_artifacts).read_bytes())
    local_series = _validation_series(lines)
    assert len(local_series) == PARAMS["num_round"]

    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "sagelift",
            "-C",
            str(project),
            "run",
            "--instance-type",
            "ml.m5.xlarge",
            "--rehearse",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, **_aws_env(moto_endpoint)},
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    rehearsals = [
        record
        for entry in records.scan_records(project)
        if (record := records.read_record(entry.record_dir)).backend == "rehearsal"
    ]
    assert len(rehearsals) == 1
    record = rehearsals[0]
    name = record.name
    assert record.cloud is not None
    request = record.cloud.request
    assert request["AlgorithmSpecification"]["TrainingImage"] == OFFICIAL_URI
    assert "ContainerEntrypoint" not in request["AlgorithmSpecification"]
    assert {c["ContentType"] for c in request["InputDataConfig"]} == {content_type}
    status = jobs.describe(project, name)
    assert status.state is JobState.COMPLETED, status.failure_reason

    s3 = client("s3", aws_settings)
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]]
    model_key = next(k for k in keys if k.endswith(f"{name}/output/model.tar.gz"))
    rehearsed = _booster(s3.get_object(Bucket=BUCKET, Key=model_key)["Body"].read())
    rehearsed_series = _validation_series(list(jobs.logs(project, name)))

    if content_type == "text/libsvm":
        # XGBoost's libsvm parser keeps index k in column k: column 0 stays empty.
        held_out = np.hstack([np.zeros((held_out.shape[0], 1)), held_out])
    data = xgb.DMatrix(held_out)
    assert np.array_equal(rehearsed.predict(data), local_model.predict(data))
    assert rehearsed_series == local_series
