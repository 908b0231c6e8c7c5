"""Immutable, content-addressed snapshots of a local file tree in a store.

Layout under a ``base`` prefix (for a channel: ``<root>/data/<base_job_name>/<channel>``)::

    <base>/<digest>/<relative path>...          the files; what a job reads
    <base>/<digest>.sagelift-manifest.json      names, sizes, sha256 and store tags, written last
    <base>.sagelift-tree                        hint: the local tree last shipped and its digest

The digest of a tree is the sha256 over one line per file, ``<relative path>\\0<sha256 of its
content>\\n``, in Python string order of the relative paths: the same names and contents give the
same digest on any machine, whatever the mtimes. The manifest and the hint lie beside the
snapshot prefix, not under it, so a reader of ``<base>/<digest>/`` never sees them.

Writing a snapshot never deletes or rewrites another snapshot: a job that reads
``<base>/<digest>/`` keeps reading exactly that tree, whatever is shipped later. Old snapshots
are never removed here (a queued or restarted job may still read one); ``sagelift aws teardown
--force`` empties and removes the bucket sagelift made.

A snapshot counts as present only when it verifies (:func:`verify`): its manifest exists, its
lines give back its digest, and a listing of its prefix shows exactly the manifest's objects,
with the same sizes and the same store tags (S3 ETag, or sha256 where the store knows it).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from sagelift.errors import StorageError
from sagelift.storage.base import ObjectInfo, Progress, Storage, StorageURI, Upload, as_uri
from sagelift.storage.sync import Digests, LocalFile, digest_file

__all__ = [
    "MANIFEST_SUFFIX",
    "TREE_SUFFIX",
    "Entry",
    "Manifest",
    "ShippedTree",
    "hash_files",
    "manifest_uri",
    "ship_tree",
    "snapshot_prefix",
    "tree_digest",
    "tree_signature",
    "verify",
]

log = logging.getLogger(__name__)

MANIFEST_SUFFIX = ".sagelift-manifest.json"
TREE_SUFFIX = ".sagelift-tree"
MANIFEST_FORMAT = "sagelift-snapshot/1"
#: S3 CopyObject copies objects up to 5 GiB; a larger unchanged file is uploaded again.
COPY_LIMIT = 5 * 1024**3
HASH_WORKERS = 8
COPY_WORKERS = 16


@dataclass(frozen=True, slots=True, kw_only=True)
class Entry:
    """One file of a tree: its relative POSIX path, size and content digests."""

    rel: str
    size: int
    sha256: str
    md5: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Manifest:
    """A written snapshot: its files, and the tag the store listed for each (``tags[rel]``,
    the S3 ETag or a sha256; None where the store reports neither)."""

    digest: str
    entries: tuple[Entry, ...]
    tags: Mapping[str, str | None]

    def to_json(self) -> bytes:
        files = [
            {
                "path": e.rel,
                "size": e.size,
                "sha256": e.sha256,
                "md5": e.md5,
                "tag": self.tags.get(e.rel),
            }
            for e in self.entries
        ]
        data = {"format": MANIFEST_FORMAT, "digest": self.digest, "files": files}
        return json.dumps(data, indent=1, sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Manifest | None:
        """The manifest, or None for anything malformed or whose lines do not give its digest."""
        try:
            raw: Any = json.loads(data)
            if raw.get("format") != MANIFEST_FORMAT:
                return None
            files = raw["files"]
            entries = tuple(
                Entry(
                    rel=str(f["path"]),
                    size=int(f["size"]),
                    sha256=str(f["sha256"]),
                    md5=str(f["md5"]),
                )
                for f in files
            )
            tags = {str(f["path"]): (None if f["tag"] is None else str(f["tag"])) for f in files}
            digest = str(raw["digest"])
        except (ValueError, KeyError, TypeError, AttributeError):
            return None
        if tree_digest(entries) != digest:
            return None
        return cls(digest=digest, entries=entries, tags=tags)


@dataclass(frozen=True, slots=True, kw_only=True)
class ShippedTree:
    """Where a tree's snapshot is (``uri`` ends in ``/``) and what shipping it cost: bytes sent
    from this machine, objects copied inside the store, and whether it was there already."""

    digest: str
    uri: str
    files_sent: int
    bytes_sent: int
    files_copied: int
    bytes_copied: int
    reused: bool


def tree_digest(entries: Iterable[Entry]) -> str:
    """The content digest of a tree (see the module docstring)."""
    total = hashlib.sha256()
    for entry in sorted(entries, key=lambda e: e.rel):
        total.update(f"{entry.rel}\0{entry.sha256}\n".encode())
    return total.hexdigest()


def tree_signature(files: Iterable[LocalFile]) -> str:
    """A cheap fingerprint of a local tree: names, sizes and mtimes, no content read."""
    total = hashlib.sha256()
    for found in sorted(files, key=lambda f: f.rel):
        stat = found.path.stat()
        total.update(f"{found.rel}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return total.hexdigest()


def hash_files(files: Sequence[LocalFile]) -> list[Entry]:
    """Every file's sha256 and md5, read on a few threads (hashlib releases the GIL)."""

    def one(found: LocalFile) -> Entry:
        digests: Digests = digest_file(found.path)
        return Entry(rel=found.rel, size=found.size, sha256=digests.sha256, md5=digests.md5)

    with ThreadPoolExecutor(max_workers=HASH_WORKERS) as pool:
        return list(pool.map(one, files))


