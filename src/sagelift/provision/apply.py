"""Reading and changing the account: observe resources, apply a plan. The boto3 edge of setup.

Every client comes from ``sagelift.aws.client``; botocore errors become sagelift errors here.
"""

from __future__ import annotations

import functools
import json
import logging
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sagelift.aws import AwsSettings, client, map_client_error
from sagelift.errors import CredentialsError
from sagelift.provision.ownership import (
    OWNERSHIP_PREFIX,
    Inventory,
    owner_tag,
    ownership_key,
    ownership_record,
    parse_ownership,
    take_inventory,
)
from sagelift.provision.plan import (
    BucketState,
    Change,
    Observed,
    Plan,
    RepositoryState,
    RoleState,
)
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


@dataclass(frozen=True, slots=True, kw_only=True)
class Identity:
    account: str
    arn: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountClients:
    """The clients setup needs, all in the job's region."""

    s3: Any
    ecr: Any
    iam: Any

    @classmethod
    def open(cls, settings: AwsSettings) -> AccountClients:
        return cls(
            s3=client("s3", settings), ecr=client("ecr", settings), iam=client("iam", settings)
        )


def _code(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, Mapping):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


@contextmanager
def _aws(action: str, resource: str | None = None) -> Iterator[None]:
    """Convert botocore errors raised inside into sagelift errors."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except (BotoCoreError, ClientError) as exc:
        raise map_client_error(exc, action=action, resource=resource) from exc


def _absent(call: Callable[[], Any], codes: frozenset[str], action: str, resource: str) -> Any:
    """``call()``, or None when AWS answers with one of ``codes`` (the thing is not there)."""
    from botocore.exceptions import ClientError

    with _aws(action, resource):
        try:
            return call()
        except ClientError as exc:
            if _code(exc) in codes:
                return None
            raise


def caller_identity(settings: AwsSettings) -> Identity:
    """The account and ARN of the credentials in use (STS GetCallerIdentity).

    Raises CredentialsError (or another InfrastructureError) when AWS cannot be asked.
    """
    sts = client("sts", settings)
    with _aws("sts:GetCallerIdentity"):
        answer = sts.get_caller_identity()
    account = str(answer.get("Account", ""))
    if not account:
        raise CredentialsError(
            "STS returned no account for these credentials", hint="check AWS_PROFILE"
        )
    return Identity(account=account, arn=str(answer.get("Arn", "")))


def _tag_map(entries: Any, key: str = "Key", value: str = "Value") -> dict[str, str]:
    return {str(e[key]): str(e[value]) for e in entries or ()}


def _document(raw: Any) -> Mapping[str, Any] | None:
    """IAM returns policy documents URL-encoded JSON (botocore usually decodes them)."""
    if raw is None:
        return None
    if isinstance(raw, Mapping):
        return raw
    text = urllib.parse.unquote(str(raw))
    parsed = json.loads(text)
    return parsed if isinstance(parsed, Mapping) else None


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
