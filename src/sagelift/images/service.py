"""The image a job runs, made ready: chosen by settings, built when its tag is missing.

``local_image`` answers "which image in the local store runs this spec": the user's
``image.uri`` or the prebuilt framework image ``image.framework`` names (each pulled when
absent, with an ECR login when it lives in ECR), or the ``deps`` image (the default: the
project's dependencies and the launcher, no code), or the ``code`` image on top of it. Builds
are skipped when the content tag exists, so a code edit never rebuilds ``deps`` and a
requirements edit does.

``publish`` puts a local image into the registry (ECR, or ``aws.registry`` standing in for it);
see ``sagelift.images.registry``. ``push_for_spec`` does both for a cloud run.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from sagelift.aws import DEFAULT_REGION, resolve_region
from sagelift.errors import ConfigError, CredentialsError, ImageError, UnsupportedFeature
from sagelift.images.base import (
    PYTHON_LABEL,
    BaseImage,
    GpuBaseSpec,
    default_cache_dir,
    ensure_base_image,
    ensure_gpu_base_image,
)
from sagelift.images.builder import ContainerCLI, detect_container_cli
from sagelift.images.deps import BuiltImage, ensure_code_image, ensure_deps_image
from sagelift.images.dockerfile import render_code_dockerfile, render_deps_dockerfile
from sagelift.images.frameworks import framework_image_uri
from sagelift.images.registry import PushedImage
from sagelift.settings import ImageSettings, Settings
from sagelift.spec import JobSpec

__all__ = [
    "ImageMode",
    "LocalImage",
    "container_cli_for",
    "framework_ref",
    "image_mode",
    "local_image",
    "local_repository",
    "project_requirements",
    "pull_image",
    "push_for_spec",
    "render_project_dockerfile",
]

logger = logging.getLogger(__name__)

ImageMode = Literal["uri", "deps", "code", "framework"]
Accelerator = Literal["cpu", "gpu"]
_MODES: tuple[ImageMode, ...] = ("uri", "deps", "code", "framework")
_NOT_NAME = re.compile(r"[^a-z0-9._-]+")


@dataclass(frozen=True, slots=True, kw_only=True)
class LocalImage:
    """An image in the local store, ready to run; ``built`` is True when this call built it."""

    ref: str
    image_id: str
    mode: ImageMode
    built: bool = False


def image_mode(image: ImageSettings) -> ImageMode:
    """The image mode the settings ask for: ``image.uri`` wins, then ``image.framework``,
    then ``image.mode`` (default ``deps``). Raises ConfigError on an unknown mode."""
    if image.uri:
        return "uri"
    if image.framework:
        return "framework"
    mode = image.mode or "deps"
    if mode not in _MODES:
        raise ConfigError(
            f"image.mode: unknown mode {mode!r}", hint=f"use one of: {', '.join(_MODES)}"
        )
    if mode == "uri":
        raise ConfigError("image.mode is 'uri' but image.uri is not set", hint="set image.uri")
    return mode


def container_cli_for(
    image: ImageSettings, *, environ: Mapping[str, str] | None = None
) -> ContainerCLI:
    """The container CLI ``image.container_cli`` names (default: detected).

    Raises ConfigError for an unknown name, ImageError when the CLI is not installed.
    """
    choice = image.container_cli or "auto"
    if choice not in ("auto", "podman", "docker"):
        raise ConfigError(
            f"image.container_cli: unknown CLI {choice!r}", hint="use 'podman' or 'docker'"
        )
    env = os.environ if environ is None else environ
    extra = {k: env[k] for k in ("CONTAINERS_CONF", "REGISTRY_AUTH_FILE") if k in env}
    return detect_container_cli(choice, env=extra)  # type: ignore[arg-type]


def local_repository(spec: JobSpec, settings: Settings) -> str:
    """``localhost/<ecr_repository or prefix/project>``: where built images are tagged."""
    return f"localhost/{ecr_repository_name(spec, settings)}"


def ecr_repository_name(spec: JobSpec, settings: Settings) -> str:
    """``aws.ecr_repository``, else ``<prefix>/<project directory name>`` made valid."""
    if settings.ecr_repository:
        return settings.ecr_repository
    project = _NOT_NAME.sub("-", spec.project_dir.resolve().name.lower()).strip("-._")
    return f"{settings.prefix.lower()}/{project or 'project'}"


def project_requirements(spec: JobSpec) -> Path | None:
    """``requirements`` of the spec, else ``requirements.txt`` beside the code, else None."""
    if spec.requirements is not None:
        return spec.requirements
    for directory in (spec.source_dir, spec.project_dir):
        candidate = directory / "requirements.txt"
        if candidate.is_file():
            return candidate
    return None


def local_image(
    spec: JobSpec,
    settings: Settings,
    cli: ContainerCLI,
    *,
    accelerator: Accelerator = "cpu",
    cache_dir: Path | None = None,
    package_dir: Path | None = None,
) -> LocalImage:
    """The local image that runs ``spec``, built or pulled when missing.

    ``package_dir`` is the sagelift package shipped in built images (default: this one).

    A framework image is the official one for the region sagelift uses (``aws.region`` and
    the like, else us-east-1), pulled from AWS's ECR with a login for it when absent here.

    Raises ImageError when a build or pull fails, CredentialsError when a pull from ECR needs
    AWS credentials that are missing.
    """
    mode = image_mode(settings.image)
    if mode in ("uri", "framework"):
        ref = settings.image.uri or framework_ref(settings, accelerator=accelerator)
        if not cli.image_exists(ref):
            pull_image(cli, ref, settings)
        return LocalImage(ref=ref, image_id=cli.image_id(ref), mode=mode)
    deps = _deps_image(spec, settings, cli, accelerator, cache_dir, package_dir)
    if mode == "deps":
        return LocalImage(ref=deps.ref, image_id=deps.image_id, mode=mode, built=deps.built)
    code = ensure_code_image(
        cli, deps=deps, code_dir=spec.source_dir, repository=local_repository(spec, settings)
    )
    return LocalImage(ref=code.ref, image_id=code.image_id, mode=mode, built=code.built)


def render_project_dockerfile(spec: JobSpec, settings: Settings, *, base_ref: str) -> str:
    """The Containerfile sagelift builds for this project (``deps`` or ``code`` mode).

    The deps build expects a ``wheels/`` directory with the downloaded wheels and a
    ``requirements.lock``, and ``sagelift/`` (the package), in its context.
    """
    deps = render_deps_dockerfile(
        base_ref=base_ref, has_wheels=project_requirements(spec) is not None
    )
    if image_mode(settings.image) != "code":
        return deps
    code = render_code_dockerfile(deps_ref=f"{local_repository(spec, settings)}:deps")
    return f"{deps}\n# --- then, in a second build:\n{code}"


def base_image(
    settings: Settings, cli: ContainerCLI, accelerator: Accelerator, cache_dir: Path
) -> BaseImage:
    """The base of built images: ``image.base`` when set (must be in the local store or
    pullable), else the offline Debian base (CPU) or a CUDA base (GPU)."""
    configured = settings.image.base
    if accelerator == "gpu":
        if configured:
            return ensure_gpu_base_image(cli, GpuBaseSpec(base=configured))
        return ensure_gpu_base_image(cli, GpuBaseSpec())
    if not configured:
        return ensure_base_image(cli, cache_dir=cache_dir)
    if not cli.image_exists(configured):
        cli.pull(configured)
    version = cli.labels(configured).get(PYTHON_LABEL, "") or _python_of(cli, configured)
    return BaseImage(ref=configured, image_id=cli.image_id(configured), python_version=version)


def _deps_image(
    spec: JobSpec,
    settings: Settings,
    cli: ContainerCLI,
    accelerator: Accelerator,
    cache_dir: Path | None,
    package_dir: Path | None,
) -> BuiltImage:
    cache = cache_dir or default_cache_dir(os.environ)
    base = base_image(settings, cli, accelerator, cache)
    return ensure_deps_image(
        cli,
        base=base,
        requirements=project_requirements(spec),
        repository=local_repository(spec, settings),
        cache_dir=cache,
        accelerator=accelerator,
        package_dir=package_dir,
    )


def framework_ref(settings: Settings, *, accelerator: Accelerator = "cpu") -> str:
    """The official training image ``image.framework`` names, for the region sagelift uses
    (else us-east-1) and the accelerator. Raises ConfigError as ``framework_image_uri``."""
    framework = settings.image.framework
    if not framework:
        raise ConfigError("image.framework is not set", hint="set image.framework")
    return framework_image_uri(
        framework,
        settings.image.framework_version,
        region=resolve_region(settings.aws) or DEFAULT_REGION,
        instance_type="local_gpu" if accelerator == "gpu" else "local",
    )


def pull_image(cli: ContainerCLI, ref: str, settings: Settings) -> None:
    """Pull ``ref``; from ECR (any account's registry: the official framework images too) or
    the registry standing in for it, with a login from GetAuthorizationToken first. Creates
    nothing in the account. Raises ImageError (with what to do), CredentialsError."""
    from sagelift.images.refs import parse_ecr_registry, parse_image_ref
    from sagelift.images.registry import RegistryLogin, pull_login

    registry = parse_image_ref(ref).registry
    login: RegistryLogin | None = None
    if registry is not None and (registry == settings.registry or parse_ecr_registry(registry)):
        try:
            login = pull_login(settings.aws, registry)
        except CredentialsError as exc:
            raise CredentialsError(
                f"{ref} is not on this machine; pulling it from ECR needs a login: {exc.message}",
                hint=f"{exc.hint}; or tag a local image as {ref} (podman tag), or set image.uri "
                "to an image on this machine",
            ) from exc
    plain = RegistryLogin(registry=registry or "", username="", password="", account="")
    tls_verify = not (registry is not None and plain.plain_http)
    if login is not None:
        cli.login(
            login.registry, username=login.username, password=login.password, tls_verify=tls_verify
        )
    logger.info("pulling %s", ref)
    try:
        cli.pull(ref, tls_verify=tls_verify)
    except ImageError as exc:
        raise ImageError(
            f"{ref} is not on this machine and cannot be pulled: {exc.message}",
            hint="check AWS credentials with ecr:GetAuthorizationToken for ECR images, or pull "
            "or tag the image locally first (podman pull / podman tag)"
            if login is not None
            else "log in to its registry, or pull or tag the image locally first "
            "(podman pull / podman tag)",
        ) from exc


def _python_of(cli: ContainerCLI, ref: str) -> str:
    import subprocess

    process = cli.run(
        ref,
        entrypoint="python3",
        args=["-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
        remove=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = process.communicate(timeout=120)
    version = out.decode().strip()
    if process.returncode != 0 or not re.fullmatch(r"\d+\.\d+", version):
        raise ImageError(
            f"image.base {ref}: could not run python3 in it ({err.decode().strip()[-200:]})",
            hint="use a base image with python3 on its PATH",
        )
    return version


def push_for_spec(
    spec: JobSpec,
    settings: Settings,
    *,
    region: str,
    cli: ContainerCLI | None = None,
    accelerator: Accelerator = "cpu",
    package_dir: Path | None = None,
) -> PushedImage:
    """The image for ``spec`` in ECR (or ``aws.registry``): built if its tag is missing
    locally, pushed if the registry lacks it; returned pinned by digest.

    Raises ImageError, CredentialsError or UnsupportedFeature (a framework or ``image.uri``
    image is run where it is: nothing to push).
    """
    from sagelift.aws import AwsSettings
    from sagelift.images.registry import ecr_login, publish

    mode = image_mode(settings.image)
    if mode in ("uri", "framework"):
        key = "image.uri" if mode == "uri" else "image.framework"
        raise UnsupportedFeature(
            f"{key} is set: jobs run that image from its own registry, and sagelift pushes none",
            hint=f"drop {key} to build and push the project's own image, or pass --mode deps",
        )
    engine = cli or container_cli_for(settings.image)
    image = local_image(spec, settings, engine, accelerator=accelerator, package_dir=package_dir)
    repository = ecr_repository_name(spec, settings)
    aws = AwsSettings(
        profile=settings.aws.profile,
        region=region,
        endpoint_url=settings.aws.endpoint_url,
        max_attempts=settings.aws.max_attempts,
    )
    login = ecr_login(aws, repository, registry_host=settings.registry)
    return replace(publish(engine, image.ref, login, repository), built=image.built)
