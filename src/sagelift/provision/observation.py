"""Reading the account: the state of the bucket, repository and role that setup and teardown
plan from. It changes nothing; botocore errors become sagelift errors here.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from typing import Any

from sagelift.provision.account import AccountClients, _absent, _aws, _document, _tag_map
from sagelift.provision.ownership import (
    OWNERSHIP_PREFIX,
    Inventory,
    parse_ownership,
    take_inventory,
)
from sagelift.provision.plan import BucketState, Observed, RepositoryState, RoleState
from sagelift.provision.policies import ResourceNames

__all__ = ["observe"]


def observe(names: ResourceNames, clients: AccountClients, *, inventory: bool = False) -> Observed:
    """The current state of the bucket, repository and role ``names`` designates.

    With ``inventory`` (teardown) every key of the bucket is listed once and counted by project
    prefix; setup reads only the ownership objects.
    """
    return Observed(
        bucket=_observe_bucket(names, clients.s3, inventory=inventory),
        repository=_observe_repository(names, clients.ecr),
        role=_observe_role(names, clients.iam),
    )


def _keys(s3: Any, bucket: str, prefix: str = "") -> Iterator[str]:
    with _aws("s3:ListBucket", bucket):
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        for page in pages:
            for entry in page.get("Contents", []):
                yield str(entry["Key"])


def _read_object(s3: Any, bucket: str, key: str) -> bytes:
    body: bytes = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    return body


def _owners(s3: Any, bucket: str) -> dict[str, str]:
    """Project → prefix, from the bucket's ownership objects."""
    owners: dict[str, str] = {}
    for key in _keys(s3, bucket, OWNERSHIP_PREFIX):
        body = _absent(
            functools.partial(_read_object, s3, bucket, key),
            frozenset({"NoSuchKey"}),
            "s3:GetObject",
            f"{bucket}/{key}",
        )
        parsed = parse_ownership(key, body)
        if parsed is not None:
            owners[parsed[0]] = parsed[1]
    return owners


def _observe_bucket(names: ResourceNames, s3: Any, *, inventory: bool) -> BucketState:
    bucket = names.bucket
    location = _absent(
        lambda: s3.get_bucket_location(Bucket=bucket),
        frozenset({"NoSuchBucket", "404"}),
        "s3:GetBucketLocation",
        bucket,
    )
    if location is None:
        return BucketState(exists=False)
    constraint = location.get("LocationConstraint")
    region = {None: "us-east-1", "": "us-east-1", "EU": "eu-west-1"}.get(constraint, constraint)
    tagging = _absent(
        lambda: s3.get_bucket_tagging(Bucket=bucket),
        frozenset({"NoSuchTagSet", "NoSuchTagSetError"}),
        "s3:GetBucketTagging",
        bucket,
    )
    encryption = _absent(
        lambda: s3.get_bucket_encryption(Bucket=bucket),
        frozenset({"ServerSideEncryptionConfigurationNotFoundError"}),
        "s3:GetEncryptionConfiguration",
        bucket,
    )
    block = _absent(
        lambda: s3.get_public_access_block(Bucket=bucket),
        frozenset({"NoSuchPublicAccessBlockConfiguration"}),
        "s3:GetBucketPublicAccessBlock",
        bucket,
    )
    lifecycle = _absent(
        lambda: s3.get_bucket_lifecycle_configuration(Bucket=bucket),
        frozenset({"NoSuchLifecycleConfiguration"}),
        "s3:GetLifecycleConfiguration",
        bucket,
    )
    owners = _owners(s3, bucket)
    counted: Inventory | None = None
    if inventory:
        counted = take_inventory(_keys(s3, bucket), [*owners.values(), names.prefix])
    rules = (encryption or {}).get("ServerSideEncryptionConfiguration", {}).get("Rules", [])
    config = (block or {}).get("PublicAccessBlockConfiguration", {})
    return BucketState(
        exists=True,
        region=region,
        tags=_tag_map((tagging or {}).get("TagSet")),
        encrypted=any(
            r.get("ApplyServerSideEncryptionByDefault", {}).get("SSEAlgorithm") for r in rules
        ),
        public_access_blocked=bool(config)
        and all(
            config.get(k)
            for k in (
                "BlockPublicAcls",
                "IgnorePublicAcls",
                "BlockPublicPolicy",
                "RestrictPublicBuckets",
            )
        ),
        lifecycle_rules=tuple((lifecycle or {}).get("Rules", [])),
        owners=owners,
        inventory=counted,
    )


def _observe_repository(names: ResourceNames, ecr: Any) -> RepositoryState:
    name = names.repository
    found = _absent(
        lambda: ecr.describe_repositories(repositoryNames=[name]),
        frozenset({"RepositoryNotFoundException"}),
        "ecr:DescribeRepositories",
        name,
    )
    if not found or not found.get("repositories"):
        return RepositoryState(exists=False)
    repo = found["repositories"][0]
    with _aws("ecr:ListTagsForResource", name):
        tags = ecr.list_tags_for_resource(resourceArn=repo["repositoryArn"]).get("tags")
    policy = _absent(
        lambda: ecr.get_lifecycle_policy(repositoryName=name),
        frozenset({"LifecyclePolicyNotFoundException"}),
        "ecr:GetLifecyclePolicy",
        name,
    )
    with _aws("ecr:ListImages", name):
        images = ecr.list_images(repositoryName=name, maxResults=1).get("imageIds", [])
    return RepositoryState(
        exists=True,
        tags=_tag_map(tags),
        scan_on_push=bool(repo.get("imageScanningConfiguration", {}).get("scanOnPush")),
        lifecycle_policy=None if policy is None else str(policy.get("lifecyclePolicyText")),
        has_images=bool(images),
    )


def _observe_role(names: ResourceNames, iam: Any) -> RoleState:
    name = names.role
    found = _absent(
        lambda: iam.get_role(RoleName=name), frozenset({"NoSuchEntity"}), "iam:GetRole", name
    )
    if found is None:
        return RoleState(exists=False)
    role = found["Role"]
    with _aws("iam:ListRoleTags", name):
        tags = iam.list_role_tags(RoleName=name).get("Tags")
    policies: dict[str, Mapping[str, Any]] = {}
    with _aws("iam:ListRolePolicies", name):
        listed = iam.list_role_policies(RoleName=name).get("PolicyNames", [])
    for policy in listed:
        inline = _absent(
            functools.partial(iam.get_role_policy, RoleName=name, PolicyName=policy),
            frozenset({"NoSuchEntity"}),
            "iam:GetRolePolicy",
            name,
        )
        document = None if inline is None else _document(inline.get("PolicyDocument"))
        if document is not None:
            policies[str(policy)] = document
    return RoleState(
        exists=True,
        arn=str(role["Arn"]),
        tags=_tag_map(tags),
        trust_policy=_document(role.get("AssumeRolePolicyDocument")),
        inline_policies=policies,
    )
