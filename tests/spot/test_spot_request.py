"""A spot job's CreateTrainingJob request, and its bill from DescribeTrainingJob."""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path

import pytest

from sagelift.backends.sagemaker.client import status_from_description
from sagelift.backends.sagemaker.costs import with_bill
from sagelift.backends.sagemaker.plan import spot_max_wait
from sagelift.backends.sagemaker.validation import validate_request
from sagelift.errors import SpecError, UnsupportedFeature
from sagelift.job import CloudJob
from tests.sagemaker.test_request import ROOT, _request, _spec

GOLDEN = Path(__file__).parent.parent / "golden" / "requests" / "spot.json"


def test_spot_request_matches_golden_file():
    spec = _spec(spot=True, max_runtime=3600)
    request = _request(
        spec,
        enable_spot=True,
        max_wait=spot_max_wait(spec),
        checkpoint_s3_uri=f"{ROOT}/checkpoints/{spec.base_job_name}",
    )
    validate_request(request)
    assert request["EnableManagedSpotTraining"] is True
    assert request["StoppingCondition"] == {
        "MaxRuntimeInSeconds": 3600,
        "MaxWaitTimeInSeconds": 7200,
    }
    assert request["CheckpointConfig"]["LocalPath"] == "/opt/ml/checkpoints"
    actual = (json.dumps(request, indent=2, sort_keys=True) + "\n").encode()
    if os.environ.get("SAGELIFT_UPDATE_GOLDEN") == "1":
        GOLDEN.write_bytes(actual)
    assert actual == GOLDEN.read_bytes()


def test_explicit_max_wait_is_kept():
    assert spot_max_wait(_spec(spot=True, max_runtime=600, max_wait=900)) == 900


@pytest.mark.parametrize(
    ("toml", "error", "match"),
    [
        ({"max_wait": 100}, SpecError, "only applies to spot"),
        (
            {"spot": True, "max_wait": 60, "max_runtime": 120, "instance_type": "ml.m5.large"},
            SpecError,
            "at least max_runtime",
        ),
        ({"spot": True}, UnsupportedFeature, "only on SageMaker"),
    ],
)
def test_invalid_spot_combinations(make_project, clean_environ, toml, error, match):
    import sagelift

    project = make_project("ok", **toml)
    with pytest.raises(error, match=match):
        sagelift.load_spec(project, environ=clean_environ)


def test_spot_bill_from_describe_training_job():
    description = {
        "TrainingJobName": "wine-1",
        "TrainingJobStatus": "Completed",
        "SecondaryStatus": "Completed",
        "CreationTime": datetime(2026, 11, 1, tzinfo=timezone.utc),
        "TrainingTimeInSeconds": 500,
        "BillableTimeInSeconds": 100,
        "ModelArtifacts": {"S3ModelArtifacts": "s3://b/p/output/wine-1/output/model.tar.gz"},
    }
    job = CloudJob(
        region="us-east-1",
        request={"EnableManagedSpotTraining": True, "ResourceConfig": {"InstanceCount": 2}},
        hourly_price=0.23,
    )
    status = with_bill(status_from_description(description), job)
    assert status.billable_seconds == 100
    assert status.cost_usd == pytest.approx(100 * 2 * 0.23 / 3600)
    assert "managed spot savings: 80.0 %" in status.notes
