"""``sagelift aws setup --ci``: the CI role on the loopback AWS server, parsed back."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
import tomllib

from sagelift.aws import AwsSettings
from sagelift.cli import main
from sagelift.provision.ci_policies import UNSCOPED_CI_ACTIONS

ACCOUNT = "123456789012"
GITHUB = "token.actions.githubusercontent.com"


@pytest.fixture
def project(aws_settings: AwsSettings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    assert aws_settings.endpoint_url is not None
    monkeypatch.setenv("SAGELIFT_AWS_ENDPOINT_URL", aws_settings.endpoint_url)
    monkeypatch.setenv("SAGELIFT_AWS_REGION", "us-east-1")
    monkeypatch.setenv("CI", "true")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    root = tmp_path / "wine"
    root.mkdir()
    (root / "train.py").write_text("print(1)\n", encoding="utf-8")
    (root / "sagelift.toml").write_text('entry_point = "train.py"\n', encoding="utf-8")
    return root


def _iam(settings: AwsSettings) -> Any:
    return boto3.client("iam", region_name="us-east-1", endpoint_url=settings.endpoint_url)


def _resources(statement: dict[str, Any]) -> list[str]:
    value = statement["Resource"]
    return value if isinstance(value, list) else [value]


def test_ci_role_trusts_only_the_repository_branch_and_grants_only_the_project(
    aws_settings: AwsSettings, project: Path
) -> None:
    args = ["-C", str(project), "aws", "setup", "--ci", "github", "--repo", "acme/wine"]
    assert main([*args, "--branch", "main", "--dry-run"]) == 0
    assert _iam(aws_settings).list_open_id_connect_providers()["OpenIDConnectProviderList"] == []
    assert main([*args, "--branch", "main"]) == 0

    iam = _iam(aws_settings)
    config = tomllib.loads((project / "sagelift.toml").read_text(encoding="utf-8"))["aws"]
    role = iam.get_role(RoleName=config["ci_role"].rsplit("/", 1)[-1])["Role"]
    assert role["Arn"] == config["ci_role"]
    (statement,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Principal"] == {"Federated": f"arn:aws:iam::{ACCOUNT}:oidc-provider/{GITHUB}"}
    assert statement["Condition"] == {
        "StringEquals": {
            f"{GITHUB}:aud": "sts.amazonaws.com",
            f"{GITHUB}:sub": "repo:acme/wine:ref:refs/heads/main",
        }
    }
    providers = iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]
    (provider,) = providers
    found = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=provider["Arn"])
    assert found["ClientIDList"] == ["sts.amazonaws.com"]

    names = iam.list_role_policies(RoleName=role["RoleName"])["PolicyNames"]
    (policy_name,) = names
    document = iam.get_role_policy(RoleName=role["RoleName"], PolicyName=policy_name)[
        "PolicyDocument"
    ]
    document = json.loads(document) if isinstance(document, str) else document
    bucket = f"arn:aws:s3:::sagelift-{ACCOUNT}-us-east-1"
    allowed = (
        f"arn:aws:iam::{ACCOUNT}:role/sagelift/{config['role'].rsplit('/', 1)[-1]}",
        f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:training-job/wine-*",
        bucket,
        f"{bucket}/{config['prefix']}/*",
        f"arn:aws:ecr:us-east-1:{ACCOUNT}:repository/{config['ecr_repository']}",
        f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/aws/sagemaker/TrainingJobs",
        f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/aws/sagemaker/TrainingJobs:log-stream:*",
    )
    for entry in document["Statement"]:
        actions = entry["Action"] if isinstance(entry["Action"], list) else [entry["Action"]]
        for resource in _resources(entry):
            if resource == "*":
                assert set(actions) <= UNSCOPED_CI_ACTIONS, entry
            else:
                assert resource in allowed, entry
        if entry["Resource"] == bucket and "s3:ListBucket" in actions:
            assert entry["Condition"]["StringLike"]["s3:prefix"] == [
                config["prefix"],
                f"{config['prefix']}/*",
            ]
    passrole = next(e for e in document["Statement"] if e["Action"] == "iam:PassRole")
    assert passrole["Resource"] == config["role"]

    # A second setup changes nothing; without --branch any ref of the repository matches.
    assert main(args) == 0
    role = iam.get_role(RoleName=role["RoleName"])["Role"]
    (statement,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Condition"]["StringLike"] == {f"{GITHUB}:sub": "repo:acme/wine:*"}
    assert f"{GITHUB}:sub" not in statement["Condition"]["StringEquals"]


def test_teardown_removes_the_ci_role_and_the_provider_it_made(
    aws_settings: AwsSettings, project: Path
) -> None:
    iam = _iam(aws_settings)
    assert main(["-C", str(project), "aws", "setup", "--ci", "github", "--repo", "acme/w"]) == 0
    # Another project's CI role trusting the same provider keeps it.
    other = project.parent / "other"
    other.mkdir()
    (other / "train.py").write_text("print(1)\n", encoding="utf-8")
    assert main(["-C", str(other), "aws", "setup", "--ci", "github", "--repo", "acme/o"]) == 0
    assert main(["-C", str(project), "aws", "teardown", "--force"]) == 0
    roles = {r["RoleName"] for r in iam.list_roles()["Roles"]}
    assert "sagelift-wine-ci-github" not in roles
    assert "sagelift-other-ci-github" in roles
    assert len(iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]) == 1
    assert main(["-C", str(other), "aws", "teardown", "--force"]) == 0
    assert iam.list_open_id_connect_providers()["OpenIDConnectProviderList"] == []


def test_a_provider_sagelift_did_not_create_is_kept(
    aws_settings: AwsSettings, project: Path
) -> None:
    iam = _iam(aws_settings)
    iam.create_open_id_connect_provider(
        Url=f"https://{GITHUB}", ClientIDList=["sts.amazonaws.com"], ThumbprintList=["0" * 40]
    )
    assert main(["-C", str(project), "aws", "setup", "--ci", "github", "--repo", "acme/w"]) == 0
    assert main(["-C", str(project), "aws", "teardown", "--force"]) == 0
    assert len(iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]) == 1


def test_bad_repository_is_refused_before_anything_is_created(
    aws_settings: AwsSettings, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["-C", str(project), "aws", "setup", "--ci", "github", "--repo", "not a repo"]
    assert main(args) == 2
    assert "OWNER/NAME" in capsys.readouterr().err
    assert _iam(aws_settings).list_roles()["Roles"] == []
