"""A local location's manifest: the files and links sagelift wrote there, and whether each is
still sagelift's (the thing at the location still matches its entry).

The manifest is ``MANIFEST_NAME`` at the location's root, replaced atomically; an unreadable one
reads as empty (sagelift then owns nothing there). The underscored names are the package's
own, shared by its parts; they are no public API.
"""

from __future__ import annotations

import json
import logging
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["MANIFEST_FORMAT", "MANIFEST_NAME", "TMP_SUFFIX", "Stamp"]

log = logging.getLogger(__name__)

MANIFEST_NAME = ".sagelift-checkpoints.json"
TMP_SUFFIX = ".sagelift-tmp"
MANIFEST_FORMAT = 1

Stamp = tuple[int, int]  # (size, mtime_ns) of a regular file


@dataclass(slots=True, kw_only=True)
class _Manifest:
    files: dict[str, Stamp] = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)


def _stamp(st: os.stat_result) -> Stamp:
    return (st.st_size, st.st_mtime_ns)


def _owned(location: Path, rel: str, current: os.stat_result, manifest: _Manifest) -> bool:
    if stat.S_ISREG(current.st_mode):
        return manifest.files.get(rel) == _stamp(current)
    if stat.S_ISLNK(current.st_mode):
        return rel in manifest.links and os.readlink(location / rel) == manifest.links[rel]
    return False


def _read_manifest(location: Path) -> _Manifest:
    path = location / MANIFEST_NAME
    if path.is_symlink() or not path.is_file():
        return _Manifest()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        files = {str(k): (int(v[0]), int(v[1])) for k, v in data.get("files", {}).items()}
        links = {str(k): str(v) for k, v in data.get("links", {}).items()}
    except (OSError, ValueError, TypeError, AttributeError, IndexError):
        log.warning("ignoring the unreadable checkpoint manifest %s", path)
        return _Manifest()
    return _Manifest(files=files, links=links)


def _write_manifest(location: Path, manifest: _Manifest) -> None:
    data = {
        "format": MANIFEST_FORMAT,
        "written_by": "sagelift",
        "files": {rel: list(stamp) for rel, stamp in sorted(manifest.files.items())},
        "links": dict(sorted(manifest.links.items())),
    }
    path = location / MANIFEST_NAME
    tmp = location / f"{MANIFEST_NAME}{TMP_SUFFIX}"
    tmp.unlink(missing_ok=True)
    with open(tmp, "x", encoding="utf-8") as handle:
        json.dump(data, handle, indent=1)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
