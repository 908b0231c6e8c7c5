"""A job's checkpoint location: restore into ``/opt/ml/checkpoints``, sync out, and who owns what.

The rule: at a checkpoint location sagelift deletes or overwrites only what it wrote there
itself. Each location keeps a manifest (``.sagelift-checkpoints.json`` at its root, replaced
atomically) of the files and links sagelift wrote, with the size and mtime (local) or ETag
(``s3://``) they had when it wrote them. An entry is sagelift's only while the thing at the
location still matches it; anything else there (a file added by hand or by another program, a
file changed since, a symlink, an empty directory) is foreign and is left alone.

A checkpoint is removed from the location when, and only when, the manifest says sagelift wrote
it, it is unchanged since, and the job deleted it from its checkpoint directory: it is in
``held`` (the paths the job's directory has held since the job started, restored ones
included) and no longer there. That is SageMaker's "deleting a local checkpoint deletes it in
S3" (docs ``model-checkpoints.html``) narrowed to sagelift's own files.

Local locations are also locked (``fcntl.flock`` on ``.sagelift-checkpoints.lock``) for the
whole job, so two jobs never share one; the kernel releases the lock when the last process
holding it ends, however it ends. Symlinks: a local restore copies a link that stays inside
the location as a link and skips one that leaves it; the sync does the same in the other
direction, and never writes through a symlinked directory.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import shutil
import stat
import time
from collections.abc import Set
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from sagelift.aws import AwsSettings
from sagelift.errors import SpecError, StorageError

if TYPE_CHECKING:
    from sagelift.storage.base import ObjectInfo, Storage, StorageURI

__all__ = [
    "LOCK_NAME",
    "MANIFEST_NAME",
    "LocationLock",
    "SyncOutcome",
    "check_location_free",
    "checkpoint_entries",
    "lock_location",
    "restore_checkpoints",
    "restore_checkpoints_remote",
    "sync_checkpoints_out",
    "sync_checkpoints_remote",
]

log = logging.getLogger(__name__)

MANIFEST_NAME = ".sagelift-checkpoints.json"
LOCK_NAME = ".sagelift-checkpoints.lock"
RESERVED = frozenset({MANIFEST_NAME, LOCK_NAME})
TMP_SUFFIX = ".sagelift-tmp"
MANIFEST_FORMAT = 1
LOCK_ATTEMPTS = 20
LOCK_RETRY_SECONDS = 0.05

Stamp = tuple[int, int]  # (size, mtime_ns) of a regular file


@dataclass(frozen=True, slots=True, kw_only=True)
class SyncOutcome:
    """What one sync did. ``present``: the paths the job's checkpoint directory holds now (the
    caller adds them to ``held``); ``refused``: one sentence per checkpoint not saved, and why."""

    copied: int = 0
    deleted: int = 0
    present: frozenset[str] = frozenset()
    refused: tuple[str, ...] = ()


@dataclass(slots=True, kw_only=True)
class _Manifest:
    files: dict[str, Stamp] = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True, kw_only=True)
class _Tree:
    files: dict[str, os.stat_result] = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)
    dirs: list[str] = field(default_factory=list)


def checkpoint_entries(checkpoint_dir: Path) -> frozenset[str]:
    """The files and symlinks under ``checkpoint_dir`` as relative POSIX paths (for ``held``)."""
    tree = _scan(checkpoint_dir)
    return frozenset(tree.files) | frozenset(tree.links)


# -- local locations -------------------------------------------------------------------------


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
    """Save ``checkpoint_dir`` to ``location`` under the rule in the module docstring.

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


def _owned(location: Path, rel: str, current: os.stat_result, manifest: _Manifest) -> bool:
    if stat.S_ISREG(current.st_mode):
        return manifest.files.get(rel) == _stamp(current)
    if stat.S_ISLNK(current.st_mode):
        return rel in manifest.links and os.readlink(location / rel) == manifest.links[rel]
    return False


