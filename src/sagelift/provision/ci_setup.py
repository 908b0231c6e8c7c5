"""``sagelift aws setup --ci`` / teardown: the OIDC provider and the CI role of a project.

Same flow as the rest of setup: observe (boto3, here) → plan (``plan_ci_setup`` and
``plan_ci_teardown`` are pure) → apply. The provider is shared by every role of the account
that trusts the same issuer, so sagelift tags the provider it creates and deletes it only when
no sagelift CI role trusts it any more; a provider sagelift did not create is never changed.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from sagelift.provision.account import _absent, _aws, _document, _tag_map
from sagelift.provision.apply import _delete_role
from sagelift.provision.ci_policies import (
    AUDIENCE,
    CI_POLICY_NAME,
    CI_TAG,
    CiRole,
    ci_role_policy,
    ci_role_tags,
    ci_trust_policy,
    oidc_provider_tags,
)
from sagelift.provision.plan import is_managed
from sagelift.provision.policies import PROJECT_TAG, ROLE_PATH, ResourceNames

__all__ = [
    "CiChange",
    "CiObserved",
    "CiPlan",
    "RoleFacts",
    "apply_ci_plan",
    "observe_ci",
    "observe_ci_roles",
    "plan_ci_setup",
    "plan_ci_teardown",
]

log = logging.getLogger(__name__)

CiOp = Literal[
    "create_provider",
    "create_ci_role",
    "put_ci_trust",
    "put_ci_policy",
    "delete_ci_role",
    "delete_provider",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class CiChange:
    resource: Literal["oidc-provider", "role"]
    name: str
    op: CiOp
    summary: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CiPlan:
    changes: tuple[CiChange, ...]
    notices: tuple[str, ...] = ()
    role: CiRole | None = None
    execution_role_arn: str = ""

    @property
    def empty(self) -> bool:
        return not self.changes

    def lines(self) -> list[str]:
        out = [
            f"{'-' if c.op.startswith('delete') else '+'} {c.resource} {c.name}: {c.summary}"
            for c in self.changes
        ]
        return out + [f"= {n}" for n in self.notices]


@dataclass(frozen=True, slots=True, kw_only=True)
class RoleFacts:
    """A role as observed: its trust, tags and inline policies."""

    name: str
    arn: str
    tags: Mapping[str, str] = field(default_factory=dict)
    trust: Mapping[str, Any] | None = None
    policies: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def trusts(self, provider_arn: str) -> bool:
        for statement in (self.trust or {}).get("Statement", []):
            federated = statement.get("Principal", {}).get("Federated")
            if federated == provider_arn or (
                isinstance(federated, list) and provider_arn in federated
            ):
                return True
        return False


@dataclass(frozen=True, slots=True, kw_only=True)
class ProviderFacts:
    arn: str
    tags: Mapping[str, str] = field(default_factory=dict)
    audiences: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class CiObserved:
    """The provider (None: absent) and the CI role (None: absent)."""

    provider: ProviderFacts | None
    role: RoleFacts | None


def _canonical(document: Any) -> str:
    return json.dumps(document, sort_keys=True)


def plan_ci_setup(
    names: ResourceNames, role: CiRole, observed: CiObserved, *, execution_role_arn: str
) -> CiPlan:
    """The changes that give ``role`` its provider, trust and permissions; empty when the
    account matches already."""
    changes: list[CiChange] = []
    notices: list[str] = []
    provider = observed.provider
    host = role.issuer.host
    if provider is None:
        changes.append(
            CiChange(
                resource="oidc-provider",
                name=host,
                op="create_provider",
                summary=f"create for {role.issuer.url}, audience {AUDIENCE}, tagged",
            )
        )
    elif AUDIENCE not in provider.audiences:
        notices.append(
            f"oidc-provider {host}: exists without audience {AUDIENCE}; add it "
            f"(aws iam add-client-id-to-open-id-connect-provider) or CI cannot sign in"
        )
    subject = f"repository {role.repository}" + (
        f", branch {role.branch}" if role.branch else ", any ref"
    )
    grants = "submit, watch and stop the project's jobs (inline policy " + CI_POLICY_NAME + ")"
    trust = ci_trust_policy(names, role)
    policy = ci_role_policy(names, role, execution_role_arn=execution_role_arn)
    current = observed.role
    if current is None:
        changes.append(
            CiChange(
                resource="role",
                name=role.name,
                op="create_ci_role",
                summary=f"create, assumable by {host} tokens for {subject}, tagged",
            )
        )
        changes.append(
            CiChange(resource="role", name=role.name, op="put_ci_policy", summary=grants)
        )
    elif not is_managed(current.tags):
        notices.append(f"role {role.name}: exists, not created by sagelift; left alone")
    else:
        if current.trust is None or _canonical(current.trust) != _canonical(trust):
            changes.append(
                CiChange(
                    resource="role",
                    name=role.name,
                    op="put_ci_trust",
                    summary=f"trust {host} tokens for {subject}",
                )
            )
        mine = current.policies.get(CI_POLICY_NAME)
        if mine is None or _canonical(mine) != _canonical(policy):
            changes.append(
                CiChange(resource="role", name=role.name, op="put_ci_policy", summary=grants)
            )
    return CiPlan(
        changes=tuple(changes),
        notices=tuple(notices),
        role=role,
        execution_role_arn=execution_role_arn,
    )


def plan_ci_teardown(
    names: ResourceNames,
    roles: Sequence[RoleFacts],
    providers: Sequence[ProviderFacts],
) -> CiPlan:
    """Delete this project's sagelift CI roles, and each sagelift-made provider no remaining
    sagelift CI role trusts. ``roles`` are the sagelift CI roles of the account (every
    project); ``providers`` the account's OIDC providers."""
    mine = [
        r
        for r in roles
        if is_managed(r.tags) and CI_TAG in r.tags and r.tags.get(PROJECT_TAG) == names.project
    ]
    kept = [r for r in roles if r not in mine and CI_TAG in r.tags]
    changes = [
        CiChange(
            resource="role",
            name=r.name,
            op="delete_ci_role",
            summary=f"delete (CI role for {r.tags.get('sagelift:ci-repository', '?')})",
        )
        for r in mine
    ]
    notices: list[str] = []
    for provider in providers:
        host = provider.arn.split("oidc-provider/", 1)[-1]
        if not any(r.trusts(provider.arn) for r in mine):
            continue
        if not is_managed(provider.tags):
            notices.append(f"oidc-provider {host}: not created by sagelift; left alone")
            continue
        users = sorted(r.name for r in kept if r.trusts(provider.arn))
        if users:
            notices.append(f"keep oidc-provider {host}: CI role {', '.join(users)} still uses it")
            continue
        changes.append(
            CiChange(
                resource="oidc-provider",
                name=provider.arn,
                op="delete_provider",
                summary=f"delete {host} (no sagelift CI role uses it any more)",
            )
        )
    return CiPlan(changes=tuple(changes), notices=tuple(notices))


