from __future__ import annotations

from tests.container.conftest import container_environ
from tests.container_infra import podman_cli
from tests.sagemaker.conftest import aws_settings, moto_endpoint, role_arn

__all__ = ["aws_settings", "container_environ", "moto_endpoint", "podman_cli", "role_arn"]
