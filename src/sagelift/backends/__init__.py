"""Compute backends, chosen by name and imported lazily."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from sagelift.errors import UsageError

if TYPE_CHECKING:
    from sagelift.backends.base import Backend

__all__ = ["BACKENDS", "get_backend"]

BACKENDS: dict[str, str] = {
    "container": "sagelift.backends.container:ContainerBackend",
    "local": "sagelift.backends.local:LocalBackend",
    "rehearsal": "sagelift.backends.rehearsal:RehearsalBackend",
    "sagemaker": "sagelift.backends.sagemaker:SageMakerBackend",
}


def get_backend(name: str) -> Backend:
    """Instantiate the backend registered as ``name``."""
    try:
        target = BACKENDS[name]
    except KeyError:
        raise UsageError(
            f"unknown backend '{name}'", hint=f"choose one of: {', '.join(sorted(BACKENDS))}"
        ) from None
    module_name, _, attr = target.partition(":")
    backend: Backend = getattr(importlib.import_module(module_name), attr)()
    return backend
