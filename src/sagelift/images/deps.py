"""Build the deps and code images once, by content tag, and push them.

``ensure_deps_image`` downloads wheels on the host, computes the deps tag from everything that
determines the image, and builds only when that tag is not in the local store. Build contexts
are staged in a temporary directory holding only what the Containerfile copies.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from sagelift.errors import ImageError
from sagelift.images.base import BaseImage
from sagelift.images.builder import ContainerCLI
from sagelift.images.dockerfile import (
    LABEL_PREFIX,
    LOCK_FILE,
    CodeImageInputs,
    DepsImageInputs,
    image_tag,
    render_code_dockerfile,
    render_deps_dockerfile,
)
from sagelift.images.refs import ImageRef, parse_image_ref
from sagelift.images.runner import CommandRunner, run_command
from sagelift.images.wheels import WheelSet, download_wheels, lock_lines

__all__ = [
    "DEFAULT_CODE_IGNORE",
    "SHARED_DEPS_REPOSITORY",
    "BuiltImage",
    "ensure_code_image",
    "ensure_deps_image",
    "launcher_version",
    "push_image",
    "tree_digest",
]

logger = logging.getLogger(__name__)

#: Where every deps image is also tagged by its content, whichever project built it.
SHARED_DEPS_REPOSITORY = "localhost/sagelift/deps"
#: Names never copied into a code image (the packaging rules of the project may add more).
DEFAULT_CODE_IGNORE = frozenset({".git", "__pycache__", ".venv", ".sagelift", ".mypy_cache"})


@dataclass(frozen=True, slots=True, kw_only=True)
class BuiltImage:
    """An image in the local store; ``built`` is False when its tag existed already."""

    ref: str
    image_id: str
    built: bool
    inputs: DepsImageInputs | CodeImageInputs


def tree_digest(root: Path, *, ignore: Callable[[Path], bool] | None = None) -> str:
    """sha256 over the relative paths, executable bits and bytes of the files under ``root``.

    Symlinks are hashed by their target text; ``ignore(path)`` excludes a path and, for a
    directory, everything under it.
    """
    digest = hashlib.sha256()
    for path in _walk(root, ignore):
        relative = path.relative_to(root).as_posix()
        if path.is_symlink():
            digest.update(f"L {relative} {os.readlink(path)}\n".encode())
            continue
        executable = bool(path.stat().st_mode & stat.S_IXUSR)
        digest.update(f"F {relative} {int(executable)}\n".encode())
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def launcher_version(package_dir: Path | None = None) -> str:
    """``<sagelift version>+<digest[:12]>`` of the sagelift package shipped into images."""
    from sagelift import package

    directory = package_dir or package.package_dir()
    return f"{package.VERSION}+{tree_digest(directory, ignore=_not_source)[:12]}"


def ensure_deps_image(
    cli: ContainerCLI,
    *,
    base: BaseImage,
    requirements: Path | None,
    repository: str,
    cache_dir: Path,
    accelerator: Literal["cpu", "gpu"] = "cpu",
    pip_env: Mapping[str, str] | None = None,
    package_dir: Path | None = None,
    runner: CommandRunner = run_command,
) -> BuiltImage:
    """The deps image for ``requirements`` on ``base``, as ``<repository>:deps-<digest>``.

    Wheels are resolved on the host (``download_wheels``, cached); the build is skipped when
    the tag exists, or when the same content was built for any project (every build is also
    tagged ``<SHARED_DEPS_REPOSITORY>:deps-<digest>``; the tag covers the base, the wheels
    and the launcher, so identical dependencies are built once). ``package_dir`` is the
    sagelift package to ship (default: this one).
    Raises ImageError on download or build failures.
    """
    wheels = _wheels(requirements, base, cache_dir, pip_env, runner)
    from sagelift import package

    source = package_dir or package.package_dir()
    inputs = DepsImageInputs(
        base_ref=base.ref,
        base_id=base.image_id,
        python_version=base.python_version,
        requirements_digest=_text_digest(requirements),
        wheels=wheels.wheels if wheels else (),
        launcher_version=launcher_version(source),
        accelerator=accelerator,
    )
    tag = image_tag(inputs)
    ref = str(parse_image_ref(repository).with_tag(tag))
    shared = str(parse_image_ref(SHARED_DEPS_REPOSITORY).with_tag(tag))
    if cli.image_exists(ref):
        logger.info("deps image %s exists; build skipped", ref)
        return BuiltImage(ref=ref, image_id=cli.image_id(ref), built=False, inputs=inputs)
    if cli.image_exists(shared):
        # The same content (base, wheels, launcher) was built for another project.
        logger.info("deps image %s is %s, built before; build skipped", ref, shared)
        cli.tag(shared, ref)
        return BuiltImage(ref=ref, image_id=cli.image_id(ref), built=False, inputs=inputs)
    with tempfile.TemporaryDirectory(prefix="sagelift-deps-") as tmp:
        context = Path(tmp)
        if wheels and wheels.wheels:
            _stage_wheels(wheels, context / "wheels")
        shutil.copytree(source, context / "sagelift", ignore=_ignore_names(_not_source))
        dockerfile = context / "Containerfile"
        dockerfile.write_text(
            render_deps_dockerfile(
                base_ref=base.ref,
                has_wheels=bool(wheels and wheels.wheels),
                labels={f"{LABEL_PREFIX}.launcher": inputs.launcher_version},
            ),
            encoding="utf-8",
        )
        logger.info("building deps image %s", ref)
        cli.build(context, dockerfile, ref)
    cli.tag(ref, shared)
    return BuiltImage(ref=ref, image_id=cli.image_id(ref), built=True, inputs=inputs)


def ensure_code_image(
    cli: ContainerCLI,
    *,
    deps: BuiltImage,
    code_dir: Path,
    repository: str,
    ignore: Callable[[Path], bool] | None = None,
) -> BuiltImage:
    """``deps`` + ``code_dir`` in /opt/ml/code, as ``<repository>:code-<digest>``.

    ``ignore`` defaults to ``DEFAULT_CODE_IGNORE`` by name. The build is skipped when the tag
    exists. Raises ImageError when ``code_dir`` is not a directory or the build fails.
    """
    if not code_dir.is_dir():
        raise ImageError(f"code directory {code_dir} does not exist", hint="pass the project dir")
    skip = ignore or (lambda path: path.name in DEFAULT_CODE_IGNORE)
    inputs = CodeImageInputs(
        deps_ref=deps.ref, deps_id=deps.image_id, code_digest=tree_digest(code_dir, ignore=skip)
    )
    ref = str(parse_image_ref(repository).with_tag(image_tag(inputs)))
    if cli.image_exists(ref):
        return BuiltImage(ref=ref, image_id=cli.image_id(ref), built=False, inputs=inputs)
    with tempfile.TemporaryDirectory(prefix="sagelift-code-") as tmp:
        context = Path(tmp)
        shutil.copytree(code_dir, context / "code", symlinks=True, ignore=_ignore_names(skip))
        dockerfile = context / "Containerfile"
        dockerfile.write_text(render_code_dockerfile(deps_ref=deps.ref), encoding="utf-8")
        cli.build(context, dockerfile, ref)
    return BuiltImage(ref=ref, image_id=cli.image_id(ref), built=True, inputs=inputs)


def push_image(cli: ContainerCLI, ref: str, target: ImageRef, *, tls_verify: bool = True) -> str:
    """Tag local ``ref`` as ``target`` and push it; return ``target`` pinned by digest."""
    destination = str(target)
    if destination != ref:
        cli.tag(ref, destination)
    digest = cli.push(destination, tls_verify=tls_verify)
    return str(target.with_digest(digest))


def _wheels(
    requirements: Path | None,
    base: BaseImage,
    cache_dir: Path,
    pip_env: Mapping[str, str] | None,
    runner: CommandRunner,
) -> WheelSet | None:
    if requirements is None:
        return None
    if not base.python_version:
        raise ImageError(
            f"the Python version of base image {base.ref} is unknown",
            hint="rebuild the base image with sagelift, or set BaseImage.python_version",
        )
    return download_wheels(
        requirements,
        python_version=base.python_version,
        cache_dir=cache_dir,
        env=pip_env,
        runner=runner,
    )


def _stage_wheels(wheels: WheelSet, destination: Path) -> None:
    destination.mkdir(parents=True)
    for name in wheels.wheels:
        source = wheels.directory / name
        try:
            os.link(source, destination / name)
        except OSError:
            shutil.copy2(source, destination / name)
    lock = "\n".join(lock_lines(wheels.wheels)) + "\n"
    (destination / LOCK_FILE).write_text(lock, encoding="utf-8")


def _text_digest(path: Path | None) -> str:
    if path is None:
        return ""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _not_source(path: Path) -> bool:
    return path.name == "__pycache__" or path.suffix in {".pyc", ".pyo"}


def _walk(root: Path, ignore: Callable[[Path], bool] | None) -> list[Path]:
    files: list[Path] = []
    for directory, dirnames, filenames in os.walk(root):
        here = Path(directory)
        dirnames[:] = sorted(name for name in dirnames if not (ignore and ignore(here / name)))
        for name in sorted(filenames):
            path = here / name
            if not (ignore and ignore(path)):
                files.append(path)
        for name in dirnames:
            if (here / name).is_symlink():
                files.append(here / name)
    return sorted(files, key=lambda path: path.relative_to(root).as_posix())


def _ignore_names(ignore: Callable[[Path], bool]) -> Callable[[str, list[str]], set[str]]:
    def names(directory: str, entries: list[str]) -> set[str]:
        return {name for name in entries if ignore(Path(directory) / name)}

    return names
