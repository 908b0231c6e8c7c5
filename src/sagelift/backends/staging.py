"""Materialise a job's ``/opt/ml`` layout on this machine.

Channels are staged as private copies, because SageMaker gives the script a private copy: a
script that writes into, truncates or deletes files of its channel must never touch the user's
data. Hard links would share inodes (an in-place write would reach the user's file), so each
file is cloned: a copy-on-write reflink where the file system supports it (btrfs, xfs, APFS-like),
else an in-kernel copy (``copy_file_range``/``sendfile``), many files at once on a thread pool.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import shutil
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from sagelift.errors import InfrastructureError

__all__ = ["StageReport", "copy_tree", "stage_channel"]

log = logging.getLogger(__name__)

# linux/fs.h: _IOW(0x94, 9, int)
FICLONE = 0x40049409
WORKERS = 8

Progress = Callable[[int, int], None]


@dataclass(frozen=True, slots=True, kw_only=True)
class StageReport:
    files: int
    bytes: int
    seconds: float
    method: str


def stage_channel(src: Path, dest: Path, *, progress: Progress | None = None) -> StageReport:
    """Copy the channel ``src`` (a directory or a single file) into the empty dir ``dest``.

    A single file lands as ``dest/<name>``, as an S3 object under a prefix would. Raises
    InfrastructureError when the copy fails (disk full, permissions).
    """
    src = src.resolve()
    if src.is_file():
        pairs = [(src, dest / src.name)]
    else:
        pairs = [(path, dest / rel) for rel, path in _walk(src)]
    return copy_files(pairs, dest, progress=progress)


def copy_tree(pairs: Iterable[tuple[Path, Path]], root: Path) -> StageReport:
    """Copy (source, destination) file pairs under ``root``; see ``stage_channel``."""
    return copy_files(list(pairs), root)


def copy_files(
    pairs: list[tuple[Path, Path]], root: Path, *, progress: Progress | None = None
) -> StageReport:
    started = time.perf_counter()
    root.mkdir(parents=True, exist_ok=True)
    for parent in sorted({dst.parent for _, dst in pairs}):
        parent.mkdir(parents=True, exist_ok=True)
    total = sum(src.stat().st_size for src, _ in pairs) if progress else 0
    done = 0
    methods: set[str] = set()
    try:
        with ThreadPoolExecutor(max_workers=WORKERS) as pool:
            for size, method in pool.map(lambda pair: _clone(*pair), pairs):
                methods.add(method)
                done += size
                if progress:
                    progress(done, total)
    except OSError as exc:
        raise InfrastructureError(
            f"staging into {root} failed: {exc.strerror or exc} ({exc.filename})",
            hint="free disk space or check permissions of the job directory",
        ) from exc
    method = "+".join(sorted(methods)) or "empty"
    return StageReport(
        files=len(pairs), bytes=done, seconds=time.perf_counter() - started, method=method
    )


def _walk(root: Path) -> Iterable[tuple[Path, Path]]:
    """(relative path, absolute path) of every file under ``root``, following no links out."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        base = Path(dirpath)
        for name in sorted(filenames):
            path = base / name
            if path.is_symlink():
                target = path.resolve()
                if not target.is_relative_to(root) or not target.is_file():
                    log.warning("skipping link %s: it points outside the channel", path)
                    continue
            yield path.relative_to(root), path


_reflink_ok: bool | None = None


def _clone(src: Path, dst: Path) -> tuple[int, str]:
    """Clone one file; returns its size and how it was copied."""
    global _reflink_ok
    size = src.stat().st_size
    if _reflink_ok is not False:
        try:
            with open(src, "rb") as fin, open(dst, "wb") as fout:
                fcntl.ioctl(fout.fileno(), FICLONE, fin.fileno())
            _reflink_ok = True
            shutil.copystat(src, dst)
            return size, "reflink"
        except OSError as exc:
            if exc.errno not in (errno.EOPNOTSUPP, errno.EXDEV, errno.EINVAL, errno.ENOTTY):
                raise
            _reflink_ok = False
    shutil.copy2(src, dst)
    return size, "copy"
