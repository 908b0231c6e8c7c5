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

    Raises SpecError when isolated mode has no requirements file, InfrastructureError when pip
    fails (its output is logged).
    """
    if spec.dependencies == "current":
        return sys.executable
    requirements = requirements_file(spec)
    if requirements is None:
        raise SpecError(
            "dependencies = 'isolated' needs a requirements file",
            hint="add requirements.txt to the source dir or set requirements = 'path'",
            field="dependencies",
        )
    venv = cache_root() / environment_key(requirements.read_bytes())
    python = venv / "bin" / "python"
    if python.exists():
        log.info("reusing environment %s", venv)
        return str(python)
    building = venv.with_name(venv.name + ".building")
    shutil.rmtree(building, ignore_errors=True)
    log.info("building isolated environment from %s (cached as %s)", requirements, venv.name)
    try:
        subprocess.run([sys.executable, "-m", "venv", str(building)], check=True)
        subprocess.run(
            [
                str(building / "bin" / "python"),
                "-m",
                "pip",
                "install",
                "-q",
                "-r",
                str(requirements),
            ],
            check=True,
            cwd=requirements.parent,
        )
    except subprocess.CalledProcessError as exc:
        shutil.rmtree(building, ignore_errors=True)
        raise InfrastructureError(
            f"installing {requirements.name} into an isolated environment failed "
            f"(exit {exc.returncode})",
            hint="run the pip command above by hand to see why, or use dependencies = 'current'",
        ) from exc
    os.replace(building, venv)
    return str(python)
