"""Two projects in one account share the bucket; teardown of one leaves the other's things."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import pytest
import tomllib

from sagelift.aws import AwsSettings
from sagelift.cli import main

ACCOUNT = "123456789012"
BUCKET = f"sagelift-{ACCOUNT}-us-east-1"


def _client(service: str, settings: AwsSettings) -> Any:
    return boto3.client(service, region_name=settings.region, endpoint_url=settings.endpoint_url)


def _project(root: Path, name: str) -> Path:
    directory = root / name
    directory.mkdir()
    (directory / "train.py").write_text("print(1)\n", encoding="utf-8")
    return directory


def _prefix(project: Path) -> str:
    """Where the project's jobs write: aws.prefix in its sagelift.toml, else the default."""
    config = tomllib.loads((project / "sagelift.toml").read_text(encoding="utf-8"))
    prefix = config["aws"].get("prefix", "sagelift")
    assert isinstance(prefix, str)
    return prefix


def _keys(settings: AwsSettings) -> list[str]:
    listing = _client("s3", settings).list_objects_v2(Bucket=BUCKET)
    return sorted(o["Key"] for o in listing.get("Contents", []))


def _buckets(settings: AwsSettings) -> list[str]:
    return [b["Name"] for b in _client("s3", settings).list_buckets()["Buckets"]]


def _repositories(settings: AwsSettings) -> list[str]:
    repos = _client("ecr", settings).describe_repositories()["repositories"]
    return sorted(r["repositoryName"] for r in repos)


def _roles(settings: AwsSettings) -> list[str]:
    return sorted(r["RoleName"] for r in _client("iam", settings).list_roles()["Roles"])


def _teardown(project: Path, *extra: str) -> int:
    return main(["-C", str(project), "aws", "teardown", *extra])


@pytest.fixture
def two_projects(aws_env: AwsSettings, tmp_path: Path) -> tuple[Path, Path]:
    """``wine`` (set up first: it creates and tags the bucket) and ``beer``, each with data."""
    wine, beer = _project(tmp_path, "wine"), _project(tmp_path, "beer")
    assert main(["-C", str(wine), "aws", "setup"]) == 0
    assert main(["-C", str(beer), "aws", "setup"]) == 0
    s3 = _client("s3", aws_env)
    for project in (wine, beer):
        for key in ("out/model.tar.gz", "data/train/part.csv", "code/abc/sourcedir.tar.gz"):
            s3.put_object(Bucket=BUCKET, Key=f"{_prefix(project)}/{key}", Body=b"x")
    return wine, beer


def test_projects_get_their_own_prefixes(two_projects: tuple[Path, Path]) -> None:
    wine, beer = two_projects
    assert _prefix(wine) == "sagelift/wine"
    assert _prefix(beer) == "sagelift/beer"


