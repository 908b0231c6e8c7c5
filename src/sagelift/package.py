"""The sagelift package itself: its version and where it is installed. Stdlib only.

The one place both are known, so the launcher bundle, the images, the request tags and the CLI
agree; it ships inside the launcher bundle beside ``sagelift/runtime``.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["VERSION", "import_root", "package_dir"]

VERSION = "0.1.0"


def package_dir() -> Path:
    """The directory of the ``sagelift`` package (holding ``__init__.py``)."""
    return Path(__file__).resolve().parent


def import_root() -> Path:
    """The directory that, on ``sys.path``, makes ``import sagelift`` find this package."""
    return package_dir().parent
