"""Setup as a plan: observed state + wanted names → a list of changes. Pure.

A resource sagelift did not create (no ``sagelift:managed=true`` tag) is never changed or
deleted; the plan says so in a notice instead. Using a sagelift resource another project created
(the shared bucket, or a repository or role the settings name) records this project as one of its
users (``ownership.py``) so that the other project's teardown leaves it in place; a role created
for another project gets this project's grants as a separate inline policy, its own left as is.
Teardown is planned in ``teardown.py``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from sagelift.errors import ConfigError
from sagelift.provision.ownership import (
    OWNER_TAG_PREFIX,
    Inventory,
    owner_tag,
    owners_from_tags,
    ownership_key,
)
from sagelift.provision.policies import (
    MANAGED_TAG,
    PROJECT_TAG,
    ResourceNames,
    bucket_lifecycle_rule,
    ecr_lifecycle_policy,
    policy_name_for,
    role_policy,
    trust_policy,
)

__all__ = [
    "BucketState",
    "Change",
    "Observed",
    "Op",
    "Plan",
    "RepositoryState",
    "Resource",
    "RoleState",
    "SetupOptions",
    "is_managed",
    "plan_setup",
]

Resource = Literal["bucket", "repository", "role"]
Op = Literal[
    "create_bucket",
    "put_bucket_encryption",
    "put_public_access_block",
    "put_bucket_lifecycle",
    "create_repository",
    "put_scan_on_push",
    "put_ecr_lifecycle",
    "create_role",
    "put_trust_policy",
    "put_role_policy",
    "put_ownership",
    "tag_owner",
    "delete_prefix",
    "delete_ownership",
    "delete_lifecycle_rule",
    "untag_owner",
    "delete_role_policy",
    "delete_bucket",
    "delete_repository",
    "delete_role",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class SetupOptions:
    code_expiry_days: int = 30
    keep_images: int = 10


@dataclass(frozen=True, slots=True, kw_only=True)
class BucketState:
    """``owners``: project → key prefix, from the ownership objects; ``inventory``: the objects
    counted by prefix (observed for teardown only, None otherwise)."""

    exists: bool
    region: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    encrypted: bool = False
    public_access_blocked: bool = False
    lifecycle_rules: tuple[Mapping[str, Any], ...] = ()
    owners: Mapping[str, str] = field(default_factory=dict)
    inventory: Inventory | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RepositoryState:
    exists: bool
    tags: Mapping[str, str] = field(default_factory=dict)
    scan_on_push: bool = False
    lifecycle_policy: str | None = None
    has_images: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class RoleState:
    exists: bool
    arn: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    trust_policy: Mapping[str, Any] | None = None
    inline_policies: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class Observed:
    bucket: BucketState
    repository: RepositoryState
    role: RoleState


@dataclass(frozen=True, slots=True, kw_only=True)
class Change:
    """One step; ``target`` names the part of the resource it acts on where that is not the
    whole resource (an object key, a prefix, a lifecycle rule ID, a tag key, a policy name)."""

    resource: Resource
    name: str
    op: Op
    summary: str
    target: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    """What to do, in order; ``notices`` name what is deliberately left alone and why;
    ``needs_force`` says why the changes destroy data (teardown only; empty when they do not)."""

    names: ResourceNames
    options: SetupOptions
    changes: tuple[Change, ...]
    notices: tuple[str, ...] = ()
    needs_force: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.changes

    def lines(self) -> list[str]:
        """The plan as text, one change or notice per line."""
        if self.empty:
            out = ["nothing to do"]
        else:
            out = [
                f"{'-' if c.op.startswith(('delete', 'untag')) else '+'} "
                f"{c.resource} {c.name}: {c.summary}"
                for c in self.changes
            ]
        return out + [f"= {n}" for n in self.notices]


def is_managed(tags: Mapping[str, str]) -> bool:
    """Whether sagelift created the resource carrying ``tags``."""
    return tags.get(MANAGED_TAG) == "true"


def _overlap(a: str, b: str) -> bool:
    """Whether one key prefix lies inside (or is) the other."""
    return a == b or not a or not b or a.startswith(b + "/") or b.startswith(a + "/")


def _canonical(document: Any) -> str:
    return json.dumps(document, sort_keys=True)


def _contains(actual: Any, wanted: Any) -> bool:
    """Whether ``wanted`` is a sub-document of ``actual`` (AWS echoes back extra defaults)."""
    if isinstance(wanted, Mapping):
        return isinstance(actual, Mapping) and all(
            k in actual and _contains(actual[k], v) for k, v in wanted.items()
        )
    return bool(actual == wanted)


def plan_setup(names: ResourceNames, observed: Observed, options: SetupOptions) -> Plan:
    """The changes that make the account match ``names``; empty when it already does.

    Raises ConfigError when an existing bucket of that name is in another region.
    """
    changes: list[Change] = []
    notices: list[str] = []
    _plan_bucket(names, observed.bucket, options, changes, notices)
    _plan_repository(names, observed.repository, options, changes, notices)
    _plan_role(names, observed.role, changes, notices)
    return Plan(names=names, options=options, changes=tuple(changes), notices=tuple(notices))


def _plan_bucket(
    names: ResourceNames,
    state: BucketState,
    options: SetupOptions,
    changes: list[Change],
    notices: list[str],
) -> None:
    def add(op: Op, summary: str, target: str = "") -> None:
        changes.append(
            Change(resource="bucket", name=names.bucket, op=op, summary=summary, target=target)
        )

    if state.exists and state.region not in (None, names.region):
        raise ConfigError(
            f"bucket {names.bucket} is in {state.region}, jobs run in {names.region}",
            hint="SageMaker needs the bucket in the job's region: set aws.region to "
            f"{state.region} or set aws.bucket to another name",
        )
    expiry = f"expire {names.prefix}/code/ after {options.code_expiry_days}d"
    record = ownership_key(names.project)
    ownership = f"record project '{names.project}' (prefix {names.prefix}/) in {record}"
    if not state.exists:
        add("create_bucket", f"create in {names.region}, tagged")
        add("put_bucket_encryption", "default encryption SSE-S3")
        add("put_public_access_block", "block all public access")
        add("put_bucket_lifecycle", expiry)
        add("put_ownership", ownership, record)
        return
    if not is_managed(state.tags):
        notices.append(f"bucket {names.bucket}: exists, not created by sagelift; used as is")
        return
    if not state.encrypted:
        add("put_bucket_encryption", "default encryption SSE-S3")
    if not state.public_access_blocked:
        add("put_public_access_block", "block all public access")
    wanted = bucket_lifecycle_rule(names, days=options.code_expiry_days)
    if not any(_contains(rule, wanted) for rule in state.lifecycle_rules):
        add("put_bucket_lifecycle", expiry)
    if state.owners.get(names.project) != names.prefix:
        add("put_ownership", ownership, record)
    for other, prefix in sorted(state.owners.items()):
        if other != names.project and _overlap(prefix, names.prefix):
            notices.append(
                f"bucket {names.bucket}: prefix {names.prefix}/ overlaps project '{other}' "
                f"(prefix {prefix}/); teardown of either keeps the shared objects"
            )


def _owner_changes(
    resource: Resource, name: str, project: str, tags: Mapping[str, str]
) -> list[Change]:
    """Tag ``project`` as a user of a resource sagelift made, unless it already is one; a
    resource from before owner tags first gets its creator's tag, so the creator stays a user."""
    wanted = [project]
    if not any(k.startswith(OWNER_TAG_PREFIX) for k in tags):
        wanted = sorted(owners_from_tags(tags) | {project})
    return [
        Change(
            resource=resource,
            name=name,
            op="tag_owner",
            summary=f"record project '{user}' as a user (tag {owner_tag(user)})",
            target=owner_tag(user),
        )
        for user in wanted
        if owner_tag(user) not in tags
    ]


