"""``sagelift_runtime.pyz``: the launcher as one file that any Python ≥ 3.8 can run.

The bundle is a zipapp of ``sagelift/__init__.py``, ``sagelift/errors.py``,
``sagelift/archives.py`` (for ``safe_extract`` of the code tarball), ``sagelift/package.py``,
``sagelift/private_files.py`` and ``sagelift/redaction.py`` (private config files, masked log
lines), ``sagelift/contract/`` and ``sagelift/runtime/``, with a ``__main__.py`` that calls
``sagelift.runtime.main.main()``. All of it is stdlib-only, so
``python3 sagelift_runtime.pyz --program train.py`` works in any image with Python: a prebuilt
framework image, the user's own, or sagelift's dependencies-only image.

Same sources in, same bytes out: entries are sorted, every timestamp is 1980-01-01 and every
mode is ``0o644``.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

from sagelift.runtime.floor import REFUSAL_SOURCE

__all__ = ["BUNDLE_NAME", "Bundle", "build_bundle", "bundle_members"]

BUNDLE_NAME = "sagelift_runtime.pyz"
SHEBANG = b"#!/usr/bin/env python3\n"
_EPOCH = (1980, 1, 1, 0, 0, 0)
_PACKAGE_FILES = (
    "__init__.py",
    "archives.py",
    "checkpoints.py",
    "errors.py",
    "package.py",
    "private_files.py",
    "redaction.py",
)
_PACKAGE_DIRS = ("contract", "runtime")

# Refuse an interpreter too old for the shipped code with a sentence in output/failure (the
# job's FailureReason), not a SyntaxError from deep inside an import.
MAIN = (
    '"""Entry point of sagelift_runtime.pyz."""\n'
    + REFUSAL_SOURCE
    + "from sagelift.runtime.main import main\n\nraise SystemExit(main())\n"
).encode()


@dataclass(frozen=True)
class Bundle:
    """A built bundle: its bytes and their sha256 hex."""

    data: bytes
    digest: str

    def write(self, path: Path) -> Path:
        """Write the bundle to ``path`` (parents created) and return it."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(self.data)
        return path


def bundle_members(package_dir: Path | None = None) -> dict[str, Path]:
    """Archive name -> source file of every module the bundle holds, sorted by name.

    ``package_dir`` is the ``sagelift`` package directory (default: the installed one).
    Compiled files and caches are left out.
    """
    root = package_dir if package_dir is not None else Path(__file__).resolve().parent.parent
    members = {f"sagelift/{name}": root / name for name in _PACKAGE_FILES}
    for sub in _PACKAGE_DIRS:
        for path in (root / sub).rglob("*.py"):
            if "__pycache__" not in path.parts:
                members[path.relative_to(root.parent).as_posix()] = path
    return dict(sorted(members.items()))


def _entry(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=_EPOCH)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o100644 << 16
    info.create_system = 3
    return info


def build_bundle(package_dir: Path | None = None) -> Bundle:
    """Build ``sagelift_runtime.pyz`` in memory from the ``sagelift`` sources."""
    buffer = io.BytesIO()
    buffer.write(SHEBANG)
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(_entry("__main__.py"), MAIN)
        for name, path in bundle_members(package_dir).items():
            archive.writestr(_entry(name), path.read_bytes())
    data = buffer.getvalue()
    return Bundle(data=data, digest=hashlib.sha256(data).hexdigest())