def _parents_safe(location: Path, rel: str) -> bool:
    """No directory between ``location`` and ``rel`` is a symlink or a non-directory."""
    path = location
    for part in PurePosixPath(rel).parts[:-1]:
        path = path / part
        current = _lstat(path)
        if current is None:
            return True
        if not stat.S_ISDIR(current.st_mode):
            return False
    return True


def _make_parents(location: Path, rel: str) -> None:
    path = location
    for part in PurePosixPath(rel).parts[:-1]:
        path = path / part
        with contextlib.suppress(FileExistsError):
            path.mkdir()
        if path.is_symlink() or not path.is_dir():
            raise OSError(errno.ENOTDIR, "refusing to write through a non-directory", str(path))


def _scan(root: Path) -> _Tree:
    """Regular files, symlinks and directories under ``root``, never following a symlink;
    sagelift's own files (manifest, lock, temporary copies) are left out."""
    tree = _Tree()
    if not root.is_dir():
        return tree
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        base = Path(dirpath)
        for name in (*dirnames, *filenames):
            path = base / name
            rel = path.relative_to(root).as_posix()
            if rel in RESERVED or name.endswith(TMP_SUFFIX):
                continue
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                continue
            if stat.S_ISLNK(st.st_mode):
                tree.links[rel] = os.readlink(path)
            elif stat.S_ISREG(st.st_mode):
                tree.files[rel] = st
            elif stat.S_ISDIR(st.st_mode):
                tree.dirs.append(rel)
    return tree


def _internal_link(rel: str, text: str) -> bool:
    """Whether a symlink at ``rel`` holding ``text`` resolves, by name, inside its root."""
    if not text or os.path.isabs(text):
        return False
    resolved = os.path.normpath(os.path.join(os.path.dirname(rel), text))
    return resolved != "." and resolved != ".." and not resolved.startswith("../")


def _lstat(path: Path) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None


def _stamp(st: os.stat_result) -> Stamp:
    return (st.st_size, st.st_mtime_ns)


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


# -- the lock --------------------------------------------------------------------------------


class LocationLock:
    """An exclusive ``flock`` on a location's lock file, held through ``fd``.

    A process forked after ``lock_location`` shares the lock; ``close`` drops this process's
    hold without releasing the others' (it never calls ``LOCK_UN``).
    """

    def __init__(self, fd: int, location: Path, *, created: bool) -> None:
        self.fd = fd
        self.location = location
        self.created = created

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def discard(self) -> None:
        """For a job that never started: remove what ``lock_location`` created, then close."""
        if self.created and self.fd >= 0:
            with contextlib.suppress(OSError):
                (self.location / LOCK_NAME).unlink()
                self.location.rmdir()  # only when empty
        self.close()


