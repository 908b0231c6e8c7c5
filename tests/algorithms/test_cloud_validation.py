"""A cloud XGBoost job whose channel data is not what the algorithm reads is refused before
anything reaches S3: the channel validator runs in ``jobs.submit`` ahead of the SageMaker
backend's first upload (moto server; a real bucket that must stay empty)."""

from __future__ import annotations

import io
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

from sagelift import cli
from sagelift.aws import AwsSettings, client
from tests.algorithms.test_algorithm_jobs import _project

BUCKET = "sagelift-xgb-refused"


@pytest.mark.parametrize(
    ("content_type", "text", "needle"),
    [
        ("text/csv", "label,f1,f2\n1,0.5,0.25\n0,0.1,0.2\n", "header"),
        ("text/libsvm", "1 0:0.5 2:0.25\n", "1-based"),
    ],
)
@pytest.mark.parametrize("rehearse", [False, True], ids=["sagemaker", "rehearse"])
def test_bad_channel_data_is_refused_before_any_upload(
    tmp_path: Path,
    clean_environ: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    moto_endpoint: str,
    aws_settings: AwsSettings,
    role_arn: str,
    content_type: str,
    text: str,
    needle: str,
    rehearse: bool,
) -> None:
    s3 = client("s3", aws_settings)
    s3.create_bucket(Bucket=BUCKET)
    monkeypatch.setenv("HOME", clean_environ["HOME"])
    for key, value in {
        "SAGELIFT_AWS_ENDPOINT_URL": moto_endpoint,
        "SAGELIFT_AWS_REGION": "us-east-1",
        "SAGELIFT_AWS_ROLE": "sagelift-test",
        "SAGELIFT_AWS_BUCKET": BUCKET,
    }.items():
        monkeypatch.setenv(key, value)
    root, _, _ = _project(tmp_path / "proj", content_type, instance_type="ml.m5.xlarge")
    (root / "data" / "train" / "part-0").write_text(text, encoding="utf-8")

    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = cli.main(["--project", str(root), "run", *(["--rehearse"] if rehearse else [])])
    message = err.getvalue()
    assert code == 2, message
    assert "channels.train" in message
    assert needle in message
    assert "Traceback" not in message
    assert s3.list_objects_v2(Bucket=BUCKET).get("KeyCount", 0) == 0
    assert client("sagemaker", aws_settings).list_training_jobs()["TrainingJobSummaries"] == []
    assert not (root / ".sagelift" / "jobs").exists() or not any(
        (root / ".sagelift" / "jobs").iterdir()
    )
