"""Extracting archives safely: stdlib only, so the launcher ships it inside every job.

Every tarball sagelift extracts (the code in a job, a model on ``fetch``, artifacts for MLflow)
goes through ``safe_extract``: nothing lands outside the destination.
"""

from __future__ import annotations

import copy
import os
import re
import tarfile
from pathlib import Path, PurePosixPath

from sagelift.errors import StorageError

__all__ = ["safe_extract"]

# Python 3.12 (and 3.11.4+/3.10.12+ backports) ship the ``data`` extraction filter (PEP 706).
_HAS_DATA_FILTER = hasattr(tarfile, "data_filter")


def _unsafe(tar_path: Path, name: str, why: str) -> StorageError:
    return StorageError(
        f"refusing to extract {tar_path}: member {name!r} {why}",
        hint=f"the archive is unsafe or damaged; inspect it with 'tar -tvzf {tar_path}'",
    )


def _check_member(tar_path: Path, member: tarfile.TarInfo, dest: str) -> None:
    name = member.name
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        raise _unsafe(tar_path, name, "has an absolute path")
    if ".." in PurePosixPath(name).parts:
        raise _unsafe(tar_path, name, "climbs out with '..'")
    if member.isdev():
        raise _unsafe(tar_path, name, "is a device or fifo")
    if not (member.isfile() or member.isdir() or member.issym() or member.islnk()):
        raise _unsafe(tar_path, name, "is of an unsupported type")
    target = os.path.normpath(os.path.join(dest, name))
    if not _within(target, dest):
        raise _unsafe(tar_path, name, "lands outside the destination")
    if member.issym():
        if os.path.isabs(member.linkname):
            raise _unsafe(tar_path, name, f"links to the absolute path {member.linkname!r}")
        link = os.path.normpath(os.path.join(os.path.dirname(target), member.linkname))
        if not _within(link, dest):
            raise _unsafe(tar_path, name, f"links outside the destination ({member.linkname!r})")
    if member.islnk():
        link = os.path.normpath(os.path.join(dest, member.linkname))
        if os.path.isabs(member.linkname) or not _within(link, dest):
            raise _unsafe(tar_path, name, f"hard-links outside ({member.linkname!r})")


def _within(path: str, dest: str) -> bool:
    return path == dest or path.startswith(dest.rstrip(os.sep) + os.sep)


def _sanitised(member: tarfile.TarInfo) -> tarfile.TarInfo:
    clean = copy.copy(member)
    clean.uid, clean.gid, clean.uname, clean.gname = os.getuid(), os.getgid(), "", ""
    clean.mode = (member.mode & 0o755) | (0o700 if member.isdir() else 0o600)
    return clean


def safe_extract(tar_path: Path, dest: Path) -> None:
    """Extract the (optionally compressed) tar at ``tar_path`` into ``dest``.

    Refuses, before writing anything, absolute names, ``..``, symlinks and hard links leading
    outside ``dest``, devices and fifos; each member is checked again against the real path on
    disk as it is written (a symlink extracted earlier cannot redirect a later member). Owners
    are not restored and setuid/sticky/group- and world-write bits are dropped. Raises
    StorageError with a hint on an unsafe or unreadable archive.
    """
    dest.mkdir(parents=True, exist_ok=True)
    real_dest = os.path.realpath(dest)
    try:
        with tarfile.open(tar_path, mode="r:*") as tar:
            members = tar.getmembers()
            for member in members:
                _check_member(tar_path, member, real_dest)
            for member in members:
                parent = os.path.realpath(os.path.join(real_dest, os.path.dirname(member.name)))
                if not _within(parent, real_dest):
                    raise _unsafe(
                        tar_path, member.name, "goes through a link leaving the destination"
                    )
                _extract_one(tar, member, real_dest)
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise StorageError(
            f"cannot extract {tar_path}: {exc}",
            hint="the archive is damaged or unsafe; download it again or inspect it with tar",
        ) from exc


def _extract_one(tar: tarfile.TarFile, member: tarfile.TarInfo, dest: str) -> None:
    if _HAS_DATA_FILTER:
        tar.extract(member, dest, filter="data")
    else:
        tar.extract(_sanitised(member), dest, set_attrs=True)