def _provider_facts(iam: Any, arn: str) -> ProviderFacts | None:
    found = _absent(
        lambda: iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn),
        frozenset({"NoSuchEntity"}),
        "iam:GetOpenIDConnectProvider",
        arn,
    )
    if found is None:
        return None
    return ProviderFacts(
        arn=arn,
        tags=_tag_map(found.get("Tags")),
        audiences=tuple(str(a) for a in found.get("ClientIDList", [])),
    )


def _role_facts(iam: Any, name: str) -> RoleFacts | None:
    found = _absent(
        lambda: iam.get_role(RoleName=name), frozenset({"NoSuchEntity"}), "iam:GetRole", name
    )
    if found is None:
        return None
    with _aws("iam:ListRoleTags", name):
        tags = _tag_map(iam.list_role_tags(RoleName=name).get("Tags"))
        listed = iam.list_role_policies(RoleName=name).get("PolicyNames", [])
        policies = {
            str(p): _document(
                iam.get_role_policy(RoleName=name, PolicyName=p).get("PolicyDocument")
            )
            or {}
            for p in listed
        }
    return RoleFacts(
        name=name,
        arn=str(found["Role"]["Arn"]),
        tags=tags,
        trust=_document(found["Role"].get("AssumeRolePolicyDocument")),
        policies=policies,
    )


