"""Settings: where and how jobs run (AWS, images, tracking), as opposed to the spec (what).

Resolved from the same layers as the spec (see ``sagelift.config``); ``settings_from_config``
is pure.
"""

from __future__ import annotations

from dataclasses import dataclass

from sagelift.aws import AwsSettings
from sagelift.config import Resolved

__all__ = ["ImageSettings", "Settings", "TrackingSettings", "settings_from_config"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageSettings:
    mode: str | None = None
    uri: str | None = None
    base: str | None = None
    framework: str | None = None
    framework_version: str | None = None
    container_cli: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TrackingSettings:
    uri: str | None = None
    experiment: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """AWS coordinates (``None`` = let boto3 / the account decide), image and tracking choices."""

    aws: AwsSettings
    backend: str | None = None
    role: str | None = None
    bucket: str | None = None
    prefix: str = "sagelift"
    ecr_repository: str | None = None
    registry: str | None = None
    image: ImageSettings = ImageSettings()
    tracking: TrackingSettings = TrackingSettings()


def _opt(config: Resolved, key: str) -> str | None:
    value = config.get(key)
    return None if value in (None, "") else str(value)


def settings_from_config(config: Resolved) -> Settings:
    return Settings(
        aws=AwsSettings(
            profile=_opt(config, "aws.profile"),
            region=_opt(config, "aws.region"),
            endpoint_url=_opt(config, "aws.endpoint_url"),
        ),
        backend=_opt(config, "backend"),
        role=_opt(config, "aws.role"),
        bucket=_opt(config, "aws.bucket"),
        prefix=(_opt(config, "aws.prefix") or "sagelift").strip("/"),
        ecr_repository=_opt(config, "aws.ecr_repository"),
        registry=_opt(config, "aws.registry"),
        image=ImageSettings(
            mode=_opt(config, "image.mode"),
            uri=_opt(config, "image.uri"),
            base=_opt(config, "image.base"),
            framework=_opt(config, "image.framework"),
            framework_version=_opt(config, "image.framework_version"),
            container_cli=_opt(config, "image.container_cli"),
        ),
        tracking=TrackingSettings(
            uri=_opt(config, "tracking.uri"), experiment=_opt(config, "tracking.experiment")
        ),
    )
