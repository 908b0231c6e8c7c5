"""Teardown as a plan: delete what this project holds, keep what others use. Pure.

Project P's teardown deletes, in the shared bucket, only the objects under P's prefix (the one in
P's ownership object, else the configured one) and P's ownership object; the bucket itself only
when sagelift created it, no other project records a prefix in it and nothing outside P's prefix
remains. A repository or role goes only when P is its last user; otherwise P's owner tag (and, on
a role, P's inline policy) is removed and the resource kept. Every kept resource is named in a
notice with the reason. Nothing without the ``sagelift:managed`` tag is changed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from sagelift.errors import UsageError
from sagelift.provision.ownership import Inventory, owner_tag, owners_from_tags, ownership_key
from sagelift.provision.plan import (
    BucketState,
    Change,
    Observed,
    Op,
    Plan,
    RepositoryState,
    Resource,
    RoleState,
    SetupOptions,
    is_managed,
)
from sagelift.provision.policies import (
    PROJECT_TAG,
    ResourceNames,
    code_expiry_rule_id,
    policy_name_for,
)

__all__ = ["plan_teardown", "require_force"]

FORCE_HINT = (
    "copy out what you need, then run 'sagelift aws teardown --force' ('--dry-run' shows the plan)"
)


def _objects(n: int) -> str:
    return f"{n} object" + ("" if n == 1 else "s")


def plan_teardown(names: ResourceNames, observed: Observed) -> Plan:
    """The deletions that remove this project's part of the account, and why the rest stays.

    ``observed.bucket.inventory`` must be set (``observe(..., inventory=True)``). Never raises:
    a plan that deletes data lists why in ``needs_force`` (see ``require_force``).
    """
    bucket = observed.bucket
    recorded = bucket.owners.get(names.project)
    if recorded:
        names = dataclasses.replace(names, prefix=recorded)
    changes: list[Change] = []
    notices: list[str] = []
    force: list[str] = []
    _bucket(names, bucket, changes, notices, force)
    _repository(names, observed.repository, changes, notices, force)
    _role(names, observed.role, changes, notices)
    return Plan(
        names=names,
        options=SetupOptions(),
        changes=tuple(changes),
        notices=tuple(notices),
        needs_force=tuple(force),
    )


def require_force(plan: Plan, *, force: bool) -> None:
    """Raises UsageError (nothing done) when ``plan`` deletes data and ``force`` is false."""
    if plan.needs_force and not force:
        more = len(plan.needs_force) - 1
        raise UsageError(
            plan.needs_force[0] + (f" (and {more} more)" if more else ""), hint=FORCE_HINT
        )


def _bucket(
    names: ResourceNames,
    state: BucketState,
    changes: list[Change],
    notices: list[str],
    force: list[str],
) -> None:
    name = names.bucket
    if not state.exists:
        return
    if not is_managed(state.tags):
        notices.append(f"bucket {name}: not created by sagelift; left alone")
        return
    project = names.project
    if project not in state.owners and state.tags.get(PROJECT_TAG) != project:
        users = ", ".join(f"'{p}'" for p in sorted(state.owners)) or "'{}'".format(
            state.tags.get(PROJECT_TAG, "?")
        )
        notices.append(f"bucket {name}: used by project {users}, not this one; left alone")
        return

    def add(op: Op, summary: str, target: str = "") -> None:
        changes.append(Change(resource="bucket", name=name, op=op, summary=summary, target=target))

    inventory = state.inventory or Inventory()
    prefix = names.prefix
    others = {p: pre for p, pre in state.owners.items() if p != project}
    sharing = sorted(
        p for p, pre in others.items() if not pre or pre == prefix or pre.startswith(prefix + "/")
    )
    mine = inventory.count(prefix)
    if mine and sharing:
        notices.append(
            f"keep {_objects(mine)} under {prefix}/ in bucket {name}: project "
            + ", ".join(f"'{p}' (prefix {others[p]}/)" for p in sharing)
            + " shares that prefix"
        )
    elif mine:
        add(
            "delete_prefix",
            f"delete {_objects(mine)} under {prefix}/ (project '{project}')",
            prefix,
        )
        force.append(
            f"prefix {prefix}/ in bucket {name} is not empty ({_objects(mine)}); "
            "teardown would delete them"
        )
    keep = bool(others) or inventory.foreign > 0 or (mine > 0 and bool(sharing))
    rule = code_expiry_rule_id(names)
    if keep and any(r.get("ID") == rule for r in state.lifecycle_rules):
        add("delete_lifecycle_rule", f"delete lifecycle rule {rule}", rule)
    if project in state.owners:
        key = ownership_key(project)
        add("delete_ownership", f"delete ownership record {key}", key)
    for other, pre in sorted(others.items()):
        shown = f"{pre}/" if pre else "an unreadable prefix"
        notices.append(
            f"keep bucket {name}: project '{other}' still uses prefix {shown} "
            f"({_objects(inventory.count(pre))})"
        )
    if inventory.foreign:
        notices.append(
            f"keep bucket {name}: {_objects(inventory.foreign)} outside any project's prefix "
            f"(e.g. {', '.join(inventory.examples)})"
        )
    if not keep:
        add("delete_bucket", "delete (no other project uses it, nothing else in it)")


def _users(tags: Mapping[str, str]) -> str:
    return ", ".join(f"'{p}'" for p in sorted(owners_from_tags(tags))) or "'?'"


def _repository(
    names: ResourceNames,
    state: RepositoryState,
    changes: list[Change],
    notices: list[str],
    force: list[str],
) -> None:
    name = names.repository
    if not state.exists:
        return
    if not is_managed(state.tags):
        notices.append(f"repository {name}: not created by sagelift; left alone")
        return
    owners = owners_from_tags(state.tags)
    if names.project not in owners:
        notices.append(f"repository {name}: used by project {_users(state.tags)}; left alone")
        return
    others = sorted(owners - {names.project})
    if others:
        changes.append(_untag("repository", name, names.project))
        notices.extend(f"keep repository {name}: project '{o}' still uses it" for o in others)
        return
    if state.has_images:
        force.append(f"repository {name} holds images; teardown would delete them")
    changes.append(
        Change(
            resource="repository",
            name=name,
            op="delete_repository",
            summary="delete" + (" with its images" if state.has_images else ""),
        )
    )


def _untag(resource: Resource, name: str, project: str) -> Change:
    return Change(
        resource=resource,
        name=name,
        op="untag_owner",
        summary=f"remove project '{project}' as a user (tag {owner_tag(project)})",
        target=owner_tag(project),
    )


def _role(
    names: ResourceNames, state: RoleState, changes: list[Change], notices: list[str]
) -> None:
    name = names.role
    if not state.exists:
        return
    if not is_managed(state.tags):
        notices.append(f"role {name}: not created by sagelift; left alone")
        return
    owners = owners_from_tags(state.tags)
    if names.project not in owners:
        notices.append(f"role {name}: used by project {_users(state.tags)}; left alone")
        return
    others = sorted(owners - {names.project})
    if others:
        creator = state.tags.get(PROJECT_TAG) == names.project
        policy = policy_name_for(names, creator=creator)
        if policy in state.inline_policies:
            changes.append(
                Change(
                    resource="role",
                    name=name,
                    op="delete_role_policy",
                    summary=f"delete inline policy {policy} (project '{names.project}')",
                    target=policy,
                )
            )
        if owner_tag(names.project) in state.tags:
            changes.append(_untag("role", name, names.project))
        notices.extend(f"keep role {name}: project '{o}' still uses it" for o in others)
        return
    changes.append(
        Change(
            resource="role", name=name, op="delete_role", summary="delete with its inline policies"
        )
    )
