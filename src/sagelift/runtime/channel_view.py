"""What a channel directory becomes in the job's private view of it.

SageMaker gives the script a private copy of each channel; nothing the script does to it may
reach the user's files. Mirroring the directory is not enough where it holds symbolic links: a
link followed from the job's view would write through to whatever it names. So every entry is
decided once, here, for both ways a channel is shown (a copy, or a copy-on-write overlay whose
lower layer is the user's directory):

* a regular file or a directory is mirrored;
* a link whose target lies inside the channel stays a link, rewritten as a relative one to the
  same entry, so it resolves inside the view wherever the view is mounted;
* a link to a file outside the channel becomes a private copy of that file;
* a link to a directory outside the channel becomes a private copy of that directory, by the
  same rules (as ``aws s3 sync`` follows links when it uploads a channel);
* a link to a directory that holds the channel (or holds a directory being copied through a
  link) is refused: the copy would contain itself;
* a dangling or looping link, a socket, a FIFO or a device is left out with a warning: it has
  no content to show, and writing through a dangling link would create a file outside.

Everything here is stdlib only: the launcher runs it inside the job's image too.
"""

from __future__ import annotations

import logging
import os
import posixpath
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Literal, Tuple  # typing.Callable: subscripted at run time on 3.8

from sagelift.errors import SpecError

__all__ = ["Entry", "check_channel", "cover_overlay", "entries", "materialise"]

log = logging.getLogger(__name__)

Kind = Literal["dir", "file", "link", "skip"]
Copy = Callable[[Path, Path], object]


@dataclass(frozen=True)
class Entry:
    """One entry of the view, at ``path`` (relative, ``/``-separated) under the view's root.

    ``source`` is the file to copy (``file``); ``text`` is the link's target (``link``) or why
    the entry is left out (``skip``). ``mirrored``: the user's directory holds exactly this at
    ``path``, so an overlay shows it as it is. ``replaces``: the user's directory holds a link
    or special file at ``path`` that the view must not show as it is.
    """

    path: str
    kind: Kind
    source: Path | None = None
    text: str = ""
    mirrored: bool = False
    replaces: bool = False


def entries(source: Path) -> Iterator[Entry]:
    """Every entry of the view of the channel directory ``source``, parents before children.

    Raises:
        SpecError: a link names a directory that holds the channel (or holds a directory
            that is being copied through a link).
    """
    root = source.resolve()
    yield from _walk(root, "", ((root, ""),), mirrored=True)


def check_channel(source: Path) -> None:
    """Walk ``source`` as ``entries`` does, so a refusal comes before anything is started."""
    for _ in entries(source):
        pass


def materialise(source: Path, dest: Path, *, copy: Copy = shutil.copy2) -> int:
    """Write the whole view of ``source`` into the directory ``dest``; returns the file count."""
    dest.mkdir(parents=True, exist_ok=True)
    count = 0
    for entry in entries(source):
        count += _create(entry, dest, copy)
    return count


def cover_overlay(source: Path, merged: Path, *, copy: Copy = shutil.copy2) -> int:
    """Make the overlay ``merged`` (lower layer ``source``) show the view of ``source``.

    Every link and special file of the lower layer is removed from the merged view (the
    removal lands in the upper layer) and replaced as ``entries`` decides; what the lower
    layer shows as it is stays untouched. Returns the number of entries written.
    """
    written = 0
    for entry in entries(source):
        if entry.replaces:
            os.unlink(merged / entry.path)
        if not entry.mirrored:
            written += _create(entry, merged, copy)
    return written


def _create(entry: Entry, dest: Path, copy: Copy) -> int:
    target = dest / entry.path
    if entry.kind == "dir":
        target.mkdir(exist_ok=True)
    elif entry.kind == "file":
        assert entry.source is not None
        copy(entry.source, target)
        return 1
    elif entry.kind == "link":
        os.symlink(entry.text, target)
    else:
        log.warning("channel entry %s is left out: %s", entry.path, entry.text)
    return 0


Mapped = Tuple[Tuple[Path, str], ...]


def _walk(directory: Path, prefix: str, mapped: Mapped, *, mirrored: bool) -> Iterator[Entry]:
    with os.scandir(directory) as scan:
        found = sorted(scan, key=lambda e: e.name)
    for item in found:
        rel = prefix + item.name
        if item.is_symlink():
            yield from _link(Path(item.path), rel, mapped, replaces=mirrored)
        elif item.is_dir(follow_symlinks=False):
            yield Entry(path=rel, kind="dir", mirrored=mirrored)
            yield from _walk(Path(item.path), rel + "/", mapped, mirrored=mirrored)
        elif item.is_file(follow_symlinks=False):
            yield Entry(path=rel, kind="file", source=Path(item.path), mirrored=mirrored)
        else:
            yield Entry(
                path=rel, kind="skip", text="not a file, directory or link", replaces=mirrored
            )


def _link(link: Path, rel: str, mapped: Mapped, *, replaces: bool) -> Iterator[Entry]:
    try:
        target = Path(os.path.realpath(link, strict=True))
    except (OSError, RuntimeError):
        yield Entry(path=rel, kind="skip", text="a dangling or looping link", replaces=replaces)
        return
    inside = _view_position(target, mapped)
    if inside is not None:
        text = posixpath.relpath(inside or ".", posixpath.dirname(rel) or ".")
        yield Entry(path=rel, kind="link", text=text, replaces=replaces)
    elif target.is_file():
        yield Entry(path=rel, kind="file", source=target, replaces=replaces)
    elif target.is_dir():
        for real, _ in mapped:
            if _within(real, target):
                raise SpecError(
                    f"channel {mapped[0][0]}: the link {rel} points to {target}, which holds "
                    f"{real}: a private copy of it would contain itself",
                    hint="point the link at the data the job should see, or remove it",
                    field="channels",
                )
        yield Entry(path=rel, kind="dir", replaces=replaces)
        yield from _walk(target, rel + "/", (*mapped, (target, rel)), mirrored=False)
    else:
        yield Entry(
            path=rel,
            kind="skip",
            text=f"links to {target}, not a file or directory",
            replaces=replaces,
        )


def _within(path: Path, directory: Path) -> bool:
    """``path.is_relative_to(directory)``, which Python 3.8 lacks."""
    return path == directory or directory in path.parents


def _view_position(target: Path, mapped: Mapped) -> str | None:
    """Where the real path ``target`` appears in the view, when a shown directory holds it."""
    best: tuple[int, str] | None = None
    for real, prefix in mapped:
        if _within(target, real):
            depth = len(real.parts)
            if best is None or depth > best[0]:
                rest = target.relative_to(real).as_posix()
                best = (depth, posixpath.join(prefix, rest) if rest != "." else prefix)
    return None if best is None else best[1]
