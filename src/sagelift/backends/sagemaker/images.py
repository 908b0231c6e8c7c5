"""Which image a SageMaker job runs: a given URI, or a prebuilt framework image.

Framework images are resolved by (framework, version, region, cpu/gpu) from
``image_uris.json``, a small subset of the SageMaker Python SDK's image URI registry shipped
with sagelift (see the ``_source`` note in that file).
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from importlib import resources
from typing import Any

from sagelift.errors import ConfigError, UnsupportedFeature
from sagelift.settings import ImageSettings

__all__ = ["ecr_region", "framework_image_uri", "is_gpu_instance", "resolve_image_uri"]

_ECR_URI = re.compile(r"^\d{12}\.dkr\.ecr(?:-fips)?\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/")
# ml.p*, ml.g*, and the Trainium/Inferentia families run the GPU/accelerator images.
_GPU_FAMILY = re.compile(r"^ml\.(p\d|g\d|trn\d|inf\d)")


@lru_cache(maxsize=1)
def _table() -> dict[str, Any]:
    text = resources.files(__package__).joinpath("image_uris.json").read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def is_gpu_instance(instance_type: str) -> bool:
    return bool(_GPU_FAMILY.match(instance_type))


def ecr_region(uri: str) -> str | None:
    """The region of an ECR image URI, or None for any other registry."""
    match = _ECR_URI.match(uri)
    return match.group(1) if match else None


def framework_image_uri(
    framework: str, version: str | None, *, region: str, instance_type: str
) -> str:
    """The prebuilt training image for ``framework`` at ``version`` (default: the table's).

    Raises ConfigError naming the known frameworks, versions or regions.
    """
    frameworks: dict[str, Any] = _table()["frameworks"]
    entry = frameworks.get(framework)
    if entry is None:
        raise ConfigError(
            f"image.framework: unknown framework {framework!r}",
            hint=f"use one of: {', '.join(sorted(frameworks))}, or set image.uri",
        )
    version = version or entry["default"]
    details = entry["versions"].get(version)
    if details is None:
        raise ConfigError(
            f"image.framework_version: {framework} {version} is not in sagelift's image table",
            hint=f"use one of: {', '.join(sorted(entry['versions']))}, or set image.uri",
        )
    processor = "gpu" if is_gpu_instance(instance_type) else "cpu"
    if processor not in entry["processors"]:
        raise ConfigError(
            f"image.framework: {framework} images need a {entry['processors'][0]} instance, "
            f"{instance_type} is {processor}",
            hint="pick a matching instance type or another framework",
        )
    account = _table()["registries"][entry["registry"]].get(region)
    if account is None:
        raise ConfigError(
            f"image.framework: no {framework} image is listed for region {region}",
            hint="set image.uri to an image in your region",
        )
    domain = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    tag = entry["tag"].format(version=version, processor=processor, **details)
    return f"{account}.dkr.ecr.{region}.{domain}/{entry['repository']}:{tag}"


def resolve_image_uri(image: ImageSettings, *, region: str, instance_type: str) -> str:
    """The image URI for a job: ``image.uri`` if set, else the framework image.

    Raises ConfigError for an ECR image in another region than the job or an unknown framework,
    UnsupportedFeature when neither is configured (the built ``deps`` image is not wired here).
    """
    if image.uri:
        image_region = ecr_region(image.uri)
        if image_region is not None and image_region != region:
            raise ConfigError(
                f"image.uri: the image is in {image_region}, the job runs in {region}",
                hint=f"push the image to ECR in {region}, or set aws.region = {image_region!r}",
            )
        return image.uri
    if image.framework:
        return framework_image_uri(
            image.framework, image.framework_version, region=region, instance_type=instance_type
        )
    if image.mode == "uri":
        raise ConfigError("image.mode is 'uri' but image.uri is not set", hint="set image.uri")
    raise UnsupportedFeature(
        f"image mode {image.mode or 'deps'!r}: building an image for SageMaker jobs is not "
        "available yet",
        hint="set image.uri to an image with Python, or image.framework "
        "(sklearn, pytorch, tensorflow, huggingface)",
    )
