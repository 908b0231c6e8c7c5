"""The AWS resources a SageMaker job needs, resolved and checked before anything is created.

Resolution reads only (sts:GetCallerIdentity, iam:GetRole, s3:GetBucketLocation); the one write,
creating the default ``sagemaker-<region>-<account>`` bucket, is a separate step the backend
takes after every check has passed.
"""

from __future__ import annotations

import json
import logging
import re
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sagelift.aws import AwsSettings, bucket_region, client, map_client_error
from sagelift.errors import ConfigError
from sagelift.settings import Settings

__all__ = [
    "Resources",
    "assumable_by_sagemaker",
    "check_buckets",
    "default_bucket_name",
    "ensure_bucket",
    "resolve_resources",
]

log = logging.getLogger(__name__)

ClientFactory = Callable[[str], Any]

SAGEMAKER_PRINCIPAL = "sagemaker.amazonaws.com"
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/")
SETUP_HINT = "set aws.role to a SageMaker execution role (ARN or name), or run 'sagelift aws setup'"


@dataclass(frozen=True, slots=True, kw_only=True)
class Resources:
    """Where a job goes: the account, region, execution role and S3 root of its files.

    ``create_bucket`` is True when the bucket is the default one and does not exist yet.
    """

    account: str
    region: str
    role_arn: str
    bucket: str
    prefix: str
    create_bucket: bool = False

    @property
    def root_uri(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"


def default_bucket_name(region: str, account: str) -> str:
    """SageMaker's default bucket, as the SageMaker Python SDK names it."""
    return f"sagemaker-{region}-{account}"


def assumable_by_sagemaker(trust_policy: Any) -> bool:
    """Whether a role trust policy lets ``sagemaker.amazonaws.com`` call sts:AssumeRole."""
    if isinstance(trust_policy, str):
        trust_policy = json.loads(urllib.parse.unquote(trust_policy))
    statements = trust_policy.get("Statement", []) if isinstance(trust_policy, dict) else []
    if isinstance(statements, dict):
        statements = [statements]
    for statement in statements:
        if statement.get("Effect") != "Allow":
            continue
        actions = statement.get("Action", [])
        actions = [actions] if isinstance(actions, str) else actions
        if not any(a in ("sts:AssumeRole", "sts:*", "*") for a in actions):
            continue
        services = statement.get("Principal", {})
        services = services.get("Service", []) if isinstance(services, dict) else services
        services = [services] if isinstance(services, str) else services
        if SAGEMAKER_PRINCIPAL in services or "*" in services:
            return True
    return False


def _resolve_role(role: str, iam: Any) -> str:
    name = role.rsplit("/", 1)[-1] if _ROLE_ARN.match(role) else role
    try:
        found = iam.get_role(RoleName=name)["Role"]
    except Exception as exc:
        code = getattr(exc, "response", {}).get("Error", {}).get("Code")
        if code == "NoSuchEntity":
            raise ConfigError(
                f"aws.role: no IAM role named {name!r} in this account",
                hint=SETUP_HINT,
            ) from exc
        raise map_client_error(exc, action="iam:GetRole", resource=name) from exc
    if not assumable_by_sagemaker(found.get("AssumeRolePolicyDocument", {})):
        raise ConfigError(
            f"aws.role: role {name!r} cannot be assumed by SageMaker",
            hint=f"add {SAGEMAKER_PRINCIPAL} as a trusted service in the role's trust policy",
        )
    arn: str = found["Arn"]
    return arn


def _bucket_region(bucket: str, s3: Any) -> str | None:
    """The bucket's region, or None when it does not exist."""
    try:
        answer = s3.get_bucket_location(Bucket=bucket)
    except Exception as exc:
        code = getattr(exc, "response", {}).get("Error", {}).get("Code")
        if code in ("NoSuchBucket", "404"):
            return None
        raise map_client_error(exc, action="s3:GetBucketLocation", resource=bucket) from exc
    return bucket_region(answer.get("LocationConstraint"))


def resolve_resources(
    settings: Settings, *, region: str, clients: ClientFactory | None = None
) -> Resources:
    """Account, role ARN and bucket for a job in ``region``; reads only, creates nothing.

    Raises ConfigError (exit 2) for no role, a missing role or one SageMaker cannot assume, a
    configured bucket that does not exist or lies in another region; CredentialsError (exit 3)
    without usable credentials; other AWS errors mapped with a hint.
    """
    if not settings.role:
        raise ConfigError("no SageMaker execution role configured", hint=SETUP_HINT)
    aws = AwsSettings(
        profile=settings.aws.profile,
        region=region,
        endpoint_url=settings.aws.endpoint_url,
        max_attempts=settings.aws.max_attempts,
    )
    make = clients or (lambda service: client(service, aws))
    try:
        account = str(make("sts").get_caller_identity()["Account"])
    except Exception as exc:
        raise map_client_error(exc, action="sts:GetCallerIdentity") from exc
    role_arn = _resolve_role(settings.role, make("iam"))
    bucket = settings.bucket or default_bucket_name(region, account)
    bucket_region = _bucket_region(bucket, make("s3"))
    if bucket_region is None and settings.bucket:
        raise ConfigError(
            f"aws.bucket: bucket {bucket!r} does not exist",
            hint=f"create it in {region} ('aws s3 mb s3://{bucket} --region {region}') "
            "or unset aws.bucket to use SageMaker's default bucket",
        )
    if bucket_region is not None and bucket_region != region:
        raise ConfigError(
            f"aws.bucket: bucket {bucket!r} is in {bucket_region}, the job runs in {region}",
            hint=f"use a bucket in {region}, or set aws.region = {bucket_region!r}",
        )
    return Resources(
        account=account,
        region=region,
        role_arn=role_arn,
        bucket=bucket,
        prefix=settings.prefix.strip("/"),
        create_bucket=bucket_region is None,
    )


def check_buckets(locations: dict[str, str], s3: Any) -> None:
    """HeadBucket on the bucket of every ``field -> s3:// URI`` the spec names (output,
    checkpoints, channels), before anything is uploaded.

    Raises ConfigError (exit 2) for a bucket that does not exist; other refusals are mapped
    (access denied, credentials: exit 3).
    """
    checked: set[str] = set()
    for field, uri in locations.items():
        bucket = uri.removeprefix("s3://").split("/", 1)[0]
        if bucket in checked:
            continue
        checked.add(bucket)
        try:
            s3.head_bucket(Bucket=bucket)
        except Exception as exc:
            code = getattr(exc, "response", {}).get("Error", {}).get("Code")
            if code in ("NoSuchBucket", "404", "NotFound"):
                raise ConfigError(
                    f"{field}: bucket {bucket!r} does not exist",
                    hint=f"create it ('aws s3 mb s3://{bucket}') or fix {field}",
                ) from exc
            raise map_client_error(exc, action="s3:ListBucket", resource=bucket) from exc


def ensure_bucket(resources: Resources, s3: Any) -> None:
    """Create the default bucket when ``resources.create_bucket``; a no-op otherwise."""
    if not resources.create_bucket:
        return
    log.info("creating bucket %s in %s", resources.bucket, resources.region)
    params: dict[str, Any] = {"Bucket": resources.bucket}
    if resources.region != "us-east-1":
        params["CreateBucketConfiguration"] = {"LocationConstraint": resources.region}
    try:
        s3.create_bucket(**params)
    except Exception as exc:
        code = getattr(exc, "response", {}).get("Error", {}).get("Code")
        if code in ("BucketAlreadyOwnedByYou",):
            return
        raise map_client_error(exc, action="s3:CreateBucket", resource=resources.bucket) from exc
