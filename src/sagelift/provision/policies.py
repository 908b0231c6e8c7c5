"""The documents setup applies, as pure functions: IAM policies, lifecycle rules, tags, names.

The execution role follows least privilege (not AmazonSageMakerFullAccess): what a training job
needs per the SageMaker developer guide, "CreateTrainingJob API: Execution Role Permissions" —
objects under one bucket prefix, pulls from one ECR repository, and the training job log group.
Two statements cannot be scoped to a resource and are documented in ``UNSCOPED_ACTIONS``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

__all__ = [
    "CODE_EXPIRY_RULE_ID",
    "LOG_GROUP",
    "MANAGED_TAG",
    "METRICS_NAMESPACE",
    "PROJECT_TAG",
    "UNSCOPED_ACTIONS",
    "ResourceNames",
    "bucket_lifecycle_rule",
    "code_expiry_rule_id",
    "default_names",
    "ecr_lifecycle_policy",
    "partition_of",
    "policy_name_for",
    "project_slug",
    "role_name_of",
    "role_policy",
    "tags_for",
    "trust_policy",
]

MANAGED_TAG = "sagelift:managed"
PROJECT_TAG = "sagelift:project"
LOG_GROUP = "/aws/sagemaker/TrainingJobs"
METRICS_NAMESPACE = "/aws/sagemaker/TrainingJobs"
CODE_EXPIRY_RULE_ID = "sagelift-expire-code"
ROLE_PATH = "/sagelift/"
POLICY_NAME = "sagelift-training"

#: Actions IAM cannot scope to a resource: granted on "*" and, where IAM allows, conditioned.
UNSCOPED_ACTIONS = frozenset({"ecr:GetAuthorizationToken", "cloudwatch:PutMetricData"})


@dataclass(frozen=True, slots=True, kw_only=True)
class ResourceNames:
    """What setup creates for one project in one account and region."""

    project: str
    account: str
    region: str
    bucket: str
    prefix: str
    repository: str
    role: str
    partition: str = "aws"

    @property
    def bucket_arn(self) -> str:
        return f"arn:{self.partition}:s3:::{self.bucket}"

    @property
    def repository_arn(self) -> str:
        return f"arn:{self.partition}:ecr:{self.region}:{self.account}:repository/{self.repository}"

    @property
    def role_arn(self) -> str:
        return f"arn:{self.partition}:iam::{self.account}:role{ROLE_PATH}{self.role}"

    @property
    def log_group_arn(self) -> str:
        return f"arn:{self.partition}:logs:{self.region}:{self.account}:log-group:{LOG_GROUP}"


def partition_of(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def project_slug(name: str) -> str:
    """A lowercase name usable in bucket, repository and role names (``[a-z0-9-]``, ≤ 40)."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40].strip("-")
    return slug or "project"


def role_name_of(role: str) -> str:
    """The role name in an ARN (``arn:aws:iam::1:role/path/name`` → ``name``) or a bare name."""
    return role.rsplit("/", 1)[-1] if role.startswith("arn:") else role


def default_names(
    *,
    project: str,
    account: str,
    region: str,
    prefix: str | None = None,
    bucket: str | None = None,
    repository: str | None = None,
    role: str | None = None,
) -> ResourceNames:
    """Configured names where given, else ``sagelift-<account>-<region>`` (one bucket per
    account and region, shared by projects), the key prefix ``sagelift/<project>`` (each project
    its own part of that bucket), ``sagelift-<project>`` and ``sagelift-<project>-sagemaker``
    (a repository and a role per project)."""
    slug = project_slug(project)
    chosen = (prefix or "").strip("/")
    return ResourceNames(
        project=slug,
        account=account,
        region=region,
        bucket=bucket or f"sagelift-{account}-{region}",
        prefix=chosen or f"sagelift/{slug}",
        repository=repository or f"sagelift-{slug}",
        role=role_name_of(role) if role else f"sagelift-{slug}-sagemaker"[:64],
        partition=partition_of(region),
    )


def tags_for(names: ResourceNames) -> dict[str, str]:
    """The tags setup puts on what it creates: made by sagelift, for (first) this project."""
    return {MANAGED_TAG: "true", PROJECT_TAG: names.project}


def code_expiry_rule_id(names: ResourceNames) -> str:
    """The lifecycle rule ID of this project's code expiry (one rule per project prefix)."""
    return f"{CODE_EXPIRY_RULE_ID}-{names.project}"


def policy_name_for(names: ResourceNames, *, creator: bool) -> str:
    """The role's inline policy holding this project's grants: ``sagelift-training`` on a role
    created for the project, ``sagelift-training-<project>`` on one it shares with the creator."""
    return POLICY_NAME if creator else f"{POLICY_NAME}-{names.project}"


def trust_policy(names: ResourceNames) -> dict[str, Any]:
    """SageMaker may assume the role, only on behalf of this account (confused-deputy guard)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "sagemaker.amazonaws.com"},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"aws:SourceAccount": names.account}},
            }
        ],
    }


def role_policy(names: ResourceNames) -> dict[str, Any]:
    """The role's inline permissions: the bucket prefix, the repository, the job logs."""
    objects = f"{names.bucket_arn}/{names.prefix}/*"
    return {
        "Version": "2012-10-17",
        "Statement": [
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
                "Action": [
                    "s3:GetObject",
                    "s3:PutObject",
                    "s3:DeleteObject",
                    "s3:AbortMultipartUpload",
                    "s3:ListMultipartUploadParts",
                ],
                "Resource": objects,
            },
            {
                "Sid": "PullImage",
                "Effect": "Allow",
                "Action": [
                    "ecr:BatchGetImage",
                    "ecr:BatchCheckLayerAvailability",
                    "ecr:GetDownloadUrlForLayer",
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
                "Sid": "JobLogs",
                "Effect": "Allow",
                "Action": [
                    "logs:CreateLogGroup",
                    "logs:CreateLogStream",
                    "logs:PutLogEvents",
                    "logs:DescribeLogStreams",
                ],
                "Resource": [names.log_group_arn, f"{names.log_group_arn}:log-stream:*"],
            },
            {
                # PutMetricData has no resource type; the namespace condition is its only scope.
                "Sid": "JobMetrics",
                "Effect": "Allow",
                "Action": "cloudwatch:PutMetricData",
                "Resource": "*",
                "Condition": {"StringEquals": {"cloudwatch:namespace": METRICS_NAMESPACE}},
            },
        ],
    }


def bucket_lifecycle_rule(names: ResourceNames, *, days: int) -> dict[str, Any]:
    """Expire code tarballs under ``<prefix>/code/`` after ``days``; drop stale multipart parts."""
    return {
        "ID": code_expiry_rule_id(names),
        "Filter": {"Prefix": f"{names.prefix}/code/"},
        "Status": "Enabled",
        "Expiration": {"Days": days},
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": min(days, 7)},
    }


def ecr_lifecycle_policy(*, keep: int) -> str:
    """ECR lifecycle policy text keeping the ``keep`` most recent images."""
    policy = {
        "rules": [
            {
                "rulePriority": 1,
                "description": f"keep the last {keep} images",
                "selection": {
                    "tagStatus": "any",
                    "countType": "imageCountMoreThan",
                    "countNumber": keep,
                },
                "action": {"type": "expire"},
            }
        ]
    }
    return json.dumps(policy, sort_keys=True)
