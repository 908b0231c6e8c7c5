"""Extracting archives safely, and sizes for people: stdlib only, so the launcher ships it
inside every job.

Every tarball sagelift extracts (the code in a job, a model on ``fetch``, artifacts for MLflow)
goes through ``safe_extract``: nothing lands outside the destination, and nothing past a size
limit is written.
"""

from __future__ import annotations

import copy
import os
import re
import tarfile
import time
from pathlib import Path, PurePosixPath
from typing import IO, Any, Callable

from sagelift.errors import StorageError, UsageError

__all__ = [
    "PROGRESS_MIN_BYTES",
    "ProgressLines",
    "declared_size",
    "format_size",
    "parse_size",
    "safe_extract",
]

#: Packing or unpacking less than this says nothing; above it, progress lines are emitted.
PROGRESS_MIN_BYTES = 100 * 1024 * 1024
#: At most one progress line per this many seconds (the last one always).
PROGRESS_SECONDS = 2.0

Progress = Callable[[int, int], None]


class ProgressLines:
    """A ``(done, total)`` progress callback that emits lines such as
    ``packing model.tar.gz: 1.0 GiB of 2.0 GiB (50%)`` through ``emit``: the first at once, then
    at most one every ``PROGRESS_SECONDS``, and the one at 100 %. Totals under
    ``PROGRESS_MIN_BYTES`` (read when called) emit nothing."""

    def __init__(
        self,
        label: str,
        emit: Callable[[str], None],
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._label = label
        self._emit = emit
        self._clock = clock
        self._last: float | None = None
        self._finished = False

    def __call__(self, done: int, total: int) -> None:
        if total < PROGRESS_MIN_BYTES or self._finished:
            return
        now = self._clock()
        final = done >= total
        if not final and self._last is not None and now - self._last < PROGRESS_SECONDS:
            return
        self._last = now
        self._finished = final
        percent = min(100, done * 100 // max(total, 1))
        self._emit(f"{self._label}: {format_size(done)} of {format_size(total)} ({percent}%)")


class _Counted:
    """A file opened for reading that reports how far into it reading has come."""

    def __init__(self, raw: IO[bytes], total: int, progress: Progress) -> None:
        self._raw = raw
        self._total = total
        self.progress = progress
        self._furthest = 0

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        position = self._raw.tell()
        if position > self._furthest:
            self._furthest = position
            self.progress(position, self._total)
        return data

    def restart(self, progress: Progress) -> None:
        self.progress = progress
        self._furthest = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._raw, name)


# Python 3.12 (and 3.11.4+/3.10.12+ backports) ship the ``data`` extraction filter (PEP 706).
_HAS_DATA_FILTER = hasattr(tarfile, "data_filter")
_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}


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


def declared_size(tar_path: Path, *, stop_above: int | None = None) -> int:
    """The bytes the (optionally compressed) tar's regular files declare in their headers.

    Reads headers only, stopping as soon as the sum passes ``stop_above`` (the result is then
    a lower bound above it), so an archive declaring terabytes is refused after one header.
    A gzip bomb is caught here: its decompressed content is what the headers declare. Raises
    StorageError on an unreadable archive.
    """
    total = 0
    try:
        with tarfile.open(tar_path, mode="r:*") as tar:
            for member in tar:
                if member.isfile():
                    total += member.size
                if stop_above is not None and total > stop_above:
                    break
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise StorageError(
            f"cannot read {tar_path}: {exc}",
            hint="the archive is damaged; download it again or inspect it with tar",
        ) from exc
    return total


def safe_extract(
    tar_path: Path,
    dest: Path,
    *,
    max_bytes: int | None = None,
    progress: Progress | None = None,
) -> int:
    """Extract the (optionally compressed) tar at ``tar_path`` into ``dest``; returns the
    bytes written.

    Refuses, before writing anything, absolute names, ``..``, symlinks and hard links leading
    outside ``dest``, devices and fifos, and (with ``max_bytes``) archives whose files declare
    more than ``max_bytes``; each member is checked again against the real path on disk as it
    is written (a symlink extracted earlier cannot redirect a later member), and extraction
    stops once the bytes really written pass ``max_bytes``. Owners are not restored and
    setuid/sticky/group- and world-write bits are dropped. Raises StorageError with a hint on
    an unsafe, oversize or unreadable archive. ``progress`` is told how far into the archive
    file extraction has read (bytes of the archive, compressed).
    """
    dest.mkdir(parents=True, exist_ok=True)
    real_dest = os.path.realpath(dest)
    written = 0
    try:
        with open(tar_path, "rb") as raw:
            size = os.fstat(raw.fileno()).st_size
            counted = _Counted(raw, size, _halves(progress, 0))
            written = _extract_all(tar_path, counted, real_dest, max_bytes, progress)
            if progress is not None:
                progress(size, size)
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise StorageError(
            f"cannot extract {tar_path}: {exc}",
            hint="the archive is damaged or unsafe; download it again or inspect it with tar",
        ) from exc
    return written


def _extract_all(
    tar_path: Path,
    counted: _Counted,
    real_dest: str,
    max_bytes: int | None,
    progress: Progress | None,
) -> int:
    written = 0
    fileobj: Any = counted  # reads, seeks and tells like the file it wraps
    with tarfile.open(name=str(tar_path), mode="r:*", fileobj=fileobj) as tar:
        members = tar.getmembers()
        # Listing the members read the archive once (the first half of the progress);
        # extraction reads it again (the second half).
        counted.restart(_halves(progress, 1))
        for member in members:
            _check_member(tar_path, member, real_dest)
        declared = sum(m.size for m in members if m.isfile())
        if max_bytes is not None and declared > max_bytes:
            raise _oversize(tar_path, declared, max_bytes)
        for member in members:
            parent = os.path.realpath(os.path.join(real_dest, os.path.dirname(member.name)))
            if not _within(parent, real_dest):
                raise _unsafe(tar_path, member.name, "goes through a link leaving the destination")
            _extract_one(tar, member, real_dest)
            if member.isfile():
                written += os.lstat(os.path.join(real_dest, member.name)).st_size
                if max_bytes is not None and written > max_bytes:
                    raise _oversize(tar_path, written, max_bytes)
    return written


def _halves(progress: Progress | None, half: int) -> Progress:
    """``progress`` for one of two passes over the same bytes."""

    def report(done: int, total: int) -> None:
        if progress is not None:
            progress(half * (total // 2) + done // 2, total)

    return report


def _oversize(tar_path: Path, size: int, limit: int) -> StorageError:
    return StorageError(
        f"refusing to extract {tar_path}: it unpacks to {format_size(size)}, over the "
        f"{format_size(limit)} allowed",
        hint=f"inspect it with 'tar -tvzf {tar_path}'",
    )


def parse_size(text: str) -> int:
    """Bytes from ``'500M'``, ``'10G'``, ``'2GiB'``, ``'1.5T'`` or a plain count (binary
    units). Raises UsageError with a hint on anything else."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?\s*", text, flags=re.IGNORECASE)
    if match is None:
        raise UsageError(
            f"not a size: {text!r}", hint="give bytes or a number with K, M, G or T (e.g. 20G)"
        )
    return int(float(match.group(1)) * _UNITS[match.group(2).upper()])


def format_size(size: int) -> str:
    """``size`` bytes for people: ``'1.5 GiB'``, ``'300 B'``."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"


def _extract_one(tar: tarfile.TarFile, member: tarfile.TarInfo, dest: str) -> None:
    if _HAS_DATA_FILTER:
        tar.extract(member, dest, filter="data")
    else:
        tar.extract(_sanitised(member), dest, set_attrs=True)
