"""Setup and teardown as plans: observed state + wanted names → a list of changes. Pure.

A resource sagelift did not create (no ``sagelift:managed=true`` tag) is never changed or
deleted; the plan says so in a notice instead. A resource another project created is left to it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from sagelift.errors import ConfigError, UsageError
from sagelift.provision.policies import (
    MANAGED_TAG,
    PROJECT_TAG,
    ResourceNames,
    bucket_lifecycle_rule,
    ecr_lifecycle_policy,
    role_policy,
    trust_policy,
)

__all__ = [
    "BucketState",
    "Change",
    "Observed",
    "Plan",
    "RepositoryState",
    "RoleState",
    "SetupOptions",
    "plan_setup",
    "plan_teardown",
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
    "empty_bucket",
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
    exists: bool
    region: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    encrypted: bool = False
    public_access_blocked: bool = False
    lifecycle_rules: tuple[Mapping[str, Any], ...] = ()
    has_objects: bool = False


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
    inline_policy: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Observed:
    bucket: BucketState
    repository: RepositoryState
    role: RoleState


@dataclass(frozen=True, slots=True, kw_only=True)
class Change:
    resource: Resource
    name: str
    op: Op
    summary: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    """What to do, in order; ``notices`` name what is deliberately left alone."""

    names: ResourceNames
    options: SetupOptions
    changes: tuple[Change, ...]
    notices: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.changes

    def lines(self) -> list[str]:
        """The plan as text, one change or notice per line."""
        if self.empty:
            out = ["nothing to do"]
        else:
            out = [
                f"{'-' if c.op.startswith(('delete', 'empty')) else '+'} "
                f"{c.resource} {c.name}: {c.summary}"
                for c in self.changes
            ]
        return out + [f"= {n}" for n in self.notices]


def _managed(tags: Mapping[str, str]) -> bool:
    return tags.get(MANAGED_TAG) == "true"


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
    def add(op: Op, summary: str) -> None:
        changes.append(Change(resource="bucket", name=names.bucket, op=op, summary=summary))

    if state.exists and state.region not in (None, names.region):
        raise ConfigError(
            f"bucket {names.bucket} is in {state.region}, jobs run in {names.region}",
            hint="SageMaker needs the bucket in the job's region: set aws.region to "
            f"{state.region} or set aws.bucket to another name",
        )
    if not state.exists:
        add("create_bucket", f"create in {names.region}, tagged")
        add("put_bucket_encryption", "default encryption SSE-S3")
        add("put_public_access_block", "block all public access")
        add(
            "put_bucket_lifecycle", f"expire {names.prefix}/code/ after {options.code_expiry_days}d"
        )
        return
    if not _managed(state.tags):
        notices.append(f"bucket {names.bucket}: exists, not created by sagelift; used as is")
        return
    if not state.encrypted:
        add("put_bucket_encryption", "default encryption SSE-S3")
    if not state.public_access_blocked:
        add("put_public_access_block", "block all public access")
    wanted = bucket_lifecycle_rule(names, days=options.code_expiry_days)
    if not any(_contains(rule, wanted) for rule in state.lifecycle_rules):
        add(
            "put_bucket_lifecycle", f"expire {names.prefix}/code/ after {options.code_expiry_days}d"
        )


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
    if not _managed(state.tags):
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


def _plan_role(
    names: ResourceNames, state: RoleState, changes: list[Change], notices: list[str]
) -> None:
    def add(op: Op, summary: str) -> None:
        changes.append(Change(resource="role", name=names.role, op=op, summary=summary))

    if not state.exists:
        add("create_role", "create, trusted by sagemaker.amazonaws.com, tagged")
        add("put_role_policy", "least-privilege inline policy (bucket prefix, repository, logs)")
        return
    if not _managed(state.tags):
        notices.append(
            f"role {names.role}: exists, not created by sagelift; used as is "
            "(check it with 'sagelift doctor')"
        )
        return
    if state.trust_policy is None or _canonical(state.trust_policy) != _canonical(
        trust_policy(names)
    ):
        add("put_trust_policy", "trust sagemaker.amazonaws.com")
    if state.inline_policy is None or _canonical(state.inline_policy) != _canonical(
        role_policy(names)
    ):
        add("put_role_policy", "least-privilege inline policy (bucket prefix, repository, logs)")


def plan_teardown(names: ResourceNames, observed: Observed, *, force: bool) -> Plan:
    """Delete what setup made for this project: resources tagged managed *and* this project.

    Raises UsageError (nothing done) when the bucket holds objects or the repository holds
    images and ``force`` is false.
    """
    changes: list[Change] = []
    notices: list[str] = []

    def owned(kind: str, name: str, exists: bool, tags: Mapping[str, str]) -> bool:
        if not exists:
            return False
        if not _managed(tags):
            notices.append(f"{kind} {name}: not created by sagelift; left alone")
            return False
        if tags.get(PROJECT_TAG) != names.project:
            other = tags.get(PROJECT_TAG, "?")
            notices.append(f"{kind} {name}: created for project '{other}'; left alone")
            return False
        return True

    bucket = observed.bucket
    if owned("bucket", names.bucket, bucket.exists, bucket.tags):
        if bucket.has_objects and not force:
            raise UsageError(
                f"bucket {names.bucket} is not empty; teardown would delete its objects",
                hint="copy out what you need, then run 'sagelift aws teardown --force'",
            )
        if bucket.has_objects:
            changes.append(
                Change(
                    resource="bucket",
                    name=names.bucket,
                    op="empty_bucket",
                    summary="delete every object",
                )
            )
        changes.append(
            Change(resource="bucket", name=names.bucket, op="delete_bucket", summary="delete")
        )
    repository = observed.repository
    if owned("repository", names.repository, repository.exists, repository.tags):
        if repository.has_images and not force:
            raise UsageError(
                f"repository {names.repository} holds images; teardown would delete them",
                hint="run 'sagelift aws teardown --force' to delete it with its images",
            )
        changes.append(
            Change(
                resource="repository",
                name=names.repository,
                op="delete_repository",
                summary="delete" + (" with its images" if repository.has_images else ""),
            )
        )
    role = observed.role
    if owned("role", names.role, role.exists, role.tags):
        changes.append(
            Change(
                resource="role",
                name=names.role,
                op="delete_role",
                summary="delete with its inline policies",
            )
        )
    return Plan(names=names, options=SetupOptions(), changes=tuple(changes), notices=tuple(notices))
