"""Images sagelift builds: their environment, ``image build`` without a sagelift.toml, and the
Dockerfile ``image dockerfile`` writes for them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from sagelift.images.base import BaseImage
from sagelift.images.builder import PodmanCLI
from sagelift.images.service import local_image
from sagelift.jobs import load_settings, load_spec

pytestmark = pytest.mark.slow


def image_env(cli: PodmanCLI, ref: str) -> list[str]:
    done = subprocess.run(
        ["podman", "image", "inspect", ref, "--format", "{{json .Config.Env}}"],
        capture_output=True,
        text=True,
        env={**os.environ, **cli.env},
        check=True,
    )
    env: list[str] = json.loads(done.stdout)
    return env


def assert_base_environment(env: list[str]) -> None:
    assert "LANG=C.UTF-8" in env, env
    assert "PYTHONUNBUFFERED=1" in env, env
    assert not any(entry.startswith("LANG=") and entry != "LANG=C.UTF-8" for entry in env), env


def sagelift_image(
    project: Path, *args: str, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sagelift", "-C", str(project), "image", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "XDG_CONFIG_HOME": str(project / ".no-user-config"), **env},
        timeout=600,
        check=False,
    )


def test_every_image_sagelift_builds_has_lang_and_unbuffered_python_as_separate_variables(
    make_project, clean_environ, podman_cli: PodmanCLI, cpu_base_image: BaseImage
) -> None:
    assert_base_environment(image_env(podman_cli, cpu_base_image.ref))
    project = make_project("ok", image={"base": cpu_base_image.ref, "container_cli": "podman"})
    (project / "requirements.txt").write_text("", encoding="utf-8")
    spec = load_spec(project, environ=clean_environ)
    settings = load_settings(project, environ=clean_environ)
    for mode in ("deps", "code"):
        chosen = replace(settings, image=replace(settings.image, mode=mode))
        image = local_image(spec, chosen, podman_cli)
        assert_base_environment(image_env(podman_cli, image.ref))


def test_image_build_needs_no_sagelift_toml(
    tmp_path: Path, podman_cli: PodmanCLI, cpu_base_image: BaseImage
) -> None:
    project = tmp_path / "deps-only"
    project.mkdir()
    (project / "requirements.txt").write_text("", encoding="utf-8")
    env = {**podman_cli.env, "SAGELIFT_IMAGE_BASE": cpu_base_image.ref}
    built = sagelift_image(project, "build", env=env)
    assert built.returncode == 0, built.stderr
    tag = built.stdout.strip()
    assert podman_cli.image_exists(tag)
    assert not (project / "sagelift.toml").exists()


def test_the_dockerfile_names_the_base_that_image_build_uses(
    tmp_path: Path, podman_cli: PodmanCLI, cpu_base_image: BaseImage
) -> None:
    project = tmp_path / "deps-only"
    project.mkdir()
    (project / "requirements.txt").write_text("", encoding="utf-8")
    written = sagelift_image(project, "dockerfile", env=dict(podman_cli.env))
    assert written.returncode == 0, written.stderr
    text = (project / "Dockerfile").read_text(encoding="utf-8")
    assert f"FROM {cpu_base_image.ref}\n" in text
    assert "docker.io/library/python" not in text
