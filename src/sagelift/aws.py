"""The one place sagelift makes boto3 sessions and clients, and turns botocore errors into ours.

boto3 is the optional extra ``sagelift[aws]``; it is imported inside the functions here, so
importing this module costs nothing. Credentials are never read by sagelift itself: boto3
resolves its usual chain (env, profile, SSO, instance role) from the settings given.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sagelift.errors import (
    BackendError,
    ConfigError,
    CredentialsError,
    ImageError,
    InfrastructureError,
    MissingDependency,
    SageliftError,
    StorageError,
)
from sagelift.package import VERSION

__all__ = [
    "DEFAULT_REGION",
    "AwsSettings",
    "bucket_region",
    "check_profile",
    "client",
    "map_client_error",
    "resolve_region",
    "session",
]

log = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'sagelift[aws]'"
#: The region where none is configured: what a job on this machine names in its ARN and
#: environment, and where the official framework images are looked up.
DEFAULT_REGION = "us-east-1"

_CREDENTIAL_CODES = frozenset(
    {
        "InvalidAccessKeyId",
        "InvalidClientTokenId",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "ExpiredTokenException",
        "UnrecognizedClientException",
        "InvalidToken",
        "TokenRefreshRequired",
    }
)
_DENIED_CODES = frozenset({"AccessDenied", "AccessDeniedException", "Forbidden", "403"})
_MISSING_BUCKET_CODES = frozenset({"NoSuchBucket"})
_MISSING_KEY_CODES = frozenset({"NoSuchKey", "404", "NotFound"})
_THROTTLE_CODES = frozenset(
    {"Throttling", "ThrottlingException", "SlowDown", "RequestLimitExceeded", "TooManyRequests"}
)


@dataclass(frozen=True, slots=True, kw_only=True)
class AwsSettings:
    """Where and how to reach AWS; ``None`` leaves the choice to boto3's own resolution.

    ``endpoint_url`` points every client at one endpoint (a moto server on loopback in tests).
    ``max_attempts`` is botocore's total attempts per call, first try included.
    """

    profile: str | None = None
    region: str | None = None
    endpoint_url: str | None = None
    max_attempts: int = 5


def resolve_region(
    aws: AwsSettings, *, required: bool = False, environ: Mapping[str, str] | None = None
) -> str | None:
    """The region every command uses: ``aws.region``, else ``AWS_REGION`` /
    ``AWS_DEFAULT_REGION``, else the AWS profile's own region (as boto3 resolves it).

    boto3 is consulted only when an AWS config file exists, so a machine without AWS pays
    nothing. With ``required``, no region at all raises ConfigError; otherwise it is None.
    """
    env = os.environ if environ is None else environ
    region = aws.region or env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
    config_file = Path(env.get("AWS_CONFIG_FILE") or Path.home() / ".aws" / "config")
    if not region and (aws.profile or env.get("AWS_PROFILE") or config_file.is_file()):
        try:
            region = session(aws).region_name
        except SageliftError:  # no boto3, or a profile that does not exist
            if required:
                raise
    if not region and required:
        raise ConfigError(
            "no AWS region configured",
            hint='set aws.region in sagelift.toml (or AWS_REGION), e.g. aws.region = "eu-west-1"',
        )
    return str(region) if region else None


def bucket_region(location_constraint: str | None) -> str:
    """The region of a bucket from its GetBucketLocation answer: S3 reports us-east-1 as an
    empty constraint and old eu-west-1 buckets as ``EU``."""
    if not location_constraint:
        return "us-east-1"
    return "eu-west-1" if location_constraint == "EU" else location_constraint


def _boto3() -> Any:
    try:
        import boto3
    except ImportError as exc:
        raise MissingDependency(
            "talking to AWS needs boto3, which is not installed", hint=INSTALL_HINT
        ) from exc
    return boto3


def session(settings: AwsSettings | None = None) -> Any:
    """A new ``boto3.Session`` for ``settings`` (profile and region applied).

    Raises MissingDependency without boto3, ConfigError when the profile does not exist.
    """
    boto3 = _boto3()
    from botocore.exceptions import BotoCoreError, ProfileNotFound

    settings = settings or AwsSettings()
    try:
        return boto3.Session(profile_name=settings.profile, region_name=settings.region)
    except ProfileNotFound as exc:
        name = settings.profile or os.environ.get("AWS_PROFILE") or "default"
        raise _unknown_profile(name) from exc
    except BotoCoreError as exc:
        raise map_client_error(exc, action="open an AWS session") from exc


def check_profile(settings: AwsSettings) -> None:
    """Raise ConfigError (exit 2) when ``settings.profile`` (else ``AWS_PROFILE``) names no
    profile of the AWS config files; reads those files only (no network, no credentials)."""
    profile = settings.profile or os.environ.get("AWS_PROFILE")
    if not profile:
        return
    _boto3()
    import botocore.session

    if profile not in botocore.session.Session().available_profiles:
        raise _unknown_profile(profile)


def _unknown_profile(profile: str) -> ConfigError:
    import botocore.session

    known = sorted(botocore.session.Session().available_profiles)
    listed = ", ".join(known) if known else "none configured"
    return ConfigError(
        f"aws.profile: no AWS profile named {profile!r} (profiles: {listed})",
        hint=f"create it with 'aws configure --profile {profile}', or use one of the listed "
        "profiles (aws.profile / AWS_PROFILE)",
    )


def client(
    service: str, settings: AwsSettings | None = None, *, max_pool_connections: int = 10
) -> Any:
    """A botocore client for ``service`` with sagelift's region, endpoint, retries and user agent.

    Retries use botocore's ``standard`` mode, ``settings.max_attempts`` attempts in all. The user
    agent carries ``sagelift/<version>``. ``max_pool_connections`` should be at least the number
    of threads that share the client. Clients are thread-safe; sessions are not, so each call
    makes its own session.
    """
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError

    settings = settings or AwsSettings()
    config = Config(
        # botocore's "max_attempts" counts retries only; "total_max_attempts" counts the first
        # try too, as AWS_MAX_ATTEMPTS and the AWS CLI do.
        retries={"mode": "standard", "total_max_attempts": settings.max_attempts},
        user_agent_extra=f"sagelift/{VERSION}",
        max_pool_connections=max_pool_connections,
    )
    boto_session = session(settings)
    try:
        return boto_session.client(
            service,
            region_name=settings.region,
            endpoint_url=settings.endpoint_url,
            config=config,
        )
    except BotoCoreError as exc:
        raise map_client_error(exc, action=f"create a {service} client") from exc


def _family(action: str) -> type[InfrastructureError]:
    service = action.split(":", 1)[0] if ":" in action else ""
    return {"s3": StorageError, "sagemaker": BackendError, "ecr": ImageError}.get(
        service, InfrastructureError
    )


def _client_error_of(exc: BaseException) -> Any:
    """The botocore ClientError behind ``exc`` (boto3's transfer errors wrap one), else None."""
    from botocore.exceptions import ClientError

    seen: BaseException | None = exc
    for _ in range(5):
        if seen is None:
            return None
        if isinstance(seen, ClientError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def map_client_error(
    exc: BaseException, *, action: str, resource: str | None = None
) -> SageliftError:
    """Convert a botocore/boto3 error into a sagelift error carrying a hint; never raises.

    ``action`` is the IAM action attempted (``s3:PutObject``) or, for errors outside a call, a
    short phrase; ``resource`` names what it was attempted on. The family follows the service:
    ``s3:`` → StorageError, ``sagemaker:`` → BackendError, ``ecr:`` → ImageError, else
    InfrastructureError. Missing or refused credentials → CredentialsError; a missing profile →
    ConfigError; missing boto3 → MissingDependency. The caller raises the result ``from exc``.
    """
    if isinstance(exc, SageliftError):
        return exc  # already converted where it entered (e.g. a missing profile)
    try:
        from botocore import exceptions as bx
    except ImportError:
        return MissingDependency(f"{action} needs boto3", hint=INSTALL_HINT)

    target = f"{action} on {resource}" if resource else action
    family = _family(action)

    if isinstance(exc, bx.NoCredentialsError | bx.PartialCredentialsError):
        return CredentialsError(
            f"{target}: no AWS credentials found",
            hint="run 'aws configure' or 'aws sso login', or set AWS_PROFILE",
        )
    if isinstance(exc, bx.ProfileNotFound):
        return ConfigError(
            f"{target}: {exc}",
            hint="pick a profile listed by 'aws configure list-profiles'",
        )
    if isinstance(exc, bx.NoRegionError):
        return ConfigError(
            f"{target}: no AWS region configured",
            hint="set region in sagelift settings, or AWS_REGION / 'aws configure set region'",
        )
    if isinstance(exc, bx.EndpointConnectionError | bx.ConnectTimeoutError):
        return family(
            f"{target}: could not connect to AWS ({exc})",
            hint="check network access, the region, and endpoint_url if one is set",
        )
    if isinstance(exc, bx.ReadTimeoutError):
        return family(
            f"{target}: AWS did not answer in time ({exc})",
            hint="retry; raise max_attempts in settings if this keeps happening",
        )

    error = _client_error_of(exc)
    if error is None:
        return family(f"{target} failed: {exc}", hint="retry; if it persists, report it")

    body = error.response.get("Error", {})
    code = str(body.get("Code", ""))
    message = str(body.get("Message", "")) or str(error)
    log.debug("AWS error during %s: code=%s message=%s", target, code, message)

    if code in _CREDENTIAL_CODES:
        return CredentialsError(
            f"{target}: AWS refused the credentials ({code}: {message})",
            hint="refresh them ('aws sso login') or check AWS_PROFILE / the access key",
        )
    if code in _DENIED_CODES:
        permission = action if ":" in action else "the needed permission"
        return family(
            f"{target}: access denied ({message})",
            hint=f"grant {permission} to your IAM identity"
            + (f" on {resource}" if resource else ""),
        )
    if code in _MISSING_BUCKET_CODES:
        return StorageError(
            f"{target}: the bucket does not exist ({message})",
            hint="create the bucket ('aws s3 mb s3://NAME') or fix the bucket name",
        )
    if code in _MISSING_KEY_CODES:
        return StorageError(
            f"{target}: no such object",
            hint="check the URI; list what is there with 'aws s3 ls'",
        )
    if code in _THROTTLE_CODES:
        return family(
            f"{target}: AWS is throttling requests ({code})",
            hint="retry later or raise max_attempts in settings",
        )
    return family(f"{target} failed: {code}: {message}", hint="see the AWS message above")
