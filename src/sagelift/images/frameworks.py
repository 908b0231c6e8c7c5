"""The prebuilt SageMaker framework images: which URI runs (framework, version, region,
cpu/gpu).

``image_uris.json`` beside this module is a small subset of the SageMaker Python SDK's image
URI registry, shipped with sagelift (see the ``_source`` note in that file). Pure: no AWS call.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from importlib import resources
from typing import Any

from sagelift.errors import ConfigError

__all__ = ["ecr_region", "framework_image_uri", "framework_table", "is_gpu_instance"]

_ECR_URI = re.compile(r"^\d{12}\.dkr\.ecr(?:-fips)?\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/")
# ml.p*, ml.g*, and the Trainium/Inferentia families run the GPU/accelerator images.
_GPU_FAMILY = re.compile(r"^ml\.(p\d|g\d|trn\d|inf\d)")


@lru_cache(maxsize=1)
def _table() -> dict[str, Any]:
    text = resources.files(__package__).joinpath("image_uris.json").read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def framework_table() -> dict[str, Any]:
    """The ``frameworks`` part of the image table: name → default, versions (with ``py``)."""
    frameworks: dict[str, Any] = _table()["frameworks"]
    return frameworks


def is_gpu_instance(instance_type: str) -> bool:
    """An instance type with GPUs (or Trainium/Inferentia): ``ml.p*``, ``ml.g*``, ...; and
    ``local_gpu``, this machine's GPUs."""
    return instance_type == "local_gpu" or bool(_GPU_FAMILY.match(instance_type))


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
