from __future__ import annotations

import json
from typing import Any

import pytest

from sagelift.aws import AwsSettings, client
from tests.aws_server import aws_settings, moto_endpoint
from tests.container_infra import fresh_shared_deps

__all__ = ["aws_settings", "fresh_shared_deps", "moto_endpoint", "role_arn"]

TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "sagemaker.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}


@pytest.fixture
def role_arn(aws_settings: AwsSettings) -> str:
    """A SageMaker execution role on the moto server."""
    iam: Any = client("iam", aws_settings)
    answer = iam.create_role(RoleName="sagelift-test", AssumeRolePolicyDocument=json.dumps(TRUST))
    arn: str = answer["Role"]["Arn"]
    return arn
