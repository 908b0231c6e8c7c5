"""Real container infrastructure for tests: podman (runc), a local OCI registry, a base image.

Fixtures (import them into a test package's ``conftest.py``):

* ``podman_cli``: a ``PodmanCLI`` using runc and a private containers.conf and auth file.
  Skips when podman is not installed, fails instead when ``SAGELIFT_REQUIRE_CONTAINERS=1``
  (install everything with ``scripts/container-infra.sh install``).
* ``local_registry`` / ``auth_registry``: Debian's ``docker-registry`` on 127.0.0.1 and a free
  port, started for the session and stopped after it (the second requires htpasswd login).
* ``cpu_base_image``: the offline bookworm base, built once and cached under
  ``$SAGELIFT_CACHE_DIR`` (default ``~/.cache/sagelift``), so later sessions take seconds.
* ``image_namespace``: a repository prefix unique to this test run; every image under it is
  removed at the end of the session (images of other runs and users are left alone).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from sagelift.images.base import BaseImage, default_cache_dir, ensure_base_image
from sagelift.images.builder import PodmanCLI

CONTAINERS_CONF = '[containers]\ndefault_ulimits = []\n\n[engine]\nruntime = "runc"\n'
REGISTRY_USER = "AWS"
REGISTRY_PASSWORD = "123456789012-auth-token"


@dataclass(frozen=True, slots=True, kw_only=True)
class LocalRegistry:
    """A running registry: ``host`` is ``127.0.0.1:<port>`` (use it as an image's registry)."""

    host: str
    username: str | None = None
    password: str | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cache_dir() -> Path:
    """Where cached base root filesystems and wheels live between test sessions."""
    return default_cache_dir(os.environ)


def _require(executable: str) -> None:
    if shutil.which(executable) is not None:
        return
    message = f"{executable} is not installed (run scripts/container-infra.sh install)"
    if os.environ.get("SAGELIFT_REQUIRE_CONTAINERS") == "1":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def fresh_shared_deps() -> None:
    """Untag the shared dependency images (``localhost/sagelift/deps:*``) before a test that
    counts builds: they persist in the machine's image store between test runs, and the next
    build of the same content would otherwise be (rightly) skipped."""
    from sagelift.images.deps import SHARED_DEPS_REPOSITORY

    if shutil.which("podman") is None:
        return
    listed = subprocess.run(
        ["podman", "images", "--format", "{{.Repository}}:{{.Tag}}"],
        capture_output=True,
        text=True,
        check=False,
    )
    for ref in listed.stdout.split():
        if ref.startswith(SHARED_DEPS_REPOSITORY + ":"):
            subprocess.run(["podman", "untag", ref, ref], capture_output=True, check=False)


@pytest.fixture(scope="session")
def podman_cli(tmp_path_factory: pytest.TempPathFactory) -> PodmanCLI:
    _require("podman")
    _require("runc")
    home = tmp_path_factory.mktemp("podman")
    conf = home / "containers.conf"
    conf.write_text(CONTAINERS_CONF, encoding="utf-8")
    auth = home / "auth.json"
    auth.write_text('{"auths": {}}\n', encoding="utf-8")
    return PodmanCLI(
        runtime="runc",
        env={"CONTAINERS_CONF": str(conf), "REGISTRY_AUTH_FILE": str(auth)},
    )


@pytest.fixture(scope="session")
def image_namespace(podman_cli: PodmanCLI) -> Iterator[str]:
    namespace = f"sagelift-test-{uuid.uuid4().hex[:10]}"
    yield namespace
    listing = podman_cli.runner(
        ["podman", "images", "--format", "{{.Repository}}\t{{.Tag}}\t{{.Digest}}"],
        env=podman_cli.env,
    )
    ours: list[str] = []
    for line in listing.stdout.splitlines():
        repository, _, rest = line.partition("\t")
        tag, _, digest = rest.partition("\t")
        if f"/{namespace}/" in f"/{repository}":
            ours.append(
                f"{repository}@{digest}" if tag in ("", "<none>") else f"{repository}:{tag}"
            )
    if ours:
        podman_cli.runner(["podman", "rmi", "--force", *ours], env=podman_cli.env)


def _start_registry(workdir: Path, *, htpasswd: Path | None) -> tuple[str, subprocess.Popen[bytes]]:
    port = free_port()
    auth = (
        f"auth:\n  htpasswd:\n    realm: sagelift-test\n    path: {htpasswd}\n" if htpasswd else ""
    )
    config = workdir / "registry.yml"
    config.write_text(
        "version: 0.1\n"
        "log:\n  level: warn\n"
        f"storage:\n  filesystem:\n    rootdirectory: {workdir / 'data'}\n"
        "  delete:\n    enabled: true\n"
        f"http:\n  addr: 127.0.0.1:{port}\n" + auth,
        encoding="utf-8",
    )
    log = (workdir / "registry.log").open("wb")
    process = subprocess.Popen(
        ["docker-registry", "serve", str(config)],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    log.close()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=1).close()
            return f"127.0.0.1:{port}", process
        except urllib.error.HTTPError as exc:
            if exc.code == 401:
                return f"127.0.0.1:{port}", process
        except OSError:
            if process.poll() is not None:
                break
            time.sleep(0.05)
    _stop(process)
    raise RuntimeError(f"docker-registry did not start: {(workdir / 'registry.log').read_text()}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="session")
def local_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRegistry]:
    _require("docker-registry")
    host, process = _start_registry(tmp_path_factory.mktemp("registry"), htpasswd=None)
    yield LocalRegistry(host=host)
    _stop(process)


@pytest.fixture(scope="session")
def auth_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRegistry]:
    _require("docker-registry")
    _require("htpasswd")
    workdir = tmp_path_factory.mktemp("auth-registry")
    htpasswd = workdir / "htpasswd"
    entry = subprocess.run(
        ["htpasswd", "-Bbn", REGISTRY_USER, REGISTRY_PASSWORD],
        capture_output=True,
        text=True,
        check=True,
    )
    htpasswd.write_text(entry.stdout, encoding="utf-8")
    host, process = _start_registry(workdir, htpasswd=htpasswd)
    yield LocalRegistry(host=host, username=REGISTRY_USER, password=REGISTRY_PASSWORD)
    _stop(process)


@pytest.fixture(scope="session")
def cpu_base_image(podman_cli: PodmanCLI) -> BaseImage:
    _require("mmdebstrap")
    return ensure_base_image(podman_cli, cache_dir=cache_dir())
