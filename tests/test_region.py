"""A region named only in the AWS profile is the region of every command.

Before, the façade fell back to us-east-1 while setup honoured the profile: a user whose region
lives only in ``~/.aws/config`` got jobs in one region and resources in another.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sagelift import jobs, records
from sagelift.aws import AwsSettings, resolve_region
from sagelift.errors import ConfigError
from sagelift.job import JobState
from sagelift.provision import job_region
from tests.conftest import MakeProject

pytest.importorskip("boto3")


@pytest.fixture
def profile_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    config = tmp_path / "aws-config"
    config.write_text("[profile research]\nregion = eu-west-2\n", encoding="utf-8")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_PROFILE", "research")
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "SAGELIFT_AWS_REGION"):
        monkeypatch.delenv(name, raising=False)
    return "eu-west-2"


def test_every_resolution_uses_the_profile_region(profile_only: str) -> None:
    assert resolve_region(AwsSettings()) == profile_only
    assert resolve_region(AwsSettings(profile="research")) == profile_only
    assert job_region(AwsSettings()) == profile_only
    # The settings win over the profile, the environment over the profile too.
    assert resolve_region(AwsSettings(region="ap-south-1")) == "ap-south-1"
    assert resolve_region(AwsSettings(), environ={"AWS_REGION": "sa-east-1"}) == "sa-east-1"


def test_a_local_job_runs_in_the_profile_region(
    profile_only: str, make_project: MakeProject, clean_environ: dict[str, str]
) -> None:
    project = make_project("ok")
    result = jobs.run(jobs.load_spec(project, environ=clean_environ))
    assert result.status.state is JobState.COMPLETED, result.status.failure_reason
    layout = result.handle.record_dir / "opt-ml" / "input" / "config"
    hyperparameters = json.loads((layout / "hyperparameters.json").read_text())
    assert json.loads(hyperparameters["sagemaker_region"]) == profile_only
    assert records.read_record(result.handle.record_dir).name == result.handle.name


def test_no_region_anywhere_is_a_config_error_where_one_is_needed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "absent"))
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    assert resolve_region(AwsSettings()) is None
    with pytest.raises(ConfigError, match="no AWS region"):
        resolve_region(AwsSettings(), required=True)
