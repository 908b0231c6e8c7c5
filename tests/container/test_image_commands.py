"""``sagelift image build|push|dockerfile`` as a user runs them: a subprocess, its output and
exit code, what it leaves in the local store and the registry."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sagelift.aws import AwsSettings, client
from sagelift.images.base import BaseImage
from sagelift.images.builder import PodmanCLI
from tests.aws_server import REGION
from tests.conftest import MakeProject
from tests.container_infra import LocalRegistry


def sagelift(
    project: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sagelift", "-C", str(project), "image", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "XDG_CONFIG_HOME": str(project / ".no-user-config"), **(env or {})},
        timeout=300,
        check=False,
    )


def one_line_usage_error(result: subprocess.CompletedProcess[str], needle: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2, lines
    assert lines[1].startswith("  hint: "), lines
    assert needle in lines[0], lines


def test_dockerfile_is_written_once_and_replaced_only_with_force(
    make_project: MakeProject,
) -> None:
    project = make_project("ok")
    (project / "requirements.txt").write_text("six\n", encoding="utf-8")

    first = sagelift(project, "dockerfile", "--base", "registry.example/py:3.11")
    assert first.returncode == 0, first.stderr
    target = project / "Dockerfile"
    assert first.stdout.strip() == str(target)
    text = target.read_text(encoding="utf-8")
    assert "FROM registry.example/py:3.11\n" in text
    assert "pip install --no-index" in text
    assert "COPY sagelift/ /opt/sagelift/sagelift/" in text

    target.write_text("# mine\n", encoding="utf-8")
    refused = sagelift(project, "dockerfile")
    one_line_usage_error(refused, "exists already")
    assert target.read_text(encoding="utf-8") == "# mine\n"

    code = sagelift(project, "dockerfile", "--force", "--mode", "code")
    assert code.returncode == 0, code.stderr
    assert "COPY code/ /opt/ml/code/" in target.read_text(encoding="utf-8")

    other = sagelift(project, "dockerfile", "docker/Containerfile.gpu", "--gpu")
    assert other.returncode == 0, other.stderr
    gpu = (project / "docker" / "Containerfile.gpu").read_text(encoding="utf-8")
    assert "FROM docker.io/nvidia/cuda:" in gpu
    assert "NVIDIA_VISIBLE_DEVICES=all" in gpu


@pytest.mark.parametrize(
    ("image", "key"),
    [
        ({"uri": "registry.example/team/train:1"}, "image.uri"),
        ({"framework": "sklearn"}, "image.framework"),
    ],
)
def test_push_refuses_when_the_project_runs_a_given_image(
    make_project: MakeProject, image: dict[str, str], key: str
) -> None:
    project = make_project("ok", image=image)
    one_line_usage_error(sagelift(project, "push"), f"{key} is set")
    assert not (project / ".sagelift").exists()


@pytest.mark.slow
@pytest.mark.usefixtures("fresh_shared_deps")
def test_build_then_reuse_then_push_then_skip(
    make_project: MakeProject,
    podman_cli: PodmanCLI,
    cpu_base_image: BaseImage,
    auth_registry: LocalRegistry,
    aws_settings: AwsSettings,
    image_namespace: str,
) -> None:
    repository = f"{image_namespace}/cli"
    config: dict[str, Any] = {
        "aws": {
            "endpoint_url": aws_settings.endpoint_url,
            "region": REGION,
            "ecr_repository": repository,
            "registry": auth_registry.host,
        },
        "image": {"base": cpu_base_image.ref, "container_cli": "podman"},
    }
    project = make_project("ok", **config)
    env = dict(podman_cli.env)

    built = sagelift(project, "build", env=env)
    assert built.returncode == 0, built.stderr
    tag = built.stdout.strip()
    assert tag.startswith(f"localhost/{repository}:deps-")
    assert "built the deps image with podman" in built.stderr
    assert podman_cli.image_exists(tag)
    image_id = podman_cli.image_id(tag)

    reused = sagelift(project, "build", env=env)
    assert reused.returncode == 0, reused.stderr
    assert reused.stdout.strip() == tag
    assert "build skipped" in reused.stderr
    assert podman_cli.image_id(tag) == image_id

    pushed = sagelift(project, "push", env=env)
    assert pushed.returncode == 0, pushed.stderr
    uri = pushed.stdout.strip()
    assert uri.startswith(f"{auth_registry.host}/{repository}:{tag.rpartition(':')[2]}@sha256:")
    assert "build skipped; pushed" in pushed.stderr
    ecr = client("ecr", aws_settings)
    assert ecr.describe_repositories(repositoryNames=[repository])["repositories"]

    again = sagelift(project, "push", env=env)
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == uri
    assert "push skipped" in again.stderr


def test_a_framework_projects_dockerfile_extends_its_framework_image(
    make_project: MakeProject,
) -> None:
    """What the project's jobs run (the official image ``image build`` makes ready), with the
    requirements installed ahead of time; ``--mode deps`` still writes the deps image's."""
    project = make_project("ok", image={"framework": "sklearn", "framework_version": "1.2-1"})
    (project / "requirements.txt").write_text("six\n", encoding="utf-8")
    env = {"SAGELIFT_AWS_REGION": "eu-west-1"}

    done = sagelift(project, "dockerfile", env=env)
    assert done.returncode == 0, done.stderr
    text = (project / "Dockerfile").read_text(encoding="utf-8")
    official = "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
    assert f"\nFROM {official}\n" in text
    assert "COPY requirements.txt /tmp/sagelift-requirements.txt\n" in text
    assert "pip install --no-cache-dir -r /tmp/sagelift-requirements.txt" in text
    assert "image.uri" in text  # says how to use what it builds
    assert "framework image's Dockerfile" in done.stderr

    deps = sagelift(project, "dockerfile", "--force", "--mode", "deps", env=env)
    assert deps.returncode == 0, deps.stderr
    assert "COPY sagelift/ /opt/sagelift/sagelift/" in (project / "Dockerfile").read_text()