def lock_location(location: Path, *, owner: str) -> LocationLock:
    """Create ``location`` if needed and lock it for the job ``owner``.

    Raises SpecError (exit 2) when another job holds it or it cannot be created.
    """
    created = not location.exists()
    try:
        location.mkdir(parents=True, exist_ok=True)
        fd = os.open(location / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    except OSError as exc:
        raise SpecError(
            f"checkpoint_path: cannot use '{location}': {exc.strerror or exc}",
            hint="point checkpoint_path at a directory you can write",
            field="checkpoint_path",
        ) from exc
    if not _try_lock(fd):
        holder = _holder(fd)
        os.close(fd)
        raise _in_use(location, holder)
    os.ftruncate(fd, 0)
    os.write(fd, f"{owner}\n".encode())
    return LocationLock(fd, location, created=created)


def check_location_free(location: Path) -> None:
    """Raise SpecError when a running job holds ``location``; creates nothing."""
    try:
        fd = os.open(location / LOCK_NAME, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return  # no lock file (or not a plain one): no sagelift job holds the location
    try:
        if not _try_lock(fd):
            raise _in_use(location, _holder(fd))
        fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _try_lock(fd: int) -> bool:
    # A few tries: another submit may be probing the lock for an instant.
    for attempt in range(LOCK_ATTEMPTS):
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if attempt + 1 < LOCK_ATTEMPTS:
                time.sleep(LOCK_RETRY_SECONDS)
    return False


def _holder(fd: int) -> str:
    try:
        return os.pread(fd, 200, 0).decode("utf-8", errors="replace").strip() or "another job"
    except OSError:
        return "another job"


def _in_use(location: Path, holder: str) -> SpecError:
    return SpecError(
        f"checkpoint_path: '{location}' is in use by the running job {holder}",
        hint="wait for that job to end (sagelift status), or give this job its own checkpoint_path",
        field="checkpoint_path",
    )


# -- s3:// locations -------------------------------------------------------------------------


def restore_checkpoints_remote(location: str, checkpoint_dir: Path, aws: AwsSettings) -> int:
    """Download every object under ``location`` into ``checkpoint_dir`` but sagelift's
    manifest; returns the number of files fetched. Raises StorageError or CredentialsError."""
    from sagelift.storage import open_storage

    report = open_storage(location, aws=aws).sync_down(location, checkpoint_dir)
    (checkpoint_dir / MANIFEST_NAME).unlink(missing_ok=True)
    return report.files_sent


def sync_checkpoints_remote(
    checkpoint_dir: Path, location: str, aws: AwsSettings, *, held: Set[str]
) -> SyncOutcome:
    """Save ``checkpoint_dir`` to the ``s3://`` prefix ``location``.

    As SageMaker does, new and changed files are uploaded over whatever has their name. An
    object is deleted only when sagelift uploaded it (manifest object ``MANIFEST_NAME`` under
    the prefix, same ETag), the job held it and deleted it; foreign objects are never deleted.
    Raises StorageError or CredentialsError.
    """
    from sagelift.storage import open_storage
    from sagelift.storage.base import as_uri
    from sagelift.storage.sync import scan_dir

    if not checkpoint_dir.is_dir():
        return SyncOutcome()
    storage = open_storage(location, aws=aws)
    prefix = as_uri(location)
    manifest_uri = prefix.child(MANIFEST_NAME)
    local = {f.rel for f in scan_dir(checkpoint_dir)} - RESERVED
    before = {i.relative: _fingerprint(i) for i in storage.list(prefix)}
    owned = _read_remote_manifest(storage, manifest_uri) if MANIFEST_NAME in before else {}
    recorded = dict(owned)
    report = storage.sync_up(checkpoint_dir, prefix)
    after = {i.relative: i for i in storage.list(prefix)}
    for rel in local:
        info = after.get(rel)
        if info is not None and (rel not in before or before[rel] != _fingerprint(info)):
            owned[rel] = _fingerprint(info)
    deleted = 0
    for rel, fingerprint in sorted(owned.items()):
        info = after.get(rel)
        if info is None or _fingerprint(info) != fingerprint:
            del owned[rel]  # gone, or rewritten by someone else since
        elif rel not in local and rel in held:
            storage.delete(info.uri)
            del owned[rel]
            deleted += 1
    if owned != recorded or MANIFEST_NAME in local:
        body = {"format": MANIFEST_FORMAT, "written_by": "sagelift", "objects": owned}
        storage.put_bytes(manifest_uri, json.dumps(body, indent=1, sort_keys=True).encode())
    return SyncOutcome(copied=report.files_sent, deleted=deleted, present=frozenset(local))


def _fingerprint(info: ObjectInfo) -> str:
    """What identifies the content of an object as listed: its ETag, else its digest."""
    return info.etag or info.digest or f"size={info.size}"


def _read_remote_manifest(storage: Storage, uri: StorageURI) -> dict[str, str]:
    try:
        data = json.loads(storage.get_bytes(uri))
        return {str(k): str(v) for k, v in data.get("objects", {}).items()}
    except (StorageError, ValueError, AttributeError):
        log.warning("ignoring the unreadable checkpoint manifest %s", uri)
        return {}
