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

import copy
import gzip
import hashlib
import io
import logging
import os
import re
import tarfile
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, BinaryIO

from sagelift.errors import SpecError, StorageError, UsageError

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

# Python 3.12 (and 3.11.4+/3.10.12+ backports) ship the ``data`` extraction filter (PEP 706).
_HAS_DATA_FILTER = hasattr(tarfile, "data_filter")
_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}


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
) -> tuple[dict[str, Path | bytes], CodeSelection]:
    from sagelift.codefiles import select_code

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
) -> SourcePackage:
    """Write ``dest`` (a ``sourcedir.tar.gz``) from ``source_dir`` and return what was built.

    ``extra_files`` maps archive paths to generated content, replacing a source file of the
    same path. The archive's bytes depend only on the selected paths, their contents and their
    executable bits. Raises SpecError (naming the biggest files) when the content exceeds
    ``max_bytes``, before anything is written; ``dest`` is replaced atomically. Logs nothing
    about the selection: the caller reports ``selection`` (``codefiles.report_selection``).
    """
    entries, selection = _entries(source_dir, exclude, extra_files or {}, max_bytes)
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


def safe_extract(tar_path: Path, dest: Path, *, max_bytes: int | None = None) -> int:
    """Extract the (optionally compressed) tar at ``tar_path`` into ``dest``; returns the
    bytes written.

    Refuses, before writing anything, absolute names, ``..``, symlinks and hard links leading
    outside ``dest``, devices and fifos, and (with ``max_bytes``) archives whose files declare
    more than ``max_bytes``; each member is checked again against the real path on disk as it
    is written (a symlink extracted earlier cannot redirect a later member), and extraction
    stops once the bytes really written pass ``max_bytes``. Owners are not restored and
    setuid/sticky/group- and world-write bits are dropped. Raises StorageError with a hint on
    an unsafe, oversize or unreadable archive.
    """
    dest.mkdir(parents=True, exist_ok=True)
    real_dest = os.path.realpath(dest)
    written = 0
    try:
        with tarfile.open(tar_path, mode="r:*") as tar:
            members = tar.getmembers()
            for member in members:
                _check_member(tar_path, member, real_dest)
            declared = sum(m.size for m in members if m.isfile())
            if max_bytes is not None and declared > max_bytes:
                raise _oversize(tar_path, declared, max_bytes)
            for member in members:
                parent = os.path.realpath(os.path.join(real_dest, os.path.dirname(member.name)))
                if not _within(parent, real_dest):
                    raise _unsafe(
                        tar_path, member.name, "goes through a link leaving the destination"
                    )
                _extract_one(tar, member, real_dest)
                if member.isfile():
                    written += os.lstat(os.path.join(real_dest, member.name)).st_size
                    if max_bytes is not None and written > max_bytes:
                        raise _oversize(tar_path, written, max_bytes)
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise StorageError(
            f"cannot extract {tar_path}: {exc}",
            hint="the archive is damaged or unsafe; download it again or inspect it with tar",
        ) from exc
    return written


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
