from __future__ import annotations

from pathlib import Path

import pytest

from sagelift.aws import AwsSettings
from tests.aws_server import REGION, aws_settings, moto_endpoint

__all__ = ["aws_env", "aws_settings", "moto_endpoint", "project"]


@pytest.fixture
def aws_env(
    aws_settings: AwsSettings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> AwsSettings:
    """The process environment aimed at the loopback server (as a user's shell would be)."""
    assert aws_settings.endpoint_url is not None
    monkeypatch.setenv("SAGELIFT_AWS_ENDPOINT_URL", aws_settings.endpoint_url)
    monkeypatch.setenv("SAGELIFT_AWS_REGION", REGION)
    monkeypatch.setenv("CI", "true")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("SAGELIFT_CONFIG", raising=False)
    return aws_settings


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A small training project: train.py, requirements.txt, data/train and data/test."""
    root = tmp_path / "wine"
    (root / "data" / "train").mkdir(parents=True)
    (root / "data" / "test").mkdir()
    (root / "data" / "train" / "part.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    (root / "data" / "test" / "part.csv").write_text("a,b\n3,4\n", encoding="utf-8")
    (root / "requirements.txt").write_text("scikit-learn\n", encoding="utf-8")
    (root / "train.py").write_text(
        "import os\nprint('channels', os.environ.get('SM_CHANNEL_TRAIN'))\n", encoding="utf-8"
    )
    return root