def _plan_repository(
    names: ResourceNames,
    state: RepositoryState,
    options: SetupOptions,
    changes: list[Change],
    notices: list[str],
) -> None:
    def add(op: Op, summary: str) -> None:
        changes.append(Change(resource="repository", name=names.repository, op=op, summary=summary))

    lifecycle = f"keep the last {options.keep_images} images"
    if not state.exists:
        add("create_repository", "create with scan on push, tagged")
        add("put_ecr_lifecycle", lifecycle)
        return
    if not is_managed(state.tags):
        notices.append(
            f"repository {names.repository}: exists, not created by sagelift; used as is"
        )
        return
    if not state.scan_on_push:
        add("put_scan_on_push", "scan images on push")
    wanted = json.loads(ecr_lifecycle_policy(keep=options.keep_images))
    current = None if state.lifecycle_policy is None else json.loads(state.lifecycle_policy)
    if current is None or _canonical(current) != _canonical(wanted):
        add("put_ecr_lifecycle", lifecycle)
    changes.extend(_owner_changes("repository", names.repository, names.project, state.tags))


def _plan_role(
    names: ResourceNames, state: RoleState, changes: list[Change], notices: list[str]
) -> None:
    def add(op: Op, summary: str, target: str = "") -> None:
        changes.append(
            Change(resource="role", name=names.role, op=op, summary=summary, target=target)
        )

    grants = "least-privilege inline policy (bucket prefix, repository, logs)"
    if not state.exists:
        add("create_role", "create, trusted by sagemaker.amazonaws.com, tagged")
        add("put_role_policy", grants, policy_name_for(names, creator=True))
        return
    if not is_managed(state.tags):
        notices.append(
            f"role {names.role}: exists, not created by sagelift; used as is "
            "(check it with 'sagelift doctor')"
        )
        return
    creator = state.tags.get(PROJECT_TAG) == names.project
    if state.trust_policy is None or _canonical(state.trust_policy) != _canonical(
        trust_policy(names)
    ):
        add("put_trust_policy", "trust sagemaker.amazonaws.com")
    policy = policy_name_for(names, creator=creator)
    current = state.inline_policies.get(policy)
    if current is None or _canonical(current) != _canonical(role_policy(names)):
        add("put_role_policy", f"{grants} as {policy}", policy)
    if not creator:
        other = state.tags.get(PROJECT_TAG, "?")
        notices.append(
            f"role {names.role}: created for project '{other}'; its policy is left as is"
        )
    changes.extend(_owner_changes("role", names.role, names.project, state.tags))
