"""Changing the account: carry out a setup or teardown plan, one step per change, in order.

Botocore errors become sagelift errors here. ``AccountClients``, ``Identity``,
``caller_identity`` (``account.py``) and ``observe`` (``observation.py``) are importable from
here too, where they were defined before. ``_delete_role`` is the package's own, shared with
CI setup; it is no public API.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from sagelift.provision.account import AccountClients, Identity, _absent, _aws, caller_identity
from sagelift.provision.observation import observe
from sagelift.provision.ownership import owner_tag, ownership_key, ownership_record
from sagelift.provision.plan import Change, Plan
from sagelift.provision.policies import (
    ROLE_PATH,
    ResourceNames,
    bucket_lifecycle_rule,
    code_expiry_rule_id,
    ecr_lifecycle_policy,
    role_policy,
    tags_for,
    trust_policy,
)

__all__ = ["AccountClients", "Identity", "apply_plan", "caller_identity", "observe"]

log = logging.getLogger(__name__)


def apply_plan(plan: Plan, clients: AccountClients) -> None:
    """Carry out ``plan`` in order; the first failure stops it (re-running resumes: setup
    plans are computed from the observed state)."""
    for change in plan.changes:
        log.info("%s %s: %s", change.resource, change.name, change.summary)
        _apply(change, plan, clients)


def _apply(change: Change, plan: Plan, clients: AccountClients) -> None:
    names = plan.names
    tags = tags_for(names)
    owned = {**tags, owner_tag(names.project): "true"}
    s3, ecr, iam = clients.s3, clients.ecr, clients.iam
    op = change.op
    bucket = names.bucket
    if op == "create_bucket":
        request: dict[str, Any] = {"Bucket": bucket}
        if names.region != "us-east-1":
            request["CreateBucketConfiguration"] = {"LocationConstraint": names.region}
        with _aws("s3:CreateBucket", bucket):
            s3.create_bucket(**request)
            s3.put_bucket_tagging(
                Bucket=bucket,
                Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in tags.items()]},
            )
    elif op == "put_bucket_encryption":
        with _aws("s3:PutEncryptionConfiguration", bucket):
            s3.put_bucket_encryption(
                Bucket=bucket,
                ServerSideEncryptionConfiguration={
                    "Rules": [
                        {
                            "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"},
                            "BucketKeyEnabled": True,
                        }
                    ]
                },
            )
    elif op == "put_public_access_block":
        with _aws("s3:PutBucketPublicAccessBlock", bucket):
            s3.put_public_access_block(
                Bucket=bucket,
                PublicAccessBlockConfiguration={
                    "BlockPublicAcls": True,
                    "IgnorePublicAcls": True,
                    "BlockPublicPolicy": True,
                    "RestrictPublicBuckets": True,
                },
            )
    elif op == "put_bucket_lifecycle":
        _put_lifecycle(names, plan.options.code_expiry_days, s3)
    elif op == "create_repository":
        with _aws("ecr:CreateRepository", names.repository):
            ecr.create_repository(
                repositoryName=names.repository,
                imageScanningConfiguration={"scanOnPush": True},
                imageTagMutability="MUTABLE",
                encryptionConfiguration={"encryptionType": "AES256"},
                tags=[{"Key": k, "Value": v} for k, v in owned.items()],
            )
    elif op == "put_scan_on_push":
        with _aws("ecr:PutImageScanningConfiguration", names.repository):
            ecr.put_image_scanning_configuration(
                repositoryName=names.repository, imageScanningConfiguration={"scanOnPush": True}
            )
    elif op == "put_ecr_lifecycle":
        with _aws("ecr:PutLifecyclePolicy", names.repository):
            ecr.put_lifecycle_policy(
                repositoryName=names.repository,
                lifecyclePolicyText=ecr_lifecycle_policy(keep=plan.options.keep_images),
            )
    elif op == "create_role":
        with _aws("iam:CreateRole", names.role):
            iam.create_role(
                Path=ROLE_PATH,
                RoleName=names.role,
                AssumeRolePolicyDocument=json.dumps(trust_policy(names)),
                Description=f"SageMaker execution role for sagelift project {names.project}",
                Tags=[{"Key": k, "Value": v} for k, v in owned.items()],
            )
    elif op == "put_trust_policy":
        with _aws("iam:UpdateAssumeRolePolicy", names.role):
            iam.update_assume_role_policy(
                RoleName=names.role, PolicyDocument=json.dumps(trust_policy(names))
            )
    elif op == "put_role_policy":
        with _aws("iam:PutRolePolicy", names.role):
            iam.put_role_policy(
                RoleName=names.role,
                PolicyName=change.target,
                PolicyDocument=json.dumps(role_policy(names)),
            )
    else:
        _apply_ownership(change, names, clients)


def _apply_ownership(change: Change, names: ResourceNames, clients: AccountClients) -> None:
    """The steps that record or remove a project's use of a resource, and the deletions."""
    s3, ecr, iam = clients.s3, clients.ecr, clients.iam
    op = change.op
    bucket = names.bucket
    if op == "put_ownership":
        with _aws("s3:PutObject", f"{bucket}/{change.target}"):
            s3.put_object(
                Bucket=bucket,
                Key=ownership_key(names.project),
                Body=ownership_record(names),
                ContentType="application/json",
            )
    elif op == "tag_owner":
        _tag_owner(change, names, clients, add=True)
    elif op == "untag_owner":
        _tag_owner(change, names, clients, add=False)
    elif op == "delete_prefix":
        _delete_prefix(bucket, change.target, s3)
    elif op == "delete_ownership":
        with _aws("s3:DeleteObject", f"{bucket}/{change.target}"):
            s3.delete_object(Bucket=bucket, Key=ownership_key(names.project))
    elif op == "delete_lifecycle_rule":
        _delete_lifecycle_rule(bucket, change.target, s3)
    elif op == "delete_role_policy":
        with _aws("iam:DeleteRolePolicy", names.role):
            iam.delete_role_policy(RoleName=names.role, PolicyName=change.target)
    elif op == "delete_bucket":
        with _aws("s3:DeleteBucket", bucket):
            s3.delete_bucket(Bucket=bucket)
    elif op == "delete_repository":
        with _aws("ecr:DeleteRepository", names.repository):
            ecr.delete_repository(repositoryName=names.repository, force=True)
    elif op == "delete_role":
        _delete_role(names.role, iam)


