"""The AWS checks: credentials, region, the execution role, the bucket and the ECR repository.

Each call is bounded (two attempts); botocore's errors become the CheckResult's detail and fix.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Callable, Mapping
from typing import Any

from sagelift.aws import (
    DEFAULT_REGION,
    AwsSettings,
    bucket_region,
    client,
    map_client_error,
    resolve_region,
    session,
)
from sagelift.doctor.report import CheckResult, _fail, _from_error, _pass, _skip
from sagelift.errors import SageliftError
from sagelift.settings import Settings

__all__ = [
    "NO_CREDENTIALS",
    "SETUP_FIX",
    "check_bucket",
    "check_credentials",
    "check_region",
    "check_repository",
    "check_role",
]

SETUP_FIX = "run 'sagelift aws setup' (it writes aws.* into sagelift.toml)"
NO_CREDENTIALS = "needs AWS credentials (see 'credentials')"


def _aws_settings(settings: Settings, region: str | None) -> AwsSettings:
    return AwsSettings(
        profile=settings.aws.profile,
        region=region,
        endpoint_url=settings.aws.endpoint_url,
        max_attempts=2,
    )


def check_credentials(settings: Settings) -> tuple[CheckResult, bool]:
    name = "credentials"
    try:
        region = resolve_region(settings.aws) or DEFAULT_REGION
        sts = client("sts", _aws_settings(settings, region))
        identity = sts.get_caller_identity()
    except SageliftError as exc:
        return _from_error(name, exc), False
    except Exception as exc:  # botocore's errors: converted right here
        error = map_client_error(exc, action="sts:GetCallerIdentity")
        return _from_error(name, error), False
    return _pass(name, f"{identity.get('Arn')} (account {identity.get('Account')})"), True


def check_region(settings: Settings) -> tuple[CheckResult, str | None]:
    name = "region"
    region = settings.aws.region
    source = "aws.region"
    if region is None:
        try:
            region = session(settings.aws).region_name
        except SageliftError as exc:
            return _from_error(name, exc), None
        source = "AWS configuration"
    if not region:
        return (
            _fail(
                name,
                "no AWS region set",
                'set aws.region in sagelift.toml (e.g. aws.region = "eu-west-1") or AWS_REGION',
            ),
            None,
        )
    return _pass(name, f"{region} (from {source})"), str(region)


def _trusts_sagemaker(document: Any) -> bool:
    if isinstance(document, str):
        document = json.loads(urllib.parse.unquote(document))
    statements = document.get("Statement", []) if isinstance(document, Mapping) else []
    if isinstance(statements, Mapping):
        statements = [statements]
    for statement in statements:
        principal = statement.get("Principal", {})
        services = principal.get("Service", []) if isinstance(principal, Mapping) else []
        services = [services] if isinstance(services, str) else services
        actions = statement.get("Action", [])
        actions = [actions] if isinstance(actions, str) else actions
        if (
            statement.get("Effect") == "Allow"
            and "sagemaker.amazonaws.com" in services
            and ("sts:AssumeRole" in actions or "sts:*" in actions)
        ):
            return True
    return False


def _call(action: str, resource: str, call: Callable[[], Any]) -> Any:
    try:
        return call()
    except SageliftError:
        raise
    except Exception as exc:
        raise map_client_error(exc, action=action, resource=resource) from exc


def _error_code(exc: BaseException) -> str:
    cause: BaseException | None = exc
    while cause is not None:
        response = getattr(cause, "response", None)
        if isinstance(response, Mapping):
            return str(response.get("Error", {}).get("Code", ""))
        cause = cause.__cause__
    return ""


def check_role(settings: Settings, region: str | None) -> CheckResult:
    name = "role"
    if not settings.role:
        return _fail(name, "aws.role is not set", SETUP_FIX)
    role_name = (
        settings.role.rsplit("/", 1)[-1] if settings.role.startswith("arn:") else settings.role
    )
    iam = client("iam", _aws_settings(settings, region))
    try:
        role = _call("iam:GetRole", role_name, lambda: iam.get_role(RoleName=role_name))["Role"]
    except SageliftError as exc:
        if _error_code(exc) == "NoSuchEntity":
            return _fail(name, f"role {role_name} does not exist", SETUP_FIX)
        return _from_error(name, exc)
    if not _trusts_sagemaker(role.get("AssumeRolePolicyDocument", {})):
        return _fail(
            name,
            f"role {role_name} does not trust sagemaker.amazonaws.com",
            "add sagemaker.amazonaws.com (sts:AssumeRole) to its trust policy, or "
            "run 'sagelift aws setup' with aws.role unset to create a role",
        )
    return _pass(name, f"{role['Arn']} trusts SageMaker")


def check_bucket(settings: Settings, region: str | None) -> CheckResult:
    name = "bucket"
    bucket = settings.bucket
    if not bucket:
        return _fail(name, "aws.bucket is not set", SETUP_FIX)
    s3 = client("s3", _aws_settings(settings, region))
    try:
        location = _call(
            "s3:GetBucketLocation", bucket, lambda: s3.get_bucket_location(Bucket=bucket)
        )
    except SageliftError as exc:
        if _error_code(exc) in {"NoSuchBucket", "404"}:
            return _fail(name, f"bucket {bucket} does not exist", SETUP_FIX)
        return _from_error(name, exc)
    constraint = location.get("LocationConstraint")
    where = bucket_region(constraint)
    if region is not None and where != region:
        return _fail(
            name,
            f"bucket {bucket} is in {where}, jobs run in {region}",
            f'SageMaker needs them in one region: set aws.region = "{where}", or point '
            f"aws.bucket at a bucket in {region} ('sagelift aws setup' creates one)",
        )
    return _pass(name, f"s3://{bucket} in {where}")


def check_repository(settings: Settings, region: str | None) -> CheckResult:
    name = "ecr"
    repository = settings.ecr_repository
    if not repository:
        if settings.image.uri:
            return _skip(name, "image.uri is set; no repository needed")
        return CheckResult(
            name=name,
            outcome="warn",
            detail="aws.ecr_repository is not set; cloud jobs cannot push built images",
            fix=SETUP_FIX,
        )
    ecr = client("ecr", _aws_settings(settings, region))
    try:
        _call(
            "ecr:DescribeRepositories",
            repository,
            lambda: ecr.describe_repositories(repositoryNames=[repository]),
        )
        _call("ecr:GetAuthorizationToken", repository, ecr.get_authorization_token)
    except SageliftError as exc:
        if _error_code(exc) == "RepositoryNotFoundException":
            return _fail(name, f"repository {repository} does not exist", SETUP_FIX)
        return _from_error(name, exc)
    return _pass(name, f"repository {repository} reachable, registry login allowed")
