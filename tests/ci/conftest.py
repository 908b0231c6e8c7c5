from __future__ import annotations

from tests.aws_server import aws_settings, moto_endpoint
from tests.container_infra import fresh_shared_deps

__all__ = ["aws_settings", "fresh_shared_deps", "moto_endpoint"]
