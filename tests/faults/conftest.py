from __future__ import annotations

from tests.aws_server import aws_settings, moto_endpoint

__all__ = ["aws_settings", "moto_endpoint"]