def snapshot_prefix(base: StorageURI | str, digest: str) -> StorageURI:
    return as_uri(base).child(digest)


def manifest_uri(base: StorageURI | str, digest: str) -> StorageURI:
    return as_uri(f"{str(as_uri(base)).rstrip('/')}/{digest}{MANIFEST_SUFFIX}")


def _tree_uri(base: StorageURI | str) -> StorageURI:
    return as_uri(str(as_uri(base)).rstrip("/") + TREE_SUFFIX)


def _prefix_text(uri: StorageURI) -> str:
    return str(uri).rstrip("/") + "/"


def _tag(info: ObjectInfo) -> str | None:
    return info.etag or info.digest


def _listing(storage: Storage, prefix: StorageURI) -> dict[str, ObjectInfo]:
    return {info.relative: info for info in storage.list(prefix)}


def _read_manifest(storage: Storage, base: StorageURI, digest: str) -> Manifest | None:
    uri = manifest_uri(base, digest)
    if not storage.exists(uri):
        return None
    return Manifest.from_json(storage.get_bytes(uri))


def _agrees(manifest: Manifest, listing: Mapping[str, ObjectInfo]) -> bool:
    if set(listing) != {e.rel for e in manifest.entries}:
        return False
    return all(
        listing[e.rel].size == e.size and _tag(listing[e.rel]) == manifest.tags.get(e.rel)
        for e in manifest.entries
    )


def verify(storage: Storage, base: StorageURI | str, digest: str) -> Manifest | None:
    """The snapshot's manifest when the snapshot is complete and unchanged, else None.

    Verified: the manifest exists and parses, its lines give back ``digest``, and the objects
    under ``<base>/<digest>/`` are exactly the manifest's, each with its recorded size and store
    tag (ETag on S3: a deleted, added or rewritten object is noticed). Not verified: object
    bodies are not read. Cost: one HEAD and one GET for the manifest, then one ListObjectsV2
    request per 1,000 objects of the snapshot.
    """
    parsed = as_uri(base)
    manifest = _read_manifest(storage, parsed, digest)
    if manifest is None or manifest.digest != digest:
        return None
    if not _agrees(manifest, _listing(storage, snapshot_prefix(parsed, digest))):
        log.warning("snapshot %s differs from its manifest; writing it again", digest[:12])
        return None
    return manifest


def _holds(info: ObjectInfo | None, entry: Entry, known: Mapping[str, tuple[str, str]]) -> bool:
    """Whether the listed object already has ``entry``'s content.

    ``known`` maps a relative path to (sha256, tag) from an earlier manifest of this snapshot:
    a multipart ETag is not an MD5, so it is trusted only where that manifest listed this very
    tag for this very content.
    """
    if info is None or info.size != entry.size:
        return False
    if info.etag == entry.md5 or info.digest == entry.sha256:
        return True
    tag = _tag(info)
    return tag is not None and known.get(entry.rel) == (entry.sha256, tag)


def _known_tags(manifest: Manifest | None) -> dict[str, tuple[str, str]]:
    if manifest is None:
        return {}
    return {
        entry.rel: (entry.sha256, tag)
        for entry in manifest.entries
        if (tag := manifest.tags.get(entry.rel)) is not None
    }


def _sources(storage: Storage, base: StorageURI, digest: str | None) -> dict[str, ObjectInfo]:
    """Objects of snapshot ``digest`` that still hold what its manifest says, by sha256."""
    if digest is None:
        return {}
    manifest = _read_manifest(storage, base, digest)
    if manifest is None:
        return {}
    listing = _listing(storage, snapshot_prefix(base, digest))
    found: dict[str, ObjectInfo] = {}
    for entry in manifest.entries:
        info = listing.get(entry.rel)
        if (
            info is not None
            and info.size == entry.size
            and _tag(info) == manifest.tags.get(entry.rel)
        ):
            found.setdefault(entry.sha256, info)
    return found


