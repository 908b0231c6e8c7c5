"""``sagelift aws setup`` / ``teardown`` against the loopback AWS server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
import tomllib
from botocore.exceptions import ClientError

from sagelift.aws import AwsSettings
from sagelift.cli import main
from sagelift.provision.policies import default_names
from tests.setup.test_policies import assert_least_privilege

ACCOUNT = "123456789012"
BUCKET = f"sagelift-{ACCOUNT}-us-east-1"
REPOSITORY = "sagelift-wine"
ROLE = "sagelift-wine-sagemaker"


def _client(service: str, settings: AwsSettings) -> Any:
    return boto3.client(service, region_name=settings.region, endpoint_url=settings.endpoint_url)


def _state(settings: AwsSettings) -> dict[str, Any]:
    """Everything setup manages, as the account reports it."""
    s3, ecr, iam = (_client(s, settings) for s in ("s3", "ecr", "iam"))
    state: dict[str, Any] = {"buckets": sorted(b["Name"] for b in s3.list_buckets()["Buckets"])}
    if BUCKET in state["buckets"]:
        state["encryption"] = s3.get_bucket_encryption(Bucket=BUCKET)[
            "ServerSideEncryptionConfiguration"
        ]
        state["public"] = s3.get_public_access_block(Bucket=BUCKET)[
            "PublicAccessBlockConfiguration"
        ]
        state["lifecycle"] = s3.get_bucket_lifecycle_configuration(Bucket=BUCKET)["Rules"]
        state["bucket_tags"] = s3.get_bucket_tagging(Bucket=BUCKET)["TagSet"]
    repos = ecr.describe_repositories()["repositories"]
    state["repositories"] = sorted(r["repositoryName"] for r in repos)
    for repo in repos:
        if repo["repositoryName"] == REPOSITORY:
            state["scan"] = repo["imageScanningConfiguration"]
            state["ecr_lifecycle"] = json.loads(
                ecr.get_lifecycle_policy(repositoryName=REPOSITORY)["lifecyclePolicyText"]
            )
            state["ecr_tags"] = ecr.list_tags_for_resource(resourceArn=repo["repositoryArn"])[
                "tags"
            ]
    roles = iam.list_roles()["Roles"]
    state["roles"] = sorted(r["RoleName"] for r in roles)
    if ROLE in state["roles"]:
        role = iam.get_role(RoleName=ROLE)["Role"]
        state["role_arn"] = role["Arn"]
        state["trust"] = role["AssumeRolePolicyDocument"]
        state["role_tags"] = iam.list_role_tags(RoleName=ROLE)["Tags"]
        state["role_policies"] = {
            name: iam.get_role_policy(RoleName=ROLE, PolicyName=name)["PolicyDocument"]
            for name in iam.list_role_policies(RoleName=ROLE)["PolicyNames"]
        }
    return state


def _setup(project: Path, *extra: str) -> int:
    return main(["-C", str(project), "aws", "setup", *extra])


def test_setup_creates_secure_tagged_resources_and_records_them(
    aws_env: AwsSettings, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "sagelift.toml").write_text(
        '# keep me\nentry_point = "train.py"\n\n[channels]\ntrain = "data/train"\n',
        encoding="utf-8",
    )
    assert _setup(project) == 0
    state = _state(aws_env)

    (rule,) = state["encryption"]["Rules"]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert state["public"] == {
        "BlockPublicAcls": True,
        "IgnorePublicAcls": True,
        "BlockPublicPolicy": True,
        "RestrictPublicBuckets": True,
    }
    (expiry,) = state["lifecycle"]
    assert expiry["Status"] == "Enabled"
    assert expiry["Expiration"]["Days"] == 30
    assert expiry["Filter"]["Prefix"] == "sagelift/wine/code/"
    created = {"sagelift:managed": "true", "sagelift:project": "wine"}
    assert {t["Key"]: t["Value"] for t in state["bucket_tags"]} == created
    for key in ("ecr_tags", "role_tags"):
        tags = {t["Key"]: t["Value"] for t in state[key]}
        assert tags == {**created, "sagelift:project:wine": "true"}, key

    assert state["scan"] == {"scanOnPush": True}
    (ecr_rule,) = state["ecr_lifecycle"]["rules"]
    assert ecr_rule["selection"]["countType"] == "imageCountMoreThan"
    assert ecr_rule["selection"]["countNumber"] == 10
    assert ecr_rule["action"] == {"type": "expire"}

    (trust,) = state["trust"]["Statement"]
    assert trust["Principal"] == {"Service": "sagemaker.amazonaws.com"}
    assert trust["Action"] == "sts:AssumeRole"
    (policy,) = state["role_policies"].values()
    names = default_names(project="wine", account=ACCOUNT, region="us-east-1")
    assert_least_privilege(policy, names)

    text = (project / "sagelift.toml").read_text(encoding="utf-8")
    assert text.startswith("# keep me\n")
    config = tomllib.loads(text)
    assert config["channels"] == {"train": "data/train"}
    assert config["aws"] == {
        "region": "us-east-1",
        "bucket": BUCKET,
        "prefix": "sagelift/wine",
        "role": state["role_arn"],
        "ecr_repository": REPOSITORY,
    }
    assert "next: sagelift run --instance-type ml.m5.large" in capsys.readouterr().err


def test_setup_twice_changes_nothing(
    aws_env: AwsSettings, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _setup(project) == 0
    first = _state(aws_env)
    settings_text = (project / "sagelift.toml").read_text(encoding="utf-8")
    capsys.readouterr()
    assert _setup(project) == 0
    out = capsys.readouterr().out
    assert "nothing to do" in out
    assert "+ " not in out
    assert _state(aws_env) == first
    assert (project / "sagelift.toml").read_text(encoding="utf-8") == settings_text


@pytest.mark.slow
def test_setup_repairs_drift_on_its_own_resources(aws_env: AwsSettings, project: Path) -> None:
    assert _setup(project) == 0
    s3 = _client("s3", aws_env)
    s3.delete_public_access_block(Bucket=BUCKET)
    iam = _client("iam", aws_env)
    iam.delete_role_policy(RoleName=ROLE, PolicyName="sagelift-training")
    assert _setup(project, "--dry-run") == 0
    with pytest.raises(ClientError):
        s3.get_public_access_block(Bucket=BUCKET)
    assert _setup(project) == 0
    state = _state(aws_env)
    assert all(state["public"].values())
    assert state["role_policies"]


def test_dry_run_changes_nothing(
    aws_env: AwsSettings, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _state(aws_env)
    assert _setup(project, "--dry-run") == 0
    out = capsys.readouterr().out
    assert f"+ bucket {BUCKET}: create" in out
    assert f"+ role {ROLE}" in out
    assert _state(aws_env) == before
    assert not (project / "sagelift.toml").exists()


def test_teardown_after_setup_leaves_nothing_of_it(aws_env: AwsSettings, project: Path) -> None:
    before = _state(aws_env)
    assert _setup(project) == 0
    assert main(["-C", str(project), "aws", "teardown", "--dry-run"]) == 0
    assert _state(aws_env) != before
    assert main(["-C", str(project), "aws", "teardown"]) == 0
    assert _state(aws_env) == before


def test_non_empty_bucket_needs_force(
    aws_env: AwsSettings, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _setup(project) == 0
    s3 = _client("s3", aws_env)
    s3.put_object(Bucket=BUCKET, Key="sagelift/wine/out/model.tar.gz", Body=b"x")
    capsys.readouterr()
    assert main(["-C", str(project), "aws", "teardown"]) == 2
    err = capsys.readouterr().err
    assert "not empty" in err
    assert "--force" in err
    assert BUCKET in _state(aws_env)["buckets"]
    assert ROLE in _state(aws_env)["roles"]
    assert main(["-C", str(project), "aws", "teardown", "--force"]) == 0
    state = _state(aws_env)
    assert BUCKET not in state["buckets"]
    assert ROLE not in state["roles"]


def test_resources_setup_did_not_create_are_used_and_never_touched(
    aws_env: AwsSettings, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    s3 = _client("s3", aws_env)
    s3.create_bucket(Bucket="team-data")
    s3.put_object(Bucket="team-data", Key="datasets/wine.csv", Body=b"1,2\n")
    s3.put_bucket_lifecycle_configuration(
        Bucket="team-data",
        LifecycleConfiguration={
            "Rules": [
                {
                    "ID": "theirs",
                    "Filter": {"Prefix": "tmp/"},
                    "Status": "Enabled",
                    "Expiration": {"Days": 1},
                }
            ]
        },
    )
    (project / "sagelift.toml").write_text(
        'entry_point = "train.py"\n\n[aws]\nbucket = "team-data"\n', encoding="utf-8"
    )
    assert _setup(project) == 0
    out = capsys.readouterr().out
    assert "team-data: exists, not created by sagelift; used as is" in out
    lifecycle = s3.get_bucket_lifecycle_configuration(Bucket="team-data")["Rules"]
    assert [r["ID"] for r in lifecycle] == ["theirs"]

    assert main(["-C", str(project), "aws", "teardown", "--force"]) == 0
    assert "team-data: not created by sagelift; left alone" in capsys.readouterr().out
    assert s3.get_object(Bucket="team-data", Key="datasets/wine.csv")["Body"].read() == b"1,2\n"
    assert REPOSITORY not in _state(aws_env)["repositories"]


@pytest.mark.slow
def test_another_projects_shared_bucket_is_left_to_it(
    aws_env: AwsSettings, project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = tmp_path / "beer"
    other.mkdir()
    (other / "train.py").write_text("print(1)\n", encoding="utf-8")
    assert _setup(other) == 0
    assert _setup(project) == 0
    capsys.readouterr()
    assert main(["-C", str(project), "aws", "teardown"]) == 0
    assert "project 'beer' still uses prefix sagelift/beer/" in capsys.readouterr().out
    state = _state(aws_env)
    assert BUCKET in state["buckets"]
    assert "sagelift-beer" in state["repositories"]
    assert REPOSITORY not in state["repositories"]
    assert ROLE not in state["roles"]


def test_bucket_in_another_region_is_a_config_error(
    aws_env: AwsSettings, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    s3 = boto3.client("s3", region_name="eu-west-1", endpoint_url=aws_env.endpoint_url)
    s3.create_bucket(
        Bucket="far-away", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    (project / "sagelift.toml").write_text('[aws]\nbucket = "far-away"\n', encoding="utf-8")
    assert _setup(project) == 2
    err = capsys.readouterr().err
    assert "far-away is in eu-west-1, jobs run in us-east-1" in err
    assert "hint:" in err
