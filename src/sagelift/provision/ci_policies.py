"""The documents of a CI role, as pure functions: who may assume it (OIDC), what it may do.

A CI pipeline submits jobs with short-lived credentials: the CI system signs an OpenID Connect
token for each run, and STS ``AssumeRoleWithWebIdentity`` trades it for the CI role's
credentials (AWS IAM User Guide, "Create a role for OpenID Connect federation"). No access key
is stored anywhere. The trust policy admits only tokens for sts.amazonaws.com whose subject is
one repository (and, when given, one branch); the permissions are what a submission needs and
no more — each statement's resource is the project's execution role, training jobs, bucket
prefix, repository or the training-job log group, except ``ecr:GetAuthorizationToken``, which
IAM cannot scope (``UNSCOPED_ACTIONS``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from sagelift.errors import UsageError
from sagelift.provision.policies import (
    LOG_GROUP,
    MANAGED_TAG,
    PROJECT_TAG,
    ROLE_PATH,
    ResourceNames,
)

__all__ = [
    "AUDIENCE",
    "CI_TAG",
    "UNSCOPED_CI_ACTIONS",
    "CiProvider",
    "CiRole",
    "OidcIssuer",
    "ci_role_policy",
    "ci_role_tags",
    "ci_trust_policy",
    "issuer_for",
    "make_ci_role",
    "oidc_provider_tags",
    "subject_pattern",
]

CiProvider = Literal["github", "gitlab"]
AUDIENCE = "sts.amazonaws.com"
CI_TAG = "sagelift:ci"
CI_REPO_TAG = "sagelift:ci-repository"
CI_POLICY_NAME = "sagelift-ci-submit"

# Server certificate thumbprints IAM asks for when creating a provider; for these two issuers
# IAM validates the certificate itself and ignores them (IAM User Guide, "Create an OpenID
# Connect (OIDC) identity provider in IAM"), but older API versions still require one.
_THUMBPRINTS = {
    "github": (
        "6938fd4d98bab03faadb97b34396831e3780aea1",
        "1c58a3a8518e8759bf075b76b750d4f2df264fcd",
    ),
    "gitlab": ("b3dd7606d2b5a8b4a13771dbecc9ee1cecafa38a",),
}
#: Actions IAM cannot scope to a resource, granted on "*".
UNSCOPED_CI_ACTIONS = frozenset({"ecr:GetAuthorizationToken"})
_GITHUB_REPO = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]*/[A-Za-z0-9._-]+$")
_GITLAB_REPO = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9._-]+)+$")
_BRANCH = re.compile(r"^[A-Za-z0-9._/-]+$")


@dataclass(frozen=True, slots=True, kw_only=True)
class OidcIssuer:
    """An OIDC issuer as IAM knows it: ``host`` is the provider's URL without ``https://`` (it
    prefixes the condition keys ``<host>:sub`` and ``<host>:aud``)."""

    provider: CiProvider
    host: str
    thumbprints: tuple[str, ...]

    @property
    def url(self) -> str:
        return f"https://{self.host}"

    def arn(self, names: ResourceNames) -> str:
        return f"arn:{names.partition}:iam::{names.account}:oidc-provider/{self.host}"


@dataclass(frozen=True, slots=True, kw_only=True)
class CiRole:
    """The CI role of one project for one repository (and optionally one branch)."""

    issuer: OidcIssuer
    repository: str
    branch: str | None
    name: str
    job_prefix: str

    def arn(self, names: ResourceNames) -> str:
        return f"arn:{names.partition}:iam::{names.account}:role{ROLE_PATH}{self.name}"


def issuer_for(provider: CiProvider) -> OidcIssuer:
    host = "token.actions.githubusercontent.com" if provider == "github" else "gitlab.com"
    return OidcIssuer(provider=provider, host=host, thumbprints=_THUMBPRINTS[provider])


def make_ci_role(
    names: ResourceNames,
    *,
    provider: CiProvider,
    repository: str,
    branch: str | None,
    job_prefix: str,
) -> CiRole:
    """The CI role for ``repository`` (``OWNER/NAME`` on GitHub, ``group[/sub]/project`` on
    GitLab). Raises UsageError on a malformed repository or branch."""
    pattern = _GITHUB_REPO if provider == "github" else _GITLAB_REPO
    if not pattern.match(repository):
        example = "OWNER/NAME" if provider == "github" else "group/project"
        raise UsageError(
            f"--repo {repository!r} is not a {provider} repository path",
            hint=f"give it as {example}, e.g. --repo acme/wine",
        )
    if branch is not None and (not _BRANCH.match(branch) or "*" in branch):
        raise UsageError(f"--branch {branch!r} is not a branch name", hint="e.g. --branch main")
    name = f"sagelift-{names.project}-ci-{provider}"[:64]
    return CiRole(
        issuer=issuer_for(provider),
        repository=repository,
        branch=branch,
        name=name,
        job_prefix=job_prefix.lower(),
    )


def subject_pattern(role: CiRole) -> str:
    """The token subject the role admits (GitHub: ``repo:O/N:ref:refs/heads/B``; GitLab:
    ``project_path:G/P:ref_type:branch:ref:B``; ``*`` for any ref without a branch)."""
    if role.issuer.provider == "github":
        tail = f"ref:refs/heads/{role.branch}" if role.branch else "*"
        return f"repo:{role.repository}:{tail}"
    tail = f"ref_type:branch:ref:{role.branch}" if role.branch else "*"
    return f"project_path:{role.repository}:{tail}"


def ci_trust_policy(names: ResourceNames, role: CiRole) -> dict[str, Any]:
    """Only tokens from the issuer, for STS, about this repository (and branch)."""
    host = role.issuer.host
    subject = subject_pattern(role)
    conditions: dict[str, Any] = {"StringEquals": {f"{host}:aud": AUDIENCE}}
    if "*" in subject:
        conditions["StringLike"] = {f"{host}:sub": subject}
    else:
        conditions["StringEquals"][f"{host}:sub"] = subject
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Federated": role.issuer.arn(names)},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": conditions,
            }
        ],
    }


def ci_role_policy(
    names: ResourceNames, role: CiRole, *, execution_role_arn: str
) -> dict[str, Any]:
    """What submitting, watching and stopping a job needs: pass the execution role to
    SageMaker, the project's training jobs, objects under its prefix, push and pull in its
    repository, read the job logs."""
    jobs = (
        f"arn:{names.partition}:sagemaker:{names.region}:{names.account}:"
        f"training-job/{role.job_prefix}*"
    )
    log_group = f"arn:{names.partition}:logs:{names.region}:{names.account}:log-group:{LOG_GROUP}"
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "PassExecutionRole",
                "Effect": "Allow",
                "Action": "iam:PassRole",
                "Resource": execution_role_arn,
                "Condition": {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
            },
            {
                "Sid": "ReadExecutionRole",
                "Effect": "Allow",
                "Action": "iam:GetRole",
                "Resource": execution_role_arn,
            },
            {
                "Sid": "TrainingJobs",
                "Effect": "Allow",
                "Action": [
                    "sagemaker:CreateTrainingJob",
                    "sagemaker:DescribeTrainingJob",
                    "sagemaker:StopTrainingJob",
                    "sagemaker:ListTags",
                    "sagemaker:AddTags",
                ],
                "Resource": jobs,
            },
            {
                "Sid": "ListJobPrefix",
                "Effect": "Allow",
                "Action": "s3:ListBucket",
                "Resource": names.bucket_arn,
                "Condition": {"StringLike": {"s3:prefix": [names.prefix, f"{names.prefix}/*"]}},
            },
            {
                "Sid": "LocateBucket",
                "Effect": "Allow",
                "Action": "s3:GetBucketLocation",
                "Resource": names.bucket_arn,
            },
            {
                "Sid": "JobObjects",
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"],
                "Resource": f"{names.bucket_arn}/{names.prefix}/*",
            },
            {
                "Sid": "PushAndPullImages",
                "Effect": "Allow",
                "Action": [
                    "ecr:DescribeRepositories",
                    "ecr:BatchGetImage",
                    "ecr:BatchCheckLayerAvailability",
                    "ecr:GetDownloadUrlForLayer",
                    "ecr:InitiateLayerUpload",
                    "ecr:UploadLayerPart",
                    "ecr:CompleteLayerUpload",
                    "ecr:PutImage",
                ],
                "Resource": names.repository_arn,
            },
            {
                # GetAuthorizationToken has no resource type in IAM: "*" is the only form.
                "Sid": "RegistryLogin",
                "Effect": "Allow",
                "Action": "ecr:GetAuthorizationToken",
                "Resource": "*",
            },
            {
                "Sid": "ReadJobLogs",
                "Effect": "Allow",
                "Action": ["logs:DescribeLogStreams", "logs:GetLogEvents", "logs:FilterLogEvents"],
                "Resource": [log_group, f"{log_group}:log-stream:*"],
            },
        ],
    }


def ci_role_tags(names: ResourceNames, role: CiRole) -> dict[str, str]:
    """Made by sagelift, for this project, for this CI system and repository."""
    return {
        MANAGED_TAG: "true",
        PROJECT_TAG: names.project,
        CI_TAG: role.issuer.provider,
        CI_REPO_TAG: role.repository,
    }


def oidc_provider_tags(role: CiRole) -> dict[str, str]:
    """The tags of a provider sagelift creates; teardown deletes only a provider carrying
    them, and only when no sagelift CI role trusts it any more."""
    return {MANAGED_TAG: "true", CI_TAG: role.issuer.provider}
