"""Reusing a pushed deps image without building anything: ``sagelift image push --if-missing``.

The deps image's own tag digests its resolved inputs, which are known only once the base
image is in the local store and the wheels are downloaded — on a fresh CI runner that is most
of a build. So each push also tags the image ``deps-inputs-<key>``, where the key digests what
can be read without building: the requirements file's bytes, the launcher shipped, the
accelerator and ``image.base``. A later run with the same key asks the registry for that tag
(one HEAD request) and, when it is there, uses that image as is: nothing is built or pushed.
A changed requirements file, sagelift release or base gives a new key, hence one build.

Unpinned requirements therefore resolve again only when the file (or sagelift) changes;
pin them (``pip freeze``/``pip-compile``) for images that follow their inputs exactly.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import replace
from pathlib import Path

from sagelift.errors import UsageError
from sagelift.images.builder import ContainerCLI
from sagelift.images.registry import PushedImage
from sagelift.settings import Settings
from sagelift.spec import JobSpec

__all__ = ["REUSE_TAG_PREFIX", "dependency_key", "push_if_missing", "reuse_tag"]

logger = logging.getLogger(__name__)

REUSE_TAG_PREFIX = "deps-inputs-"
_KEY_LENGTH = 24


def dependency_key(
    spec: JobSpec, settings: Settings, *, accelerator: str, package_dir: Path | None = None
) -> str:
    """sha256 of the deps image's inputs that are known before any build."""
    from sagelift.images.deps import launcher_version
    from sagelift.images.service import project_requirements

    requirements = project_requirements(spec)
    payload = {
        "requirements": None
        if requirements is None
        else hashlib.sha256(requirements.read_bytes()).hexdigest(),
        "launcher": launcher_version(package_dir),
        "accelerator": accelerator,
        "base": settings.image.base or "",
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def reuse_tag(key: str) -> str:
    return f"{REUSE_TAG_PREFIX}{key[:_KEY_LENGTH]}"


def push_if_missing(
    spec: JobSpec,
    settings: Settings,
    *,
    region: str,
    cli: ContainerCLI | None = None,
    accelerator: str = "cpu",
    package_dir: Path | None = None,
) -> PushedImage:
    """The deps image for ``spec`` in the registry, pinned by digest: the one already pushed
    for the same dependency inputs (nothing built or pushed), else built when missing
    locally and pushed, with its ``deps-inputs-<key>`` tag beside its content tag. Either
    way the URI names the ``deps-inputs-<key>`` tag.

    Raises UsageError outside ``deps`` mode, ImageError or CredentialsError.
    """
    from sagelift.aws import AwsSettings
    from sagelift.images.deps import push_image
    from sagelift.images.refs import ImageRef
    from sagelift.images.registry import ecr_login, publish, remote_digest
    from sagelift.images.service import (
        container_cli_for,
        ecr_repository_name,
        image_mode,
        local_image,
    )

    if image_mode(settings.image) != "deps":
        raise UsageError(
            "--if-missing reuses deps images; this project runs a "
            f"{image_mode(settings.image)} image",
            hint="drop --if-missing, or set image.mode = 'deps'",
        )
    repository = ecr_repository_name(spec, settings)
    aws = AwsSettings(
        profile=settings.aws.profile,
        region=region,
        endpoint_url=settings.aws.endpoint_url,
        max_attempts=settings.aws.max_attempts,
    )
    login = ecr_login(aws, repository, registry_host=settings.registry)
    key = dependency_key(spec, settings, accelerator=accelerator, package_dir=package_dir)
    alias = ImageRef(registry=login.registry, repository=repository, tag=reuse_tag(key))
    existing = remote_digest(login, repository, alias.tag or "")
    if existing is not None:
        logger.info("%s is in the registry; nothing built or pushed", alias)
        return PushedImage(uri=str(alias.with_digest(existing)), digest=existing, pushed=False)
    engine = cli or container_cli_for(settings.image)
    image = local_image(
        spec,
        settings,
        engine,
        accelerator="gpu" if accelerator == "gpu" else "cpu",
        package_dir=package_dir,
    )
    pushed = publish(engine, image.ref, login, repository)
    tls_verify = not login.plain_http
    engine.login(
        login.registry, username=login.username, password=login.password, tls_verify=tls_verify
    )
    push_image(engine, image.ref, alias, tls_verify=tls_verify)
    # The alias names the image whether this run built it or a later one finds it, so
    # every job with the same dependency inputs records the same image URI.
    return replace(pushed, uri=str(alias.with_digest(pushed.digest)), built=image.built)