def _tag_owner(change: Change, names: ResourceNames, clients: AccountClients, *, add: bool) -> None:
    """Add or remove one owner tag; TagRole/TagResource leave the other tags as they are."""
    key = change.target
    if change.resource == "role":
        with _aws("iam:TagRole" if add else "iam:UntagRole", names.role):
            if add:
                clients.iam.tag_role(RoleName=names.role, Tags=[{"Key": key, "Value": "true"}])
            else:
                clients.iam.untag_role(RoleName=names.role, TagKeys=[key])
        return
    action = "ecr:TagResource" if add else "ecr:UntagResource"
    with _aws(action, names.repository):
        if add:
            clients.ecr.tag_resource(
                resourceArn=names.repository_arn, tags=[{"Key": key, "Value": "true"}]
            )
        else:
            clients.ecr.untag_resource(resourceArn=names.repository_arn, tagKeys=[key])


def _lifecycle_rules(bucket: str, s3: Any) -> list[Any]:
    current = _absent(
        lambda: s3.get_bucket_lifecycle_configuration(Bucket=bucket),
        frozenset({"NoSuchLifecycleConfiguration"}),
        "s3:GetLifecycleConfiguration",
        bucket,
    )
    return list((current or {}).get("Rules", []))


def _put_rules(bucket: str, rules: list[Any], s3: Any) -> None:
    with _aws("s3:PutLifecycleConfiguration", bucket):
        if rules:
            s3.put_bucket_lifecycle_configuration(
                Bucket=bucket, LifecycleConfiguration={"Rules": rules}
            )
        else:
            s3.delete_bucket_lifecycle(Bucket=bucket)


def _put_lifecycle(names: ResourceNames, days: int, s3: Any) -> None:
    """Replace this project's rule and keep every other rule of the bucket."""
    rule = code_expiry_rule_id(names)
    others = [r for r in _lifecycle_rules(names.bucket, s3) if r.get("ID") != rule]
    _put_rules(names.bucket, [*others, bucket_lifecycle_rule(names, days=days)], s3)


def _delete_lifecycle_rule(bucket: str, rule: str, s3: Any) -> None:
    rules = _lifecycle_rules(bucket, s3)
    kept = [r for r in rules if r.get("ID") != rule]
    if len(kept) != len(rules):
        _put_rules(bucket, kept, s3)


def _delete_prefix(bucket: str, prefix: str, s3: Any) -> None:
    """Delete every object (and object version) whose key starts with ``<prefix>/``."""
    under = prefix.strip("/") + "/"
    with _aws("s3:DeleteObject", bucket):
        pages = s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=under)
        for page in pages:
            doomed = [
                {"Key": v["Key"], "VersionId": v["VersionId"]}
                for v in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]
            ]
            if doomed:
                s3.delete_objects(Bucket=bucket, Delete={"Objects": doomed, "Quiet": True})
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=under)
        for page in pages:
            keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
            if keys:
                s3.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})


def _delete_role(name: str, iam: Any) -> None:
    with _aws("iam:DeleteRole", name):
        for policy in iam.list_role_policies(RoleName=name).get("PolicyNames", []):
            iam.delete_role_policy(RoleName=name, PolicyName=policy)
        attached = iam.list_attached_role_policies(RoleName=name).get("AttachedPolicies", [])
        for policy in attached:
            iam.detach_role_policy(RoleName=name, PolicyArn=policy["PolicyArn"])
        iam.delete_role(RoleName=name)
