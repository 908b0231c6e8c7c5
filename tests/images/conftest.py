from __future__ import annotations

from tests.container_infra import (
    auth_registry,
    cpu_base_image,
    fresh_shared_deps,
    image_namespace,
    local_registry,
    podman_cli,
)

__all__ = [
    "auth_registry",
    "cpu_base_image",
    "fresh_shared_deps",
    "image_namespace",
    "local_registry",
    "podman_cli",
]
