"""The checkpoint helper shipped beside a framework job's code.

In the framework kind the image's own toolkit runs the script, not sagelift's launcher, so the
helper cannot come from the launcher bundle. It travels with the code instead, as
``sagelift/checkpoints.py`` and a ``sagelift/__init__.py`` that loads an installed sagelift in
its place when the image has one (``sagelift.runtime.checkpoint_shim``). A source directory
that holds a ``sagelift`` of its own gets nothing: the user's files always win.
"""

from __future__ import annotations

from pathlib import Path

from sagelift.package import package_dir
from sagelift.spec import JobSpec

__all__ = ["HELPER_PACKAGE", "helper_files"]

HELPER_PACKAGE = "sagelift"


def helper_files(spec: JobSpec, *, package: Path | None = None) -> dict[str, bytes]:
    """Archive path -> content of the helper files ``spec``'s code gets (framework kind only;
    none when its source dir has a ``sagelift`` package or module). ``package`` is the
    sagelift package directory (default: this one)."""
    if not spec.is_framework:
        return {}
    source = spec.source_dir
    if (source / HELPER_PACKAGE).exists() or (source / f"{HELPER_PACKAGE}.py").exists():
        return {}
    root = package or package_dir()
    return {
        f"{HELPER_PACKAGE}/__init__.py": (root / "runtime" / "checkpoint_shim.py").read_bytes(),
        f"{HELPER_PACKAGE}/checkpoints.py": (root / "checkpoints.py").read_bytes(),
    }
