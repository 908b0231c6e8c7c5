"""``sagelift aws setup`` / ``teardown``: what a SageMaker job needs in an account.

The flow is observe (``observation.py``) → plan (pure, ``plan.py``) → apply (``apply.py``), so
``--dry-run`` shows exactly what a real run would do and a second setup finds nothing to do. The
clients, the caller's identity and the conversion of botocore errors are ``account.py``'s.
Policies and rules are pure functions (``policies.py``); ``terraform.py`` renders the same
resources as Terraform.
Teardown (``teardown.py``) deletes only what belongs to the project: the bucket is shared by the
projects of an account and region, each recording its prefix in it (``ownership.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

from sagelift.aws import AwsSettings, resolve_region
from sagelift.provision.account import AccountClients, Identity, caller_identity
from sagelift.provision.apply import apply_plan
from sagelift.provision.observation import observe
from sagelift.provision.plan import Plan, SetupOptions, plan_setup
from sagelift.provision.policies import ResourceNames, default_names
from sagelift.provision.teardown import plan_teardown, require_force
from sagelift.settings import Settings

__all__ = [
    "AccountClients",
    "Identity",
    "Plan",
    "Prepared",
    "ResourceNames",
    "SetupOptions",
    "apply_plan",
    "job_region",
    "prepare_setup",
    "prepare_teardown",
    "require_force",
    "settings_values",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class Prepared:
    """A plan and the clients that will carry it out; ``role_arn`` is the role's ARN once set up
    (the existing role's ARN, or the one the new role will have)."""

    plan: Plan
    clients: AccountClients
    identity: Identity
    role_arn: str


def job_region(aws: AwsSettings) -> str:
    """``aws.region`` from the settings, else boto3's own default (AWS_REGION, profile).

    Raises ConfigError when neither names one.
    """
    region = resolve_region(aws, required=True)
    assert region is not None
    return region


def _names(
    settings: Settings, project: str, account: str, region: str, prefix: str | None
) -> ResourceNames:
    return default_names(
        project=project,
        account=account,
        region=region,
        prefix=prefix,
        bucket=settings.bucket,
        repository=settings.ecr_repository,
        role=settings.role,
    )


def _prepare(
    settings: Settings, project: str, prefix: str | None
) -> tuple[ResourceNames, AccountClients, Identity]:
    region = job_region(settings.aws)
    aws = AwsSettings(
        profile=settings.aws.profile,
        region=region,
        endpoint_url=settings.aws.endpoint_url,
        max_attempts=settings.aws.max_attempts,
    )
    identity = caller_identity(aws)
    names = _names(settings, project, identity.account, region, prefix)
    return names, AccountClients.open(aws), identity


def prepare_setup(
    settings: Settings, *, project: str, options: SetupOptions, prefix: str | None = None
) -> Prepared:
    """Observe the account and plan setup for ``project``; nothing is changed.

    ``prefix`` is the configured key prefix, None for the default ``sagelift/<project>``.

    Raises CredentialsError without usable credentials, ConfigError without a region or when the
    configured bucket is in another region.
    """
    names, clients, identity = _prepare(settings, project, prefix)
    observed = observe(names, clients)
    plan = plan_setup(names, observed, options)
    role_arn = observed.role.arn or names.role_arn
    return Prepared(plan=plan, clients=clients, identity=identity, role_arn=role_arn)


def prepare_teardown(settings: Settings, *, project: str, prefix: str | None = None) -> Prepared:
    """Observe the account (listing the bucket) and plan teardown; nothing is changed.

    The plan's ``needs_force`` says when it deletes data: check it with ``require_force``
    before ``apply_plan``.
    """
    names, clients, identity = _prepare(settings, project, prefix)
    observed = observe(names, clients, inventory=True)
    plan = plan_teardown(names, observed)
    return Prepared(
        plan=plan,
        clients=clients,
        identity=identity,
        role_arn=observed.role.arn or names.role_arn,
    )


def settings_values(names: ResourceNames, role_arn: str) -> dict[str, str]:
    """The ``[aws]`` entries setup writes into the project's settings file."""
    return {
        "region": names.region,
        "bucket": names.bucket,
        "prefix": names.prefix,
        "role": role_arn,
        "ecr_repository": names.repository,
    }
