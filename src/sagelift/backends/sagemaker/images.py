"""Which image a SageMaker job runs: a given URI, a prebuilt framework image, or the
project's own ``deps``/``code`` image, built and pushed to ECR by sagelift.

Framework images are resolved by (framework, version, region, cpu/gpu) in
``sagelift.images.frameworks``.

A built image is known only after its build; ``planned_image_uri`` stands in for it while the
request is validated, and ``publish_image`` builds (when the tag is missing locally) and pushes
(when the registry lacks it) just before the job is created.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sagelift.errors import ConfigError
from sagelift.images.frameworks import (
    ecr_region,
    framework_image_uri,
    framework_table,
    is_gpu_instance,
)
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
