"""The job's code as a deterministic ``sourcedir.tar.gz``, and safe extraction of archives
that come back.

Same tree in, same bytes out: entries are sorted, every mtime is 0, owners are ``0``/``""``,
modes are ``0o755`` (directories, executables) or ``0o644``, and the gzip header carries no name
and no time. Which files go in is :mod:`sagelift.codefiles`'s decision (ignore files, the
``exclude`` setting, secrets and caches left out by default).

This module ships inside the job's runtime bundle, which is stdlib-only: ``codefiles`` (which
needs ``pathspec``) is imported only by the functions that select files, never at import time.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import logging
import os
import tarfile
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, BinaryIO

from sagelift.archives import declared_size, format_size, parse_size, safe_extract
from sagelift.errors import SpecError

if TYPE_CHECKING:
    from sagelift.codefiles import CodeSelection, LeftOut

__all__ = [
    "DEFAULT_MAX_BYTES",
    "PackageListing",
    "SourcePackage",
    "build_source_tarball",
    "declared_size",
    "format_size",
    "list_package",
    "parse_size",
    "safe_extract",
    "source_digest",
]

log = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 50 * 1024 * 1024


@dataclass(frozen=True, slots=True, kw_only=True)
class SourcePackage:
    """A built tarball: ``digest`` is the sha256 hex of its bytes, ``size`` their count;
    ``selection`` says which files went in and which were left out, and why."""

    path: Path
    digest: str
    size: int
    file_count: int
    selection: CodeSelection


@dataclass(frozen=True, slots=True, kw_only=True)
class PackageListing:
    """What ``build_source_tarball`` would ship: each file with its size, their total, the
    tarball's size and sha256, and what was left out."""

    files: tuple[tuple[str, int], ...]
    total_bytes: int
    tarball_bytes: int
    digest: str
    left_out: tuple[LeftOut, ...]
    risky: tuple[str, ...]


def _checked_extra(name: str) -> str:
    pure = PurePosixPath(name)
    if not name or pure.is_absolute() or ".." in pure.parts or str(pure) != name:
        raise SpecError(
            f"extra file path {name!r} is not a plain relative path",
            hint="use a relative POSIX path such as 'sagelift_launcher.py'",
        )
    return name


def _entries(
    source_dir: Path,
    exclude: Sequence[str],
    extra_files: Mapping[str, bytes],
    max_bytes: int,
    skip: Sequence[Path] = (),
    selection: CodeSelection | None = None,
) -> tuple[dict[str, Path | bytes], CodeSelection]:
    from sagelift.codefiles import select_code

    if selection is None:
        selection = select_code(source_dir, exclude=exclude, skip=skip)
    entries: dict[str, Path | bytes] = dict(selection.files)
    entries.update({_checked_extra(k): v for k, v in extra_files.items()})
    sizes = {
        rel: len(item) if isinstance(item, bytes) else item.stat().st_size
        for rel, item in entries.items()
    }
    total = sum(sizes.values())
    if total > max_bytes:
        biggest = sorted(sizes.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
        listing = ", ".join(f"{rel} ({size / 1e6:.1f} MB)" for rel, size in biggest)
        raise SpecError(
            f"source_dir '{source_dir}' holds {total / 1e6:.1f} MB of code, over the "
            f"{max_bytes / 1e6:.0f} MB limit; biggest: {listing}",
            hint="data belongs in a channel (channels.<name> = 'data/...'), not in the code; "
            "or list those files in .sagemakerignore or exclude",
            field="source_dir",
        )
    return entries, selection


def _mode(item: Path | bytes) -> int:
    if isinstance(item, Path) and item.stat().st_mode & 0o111:
        return 0o755
    return 0o644


def _tarinfo(name: str, *, kind: bytes, mode: int, size: int = 0) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.size = kind, mode, size
    info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
    return info


def build_source_tarball(
    source_dir: Path,
    dest: Path,
    *,
    exclude: Sequence[str] = (),
    extra_files: Mapping[str, bytes] | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    selection: CodeSelection | None = None,
) -> SourcePackage:
    """Write ``dest`` (a ``sourcedir.tar.gz``) from ``source_dir`` and return what was built.

    ``selection`` is the files to ship when the caller has chosen them already
    (``codefiles.select_code`` with the same ``exclude``); else they are chosen here.
    ``extra_files`` maps archive paths to generated content, replacing a source file of the
    same path. The archive's bytes depend only on the selected paths, their contents and their
    executable bits. Raises SpecError (naming the biggest files) when the content exceeds
    ``max_bytes``, before anything is written; ``dest`` is replaced atomically. Logs nothing
    about the selection: the caller reports ``selection`` (``codefiles.report_selection``).
    """
    entries, selection = _entries(
        source_dir, exclude, extra_files or {}, max_bytes, selection=selection
    )
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as raw:
            _write_tar(raw, entries)
        digest = hashlib.sha256(Path(tmp).read_bytes()).hexdigest()
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return SourcePackage(
        path=dest,
        digest=digest,
        size=dest.stat().st_size,
        file_count=len(entries),
        selection=selection,
    )


def list_package(
    source_dir: Path, *, exclude: Sequence[str] = (), skip: Sequence[Path] = ()
) -> PackageListing:
    """What would ship from ``source_dir``: builds the tarball in a temporary dir (removed
    afterwards) for its size and digest. Raises SpecError as ``build_source_tarball``."""
    entries, selection = _entries(source_dir, exclude, {}, DEFAULT_MAX_BYTES, skip)
    with tempfile.TemporaryDirectory(prefix="sagelift-package-") as tmp:
        tarball = Path(tmp) / "sourcedir.tar.gz"
        with open(tarball, "wb") as raw:
            _write_tar(raw, entries)
        data = tarball.read_bytes()
    files = tuple((rel, path.stat().st_size) for rel, path in selection.files)
    return PackageListing(
        files=files,
        total_bytes=sum(size for _, size in files),
        tarball_bytes=len(data),
        digest=hashlib.sha256(data).hexdigest(),
        left_out=selection.left_out,
        risky=selection.risky,
    )


def _write_tar(raw: BinaryIO, entries: Mapping[str, Path | bytes]) -> None:
    dirs = {str(parent) for rel in entries for parent in PurePosixPath(rel).parents} - {"."}
    # mtime=0 and an empty filename keep the gzip header free of time and name.
    with (
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        for rel in sorted({*dirs, *entries}, key=lambda r: r.split("/")):
            if rel not in entries:
                tar.addfile(_tarinfo(rel, kind=tarfile.DIRTYPE, mode=0o755))
                continue
            item = entries[rel]
            data = item if isinstance(item, bytes) else item.read_bytes()
            info = _tarinfo(rel, kind=tarfile.REGTYPE, mode=_mode(item), size=len(data))
            tar.addfile(info, io.BytesIO(data))


def source_digest(
    source_dir: Path,
    *,
    exclude: Sequence[str] = (),
    extra_files: Mapping[str, bytes] | None = None,
) -> str:
    """A sha256 hex over what ``build_source_tarball`` would pack (paths, modes, contents).

    Cheaper than building: equal digests mean equal tarballs (for one Python/zlib version).
    """
    entries, _ = _entries(source_dir, exclude, extra_files or {}, max_bytes=2**63)
    total = hashlib.sha256()
    for rel in sorted(entries, key=lambda r: r.split("/")):
        item = entries[rel]
        data = item if isinstance(item, bytes) else item.read_bytes()
        total.update(f"{rel}\0{_mode(item):o}\0{hashlib.sha256(data).hexdigest()}\n".encode())
    return total.hexdigest()
