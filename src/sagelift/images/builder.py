"""The container CLI seam: build, tag, push, pull, log in and run through podman or docker.

Every call is an argument list handed to a ``CommandRunner`` (never a shell string), and every
failure becomes an ``ImageError`` whose hint names the fix. Secrets never reach argv: registry
passwords go through stdin.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Literal, Protocol

from sagelift.errors import ImageError
from sagelift.images.runner import INSTALL_HINT, CommandRunner, run_command

__all__ = [
    "CLI_NAMES",
    "ContainerCLI",
    "DockerCLI",
    "Mount",
    "PodmanCLI",
    "detect_container_cli",
]

logger = logging.getLogger(__name__)

CliName = Literal["podman", "docker"]
CLI_NAMES: tuple[CliName, ...] = ("podman", "docker")


@dataclass(frozen=True, slots=True, kw_only=True)
class Mount:
    """A bind mount of host ``source`` on ``target`` inside the container."""

    source: Path
    target: str
    read_only: bool = False


class ContainerCLI(Protocol):
    """What sagelift needs from a container engine's command-line client."""

    @property
    def name(self) -> CliName:
        """``podman`` or ``docker``."""
        ...

    def image_exists(self, ref: str) -> bool:
        """Whether ``ref`` is in the local image store."""
        ...

    def image_id(self, ref: str) -> str:
        """The local image id of ``ref``; raises ImageError when absent."""
        ...

    def repo_digests(self, ref: str) -> tuple[str, ...]:
        """``name@sha256:...`` entries the engine knows for ``ref`` (empty before a push)."""
        ...

    def labels(self, ref: str) -> dict[str, str]:
        """The image's labels; raises ImageError when absent."""
        ...

    def build(
        self,
        context: Path,
        dockerfile: Path,
        tag: str,
        *,
        labels: Mapping[str, str] | None = None,
    ) -> None:
        """Build ``dockerfile`` with ``context`` as the build context and tag it ``tag``."""
        ...

    def import_tarball(self, tarball: Path, tag: str, *, changes: Sequence[str] = ()) -> None:
        """Create image ``tag`` from a root-filesystem tarball (``changes``: Dockerfile lines)."""
        ...

    def tag(self, source: str, target: str) -> None: ...

    def push(self, ref: str, *, tls_verify: bool = True) -> str:
        """Push ``ref``; return the manifest digest the registry stored (``sha256:...``)."""
        ...

    def pull(self, ref: str, *, tls_verify: bool = True) -> None: ...

    def login(
        self, registry: str, *, username: str, password: str, tls_verify: bool = True
    ) -> None:
        """Log in to ``registry``; the password is written to the client's stdin."""
        ...

    def remove_image(self, ref: str) -> None:
        """Remove the local tag ``ref`` (the layers go when no other tag uses them)."""
        ...

    def save(self, ref: str, destination: Path) -> None:
        """Write ``ref`` as a docker-archive tarball to ``destination``."""
        ...

    def run(
        self,
        ref: str,
        *,
        args: Sequence[str] = (),
        entrypoint: str | None = None,
        env: Mapping[str, str] | None = None,
        mounts: Sequence[Mount] = (),
        network: str | None = None,
        hostname: str | None = None,
        add_hosts: Mapping[str, str] | None = None,
        ip: str | None = None,
        aliases: Sequence[str] = (),
        name: str | None = None,
        remove: bool = False,
        gpus: bool = False,
        stdout: int | IO[bytes] | None = None,
        stderr: int | IO[bytes] | None = None,
    ) -> subprocess.Popen[bytes]:
        """Start a container; the caller waits on, reads and stops the returned process.

        ``env`` values travel in the client's environment (``--env NAME``), never in argv,
        so credentials passed to a job do not show up in the process table. ``ip`` and
        ``aliases`` place the container on ``network`` (a user-defined one) at that address
        and under those names.
        """
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class _EngineCLI:
    """Shared argv composition for podman and docker; subclasses set the differences."""

    executable: str
    env: Mapping[str, str] = field(default_factory=dict)
    runner: CommandRunner = run_command

    def _global_args(self) -> list[str]:
        return [self.executable]

    def _tls_args(self, tls_verify: bool) -> list[str]:
        return []

    def _call(
        self,
        args: Sequence[str],
        *,
        what: str,
        hint: str,
        stdin_text: str | None = None,
        timeout: float | None = None,
    ) -> subprocess.CompletedProcess[str]:
        argv = [*self._global_args(), *args]
        logger.debug("running %s", argv)
        result = self.runner(argv, stdin_text=stdin_text, env=self.env or None, timeout=timeout)
        if result.returncode != 0:
            detail = (result.stderr or result.stdout or "").strip().splitlines()[-5:]
            raise ImageError(
                f"{what} failed ({self.executable} exit {result.returncode}): "
                + " | ".join(detail),
                hint=_hint_for(result.stderr or "", default=hint),
            )
        return result

    def image_exists(self, ref: str) -> bool:
        argv = [*self._global_args(), "image", "inspect", "--format", "{{.Id}}", ref]
        result = self.runner(argv, env=self.env or None)
        return result.returncode == 0

    def _inspect(self, ref: str, template: str) -> str:
        result = self._call(
            ["image", "inspect", "--format", template, ref],
            what=f"inspecting image {ref}",
            hint="build or pull the image first",
        )
        return result.stdout.strip()

    def image_id(self, ref: str) -> str:
        return self._inspect(ref, "{{.Id}}")

    def repo_digests(self, ref: str) -> tuple[str, ...]:
        raw = self._inspect(ref, "{{json .RepoDigests}}")
        return tuple(json.loads(raw) or ())

    def labels(self, ref: str) -> dict[str, str]:
        raw = self._inspect(ref, "{{json .Config.Labels}}")
        return dict(json.loads(raw) or {})

    def _build_args(self) -> list[str]:
        return []

    def build(
        self,
        context: Path,
        dockerfile: Path,
        tag: str,
        *,
        labels: Mapping[str, str] | None = None,
    ) -> None:
        args = ["build", *self._build_args(), "-f", str(dockerfile), "-t", tag]
        for key, value in sorted((labels or {}).items()):
            args += ["--label", f"{key}={value}"]
        self._call(
            [*args, str(context)],
            what=f"building {tag}",
            hint="read the build output above; the base image must exist locally",
        )

    def import_tarball(self, tarball: Path, tag: str, *, changes: Sequence[str] = ()) -> None:
        args = ["import"]
        for change in changes:
            args += ["--change", change]
        self._call(
            [*args, str(tarball), tag],
            what=f"importing {tarball.name} as {tag}",
            hint="check that the tarball is a root filesystem and the disk has space",
        )

    def tag(self, source: str, target: str) -> None:
        self._call(["tag", source, target], what=f"tagging {source} as {target}", hint=_NO_IMAGE)

    def _push_args(self, ref: str, digest_file: Path, tls_verify: bool) -> list[str]:
        return ["push", *self._tls_args(tls_verify), ref]

    def push(self, ref: str, *, tls_verify: bool = True) -> str:
        with tempfile.TemporaryDirectory(prefix="sagelift-push-") as tmp:
            digest_file = Path(tmp) / "digest"
            result = self._call(
                self._push_args(ref, digest_file, tls_verify),
                what=f"pushing {ref}",
                hint="log in to the registry (sagelift uses the engine's stored credentials)",
            )
            if digest_file.is_file():
                return digest_file.read_text(encoding="utf-8").strip()
        for token in result.stdout.split():
            if token.startswith("sha256:"):
                return token
        raise ImageError(f"pushing {ref}: no digest reported", hint="push again with -v logs")

    def pull(self, ref: str, *, tls_verify: bool = True) -> None:
        self._call(
            ["pull", *self._tls_args(tls_verify), ref],
            what=f"pulling {ref}",
            hint="check the reference and log in to its registry",
        )

    def login(
        self, registry: str, *, username: str, password: str, tls_verify: bool = True
    ) -> None:
        self._call(
            [
                "login",
                *self._tls_args(tls_verify),
                "--username",
                username,
                "--password-stdin",
                registry,
            ],
            what=f"logging in to {registry}",
            hint="check the user name and password (for ECR: user AWS and a fresh token)",
            stdin_text=password + "\n",
        )

    def remove_image(self, ref: str) -> None:
        self._call(["rmi", ref], what=f"removing {ref}", hint=_NO_IMAGE)

    def save(self, ref: str, destination: Path) -> None:
        self._call(["save", "-o", str(destination), ref], what=f"saving {ref}", hint=_NO_IMAGE)

    def _gpu_args(self) -> list[str]:
        return ["--gpus", "all"]

    def run(
        self,
        ref: str,
        *,
        args: Sequence[str] = (),
        entrypoint: str | None = None,
        env: Mapping[str, str] | None = None,
        mounts: Sequence[Mount] = (),
        network: str | None = None,
        hostname: str | None = None,
        add_hosts: Mapping[str, str] | None = None,
        ip: str | None = None,
        aliases: Sequence[str] = (),
        name: str | None = None,
        remove: bool = False,
        gpus: bool = False,
        stdout: int | IO[bytes] | None = None,
        stderr: int | IO[bytes] | None = None,
    ) -> subprocess.Popen[bytes]:
        argv = [*self._global_args(), "run"]
        if remove:
            argv.append("--rm")
        if name:
            argv += ["--name", name]
        if entrypoint is not None:
            argv += ["--entrypoint", entrypoint]
        if network:
            argv += ["--network", network]
        if hostname:
            argv += ["--hostname", hostname]
        if ip:
            argv += ["--ip", ip]
        for alias in aliases:
            argv += ["--network-alias", alias]
        for host, address in sorted((add_hosts or {}).items()):
            argv += ["--add-host", f"{host}:{address}"]
        for key in env or {}:
            argv += ["--env", key]
        for mount in mounts:
            suffix = ":ro" if mount.read_only else ""
            argv += ["--volume", f"{mount.source}:{mount.target}{suffix}"]
        if gpus:
            argv += self._gpu_args()
        argv += [ref, *args]
        logger.debug("starting %s", argv)
        merged = {**os.environ, **self.env, **(env or {})}
        try:
            return subprocess.Popen(
                argv, env=merged, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr
            )
        except FileNotFoundError as exc:
            raise ImageError(f"{self.executable}: command not found", hint=INSTALL_HINT) from exc


