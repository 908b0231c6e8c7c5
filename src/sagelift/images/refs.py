"""Image references and ECR addresses, as pure functions over frozen data.

An image reference is ``[registry/]repository[:tag][@digest]`` (the Docker/OCI grammar).
``registry`` is kept as written: a reference without one stays without one (the container CLI
then resolves it), so ``str(parse_image_ref(text)) == text`` for every valid ``text``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from sagelift.errors import ConfigError

__all__ = [
    "ImageRef",
    "ecr_image_ref",
    "ecr_registry",
    "ecr_repository_uri",
    "parse_ecr_registry",
    "parse_image_ref",
]

_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_DIGEST = re.compile(r"[a-z0-9]+(?:[+._-][a-z0-9]+)*:[0-9a-fA-F]{32,}")
_HOST = re.compile(r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)(?:\.[A-Za-z0-9-]+)*(?::\d+)?")
_ACCOUNT = re.compile(r"\d{12}")
_REGION = re.compile(r"[a-z]{2}(?:-[a-z]+)+-\d")
_ECR_HOST = re.compile(
    r"(?P<account>\d{12})\.dkr\.ecr(?:-fips)?\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?"
)

_REF_HINT = "write it as [registry/]repository[:tag][@sha256:<hex>], e.g. 127.0.0.1:5000/train:1"


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageRef:
    """One image reference; ``str()`` formats it back in canonical order."""

    registry: str | None = None
    repository: str
    tag: str | None = None
    digest: str | None = None

    def __str__(self) -> str:
        text = f"{self.registry}/{self.repository}" if self.registry else self.repository
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text

    @property
    def name(self) -> str:
        """``registry/repository`` without tag or digest (what ``push`` targets)."""
        return f"{self.registry}/{self.repository}" if self.registry else self.repository

    def with_tag(self, tag: str) -> ImageRef:
        """The same repository at ``tag``, without a digest; raises ConfigError on a bad tag."""
        _check_tag(tag, text=tag)
        return replace(self, tag=tag, digest=None)

    def with_digest(self, digest: str) -> ImageRef:
        """The same reference pinned to ``digest``; raises ConfigError on a malformed digest."""
        if not _DIGEST.fullmatch(digest):
            raise ConfigError(f"image digest {digest!r} is malformed", hint="use sha256:<64 hex>")
        return replace(self, digest=digest)

    def with_registry(self, registry: str | None) -> ImageRef:
        """The same repository and tag in another registry (``None`` drops the registry)."""
        if registry is not None and not _HOST.fullmatch(registry):
            raise ConfigError(f"registry host {registry!r} is malformed", hint="use host[:port]")
        return replace(self, registry=registry)


def parse_image_ref(text: str) -> ImageRef:
    """Parse ``[registry/]repository[:tag][@digest]``; raise ConfigError when malformed.

    The first path component is the registry when it contains ``.`` or ``:`` or is
    ``localhost`` (Docker's rule); repository components must be lowercase.
    """
    raw = text.strip()
    if not raw:
        raise ConfigError("image reference is empty", hint=_REF_HINT)
    name, _, digest = raw.partition("@")
    if digest and not _DIGEST.fullmatch(digest):
        raise ConfigError(f"image reference {text!r}: malformed digest {digest!r}", hint=_REF_HINT)
    tag: str | None = None
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        name, tag = name[:colon], name[colon + 1 :]
        _check_tag(tag, text=text)
    registry: str | None = None
    first, sep, rest = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        if not _HOST.fullmatch(first):
            raise ConfigError(f"image reference {text!r}: bad registry {first!r}", hint=_REF_HINT)
        registry, name = first, rest
    components = name.split("/")
    if not all(_COMPONENT.fullmatch(part) for part in components):
        raise ConfigError(
            f"image reference {text!r}: repository {name!r} is invalid",
            hint="repository names are lowercase letters, digits and . _ - separated by /; "
            + _REF_HINT,
        )
    return ImageRef(registry=registry, repository=name, tag=tag, digest=digest or None)


def ecr_registry(account_id: str, region: str, *, registry_host: str | None = None) -> str:
    """``<account>.dkr.ecr.<region>.amazonaws.com`` (``.com.cn`` in China regions).

    ``registry_host`` (a setting, e.g. a local registry standing in for ECR) replaces the
    computed host. Raises ConfigError on a malformed account id or region.
    """
    if not _ACCOUNT.fullmatch(account_id):
        raise ConfigError(
            f"AWS account id {account_id!r} is not 12 digits",
            hint="check the account returned by `aws sts get-caller-identity`",
        )
    if not _REGION.fullmatch(region):
        raise ConfigError(f"AWS region {region!r} is malformed", hint="e.g. us-east-1")
    if registry_host is not None:
        if not _HOST.fullmatch(registry_host):
            raise ConfigError(
                f"registry host {registry_host!r} is malformed", hint="use host[:port]"
            )
        return registry_host
    suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"{account_id}.dkr.ecr.{region}.{suffix}"


def ecr_repository_uri(
    account_id: str, region: str, repository: str, *, registry_host: str | None = None
) -> str:
    """``<registry>/<repository>``, the ``repositoryUri`` ECR reports for ``repository``."""
    return ecr_image_ref(account_id, region, repository, registry_host=registry_host).name


def ecr_image_ref(
    account_id: str,
    region: str,
    repository: str,
    *,
    tag: str | None = None,
    registry_host: str | None = None,
) -> ImageRef:
    """The ECR image reference for ``repository[:tag]``; raises ConfigError on bad parts."""
    registry = ecr_registry(account_id, region, registry_host=registry_host)
    if not all(_COMPONENT.fullmatch(part) for part in repository.split("/")):
        raise ConfigError(
            f"ECR repository name {repository!r} is invalid",
            hint="use lowercase letters, digits and . _ - / (e.g. sagelift/my-project)",
        )
    if tag is not None:
        _check_tag(tag, text=tag)
    return ImageRef(registry=registry, repository=repository, tag=tag)


def parse_ecr_registry(host: str) -> tuple[str, str] | None:
    """``(account_id, region)`` when ``host`` is an ECR registry host, else ``None``."""
    match = _ECR_HOST.fullmatch(host)
    if match is None:
        return None
    return match["account"], match["region"]


def _check_tag(tag: str, *, text: str) -> None:
    if not _TAG.fullmatch(tag):
        raise ConfigError(
            f"image reference {text!r}: tag {tag!r} is invalid",
            hint="tags are up to 128 letters, digits, _ . - and may not start with . or -",
        )
