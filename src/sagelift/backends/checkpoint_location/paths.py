"""Walking a checkpoint tree and the path checks, none of which follows a symlink.

sagelift's own files (``RESERVED`` at a location's root, temporary copies ending in
``TMP_SUFFIX``) are never part of a tree. The underscored names are the package's own, shared
by its parts; they are no public API.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from sagelift.backends.checkpoint_location.lock import LOCK_NAME
from sagelift.backends.checkpoint_location.manifest import MANIFEST_NAME, TMP_SUFFIX

__all__ = ["RESERVED", "checkpoint_entries"]

RESERVED = frozenset({MANIFEST_NAME, LOCK_NAME})


@dataclass(slots=True, kw_only=True)
class _Tree:
    files: dict[str, os.stat_result] = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)
    dirs: list[str] = field(default_factory=list)


def checkpoint_entries(checkpoint_dir: Path) -> frozenset[str]:
    """The files and symlinks under ``checkpoint_dir`` as relative POSIX paths (for ``held``)."""
    tree = _scan(checkpoint_dir)
    return frozenset(tree.files) | frozenset(tree.links)


def _scan(root: Path) -> _Tree:
    """Regular files, symlinks and directories under ``root``, never following a symlink;
    sagelift's own files (manifest, lock, temporary copies) are left out."""
    tree = _Tree()
    if not root.is_dir():
        return tree
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        base = Path(dirpath)
        for name in (*dirnames, *filenames):
            path = base / name
            rel = path.relative_to(root).as_posix()
            if rel in RESERVED or name.endswith(TMP_SUFFIX):
                continue
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                continue
            if stat.S_ISLNK(st.st_mode):
                tree.links[rel] = os.readlink(path)
            elif stat.S_ISREG(st.st_mode):
                tree.files[rel] = st
            elif stat.S_ISDIR(st.st_mode):
                tree.dirs.append(rel)
    return tree


def _internal_link(rel: str, text: str) -> bool:
    """Whether a symlink at ``rel`` holding ``text`` resolves, by name, inside its root."""
    if not text or os.path.isabs(text):
        return False
    resolved = os.path.normpath(os.path.join(os.path.dirname(rel), text))
    return resolved != "." and resolved != ".." and not resolved.startswith("../")


def _lstat(path: Path) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None


def _parents_safe(location: Path, rel: str) -> bool:
    """No directory between ``location`` and ``rel`` is a symlink or a non-directory."""
    path = location
    for part in PurePosixPath(rel).parts[:-1]:
        path = path / part
        current = _lstat(path)
        if current is None:
            return True
        if not stat.S_ISDIR(current.st_mode):
            return False
    return True


def _make_parents(location: Path, rel: str) -> None:
    path = location
    for part in PurePosixPath(rel).parts[:-1]:
        path = path / part
        with contextlib.suppress(FileExistsError):
            path.mkdir()
        if path.is_symlink() or not path.is_dir():
            raise OSError(errno.ENOTDIR, "refusing to write through a non-directory", str(path))
