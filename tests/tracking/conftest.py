from __future__ import annotations

from tests.aws_server import aws_settings, moto_endpoint
from tests.tracking.mlflow_server import mlflow_server

__all__ = ["aws_settings", "mlflow_server", "moto_endpoint"]
