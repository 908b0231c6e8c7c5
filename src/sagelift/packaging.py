"""The job's code as a deterministic ``sourcedir.tar.gz``, the files that go in it, and safe
extraction of archives that come back.

Same tree in, same bytes out: entries are sorted, every mtime is 0, owners are ``0``/``""``,
modes are ``0o755`` (directories, executables) or ``0o644``, and the gzip header carries no name
and no time. Which files go in follows git's ignore rules (the common subset: globs, ``!``,
trailing ``/``, anchoring, ``**``, nested ``.gitignore`` files), then ``.sagemakerignore`` at the
root, then the caller's ``exclude`` patterns (same syntax); a few paths are always left out.
Symlinks are followed only when they point inside the tree.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import logging
import os
import re
import tarfile
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from sagelift.archives import safe_extract
from sagelift.errors import SpecError

__all__ = [
    "ALWAYS_EXCLUDED",
    "DEFAULT_MAX_BYTES",
    "IgnoreRule",
    "SourcePackage",
    "build_source_tarball",
    "is_ignored",
    "iter_source_files",
    "parse_ignore_patterns",
    "safe_extract",
    "source_digest",
]

log = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 50 * 1024 * 1024
ALWAYS_EXCLUDED = (
    ".git/",
    "__pycache__/",
    "*.pyc",
    ".sagelift/",
    ".venv/",
    ".DS_Store",
    ".ipynb_checkpoints/",
)
GITIGNORE = ".gitignore"
SAGEMAKERIGNORE = ".sagemakerignore"


@dataclass(frozen=True, slots=True, kw_only=True)
class IgnoreRule:
    """One gitignore pattern, compiled. ``base`` is the POSIX dir of the file it came from."""

    base: str
    regex: re.Pattern[str]
    negate: bool
    dir_only: bool
    anchored: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class SourcePackage:
    """A built tarball: ``digest`` is the sha256 hex of its bytes, ``size`` their count."""

    path: Path
    digest: str
    size: int
    file_count: int


def _translate(glob: str) -> str:
    out: list[str] = []
    i, n = 0, len(glob)
    while i < n:
        at_segment_start = i == 0 or glob[i - 1] == "/"
        if at_segment_start and glob.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif at_segment_start and glob.startswith("**", i) and i + 2 == n:
            out.append(".*")
            i += 2
        elif glob[i] == "*":
            while i < n and glob[i] == "*":
                i += 1
            out.append("[^/]*")
        elif glob[i] == "?":
            out.append("[^/]")
            i += 1
        elif glob[i] == "[" and (end := glob.find("]", i + 2)) != -1:
            body = glob[i + 1 : end]
            if body[0] in "!^":
                body = "^" + body[1:]
            out.append("[" + body.replace("\\", "\\\\") + "]")
            i = end + 1
        elif glob[i] == "\\" and i + 1 < n:
            out.append(re.escape(glob[i + 1]))
            i += 2
        else:
            out.append(re.escape(glob[i]))
            i += 1
    return "".join(out)


def parse_ignore_patterns(lines: Iterable[str], *, base: str = "") -> list[IgnoreRule]:
    """Compile gitignore-syntax ``lines`` (comments and blanks skipped) relative to ``base``."""
    rules = []
    for raw in lines:
        line = raw.rstrip("\n\r")
        line = re.sub(r"(?<!\\) +$", "", line)
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        if negate or line.startswith(("\\!", "\\#")):
            line = line[1:]
        dir_only = line.endswith("/")
        line = line.rstrip("/")
        if not line:
            continue
        anchored = "/" in line
        try:
            regex = re.compile(_translate(line.lstrip("/")))
        except re.error:
            log.warning("ignoring unreadable ignore pattern %r", raw)
            continue
        rules.append(
            IgnoreRule(base=base, regex=regex, negate=negate, dir_only=dir_only, anchored=anchored)
        )
    return rules


def is_ignored(rel: str, *, is_dir: bool, rules: Sequence[IgnoreRule]) -> bool:
    """Whether the POSIX path ``rel`` is ignored: the last rule that matches decides."""
    ignored = False
    for rule in rules:
        if rule.dir_only and not is_dir:
            continue
        if rule.base:
            if not rel.startswith(rule.base + "/"):
                continue
            sub = rel[len(rule.base) + 1 :]
        else:
            sub = rel
        target = sub if rule.anchored else sub.rsplit("/", 1)[-1]
        if rule.regex.fullmatch(target):
            ignored = not rule.negate
    return ignored


_ALWAYS = parse_ignore_patterns(ALWAYS_EXCLUDED)


def _read_rules(path: Path, base: str) -> list[IgnoreRule]:
    if not path.is_file():
        return []
    return parse_ignore_patterns(
        path.read_text(encoding="utf-8", errors="replace").splitlines(), base=base
    )


def iter_source_files(
    source_dir: Path, *, exclude: Sequence[str] = (), skip: Sequence[Path] = ()
) -> Iterator[tuple[str, Path]]:
    """``(relative POSIX path, file to read)`` for every file that belongs in the package.

    Sorted by relative path. ``skip`` names paths (e.g. a channel's data dir inside the source
    dir) left out with everything under them. A symlink is followed only when it resolves to a
    file inside ``source_dir``; the file is read through its target.
    """
    root = source_dir.resolve()
    skipped = {p.resolve() for p in skip}
    tail = _read_rules(root / SAGEMAKERIGNORE, "") + parse_ignore_patterns(exclude)
    found: list[tuple[str, Path]] = []
    _walk(root, root, "", [], tail, skipped, found)
    found.sort(key=lambda item: item[0].split("/"))
    yield from found


def _walk(
    root: Path,
    directory: Path,
    rel_dir: str,
    git_rules: list[IgnoreRule],
    tail: list[IgnoreRule],
    skipped: set[Path],
    found: list[tuple[str, Path]],
) -> None:
    git_rules = git_rules + _read_rules(directory / GITIGNORE, rel_dir)
    rules = git_rules + tail
    for entry in sorted(os.scandir(directory), key=lambda e: e.name):
        rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
        path = Path(entry.path)
        if entry.is_symlink():
            target = path.resolve()
            if not target.is_relative_to(root):
                log.warning("leaving out %s: it links outside the source dir", rel)
                continue
            if not target.is_file():
                log.debug("leaving out %s: links to a directory or nothing", rel)
                continue
            path = target
        is_dir = not entry.is_symlink() and entry.is_dir()
        if (
            is_ignored(rel, is_dir=is_dir, rules=_ALWAYS)
            or is_ignored(rel, is_dir=is_dir, rules=rules)
            or any(path == s or path.is_relative_to(s) for s in skipped)
        ):
            continue
        if is_dir:
            _walk(root, path, rel, git_rules, tail, skipped, found)
        elif path.is_file():
            found.append((rel, path))


def _checked_extra(name: str) -> str:
    pure = PurePosixPath(name)
    if not name or pure.is_absolute() or ".." in pure.parts or str(pure) != name:
        raise SpecError(
            f"extra file path {name!r} is not a plain relative path",
            hint="use a relative POSIX path such as 'sagelift_launcher.py'",
        )
    return name


def _entries(
    source_dir: Path, exclude: Sequence[str], extra_files: Mapping[str, bytes], max_bytes: int
) -> dict[str, Path | bytes]:
    entries: dict[str, Path | bytes] = dict(iter_source_files(source_dir, exclude=exclude))
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
    return entries


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
    ``max_bytes``, before anything is written; ``dest`` is replaced atomically.
    """
    entries = _entries(source_dir, exclude, extra_files or {}, max_bytes)
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
        path=dest, digest=digest, size=dest.stat().st_size, file_count=len(entries)
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
    entries = _entries(source_dir, exclude, extra_files or {}, max_bytes=2**63)
    total = hashlib.sha256()
    for rel in sorted(entries, key=lambda r: r.split("/")):
        item = entries[rel]
        data = item if isinstance(item, bytes) else item.read_bytes()
        total.update(f"{rel}\0{_mode(item):o}\0{hashlib.sha256(data).hexdigest()}\n".encode())
    return total.hexdigest()
