"""The golden request is what the SDK v2 sends today: re-captured from the SDK itself."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.formats.sdk import run_sdk

pytestmark = [pytest.mark.sdk, pytest.mark.slow]

HERE = Path(__file__).parent


def test_the_golden_request_is_the_sdks() -> None:
    script = (HERE / "sdk_request.py").read_text(encoding="utf-8")
    done = run_sdk(
        script,
        "us-east-1",
        "arn:aws:iam::123456789012:role/sagelift-test",
        "s3://bucket/out",
        "s3://bucket/data/train",
        "s3://bucket/data/validation",
    )
    captured = json.loads([line for line in done.stdout.splitlines() if line.startswith("{")][-1])
    golden = HERE.parent / "golden" / "requests" / "sdk_xgboost_estimator.json"
    assert captured == json.loads(golden.read_text(encoding="utf-8"))
