"""The execution role grants nothing outside its bucket prefix, repository and log group."""

from __future__ import annotations

import fnmatch
from typing import Any

from sagelift.provision.policies import (
    LOG_GROUP,
    METRICS_NAMESPACE,
    ResourceNames,
    default_names,
    role_policy,
    trust_policy,
)


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def assert_least_privilege(policy: dict[str, Any], names: ResourceNames) -> None:
    """Every statement is an Allow whose resources lie inside what the job owns."""
    bucket = f"arn:aws:s3:::{names.bucket}"
    allowed_resources = {
        bucket,
        f"{bucket}/{names.prefix}/*",
        f"arn:aws:ecr:{names.region}:{names.account}:repository/{names.repository}",
        f"arn:aws:logs:{names.region}:{names.account}:log-group:{LOG_GROUP}",
        f"arn:aws:logs:{names.region}:{names.account}:log-group:{LOG_GROUP}:log-stream:*",
    }
    for statement in policy["Statement"]:
        assert statement["Effect"] == "Allow"
        assert "NotAction" not in statement
        assert "NotResource" not in statement
        actions = _list(statement["Action"])
        assert all("*" not in action for action in actions), actions
        resources = _list(statement["Resource"])
        if resources == ["*"]:
            if actions == ["ecr:GetAuthorizationToken"]:
                continue
            assert actions == ["cloudwatch:PutMetricData"], actions
            namespace = statement["Condition"]["StringEquals"]["cloudwatch:namespace"]
            assert namespace == METRICS_NAMESPACE
            continue
        for resource in resources:
            assert resource in allowed_resources, resource
        for action in actions:
            service = action.split(":")[0]
            assert all(r.split(":")[2] == service for r in resources), (action, resources)
        if resources == [bucket] and "s3:ListBucket" in actions:
            prefixes = statement["Condition"]["StringLike"]["s3:prefix"]
            assert all(
                fnmatch.fnmatch(f"{names.prefix}/x", p) or p == names.prefix for p in prefixes
            )


def test_generated_role_policy_is_scoped() -> None:
    names = default_names(project="Wine Classifier", account="123456789012", region="eu-west-1")
    assert names.bucket == "sagelift-123456789012-eu-west-1"
    assert names.repository == "sagelift-wine-classifier"
    assert_least_privilege(role_policy(names), names)


def test_the_check_catches_a_broad_grant() -> None:
    names = default_names(project="p", account="1", region="us-east-1")
    policy = role_policy(names)
    policy["Statement"].append(
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::*"}
    )
    try:
        assert_least_privilege(policy, names)
    except AssertionError:
        return
    raise AssertionError("a bucket-wide grant went unnoticed")


def test_trust_admits_only_sagemaker_for_this_account() -> None:
    names = default_names(project="p", account="123456789012", region="us-east-1")
    (statement,) = trust_policy(names)["Statement"]
    assert statement["Principal"] == {"Service": "sagemaker.amazonaws.com"}
    assert statement["Action"] == "sts:AssumeRole"
    assert statement["Condition"]["StringEquals"]["aws:SourceAccount"] == "123456789012"
