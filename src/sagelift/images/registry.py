"""Publishing a local image to ECR (or the registry ``aws.registry`` names instead).

``publish`` creates the ECR repository when missing (scan on push), logs the container CLI in
with a token from ``GetAuthorizationToken`` (the password travels on the CLI's stdin, never in
argv or logs), asks the registry itself whether the tag is there (``HEAD
/v2/<repo>/manifests/<tag>``) and pushes only when it is not. The result is pinned by digest.
"""

from __future__ import annotations

import base64
import ipaddress
import logging
import urllib.error
import urllib.request
from dataclasses import dataclass, field, replace
from typing import Any

from sagelift.aws import DEFAULT_REGION, AwsSettings, client, map_client_error, resolve_region
from sagelift.errors import ImageError
from sagelift.images.builder import ContainerCLI
from sagelift.images.deps import push_image
from sagelift.images.refs import ImageRef, ecr_image_ref, parse_ecr_registry, parse_image_ref

__all__ = [
    "PushedImage",
    "RegistryLogin",
    "ecr_login",
    "publish",
    "pull_login",
    "remote_digest",
]

logger = logging.getLogger(__name__)

MANIFEST_TYPES = ", ".join(
    (
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
    )
)


@dataclass(frozen=True, slots=True, kw_only=True)
class RegistryLogin:
    """Credentials for one registry host; the password never shows in a repr."""

    registry: str
    username: str
    password: str = field(repr=False)
    account: str

    @property
    def plain_http(self) -> bool:
        """Loopback registries (tests, local mirrors) speak plain HTTP."""
        host = self.registry.rsplit(":", 1)[0] if ":" in self.registry else self.registry
        if host == "localhost":
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False


@dataclass(frozen=True, slots=True, kw_only=True)
class PushedImage:
    """``uri`` is ``registry/repository:tag@sha256:...``; ``pushed`` is False when the
    registry had the tag already, ``built`` True when the local image was built for it."""

    uri: str
    digest: str
    pushed: bool
    built: bool = False


def ecr_login(
    aws: AwsSettings, repository: str, *, registry_host: str | None = None
) -> RegistryLogin:
    """Ensure the ECR ``repository`` exists (scan on push) and fetch a login for its registry.

    ``registry_host`` replaces the account's ECR host (a local registry standing in for it).
    Raises ImageError/CredentialsError mapped from the ECR API's errors.
    """
    ecr = client("ecr", aws)
    try:
        try:
            found = ecr.describe_repositories(repositoryNames=[repository])["repositories"][0]
        except ecr.exceptions.RepositoryNotFoundException:
            logger.info("creating ECR repository %s (scan on push)", repository)
            found = ecr.create_repository(
                repositoryName=repository,
                imageScanningConfiguration={"scanOnPush": True},
                imageTagMutability="MUTABLE",
            )["repository"]
    except Exception as exc:
        raise map_client_error(
            exc, action="ecr:GetAuthorizationToken", resource=repository
        ) from exc
    username, password = _authorization(ecr, resource=repository)
    account = str(found["registryId"])
    region = _region_of(found) or resolve_region(aws) or DEFAULT_REGION
    host = ecr_image_ref(account, region, repository, registry_host=registry_host).registry
    return RegistryLogin(registry=host or "", username=username, password=password, account=account)


def pull_login(aws: AwsSettings, registry: str) -> RegistryLogin:
    """A login for pulling from ``registry``: an ECR host of any account (the official
    framework images' too) or the registry standing in for ECR. One GetAuthorizationToken in
    the registry's own region (an ECR token is valid for one region only); nothing is created.

    Raises CredentialsError/ImageError mapped from the ECR API's errors.
    """
    ecr_host = parse_ecr_registry(registry)
    region = ecr_host[1] if ecr_host is not None else aws.region
    ecr = client("ecr", replace(aws, region=region))
    username, password = _authorization(ecr, resource=registry)
    account = ecr_host[0] if ecr_host is not None else ""
    return RegistryLogin(registry=registry, username=username, password=password, account=account)


def _authorization(ecr: Any, *, resource: str) -> tuple[str, str]:
    """User name and password from one GetAuthorizationToken of the ``ecr`` client (valid for
    every registry of its region). Raises CredentialsError/ImageError mapped from its errors."""
    try:
        token = ecr.get_authorization_token()["authorizationData"][0]
    except Exception as exc:
        raise map_client_error(exc, action="ecr:GetAuthorizationToken", resource=resource) from exc
    username, _, password = base64.b64decode(token["authorizationToken"]).decode().partition(":")
    return username, password


def remote_digest(login: RegistryLogin, repository: str, tag: str) -> str | None:
    """The manifest digest the registry holds for ``repository:tag``, or None when absent.

    Raises ImageError when the registry cannot be reached or refuses the credentials.
    """
    scheme = "http" if login.plain_http else "https"
    request = urllib.request.Request(  # noqa: S310 - the scheme is http or https
        f"{scheme}://{login.registry}/v2/{repository}/manifests/{tag}",
        method="HEAD",
        headers={"Accept": MANIFEST_TYPES, "Authorization": _basic(login)},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - http(s) only
            digest = response.headers.get("Docker-Content-Digest")
            return str(digest) if digest else None
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise ImageError(
            f"registry {login.registry} answered {exc.code} for {repository}:{tag}",
            hint="check the registry credentials (aws.registry, ECR permissions)",
        ) from exc
    except OSError as exc:
        raise ImageError(
            f"registry {login.registry} is not reachable: {exc}",
            hint="check aws.registry and the network",
        ) from exc


def publish(
    cli: ContainerCLI, local_ref: str, login: RegistryLogin, repository: str
) -> PushedImage:
    """``local_ref`` in ``login.registry/repository`` at the same tag, pushed only when the
    registry lacks that tag. Raises ImageError on a failed login or push."""
    local = parse_image_ref(local_ref)
    if not local.tag:
        raise ImageError(f"{local_ref} has no tag", hint="publish a tagged image")
    target = ImageRef(registry=login.registry, repository=repository, tag=local.tag)
    existing = remote_digest(login, repository, local.tag)
    if existing is not None:
        logger.info("%s is in the registry already; push skipped", target)
        return PushedImage(uri=str(target.with_digest(existing)), digest=existing, pushed=False)
    tls_verify = not login.plain_http
    cli.login(
        login.registry, username=login.username, password=login.password, tls_verify=tls_verify
    )
    logger.info("pushing %s", target)
    pinned = push_image(cli, local_ref, target, tls_verify=tls_verify)
    digest = pinned.rpartition("@")[2]
    return PushedImage(uri=pinned, digest=digest, pushed=True)


def _basic(login: RegistryLogin) -> str:
    raw = f"{login.username}:{login.password}".encode()
    return "Basic " + base64.b64encode(raw).decode()


def _region_of(repository: dict[str, Any]) -> str | None:
    arn = str(repository.get("repositoryArn", ""))
    parts = arn.split(":")
    return parts[3] if len(parts) > 3 and parts[3] else None
