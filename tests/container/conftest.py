from __future__ import annotations

import pytest

from sagelift.images.builder import PodmanCLI
from tests.aws_server import aws_settings, moto_endpoint
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
    "aws_settings",
    "container_environ",
    "cpu_base_image",
    "fresh_shared_deps",
    "image_namespace",
    "local_registry",
    "moto_endpoint",
    "podman_cli",
]


@pytest.fixture
def container_environ(podman_cli: PodmanCLI, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """This process's environment made to reach the test podman (runc, private auth file):
    jobs' supervisors and the CLI subprocesses inherit it."""
    for key, value in podman_cli.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("SAGELIFT_IMAGE_CONTAINER_CLI", "podman")
    return dict(podman_cli.env)