def test_teardown_keeps_what_another_project_uses_and_the_last_removes_the_bucket(
    aws_env: AwsSettings, two_projects: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    wine, beer = two_projects
    capsys.readouterr()
    assert _teardown(wine, "--force") == 0
    out = capsys.readouterr().out
    assert BUCKET in _buckets(aws_env)
    assert _keys(aws_env) == [
        ".sagelift/projects/beer.json",
        "sagelift/beer/code/abc/sourcedir.tar.gz",
        "sagelift/beer/data/train/part.csv",
        "sagelift/beer/out/model.tar.gz",
    ]
    assert "delete 3 objects under sagelift/wine/ (project 'wine')" in out
    assert f"keep bucket {BUCKET}: project 'beer' still uses prefix sagelift/beer/ (3 objects)" in (
        out
    )
    assert f"- bucket {BUCKET}: delete (" not in out
    assert _repositories(aws_env) == ["sagelift-beer"]
    assert _roles(aws_env) == ["sagelift-beer-sagemaker"]
    rules = _client("s3", aws_env).get_bucket_lifecycle_configuration(Bucket=BUCKET)["Rules"]
    assert [r["Filter"]["Prefix"] for r in rules] == ["sagelift/beer/code/"]

    assert _teardown(beer, "--force") == 0
    assert BUCKET not in _buckets(aws_env)
    assert _repositories(aws_env) == []
    assert _roles(aws_env) == []


def test_dry_run_on_a_non_empty_bucket_shows_the_plan(
    aws_env: AwsSettings, two_projects: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    wine, _ = two_projects
    before = _keys(aws_env)
    capsys.readouterr()
    assert _teardown(wine, "--dry-run") == 0
    captured = capsys.readouterr()
    assert "teardown plan for project 'wine'" in captured.err
    assert "- bucket" in captured.out
    assert "delete 3 objects under sagelift/wine/ (project 'wine')" in captured.out
    assert "- repository sagelift-wine: delete" in captured.out
    assert "- role sagelift-wine-sagemaker: delete" in captured.out
    assert "project 'beer' still uses prefix sagelift/beer/ (3 objects)" in captured.out
    assert "the real run needs --force" in captured.err
    assert "dry run, nothing changed" in captured.err
    assert _keys(aws_env) == before
    assert "sagelift-wine" in _repositories(aws_env)


def test_real_run_on_a_non_empty_prefix_still_needs_force(
    aws_env: AwsSettings, two_projects: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    wine, _ = two_projects
    before = _keys(aws_env)
    capsys.readouterr()
    assert _teardown(wine) == 2
    err = capsys.readouterr().err
    assert "prefix sagelift/wine/ in bucket" in err
    assert "not empty (3 objects)" in err
    assert "--force" in err
    assert _keys(aws_env) == before
    assert "sagelift-wine-sagemaker" in _roles(aws_env)


def test_bucket_with_foreign_objects_is_kept(
    aws_env: AwsSettings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wine = _project(tmp_path, "wine")
    assert main(["-C", str(wine), "aws", "setup"]) == 0
    s3 = _client("s3", aws_env)
    s3.put_object(Bucket=BUCKET, Key="sagelift/wine/out/model.tar.gz", Body=b"x")
    s3.put_object(Bucket=BUCKET, Key="shared/datasets/wine.csv", Body=b"1,2\n")
    capsys.readouterr()
    assert _teardown(wine, "--force") == 0
    out = capsys.readouterr().out
    assert (
        f"keep bucket {BUCKET}: 1 object outside any project's prefix "
        "(e.g. shared/datasets/wine.csv)" in out
    )
    assert BUCKET in _buckets(aws_env)
    assert _keys(aws_env) == ["shared/datasets/wine.csv"]
    assert _repositories(aws_env) == []


def test_a_role_and_repository_shared_through_settings_stay_with_their_other_user(
    aws_env: AwsSettings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wine = _project(tmp_path, "wine")
    assert main(["-C", str(wine), "aws", "setup"]) == 0
    beer = _project(tmp_path, "beer")
    (beer / "sagelift.toml").write_text(
        '[aws]\nrole = "sagelift-wine-sagemaker"\necr_repository = "sagelift-wine"\n',
        encoding="utf-8",
    )
    assert main(["-C", str(beer), "aws", "setup"]) == 0
    iam = _client("iam", aws_env)
    policies = iam.list_role_policies(RoleName="sagelift-wine-sagemaker")["PolicyNames"]
    assert sorted(policies) == ["sagelift-training", "sagelift-training-beer"]

    assert _teardown(wine, "--force") == 0
    assert "keep role sagelift-wine-sagemaker: project 'beer' still uses it" in (
        capsys.readouterr().out
    )
    assert _repositories(aws_env) == ["sagelift-wine"]
    assert _roles(aws_env) == ["sagelift-wine-sagemaker"]
    policies = iam.list_role_policies(RoleName="sagelift-wine-sagemaker")["PolicyNames"]
    assert policies == ["sagelift-training-beer"]

    assert _teardown(beer, "--force") == 0
    assert _repositories(aws_env) == []
    assert _roles(aws_env) == []
    assert BUCKET not in _buckets(aws_env)


def test_a_prefix_two_projects_share_is_kept() -> None:
    from sagelift.provision.ownership import take_inventory
    from sagelift.provision.plan import BucketState, Observed, RepositoryState, RoleState
    from sagelift.provision.policies import default_names
    from sagelift.provision.teardown import plan_teardown

    names = default_names(project="wine", account=ACCOUNT, region="us-east-1", prefix="ml")
    owners = {"wine": "ml", "beer": "ml"}
    bucket = BucketState(
        exists=True,
        region="us-east-1",
        tags={"sagelift:managed": "true", "sagelift:project": "wine"},
        owners=owners,
        inventory=take_inventory(["ml/a", "ml/b"], owners.values()),
    )
    plan = plan_teardown(
        names,
        Observed(
            bucket=bucket,
            repository=RepositoryState(exists=False),
            role=RoleState(exists=False),
        ),
    )
    assert [c.op for c in plan.changes] == ["delete_ownership"]
    assert not plan.needs_force
    assert any("keep 2 objects under ml/" in n and "'beer'" in n for n in plan.notices)
