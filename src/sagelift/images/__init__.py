"""Container images for sagelift jobs: references, Containerfiles, builds and pushes.

``refs`` and ``dockerfile`` are pure; ``builder`` is the container-CLI seam (podman or
docker); ``base``, ``wheels`` and ``deps`` do the building, offline where possible.
"""

from __future__ import annotations

from sagelift.images.base import (
    BaseImage,
    BaseImageSpec,
    GpuBaseSpec,
    default_cache_dir,
    ensure_base_image,
    ensure_gpu_base_image,
)
from sagelift.images.builder import ContainerCLI, Mount, detect_container_cli
from sagelift.images.deps import BuiltImage, ensure_code_image, ensure_deps_image, push_image
from sagelift.images.dockerfile import CodeImageInputs, DepsImageInputs, image_tag
from sagelift.images.refs import ImageRef, ecr_image_ref, ecr_registry, parse_image_ref

__all__ = [
    "BaseImage",
    "BaseImageSpec",
    "BuiltImage",
    "CodeImageInputs",
    "ContainerCLI",
    "DepsImageInputs",
    "GpuBaseSpec",
    "ImageRef",
    "Mount",
    "default_cache_dir",
    "detect_container_cli",
    "ecr_image_ref",
    "ecr_registry",
    "ensure_base_image",
    "ensure_code_image",
    "ensure_deps_image",
    "ensure_gpu_base_image",
    "image_tag",
    "parse_image_ref",
    "push_image",
]