def observe_ci(names: ResourceNames, role: CiRole, iam: Any) -> CiObserved:
    """The issuer's provider and the CI role, as the account reports them."""
    return CiObserved(
        provider=_provider_facts(iam, role.issuer.arn(names)), role=_role_facts(iam, role.name)
    )


def observe_ci_roles(iam: Any) -> tuple[list[RoleFacts], list[ProviderFacts]]:
    """Every sagelift CI role (under sagelift's role path) and every OIDC provider."""
    roles: list[RoleFacts] = []
    with _aws("iam:ListRoles"):
        pages = iam.get_paginator("list_roles").paginate(PathPrefix=ROLE_PATH)
        listed = [str(r["RoleName"]) for page in pages for r in page.get("Roles", [])]
    for name in listed:
        facts = _role_facts(iam, name)
        if facts is not None and CI_TAG in facts.tags:
            roles.append(facts)
    with _aws("iam:ListOpenIDConnectProviders"):
        arns = [
            str(p["Arn"])
            for p in iam.list_open_id_connect_providers().get("OpenIDConnectProviderList", [])
        ]
    providers = [p for p in (_provider_facts(iam, arn) for arn in arns) if p is not None]
    return roles, providers


def apply_ci_plan(plan: CiPlan, names: ResourceNames, iam: Any) -> None:
    """Carry out ``plan`` in order; the first failure stops it (a re-run resumes)."""
    for change in plan.changes:
        log.info("%s %s: %s", change.resource, change.name, change.summary)
        _apply(change, plan, names, iam)


def _apply(change: CiChange, plan: CiPlan, names: ResourceNames, iam: Any) -> None:
    role = plan.role
    if change.op == "delete_ci_role":
        _delete_role(change.name, iam)
        return
    if change.op == "delete_provider":
        with _aws("iam:DeleteOpenIDConnectProvider", change.name):
            iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=change.name)
        return
    assert role is not None, "setup changes carry their role"
    if change.op == "create_provider":
        with _aws("iam:CreateOpenIDConnectProvider", role.issuer.host):
            iam.create_open_id_connect_provider(
                Url=role.issuer.url,
                ClientIDList=[AUDIENCE],
                ThumbprintList=list(role.issuer.thumbprints),
                Tags=[{"Key": k, "Value": v} for k, v in oidc_provider_tags(role).items()],
            )
    elif change.op == "create_ci_role":
        with _aws("iam:CreateRole", role.name):
            iam.create_role(
                Path=ROLE_PATH,
                RoleName=role.name,
                AssumeRolePolicyDocument=json.dumps(ci_trust_policy(names, role)),
                Description=f"CI submissions of sagelift project {names.project} "
                f"from {role.repository}",
                MaxSessionDuration=3600,
                Tags=[{"Key": k, "Value": v} for k, v in ci_role_tags(names, role).items()],
            )
    elif change.op == "put_ci_trust":
        with _aws("iam:UpdateAssumeRolePolicy", role.name):
            iam.update_assume_role_policy(
                RoleName=role.name, PolicyDocument=json.dumps(ci_trust_policy(names, role))
            )
    elif change.op == "put_ci_policy":
        document = ci_role_policy(names, role, execution_role_arn=plan.execution_role_arn)
        with _aws("iam:PutRolePolicy", role.name):
            iam.put_role_policy(
                RoleName=role.name, PolicyName=CI_POLICY_NAME, PolicyDocument=json.dumps(document)
            )
