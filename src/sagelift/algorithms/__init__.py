"""SageMaker's built-in algorithms: which exist, their images, hyperparameters, channels and
metrics (``catalog``), and local runs of the open-source ones (``xgboost_runner``)."""

from __future__ import annotations

from sagelift.algorithms.catalog import (
    Algorithm,
    ParameterRule,
    algorithm,
    algorithm_image_uri,
    check_algorithm_channels,
    check_algorithm_hyperparameters,
    known_algorithms,
)

__all__ = [
    "Algorithm",
    "ParameterRule",
    "algorithm",
    "algorithm_image_uri",
    "check_algorithm_channels",
    "check_algorithm_hyperparameters",
    "known_algorithms",
]
