"""The SageMaker backend: request.py (pure), validation.py, client.py (boto3), backend.py
(orchestration, with costs.py, plan.py, status.py, watch.py, resources.py and images.py)."""

from __future__ import annotations

from sagelift.backends.sagemaker.backend import SageMakerBackend

__all__ = ["SageMakerBackend"]
