"""Resolve and download a project's wheels on the host, for an image's Python and platform.

Only the host can reach the package index (its pip configuration, credentials and TLS setup
stay on the host), so dependencies enter images as wheels downloaded here and installed
offline. Downloads are cached under ``<cache>/wheels/<key>``, where the key is a digest of the
requirements text and the target (Python version, implementation, platforms): an unchanged
requirements file never resolves again, so its image tag stays stable.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from sagelift.errors import ImageError
from sagelift.images.runner import CommandRunner, run_command

__all__ = [
    "WheelSet",
    "download_wheels",
    "lock_lines",
    "manylinux_platforms",
    "parse_wheel_filename",
    "requirements_key",
]

logger = logging.getLogger(__name__)

_WHEEL = re.compile(
    r"(?P<name>[^-]+)-(?P<version>[^-]+)(?:-(?P<build>\d[^-]*))?"
    r"-(?P<python>[^-]+)-(?P<abi>[^-]+)-(?P<platform>[^-]+)\.whl"
)
_MARKER = "complete.json"


@dataclass(frozen=True, slots=True, kw_only=True)
class WheelSet:
    """The wheels resolved for one requirements file and target; ``wheels`` is sorted."""

    directory: Path
    wheels: tuple[str, ...]
    key: str


def manylinux_platforms(machine: str) -> tuple[str, ...]:
    """pip ``--platform`` tags for ``machine`` (``uname -m``); raises ImageError if unknown."""
    arch = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}.get(
        machine.lower()
    )
    if arch is None:
        raise ImageError(
            f"no manylinux platform tags for machine {machine!r}",
            hint="build on x86_64 or aarch64, or pass platforms explicitly",
        )
    return (f"manylinux2014_{arch}", f"manylinux_2_17_{arch}", f"manylinux_2_28_{arch}")


def requirements_key(
    requirements_text: str,
    *,
    python_version: str,
    platforms: Sequence[str],
    implementation: str = "cp",
) -> str:
    """The cache key: sha256 of the requirements text and the target it is resolved for."""
    payload = json.dumps(
        {
            "requirements": requirements_text,
            "python": python_version,
            "platforms": list(platforms),
            "implementation": implementation,
        },
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def parse_wheel_filename(filename: str) -> tuple[str, str]:
    """``(name, version)`` of a wheel file name (PEP 427); raises ImageError if it is not one."""
    match = _WHEEL.fullmatch(filename)
    if match is None:
        raise ImageError(f"{filename!r} is not a wheel file name", hint="remove it from the dir")
    name = re.sub(r"[-_.]+", "-", match["name"]).lower()
    return name, match["version"]


def lock_lines(wheels: Sequence[str]) -> list[str]:
    """``name==version`` for each wheel, sorted: the exact set to install offline.

    Installing from these pins (not from the user's requirements file) keeps index URLs and
    any credentials in that file out of the image.
    """
    return sorted(f"{name}=={version}" for name, version in map(parse_wheel_filename, wheels))


def download_wheels(
    requirements: Path,
    *,
    python_version: str,
    cache_dir: Path,
    machine: str | None = None,
    platforms: Sequence[str] | None = None,
    implementation: str = "cp",
    pip: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    refresh: bool = False,
    runner: CommandRunner = run_command,
) -> WheelSet:
    """Download binary wheels for ``requirements`` (or reuse the cached set).

    Runs ``pip download --only-binary=:all: --platform ... --python-version ...
    --implementation ... -r requirements -d DIR`` with the host's pip configuration, in the
    requirements file's directory (so relative ``-r``/``-c``/paths resolve as the user wrote
    them). ``pip`` defaults to this interpreter's pip; ``env`` is added to its environment.
    Only the top-level file's text is part of the cache key; pass ``refresh=True`` after
    changing a file it includes. Raises ImageError when pip fails (e.g. no wheel for a package).
    """
    try:
        text = requirements.read_text(encoding="utf-8")
    except OSError as exc:
        raise ImageError(
            f"cannot read requirements file {requirements}: {exc}",
            hint="create it, or build without dependencies",
        ) from exc
    targets = tuple(platforms or manylinux_platforms(machine or os.uname().machine))
    key = requirements_key(
        text, python_version=python_version, platforms=targets, implementation=implementation
    )
    final = cache_dir / "wheels" / key
    if (final / _MARKER).is_file() and not refresh:
        logger.debug("wheels for %s cached in %s", requirements, final)
        return _wheel_set(final, key)
    (cache_dir / "wheels").mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{key[:12]}-", dir=cache_dir / "wheels"))
    try:
        if _has_requirements(text):
            _pip_download(
                requirements,
                staging,
                python_version=python_version,
                platforms=targets,
                implementation=implementation,
                pip=tuple(pip) or (sys.executable, "-m", "pip"),
                env=env,
                runner=runner,
            )
        wheels = sorted(path.name for path in staging.glob("*.whl"))
        (staging / _MARKER).write_text(json.dumps({"wheels": wheels}), encoding="utf-8")
        if final.exists():
            shutil.rmtree(final)
        staging.rename(final)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return _wheel_set(final, key)


def _pip_download(
    requirements: Path,
    destination: Path,
    *,
    python_version: str,
    platforms: Sequence[str],
    implementation: str,
    pip: Sequence[str],
    env: Mapping[str, str] | None,
    runner: CommandRunner,
) -> None:
    argv = [*pip, "download", "--only-binary=:all:", "--no-input", "--progress-bar", "off"]
    for platform in platforms:
        argv += ["--platform", platform]
    argv += [
        "--python-version",
        python_version,
        "--implementation",
        implementation,
        "-r",
        str(requirements.resolve()),
        "-d",
        str(destination),
    ]
    logger.info("downloading wheels for %s (python %s)", requirements, python_version)
    result = runner(argv, env=env, cwd=requirements.resolve().parent)
    if result.returncode != 0:
        detail = " | ".join((result.stderr or result.stdout).strip().splitlines()[-4:])
        hint = "check the requirements and that the package index is reachable from this machine"
        if "no matching distribution" in detail.lower():
            hint = (
                "a requirement has no binary wheel for this Python/platform: pin a version that "
                "ships wheels, or build one with `pip wheel` and add its directory as find-links"
            )
        raise ImageError(f"pip download for {requirements} failed: {detail}", hint=hint)


def _wheel_set(directory: Path, key: str) -> WheelSet:
    wheels = tuple(sorted(path.name for path in directory.glob("*.whl")))
    return WheelSet(directory=directory, wheels=wheels, key=key)


def _has_requirements(text: str) -> bool:
    return any(line.split("#", 1)[0].strip() for line in text.splitlines())