def _read_hint(storage: Storage, base: StorageURI) -> tuple[str, str] | None:
    uri = _tree_uri(base)
    if not storage.exists(uri):
        return None
    try:
        raw: Any = json.loads(storage.get_bytes(uri))
        return str(raw["signature"]), str(raw["digest"])
    except (ValueError, KeyError, TypeError):
        return None


def _write_hint(storage: Storage, base: StorageURI, signature: str, digest: str) -> None:
    data = json.dumps({"signature": signature, "digest": digest}, sort_keys=True)
    storage.put_bytes(_tree_uri(base), data.encode())


def ship_tree(
    storage: Storage,
    files: Sequence[LocalFile],
    base: StorageURI | str,
    *,
    progress: Progress | None = None,
) -> ShippedTree:
    """Make sure the snapshot of ``files`` exists under ``base``; return where it is.

    ``files`` are the tree's regular files under their relative paths (``scan_dir``).
    Unchanged tree (same names, sizes and mtimes as the hint): nothing is hashed, the snapshot
    is verified (see :func:`verify`) and reused; 0 bytes sent, nothing copied. Otherwise every
    file is hashed; a snapshot with that digest that verifies is reused, else it is written:
    objects already right under its prefix are kept, files whose content is in the previous
    snapshot (the hint's) are copied inside the store, the rest are uploaded, objects that do
    not belong are removed from this snapshot's prefix only, and the manifest is written last.
    Raises StorageError/CredentialsError when the store fails.
    """
    parsed = as_uri(base)
    signature = tree_signature(files)
    hint = _read_hint(storage, parsed)
    checked = None
    if hint is not None and hint[0] == signature:
        if verify(storage, parsed, hint[1]) is not None:
            return _reused(parsed, hint[1])
        checked = hint[1]
    entries = hash_files(files)
    digest = tree_digest(entries)
    if digest != checked and verify(storage, parsed, digest) is not None:
        _write_hint(storage, parsed, signature, digest)
        return _reused(parsed, digest)
    previous = hint[1] if hint is not None and hint[1] != digest else None
    shipped = _write(storage, parsed, files, entries, digest, previous, progress)
    _write_hint(storage, parsed, signature, digest)
    return shipped


def _reused(base: StorageURI, digest: str) -> ShippedTree:
    return ShippedTree(
        digest=digest,
        uri=_prefix_text(snapshot_prefix(base, digest)),
        files_sent=0,
        bytes_sent=0,
        files_copied=0,
        bytes_copied=0,
        reused=True,
    )


def _write(
    storage: Storage,
    base: StorageURI,
    files: Sequence[LocalFile],
    entries: Sequence[Entry],
    digest: str,
    previous: str | None,
    progress: Progress | None,
) -> ShippedTree:
    prefix = snapshot_prefix(base, digest)
    present = _listing(storage, prefix)
    known = _known_tags(_read_manifest(storage, base, digest))
    sources = _sources(storage, base, previous)
    paths = {f.rel: f.path for f in files}
    copies: list[tuple[ObjectInfo, StorageURI, Entry]] = []
    uploads: list[tuple[Upload, Entry]] = []
    for entry in entries:
        if _holds(present.get(entry.rel), entry, known):
            continue
        source = sources.get(entry.sha256)
        if source is not None and entry.size < COPY_LIMIT:
            copies.append((source, prefix.child(entry.rel), entry))
        else:
            upload = Upload(path=paths[entry.rel], uri=prefix.child(entry.rel), sha256=entry.sha256)
            uploads.append((upload, entry))
    wanted = {e.rel for e in entries}
    for rel, info in present.items():
        if rel not in wanted:
            log.warning("removing %s: not part of snapshot %s", info.uri, digest[:12])
            storage.delete(info.uri)
    if copies:
        with ThreadPoolExecutor(max_workers=COPY_WORKERS) as pool:
            list(pool.map(lambda item: storage.copy(item[0].uri, item[1]), copies))
    storage.upload_files([u for u, _ in uploads], progress=progress)
    written = _listing(storage, prefix)
    missing = [e.rel for e in entries if e.rel not in written or written[e.rel].size != e.size]
    if missing or set(written) != wanted:
        raise StorageError(
            f"snapshot {prefix} is incomplete after writing it ({len(missing)} files missing)",
            hint="another process may be writing the same prefix; submit again",
        )
    manifest = Manifest(
        digest=digest,
        entries=tuple(entries),
        tags={rel: _tag(info) for rel, info in written.items()},
    )
    storage.put_bytes(manifest_uri(base, digest), manifest.to_json())
    return ShippedTree(
        digest=digest,
        uri=_prefix_text(prefix),
        files_sent=len(uploads),
        bytes_sent=sum(e.size for _, e in uploads),
        files_copied=len(copies),
        bytes_copied=sum(e.size for _, _, e in copies),
        reused=False,
    )
