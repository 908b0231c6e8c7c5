"""Restore and sync for a local checkpoint location (a directory), under the rule in
:mod:`sagelift.backends.checkpoint_location`.

Symlinks: a restore copies a link that stays inside the location as a link and skips one that
leaves it; the sync does the same in the other direction, and never writes through a symlinked
directory.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import stat
from collections.abc import Set
from dataclasses import dataclass
from pathlib import Path

from sagelift.backends.checkpoint_location.manifest import (
    TMP_SUFFIX,
    _Manifest,
    _owned,
    _read_manifest,
    _stamp,
    _write_manifest,
)
from sagelift.backends.checkpoint_location.paths import (
    _internal_link,
    _lstat,
    _make_parents,
    _parents_safe,
    _scan,
)

__all__ = ["SyncOutcome", "restore_checkpoints", "sync_checkpoints_out"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class SyncOutcome:
    """What one sync did. ``present``: the paths the job's checkpoint directory holds now (the
    caller adds them to ``held``); ``refused``: one sentence per checkpoint not saved, and why."""

    copied: int = 0
    deleted: int = 0
    present: frozenset[str] = frozenset()
    refused: tuple[str, ...] = ()


def restore_checkpoints(location: Path, checkpoint_dir: Path) -> int:
    """Copy ``location`` into ``checkpoint_dir``: regular files (returns their count),
    directories (empty ones too), and symlinks that stay inside the location, as links.

    Symlinks that leave the location are skipped and never followed; so are sagelift's own
    manifest and lock file.
    """
    if not location.is_dir():
        return 0
    tree = _scan(location)
    for rel in tree.dirs:
        (checkpoint_dir / rel).mkdir(parents=True, exist_ok=True)
    for rel in tree.files:
        target = checkpoint_dir / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(location / rel, target, follow_symlinks=False)
    for rel, text in tree.links.items():
        if not _internal_link(rel, text):
            log.info("not restoring %s: the symlink leads out of %s", rel, location)
            continue
        target = checkpoint_dir / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(text, target)
    return len(tree.files)


def sync_checkpoints_out(checkpoint_dir: Path, location: Path, *, held: Set[str]) -> SyncOutcome:
    """Save ``checkpoint_dir`` to ``location`` under the rule in the package docstring.

    New and changed files are copied to a temporary name and renamed into place, so the
    location never holds half a checkpoint; a path is written only where nothing is, or where
    what is there is sagelift's (manifest entry, unchanged). Internal symlinks are mirrored as
    links. Deletions follow ``held``. Never writes through a symlinked directory.
    Raises OSError when the location cannot be written.
    """
    location.mkdir(parents=True, exist_ok=True)
    manifest = _read_manifest(location)
    before = _Manifest(files=dict(manifest.files), links=dict(manifest.links))
    tree = _scan(checkpoint_dir)
    present = frozenset(tree.files) | frozenset(tree.links)
    refused: list[str] = []
    copied = 0
    for rel, st in sorted(tree.files.items()):
        target = location / rel
        current = _lstat(target)
        if current is not None and stat.S_ISREG(current.st_mode) and _stamp(current) == _stamp(st):
            continue  # already there: sagelift's copy, or the file the job was restored from
        why = _obstacle(location, rel, current, manifest)
        if why is not None:
            refused.append(f"checkpoint {rel} was not saved to {location}: {why}")
            continue
        _make_parents(location, rel)
        tmp = target.with_name(f".{target.name}{TMP_SUFFIX}")
        shutil.copy2(checkpoint_dir / rel, tmp, follow_symlinks=False)
        os.replace(tmp, target)
        manifest.links.pop(rel, None)
        manifest.files[rel] = _stamp(os.lstat(target))
        copied += 1
    for rel, text in sorted(tree.links.items()):
        if not _internal_link(rel, text):
            refused.append(
                f"symlink {rel} was not saved to {location}: it leads out of the checkpoint "
                "directory"
            )
            continue
        target = location / rel
        current = _lstat(target)
        if current is not None and stat.S_ISLNK(current.st_mode) and os.readlink(target) == text:
            continue
        why = _obstacle(location, rel, current, manifest)
        if why is not None:
            refused.append(f"symlink {rel} was not saved to {location}: {why}")
            continue
        _make_parents(location, rel)
        tmp = target.with_name(f".{target.name}{TMP_SUFFIX}")
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        os.symlink(text, tmp)
        os.replace(tmp, target)
        manifest.files.pop(rel, None)
        manifest.links[rel] = text
        copied += 1
    deleted = _delete_released(location, manifest, present, held)
    if manifest != before:
        _write_manifest(location, manifest)
    return SyncOutcome(copied=copied, deleted=deleted, present=present, refused=tuple(refused))


def _delete_released(location: Path, manifest: _Manifest, present: Set[str], held: Set[str]) -> int:
    deleted = 0
    for rel in sorted(set(manifest.files) | set(manifest.links)):
        if rel in present:
            continue
        current = _lstat(location / rel)
        if current is None or not _owned(location, rel, current, manifest):
            # Gone, or no longer what sagelift wrote: not sagelift's any more.
            manifest.files.pop(rel, None)
            manifest.links.pop(rel, None)
            continue
        if rel not in held or not _parents_safe(location, rel):
            continue
        os.unlink(location / rel)
        manifest.files.pop(rel, None)
        manifest.links.pop(rel, None)
        deleted += 1
    return deleted


def _obstacle(
    location: Path, rel: str, current: os.stat_result | None, manifest: _Manifest
) -> str | None:
    """Why ``rel`` may not be written at ``location``, or None when it may."""
    if not _parents_safe(location, rel):
        return "a directory on its path there is a symlink or a file"
    if current is None or _owned(location, rel, current, manifest):
        return None
    manifest.files.pop(rel, None)
    manifest.links.pop(rel, None)
    return (
        "something sagelift did not write is there under that name "
        "(move it away, or give the job another checkpoint_path)"
    )