@dataclass(frozen=True, slots=True, kw_only=True)
class PodmanCLI(_EngineCLI):
    """podman; ``runtime`` (e.g. ``runc``) is passed as ``--runtime`` on every call.

    Builds use the Docker manifest format (``--format docker``), which SageMaker and ECR accept
    everywhere; OCI manifests are not accepted by every SageMaker feature.
    """

    name: CliName = "podman"
    executable: str = "podman"
    runtime: str | None = None

    def _global_args(self) -> list[str]:
        return [self.executable, *(["--runtime", self.runtime] if self.runtime else [])]

    def _tls_args(self, tls_verify: bool) -> list[str]:
        return [] if tls_verify else ["--tls-verify=false"]

    def _build_args(self) -> list[str]:
        return ["--format", "docker", "--layers=false"]

    def _push_args(self, ref: str, digest_file: Path, tls_verify: bool) -> list[str]:
        return ["push", *self._tls_args(tls_verify), "--digestfile", str(digest_file), ref]

    def _gpu_args(self) -> list[str]:
        return ["--device", "nvidia.com/gpu=all"]


@dataclass(frozen=True, slots=True, kw_only=True)
class DockerCLI(_EngineCLI):
    """docker. It has no per-call TLS switch: the engine allows plain HTTP for loopback
    registries and for those in its ``insecure-registries``, so ``tls_verify`` is not passed."""

    name: CliName = "docker"
    executable: str = "docker"


