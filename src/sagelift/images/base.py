"""Base images built without any public registry.

CPU: ``mmdebstrap --variant=essential`` bootstraps Debian with Python 3 from the host's own apt
mirrors into a root-filesystem tarball, optional wheels are installed into it offline, and the
tarball is imported as an image. The tarball is cached under
``<cache>/base-images/<digest>.tar``, so a second build only imports it (or does nothing when
the tagged image already exists).

GPU: a Containerfile ``FROM`` a CUDA runtime image (see ``render_gpu_base_dockerfile``). Where
that image cannot be pulled, ``GpuBaseSpec(base=<local cpu base>, install_python=False)``
builds the same layer on a local stand-in, so the result is honest about what it contains.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shlex
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from sagelift.errors import ImageError
from sagelift.images.apt import load_host_apt_sources, mirror_lines
from sagelift.images.builder import ContainerCLI
from sagelift.images.dockerfile import DEFAULT_CUDA_BASE, LABEL_PREFIX, render_gpu_base_dockerfile
from sagelift.images.runner import INSTALL_HINT, CommandRunner, run_command
from sagelift.images.wheels import lock_lines

__all__ = [
    "BASE_PACKAGES",
    "BaseImage",
    "BaseImageSpec",
    "GpuBaseSpec",
    "base_digest",
    "build_rootfs",
    "default_cache_dir",
    "ensure_base_image",
    "ensure_gpu_base_image",
    "mmdebstrap_argv",
]

logger = logging.getLogger(__name__)

#: What every CPU base has: Python with pip, CA roots, and libstdc++ (manylinux wheels such as
#: numpy and scipy need it; the essential variant lacks it).
BASE_PACKAGES = ("python3", "python3-pip", "ca-certificates", "libstdc++6")
BASE_REPOSITORY = "localhost/sagelift/base"
PYTHON_LABEL = f"{LABEL_PREFIX}.python"
DIGEST_LABEL = f"{LABEL_PREFIX}.base-digest"
_DEB_ARCH = {"x86_64": "amd64", "aarch64": "arm64"}
_PYTHON_IN_TAR = re.compile(r"(?:\./)?usr/bin/python(3\.\d+)")


@dataclass(frozen=True, slots=True, kw_only=True)
class BaseImageSpec:
    """A CPU base image.

    ``mirrors`` are one-line apt sources (``deb URI SUITE COMPONENTS``); empty means "the
    host's mirrors, retargeted to ``suite``". ``wheels`` are wheel file paths installed offline.
    """

    suite: str = "bookworm"
    variant: str = "essential"
    include: tuple[str, ...] = ()
    mirrors: tuple[str, ...] = ()
    wheels: tuple[Path, ...] = ()
    architecture: str | None = None
    repository: str = BASE_REPOSITORY


@dataclass(frozen=True, slots=True, kw_only=True)
class GpuBaseSpec:
    """A GPU base image from a CUDA runtime image (or a local stand-in for one)."""

    base: str = DEFAULT_CUDA_BASE
    install_python: bool = True
    tag: str = "localhost/sagelift/base-gpu:cuda"


@dataclass(frozen=True, slots=True, kw_only=True)
class BaseImage:
    """A base image in the local store: its reference, id and Python ``major.minor``."""

    ref: str
    image_id: str
    python_version: str


def default_cache_dir(environ: Mapping[str, str]) -> Path:
    """Where base tarballs and wheels are cached: ``$SAGELIFT_CACHE_DIR``, else
    ``$XDG_CACHE_HOME/sagelift``, else ``~/.cache/sagelift``."""
    explicit = environ.get("SAGELIFT_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    base = environ.get("XDG_CACHE_HOME") or str(Path(environ.get("HOME", "~")) / ".cache")
    return Path(base).expanduser() / "sagelift"


def base_digest(spec: BaseImageSpec, mirrors: Sequence[str], architecture: str) -> str:
    """sha256 over what the root filesystem holds: the spec (not the repository it is tagged
    in), the resolved mirrors and architecture, and each wheel's name and bytes."""
    fields = asdict(spec)
    del fields["repository"]
    fields.update(
        mirrors=list(mirrors),
        architecture=architecture,
        wheels=[_file_digest(path) for path in spec.wheels],
        packages=sorted({*BASE_PACKAGES, *spec.include}),
    )
    payload = json.dumps(fields, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()


def mmdebstrap_argv(
    spec: BaseImageSpec, *, mirrors: Sequence[str], architecture: str, output: Path
) -> list[str]:
    """The mmdebstrap command that writes ``spec``'s root filesystem tarball to ``output``.

    Wheels are copied into the chroot, installed with pip ``--no-index`` and removed by
    customize hooks (mmdebstrap runs each hook string with ``sh``; every path is quoted).
    """
    packages = ",".join(sorted({*BASE_PACKAGES, *spec.include}))
    argv = [
        "mmdebstrap",
        f"--variant={spec.variant}",
        f"--include={packages}",
        f"--architectures={architecture}",
        "--format=tar",
        "--dpkgopt=path-exclude=/usr/share/doc/*",
        "--dpkgopt=path-exclude=/usr/share/man/*",
        "--dpkgopt=path-exclude=/usr/share/locale/*",
    ]
    if spec.wheels:
        names = " ".join(shlex.quote(line) for line in lock_lines([p.name for p in spec.wheels]))
        argv += [
            '--customize-hook=mkdir -p "$1"/tmp/sagelift-wheels',
            *(
                f'--customize-hook=cp {shlex.quote(str(path))} "$1"/tmp/sagelift-wheels/'
                for path in spec.wheels
            ),
            '--customize-hook=chroot "$1" env PIP_BREAK_SYSTEM_PACKAGES=1'
            " PIP_ROOT_USER_ACTION=ignore PIP_NO_CACHE_DIR=1 python3 -m pip install"
            f" --no-index --find-links /tmp/sagelift-wheels {names}",
            '--customize-hook=rm -rf "$1"/tmp/sagelift-wheels',
        ]
    return [*argv, spec.suite, str(output), *mirrors]


def build_rootfs(
    spec: BaseImageSpec,
    *,
    cache_dir: Path,
    runner: CommandRunner = run_command,
) -> tuple[Path, str]:
    """The cached root-filesystem tarball for ``spec`` and its digest, building it if absent.

    Raises ImageError when mmdebstrap is missing or fails.
    """
    architecture = spec.architecture or _DEB_ARCH.get(os.uname().machine, os.uname().machine)
    mirrors = list(spec.mirrors)
    if not mirrors:
        codename, sources = load_host_apt_sources()
        mirrors = mirror_lines(sources, host_codename=codename, suite=spec.suite)
    digest = base_digest(spec, mirrors, architecture)
    tarball = cache_dir / "base-images" / f"{digest}.tar"
    if tarball.is_file():
        logger.info("base root filesystem cached: %s", tarball)
        return tarball, digest
    if shutil.which("mmdebstrap") is None:
        raise ImageError("mmdebstrap is not installed", hint=INSTALL_HINT)
    tarball.parent.mkdir(parents=True, exist_ok=True)
    fd, partial_name = tempfile.mkstemp(
        prefix=f".{digest[:12]}-", suffix=".tar", dir=tarball.parent
    )
    os.close(fd)
    partial = Path(partial_name)
    argv = mmdebstrap_argv(spec, mirrors=mirrors, architecture=architecture, output=partial)
    logger.info("bootstrapping %s (%s) with mmdebstrap", spec.suite, architecture)
    try:
        result = runner(argv)
        if result.returncode != 0:
            tail = " | ".join(result.stderr.strip().splitlines()[-6:])
            raise ImageError(
                f"mmdebstrap failed (exit {result.returncode}): {tail}",
                hint="check that this machine reaches its apt mirror (apt-get update) and that "
                "mmdebstrap runs as root",
            )
        partial.chmod(0o644)
        partial.replace(tarball)
    finally:
        partial.unlink(missing_ok=True)
    return tarball, digest


#: The environment of the offline base image, as separate entries of ``Config.Env``.
BASE_ENV: dict[str, str] = {"LANG": "C.UTF-8", "PYTHONUNBUFFERED": "1"}


def ensure_base_image(
    cli: ContainerCLI,
    spec: BaseImageSpec | None = None,
    *,
    cache_dir: Path,
    runner: CommandRunner = run_command,
) -> BaseImage:
    """The CPU base image for ``spec``, tagged ``<repository>:<suite>-<digest[:16]>``, where the
    digest covers the root file system and the image configuration (so a changed ENV or CMD
    makes a new tag instead of reusing an image made with the old one).

    Does nothing when that tag exists; imports the cached tarball when only the tarball
    exists; otherwise bootstraps it first. Raises ImageError on any failure.
    """
    spec = spec or BaseImageSpec()
    tarball, digest = build_rootfs(spec, cache_dir=cache_dir, runner=runner)
    # One variable per ENV: podman import (4.3) reads "ENV A=1 B=2" as A='1 B=2'.
    config = [*(f"ENV {key}={value}" for key, value in BASE_ENV.items()), 'CMD ["python3"]']
    tag_digest = hashlib.sha256("\n".join([digest, *config]).encode()).hexdigest()
    ref = f"{spec.repository}:{spec.suite}-{tag_digest[:16]}"
    if not cli.image_exists(ref):
        python = _python_in_tarball(tarball)
        cli.import_tarball(
            tarball,
            ref,
            changes=[*config, f"LABEL {PYTHON_LABEL}={python}", f"LABEL {DIGEST_LABEL}={digest}"],
        )
    labels = cli.labels(ref)
    return BaseImage(
        ref=ref, image_id=cli.image_id(ref), python_version=labels.get(PYTHON_LABEL, "")
    )


def ensure_gpu_base_image(
    cli: ContainerCLI, spec: GpuBaseSpec, *, python_version: str | None = None
) -> BaseImage:
    """Build ``spec.tag`` from ``render_gpu_base_dockerfile`` unless it exists.

    ``python_version`` is recorded as the image's Python; when None it is asked of the image
    (``python3 -c``). Raises ImageError on a failed build or run.
    """
    if not cli.image_exists(spec.tag):
        with tempfile.TemporaryDirectory(prefix="sagelift-gpu-base-") as tmp:
            dockerfile = Path(tmp) / "Containerfile"
            dockerfile.write_text(
                render_gpu_base_dockerfile(base=spec.base, install_python=spec.install_python),
                encoding="utf-8",
            )
            cli.build(Path(tmp), dockerfile, spec.tag)
    version = python_version or cli.labels(spec.tag).get(PYTHON_LABEL) or _ask_python(cli, spec.tag)
    return BaseImage(ref=spec.tag, image_id=cli.image_id(spec.tag), python_version=version)


def _ask_python(cli: ContainerCLI, ref: str) -> str:
    process = cli.run(
        ref,
        entrypoint="python3",
        args=["-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
        remove=True,
        network="none",
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = process.communicate(timeout=120)
    if process.returncode != 0:
        raise ImageError(
            f"cannot run python3 in {ref}: {err.decode(errors='replace').strip()}",
            hint="the base image must provide python3",
        )
    return out.decode().strip()


def _python_in_tarball(tarball: Path) -> str:
    with tarfile.open(tarball) as archive:
        for member in archive:
            match = _PYTHON_IN_TAR.fullmatch(member.name)
            if match:
                return match[1]
    raise ImageError(
        f"{tarball} contains no usr/bin/python3.X", hint="include python3 in the base image"
    )


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return f"{path.name}:{digest.hexdigest()}"
