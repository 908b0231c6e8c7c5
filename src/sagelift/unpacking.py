"""Unpacking a job's artifacts into a user's directory, within limits and all or nothing.

Before anything is written at the destination, the archives' headers are read and the bytes
they declare are checked against a cap (``DEFAULT_MAX_BYTES``, raisable) and against the free
space where they will land. The archives are then extracted into a temporary sibling of the
destination, which is renamed into place at the end: a refused or failed unpack leaves nothing
behind (no destination dir, no parent dirs it created). Into an existing destination
(``force``) files are moved one by one: an archive member overwrites the file of the same path,
and nothing else there is touched or removed. ``place_tree`` gives a downloaded directory
(a model from MLflow) the same guarantees.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from sagelift.archives import Progress, ProgressLines, declared_size, format_size, safe_extract
from sagelift.errors import InfrastructureError, StorageError, UsageError

__all__ = ["DEFAULT_MAX_BYTES", "Part", "check_destination", "place_tree", "unpack"]

log = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 10 * 1024**3


@dataclass(frozen=True, slots=True, kw_only=True)
class Part:
    """One archive and the sub-directory of the destination it goes to (``""``: the top)."""

    archive: Path
    under: str = ""


def check_destination(target: Path, *, force: bool) -> None:
    """Refuse (UsageError) a destination that is not a directory, or a non-empty one without
    ``force``. Reads only."""
    existing = target
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise UsageError(
            f"{target} exists and is not a directory (it is a file)"
            if existing == target
            else f"{target} cannot be a directory: '{existing}' is a file",
            hint="give a directory as the destination (new or empty)",
        )
    if target.is_dir() and any(target.iterdir()) and not force:
        raise UsageError(
            f"{target} exists and is not empty", hint="pick another destination or pass --force"
        )


def unpack(
    parts: Sequence[Part],
    target: Path,
    *,
    force: bool = False,
    max_bytes: int = DEFAULT_MAX_BYTES,
    marker: tuple[str, str] | None = None,
) -> Path:
    """Extract ``parts`` into ``target`` and return ``target``.

    ``marker`` (file name, text) is written into ``target`` when this call creates it.
    Archives larger than ``archives.PROGRESS_MIN_BYTES`` log their progress (INFO).
    Raises UsageError (exit 2) for a bad destination or archives declaring more than
    ``max_bytes``, InfrastructureError (exit 3) when they do not fit the free space, StorageError
    for an unsafe or damaged archive; in every case before anything is left at ``target``.
    """
    check_destination(target, force=force)
    where = Path(os.path.abspath(target))
    sizes = _check_size(parts, where, max_bytes)
    with _staging(where, marker) as staging:
        budget = max_bytes
        for part, declared in zip(parts, sizes, strict=True):
            budget -= safe_extract(
                part.archive,
                staging / part.under,
                max_bytes=budget,
                progress=_progress(part, declared),
            )
    return target


def place_tree(
    source: Path,
    target: Path,
    *,
    force: bool = False,
    max_bytes: int = DEFAULT_MAX_BYTES,
    marker: tuple[str, str] | None = None,
) -> Path:
    """Copy the directory ``source`` (a download) into ``target`` as ``unpack`` extracts: the
    same destination rules, cap, free-space check, marker and all-or-nothing placement.

    Only directories and regular files are copied: a link or special file in ``source`` raises
    StorageError before anything is written.
    """
    check_destination(target, force=force)
    where = Path(os.path.abspath(target))
    total = _tree_size(source)
    _check_total(total, where, max_bytes, what="the download holds")
    with _staging(where, marker) as staging:
        shutil.copytree(source, staging, dirs_exist_ok=True)
    return target


def _tree_size(source: Path) -> int:
    """The bytes of the files under ``source``; StorageError for a link or special file."""
    total = 0
    for dirpath, dirnames, filenames in os.walk(source):
        for name in dirnames:
            _check_plain(Path(dirpath, name), source, Path.is_dir)
        for name in filenames:
            path = Path(dirpath, name)
            _check_plain(path, source, Path.is_file)
            total += path.stat().st_size
    return total


def _check_plain(path: Path, source: Path, kind: Callable[[Path], bool]) -> None:
    if path.is_symlink() or not kind(path):
        raise StorageError(
            f"{path.relative_to(source)} in the download is a link or special file; "
            "nothing was written",
            hint="only plain files and directories are fetched",
        )


@contextlib.contextmanager
def _staging(where: Path, marker: tuple[str, str] | None) -> Iterator[Path]:
    """A temporary sibling of ``where`` for the body to fill; then renamed into place (with
    ``marker`` written into it), or merged file by file into an existing ``where``. Nothing is
    left behind when the body or the placement fails."""
    with _parents(where.parent):
        staging = Path(tempfile.mkdtemp(prefix=f".{where.name}.fetching-", dir=where.parent))
        try:
            yield staging
            if where.is_dir():
                _merge(staging, where)
            else:
                if marker is not None:
                    (staging / marker[0]).write_text(marker[1], encoding="utf-8")
                staging.chmod(0o755)
                os.rename(staging, where)
        finally:
            if staging.exists():
                shutil.rmtree(staging)


def _check_size(parts: Sequence[Part], where: Path, max_bytes: int) -> list[int]:
    """The bytes each part declares; raises when they do not fit (see ``unpack``)."""
    limit = min(max_bytes, _free(where)[1])
    total = 0
    sizes = []
    for part in parts:
        sizes.append(declared_size(part.archive, stop_above=limit - total))
        total += sizes[-1]
        if total > limit:
            break
    _check_total(total, where, max_bytes, what="the archive unpacks to")
    return sizes


def _free(where: Path) -> tuple[Path, int]:
    """The nearest existing directory at or above ``where``, and its free bytes."""
    existing = where
    while not existing.exists():
        existing = existing.parent
    return existing, shutil.disk_usage(existing).free


def _check_total(total: int, where: Path, max_bytes: int, *, what: str) -> None:
    """Raise UsageError past ``max_bytes``, InfrastructureError past the free space."""
    existing, free = _free(where)
    limit = min(max_bytes, free)
    if total > max_bytes:
        raise UsageError(
            f"{what} {_at_least(total, limit)}, over the fetch limit of "
            f"{format_size(max_bytes)}; nothing was written",
            hint=f"if that is expected, raise the limit: --max-size {_next_size(total)}",
        )
    if total > free:
        raise InfrastructureError(
            f"{what} {_at_least(total, limit)} but {existing} has only "
            f"{format_size(free)} free; nothing was written",
            hint="free some space there or fetch to another disk (sagelift fetch JOB DEST)",
        )


def _progress(part: Part, declared: int) -> Progress:
    """Progress lines for extracting ``part``, in the bytes it unpacks to (``declared``)."""
    lines = ProgressLines(f"unpacking {part.archive.name}", log.info)

    def report(done: int, total: int) -> None:
        lines(declared * done // max(total, 1), declared)

    return report


def _at_least(total: int, limit: int) -> str:
    return f"more than {format_size(limit)}" if total > limit else format_size(total)


def _next_size(total: int) -> str:
    return f"{-(-total // 1024**3) * 2}G"


@contextlib.contextmanager
def _parents(directory: Path) -> Iterator[None]:
    """Create ``directory`` and its missing parents; remove the ones created (if still empty)
    when the body fails."""
    missing = []
    probe = directory
    while not probe.exists():
        missing.append(probe)
        probe = probe.parent
    directory.mkdir(parents=True, exist_ok=True)
    try:
        yield
    except BaseException:
        for path in missing:  # deepest first
            with contextlib.suppress(OSError):
                path.rmdir()
        raise


def _merge(staging: Path, where: Path) -> None:
    """Move every file of ``staging`` to the same path under ``where``; checks all first."""
    real = os.path.realpath(where)
    moves: list[tuple[Path, Path]] = []
    for dirpath, dirnames, filenames in os.walk(staging):
        for name in dirnames + filenames:
            src = Path(dirpath, name)
            rel = src.relative_to(staging)
            dst = where / rel
            _check_within(dst, real, rel)
            src_dir = src.is_dir() and not src.is_symlink()
            dst_dir = dst.is_dir() and not dst.is_symlink()
            if (dst.exists() or dst.is_symlink()) and src_dir != dst_dir:
                raise UsageError(
                    f"cannot fetch into {where}: {rel} is a "
                    f"{'directory' if src_dir else 'file'} in the archive but not there",
                    hint="fetch into a new directory instead",
                )
            if not src_dir:
                moves.append((src, dst))
    for src, dst in moves:
        dst.parent.mkdir(parents=True, exist_ok=True)
        os.replace(src, dst)


def _check_within(dst: Path, real: str, rel: Path) -> None:
    probe = dst.parent
    while not probe.exists():
        probe = probe.parent
    resolved = os.path.realpath(probe)
    if resolved != real and not resolved.startswith(real.rstrip(os.sep) + os.sep):
        raise UsageError(
            f"cannot fetch {rel}: a link in the destination leads outside it",
            hint="fetch into a new directory instead",
        )
