"""The checkpoint helper shipped beside a framework job's code.

In the framework kind the image's own toolkit runs the script, not sagelift's launcher, so the
helper cannot come from the launcher bundle. It travels with the code instead, as
``sagelift/checkpoints.py`` and a ``sagelift/__init__.py`` that loads an installed sagelift in
its place when the image has one (``sagelift.runtime.checkpoint_shim``). Only code that
imports ``sagelift`` gets them, so every other project's code directory (which some scripts
copy into the model) holds exactly its own files; a source directory with a ``sagelift`` of its
own gets nothing: the user's files always win.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from sagelift.package import package_dir
from sagelift.spec import JobSpec

__all__ = ["HELPER_PACKAGE", "helper_files"]

HELPER_PACKAGE = "sagelift"
_IMPORTS_IT = re.compile(rb"^[ \t]*(?:from|import)[ \t]+sagelift\b", re.MULTILINE)


def helper_files(
    spec: JobSpec, code: Iterable[tuple[str, Path]], *, package: Path | None = None
) -> dict[str, bytes]:
    """Archive path -> content of the helper files ``spec``'s code gets: in the framework kind,
    when one of the ``code`` files (relative path, file) that will ship is Python importing
    ``sagelift``, and the source dir holds no ``sagelift`` package or module. ``package`` is
    the sagelift package directory (default: this one)."""
    if not spec.is_framework:
        return {}
    source = spec.source_dir
    if (source / HELPER_PACKAGE).exists() or (source / f"{HELPER_PACKAGE}.py").exists():
        return {}
    if not any(rel.endswith(".py") and _IMPORTS_IT.search(path.read_bytes()) for rel, path in code):
        return {}
    root = package or package_dir()
    return {
        f"{HELPER_PACKAGE}/__init__.py": (root / "runtime" / "checkpoint_shim.py").read_bytes(),
        f"{HELPER_PACKAGE}/checkpoints.py": (root / "checkpoints.py").read_bytes(),
    }
