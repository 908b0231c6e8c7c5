from __future__ import annotations

from tests.tracking.mlflow_server import mlflow_server

__all__ = ["mlflow_server"]