def detect_container_cli(
    choice: Literal["auto", "podman", "docker"] = "auto",
    *,
    podman_runtime: str | None = None,
    env: Mapping[str, str] | None = None,
    runner: CommandRunner = run_command,
) -> ContainerCLI:
    """The container CLI to use.

    ``auto`` picks docker when its engine answers, else podman when installed (podman needs no
    daemon). ``env`` is added to every call (e.g. ``CONTAINERS_CONF``). Raises ImageError when
    the chosen (or any) CLI is unavailable.
    """
    extra = dict(env or {})
    if choice == "podman" or (choice == "auto" and not _docker_engine_answers(runner, extra)):
        if shutil.which("podman") is None:
            raise ImageError("podman is not installed", hint=INSTALL_HINT)
        return PodmanCLI(runtime=podman_runtime, env=extra, runner=runner)
    if shutil.which("docker") is None:
        raise ImageError("docker is not installed", hint=INSTALL_HINT)
    return DockerCLI(env=extra, runner=runner)


def _docker_engine_answers(runner: CommandRunner, env: Mapping[str, str]) -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        result = runner(
            ["docker", "version", "--format", "{{.Server.Version}}"],
            env=env or None,
            timeout=10,
        )
    except ImageError:
        return False
    return result.returncode == 0 and bool(result.stdout.strip())


_NO_IMAGE = "check that the image exists locally (podman images / docker images)"

_HINTS: tuple[tuple[str, str], ...] = (
    ("unauthorized", "log in to the registry first (podman login / docker login REGISTRY)"),
    ("authentication required", "log in to the registry first (podman login / docker login)"),
    ("http response to https client", "a plain-HTTP registry: push with tls_verify=False"),
    ("connection refused", "the registry is not reachable: is it running on that port?"),
    ("no such host", "the registry host does not resolve: check the image reference"),
    ("manifest unknown", "the tag does not exist in the registry: push it first"),
    ("no space left", "free disk space (podman system prune removes unused images)"),
    ("cannot connect to the docker daemon", "start the docker engine, or choose podman"),
)


def _hint_for(stderr: str, *, default: str) -> str:
    lowered = stderr.lower()
    for needle, hint in _HINTS:
        if needle in lowered:
            return hint
    return default
