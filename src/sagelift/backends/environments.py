"""Which Python runs the job: this one, or a venv built from the requirements and cached.

The isolated venv is the local twin of the dependencies-only image: keyed by the requirements'
content and the Python version, built once, reused until the requirements change.
"""

from __future__ import annotations

import hashlib
import logging
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

from sagelift.errors import InfrastructureError, SpecError
from sagelift.spec import JobSpec

__all__ = ["cache_root", "ensure_environment", "environment_key"]

log = logging.getLogger(__name__)


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "sagelift" / "venvs"


def requirements_file(spec: JobSpec) -> Path | None:
    if spec.requirements is not None:
        return spec.requirements
    default = spec.source_dir / "requirements.txt"
    return default if default.is_file() else None


def environment_key(requirements: bytes) -> str:
    """Digest of everything that determines the venv."""
    digest = hashlib.sha256()
    digest.update(requirements)
    digest.update(f"{sys.implementation.name}-{platform.python_version()}".encode())
    digest.update(platform.machine().encode())
    return digest.hexdigest()[:16]


def ensure_environment(spec: JobSpec) -> str:
    """The interpreter that runs the job; builds the isolated venv when needed.

    A framework job is run as the image's training toolkit runs it, which installs the code's
    ``requirements.txt`` over the framework's own packages: in ``auto`` mode (its default) this
    interpreter when it satisfies the requirements already, else a cached venv laid over this
    environment with them installed (``isolated`` always uses that venv); in ``current`` mode
    this interpreter, with a warning naming each requirement it does not satisfy.

    Raises SpecError when isolated mode has no requirements file, InfrastructureError when pip
    fails (its output is logged).
    """
    if spec.dependencies == "auto" or (spec.dependencies == "current" and spec.is_framework):
        found = requirements_file(spec) if spec.is_framework else None
        missing = [] if found is None else unsatisfied_requirements(found.read_text())
        if not missing or found is None:
            return sys.executable
        if spec.dependencies == "current":
            log.warning(
                "%s is not satisfied by this environment (%s); the framework image's toolkit "
                "installs it before the job starts, this job runs without it: set dependencies "
                "= 'auto' (or 'isolated') to install it in a cached environment laid over this one",
                found.name,
                "; ".join(missing),
            )
            return sys.executable
        log.info("%s: %s; installing it over this environment", found.name, "; ".join(missing))
        return layered_environment(found, environ={**os.environ, **spec.environment})
    if spec.dependencies == "current":
        return sys.executable
    requirements = requirements_file(spec)
    if requirements is None:
        raise SpecError(
            "dependencies = 'isolated' needs a requirements file",
            hint="add requirements.txt to the source dir or set requirements = 'path'",
            field="dependencies",
        )
    if spec.is_framework:
        return layered_environment(requirements, environ={**os.environ, **spec.environment})
    venv = cache_root() / environment_key(requirements.read_bytes())
    return _cached_venv(
        venv,
        requirements,
        doing=f"building isolated environment from {requirements}",
        failed="into an isolated environment",
    )


def unsatisfied_requirements(text: str) -> list[str]:
    """The lines of a requirements file this environment does not satisfy, each with why.

    Every requirement is checked with ``importlib.metadata`` against its name, version
    specifiers and markers. Lines pip alone understands (options, URLs, editable or local
    paths) count as unsatisfied: only pip can tell.
    """
    from importlib import metadata

    try:
        from packaging.requirements import InvalidRequirement, Requirement
    except ImportError:  # pragma: no cover - packaging comes with pip's toolchain
        return [line for line in _requirement_lines(text)]
    missing = []
    for line in _requirement_lines(text):
        try:
            requirement = Requirement(line)
        except InvalidRequirement:
            missing.append(f"{line} (only pip can check it)")
            continue
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue
        if requirement.url:
            missing.append(f"{line} (only pip can check it)")
            continue
        try:
            version = metadata.version(requirement.name)
        except metadata.PackageNotFoundError:
            missing.append(f"{requirement.name} (not installed)")
            continue
        if requirement.specifier and not requirement.specifier.contains(version, prereleases=True):
            missing.append(f"{requirement.name}{requirement.specifier} ({version} installed)")
    return missing


def _requirement_lines(text: str) -> list[str]:
    lines = []
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].strip()
        if line and not line.startswith("#"):
            lines.append(line)
    return lines


def layered_environment(requirements: Path, *, environ: dict[str, str]) -> str:
    """A cached venv that sees this environment's packages beneath its own, with
    ``requirements`` installed into it (pip, run from the file's directory with ``environ``,
    installs only what this environment lacks): the local twin of the toolkit's
    ``pip install -r requirements.txt`` in a framework image. Keyed by the requirements, this
    interpreter and this environment's prefix. Raises InfrastructureError when pip fails."""
    digest = hashlib.sha256()
    digest.update(environment_key(requirements.read_bytes()).encode())
    digest.update(sys.prefix.encode())
    venv = cache_root() / f"layered-{digest.hexdigest()[:16]}"
    return _cached_venv(
        venv,
        requirements,
        doing=f"installing {requirements} over this environment",
        failed="over this environment",
        layered=True,
        environ=environ,
    )


def _cached_venv(
    venv: Path,
    requirements: Path,
    *,
    doing: str,
    failed: str,
    layered: bool = False,
    environ: dict[str, str] | None = None,
) -> str:
    """The python of the cached venv ``venv`` with ``requirements`` installed (built under a
    ``.building`` name and renamed into place, so a half-built venv is never reused); with
    ``layered``, it sees this environment's packages beneath its own. Raises
    InfrastructureError when pip fails."""
    python = venv / "bin" / "python"
    if python.exists():
        log.info("reusing environment %s", venv)
        return str(python)
    building = venv.with_name(venv.name + ".building")
    shutil.rmtree(building, ignore_errors=True)
    log.info("%s (cached as %s)", doing, venv.name)
    try:
        subprocess.run([sys.executable, "-m", "venv", str(building)], check=True)
        if layered:
            _layer_over_this_environment(building)
        subprocess.run(
            [str(building / "bin" / "python"), "-m", "pip", "install", "-q", "-r", requirements],
            check=True,
            cwd=requirements.parent,
            env=environ,
        )
    except subprocess.CalledProcessError as exc:
        shutil.rmtree(building, ignore_errors=True)
        raise InfrastructureError(
            f"installing {requirements.name} {failed} failed (exit {exc.returncode})",
            hint="run the pip command above by hand to see why, or use dependencies = 'current'",
        ) from exc
    # The venv's own site-packages path moves with it; a layer file names only outer paths.
    os.replace(building, venv)
    return str(python)


def _layer_over_this_environment(venv: Path) -> None:
    """Make this environment's site directories visible in ``venv``, after its own (a .pth
    file that adds them as site dirs, so their own .pth files apply too)."""
    import site
    import sysconfig

    outer = [
        *site.getsitepackages(),
        sysconfig.get_paths()["purelib"],
        sysconfig.get_paths()["platlib"],
    ]
    unique = list(dict.fromkeys(p for p in outer if Path(p).is_dir()))
    version = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    target = venv / "lib" / version / "site-packages"
    lines = [f"import site; site.addsitedir({p!r})" for p in unique]
    (target / "zz-sagelift-layer.pth").write_text("\n".join(lines) + "\n", encoding="utf-8")
