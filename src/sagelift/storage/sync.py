"""Pieces every storage's incremental sync shares: scanning a tree, digests, progress, paths."""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, TypeVar

from sagelift.errors import StorageError
from sagelift.storage.base import Progress

__all__ = [
    "Digests",
    "LocalFile",
    "Meter",
    "atomic_writer",
    "digest_bytes",
    "digest_file",
    "relative_under",
    "run_all",
    "scan_dir",
    "target_under",
]

CHUNK = 1024 * 1024

T = TypeVar("T")
R = TypeVar("R")


def run_all(pool: ThreadPoolExecutor, fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
    """``fn`` over ``items`` on ``pool``, results in input order; an error cancels the rest."""
    futures: list[Future[R]] = [pool.submit(fn, item) for item in items]
    try:
        for future in as_completed(futures):
            future.result()
    except BaseException:
        for future in futures:
            future.cancel()
        raise
    return [future.result() for future in futures]


@dataclass(frozen=True, slots=True, kw_only=True)
class LocalFile:
    """A regular file found under a synced directory; ``rel`` is its POSIX path there."""

    rel: str
    path: Path
    size: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Digests:
    """Content digests of one file: sha256 (what sagelift records) and md5 (S3's simple ETag)."""

    sha256: str
    md5: str


def digest_bytes(data: bytes) -> Digests:
    return Digests(
        sha256=hashlib.sha256(data).hexdigest(),
        md5=hashlib.md5(data, usedforsecurity=False).hexdigest(),
    )


def digest_file(path: Path) -> Digests:
    """Digests of the file at ``path``, read in chunks (hashlib releases the GIL on them)."""
    sha = hashlib.sha256()
    md5 = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            sha.update(chunk)
            md5.update(chunk)
    return Digests(sha256=sha.hexdigest(), md5=md5.hexdigest())


def scan_dir(local_dir: Path) -> list[LocalFile]:
    """Every regular file under ``local_dir``, sorted by relative path.

    Symlinked files are followed (their content is synced); symlinked directories are not
    descended into, so a link cycle cannot loop. A missing directory raises StorageError.
    """
    if not local_dir.is_dir():
        raise StorageError(
            f"{local_dir} is not a directory", hint="pass an existing directory to sync"
        )
    found: list[LocalFile] = []
    stack = [local_dir]
    while stack:
        current = stack.pop()
        with os.scandir(current) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(Path(entry.path))
                elif entry.is_file(follow_symlinks=True):
                    path = Path(entry.path)
                    found.append(
                        LocalFile(
                            rel=path.relative_to(local_dir).as_posix(),
                            path=path,
                            size=entry.stat(follow_symlinks=True).st_size,
                        )
                    )
    found.sort(key=lambda f: f.rel)
    return found


def relative_under(prefix: str, key: str) -> str | None:
    """``key`` relative to ``prefix`` read as a directory, or None when it is not under it."""
    base = prefix.strip("/")
    if not base:
        return key.lstrip("/") or None
    if key.startswith(base + "/"):
        return key[len(base) + 1 :] or None
    return None


def target_under(root: Path, rel: str) -> Path:
    """``root / rel``, refusing a ``rel`` that is absolute or climbs out with ``..``."""
    parts = rel.split("/")
    if rel.startswith("/") or any(part in ("", ".", "..") for part in parts):
        raise StorageError(
            f"refusing to write {rel!r} under {root}: the name is not a plain relative path",
            hint="rename the object; keys with '..', '.' or empty segments cannot be synced",
        )
    return root.joinpath(*parts)


class Meter:
    """Adds up bytes from many threads and reports the running total to a ``Progress``."""

    def __init__(self, progress: Progress | None, total: int) -> None:
        self._progress = progress
        self._total = total
        self._done = 0
        self._lock = threading.Lock()

    def add(self, amount: int) -> None:
        if self._progress is None or amount == 0:
            return
        with self._lock:
            self._done += amount
            self._progress(self._done, self._total)


@contextmanager
def atomic_writer(path: Path) -> Iterator[BinaryIO]:
    """Write ``path`` through a temporary file beside it, renamed into place on success."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
