"""Which image a SageMaker job runs: a given URI, a prebuilt framework image, or the
project's own ``deps``/``code`` image, built and pushed to ECR by sagelift.

Framework images are resolved by (framework, version, region, cpu/gpu) from
``image_uris.json``, a small subset of the SageMaker Python SDK's image URI registry shipped
with sagelift (see the ``_source`` note in that file).

A built image is known only after its build; ``planned_image_uri`` stands in for it while the
request is validated, and ``publish_image`` builds (when the tag is missing locally) and pushes
(when the registry lacks it) just before the job is created.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from sagelift.errors import ConfigError
from sagelift.settings import ImageSettings, Settings

if TYPE_CHECKING:
    from sagelift.images.registry import PushedImage
    from sagelift.spec import JobSpec

__all__ = [
    "ecr_region",
    "framework_image_uri",
    "framework_table",
    "is_gpu_instance",
    "planned_image_uri",
    "publish_image",
    "resolve_image_uri",
]

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


def resolve_image_uri(image: ImageSettings, *, region: str, instance_type: str) -> str | None:
    """The image URI for a job: ``image.uri`` if set, else the framework image, else None:
    the ``deps`` (default) or ``code`` image that ``publish_image`` builds and pushes.

    Raises ConfigError for an ECR image in another region than the job, an unknown framework
    or an unknown image mode.
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
    from sagelift.images.service import image_mode

    image_mode(image)
    return None


def planned_image_uri(spec: JobSpec, settings: Settings, *, account: str, region: str) -> str:
    """Where ``publish_image`` will put the project's image, with a placeholder tag and
    digest: stands in for it while the request is validated, before anything is built."""
    from sagelift.images.refs import ecr_image_ref
    from sagelift.images.service import ecr_repository_name

    ref = ecr_image_ref(
        account,
        region,
        ecr_repository_name(spec, settings),
        tag="deps-" + "0" * 24,
        registry_host=settings.registry,
    )
    return str(ref.with_digest("sha256:" + "0" * 64))


def publish_image(spec: JobSpec, settings: Settings, *, region: str) -> PushedImage:
    """The project's ``deps``/``code`` image in ECR (or ``aws.registry``), pinned by digest:
    built when its tag is missing locally, pushed when the registry lacks it; the CUDA
    variant for GPU instance types. Raises ImageError or CredentialsError."""
    from sagelift.images.service import push_for_spec

    gpu = is_gpu_instance(spec.instance_type)
    return push_for_spec(spec, settings, region=region, accelerator="gpu" if gpu else "cpu")
