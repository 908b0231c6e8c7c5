"""``memory://store/key``: objects held in this process, for tests and dry runs."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

from sagelift.errors import StorageError
from sagelift.storage.base import (
    ObjectInfo,
    Progress,
    StorageURI,
    SyncReport,
    Upload,
    as_uri,
)
from sagelift.storage.sync import (
    Meter,
    atomic_writer,
    digest_file,
    relative_under,
    scan_dir,
    target_under,
)

__all__ = ["MemoryStorage"]


class MemoryStorage:
    """A thread-safe in-process object store; each instance is independent."""

    scheme = "memory"

    def __init__(self) -> None:
        self._objects: dict[tuple[str, str], tuple[bytes, str]] = {}
        self._lock = threading.Lock()

    def clear(self) -> None:
        with self._lock:
            self._objects.clear()

    def _get(self, uri: StorageURI) -> tuple[bytes, str]:
        with self._lock:
            found = self._objects.get((uri.netloc, uri.path))
        if found is None:
            raise StorageError(f"{uri}: no such object", hint="check the URI and list the prefix")
        return found

    def exists(self, uri: StorageURI | str) -> bool:
        parsed = as_uri(uri)
        with self._lock:
            return (parsed.netloc, parsed.path) in self._objects

    def get_bytes(self, uri: StorageURI | str) -> bytes:
        return self._get(as_uri(uri))[0]

    def put_bytes(self, uri: StorageURI | str, data: bytes) -> None:
        parsed = as_uri(uri)
        if not parsed.path or parsed.path.endswith("/"):
            raise StorageError(f"{parsed}: not an object key", hint="name a key, not a prefix")
        blob = bytes(data)
        with self._lock:
            self._objects[(parsed.netloc, parsed.path)] = (blob, hashlib.sha256(blob).hexdigest())

    def upload_file(
        self, path: Path, uri: StorageURI | str, *, progress: Progress | None = None
    ) -> None:
        data = path.read_bytes()
        self.put_bytes(uri, data)
        Meter(progress, len(data)).add(len(data))

    def upload_files(self, uploads: Sequence[Upload], *, progress: Progress | None = None) -> None:
        blobs = [(upload.uri, upload.path.read_bytes()) for upload in uploads]
        meter = Meter(progress, sum(len(data) for _, data in blobs))
        for uri, data in blobs:
            self.put_bytes(uri, data)
            meter.add(len(data))

    def download_file(
        self, uri: StorageURI | str, path: Path, *, progress: Progress | None = None
    ) -> None:
        data = self.get_bytes(uri)
        with atomic_writer(path) as handle:
            handle.write(data)
        Meter(progress, len(data)).add(len(data))

    def list(self, prefix: StorageURI | str) -> Iterator[ObjectInfo]:
        parsed = as_uri(prefix)
        with self._lock:
            items = sorted(
                (key, blob, digest)
                for (netloc, key), (blob, digest) in self._objects.items()
                if netloc == parsed.netloc
            )
        for key, blob, digest in items:
            rel = relative_under(parsed.path, key)
            if rel is not None:
                yield ObjectInfo(
                    uri=StorageURI(scheme=self.scheme, netloc=parsed.netloc, path=key),
                    relative=rel,
                    size=len(blob),
                    digest=digest,
                )

    def copy(self, source: StorageURI | str, dest: StorageURI | str) -> None:
        self.put_bytes(dest, self.get_bytes(source))

    def delete(self, uri: StorageURI | str) -> None:
        parsed = as_uri(uri)
        with self._lock:
            self._objects.pop((parsed.netloc, parsed.path), None)

    def sync_up(
        self, local_dir: Path, prefix: StorageURI | str, *, progress: Progress | None = None
    ) -> SyncReport:
        parsed = as_uri(prefix)
        remote = {info.relative: info for info in self.list(parsed)}
        files = scan_dir(local_dir)
        todo = []
        for local in files:
            have = remote.get(local.rel)
            if (
                have is not None
                and have.size == local.size
                and have.digest == digest_file(local.path).sha256
            ):
                continue
            todo.append(local)
        meter = Meter(progress, sum(f.size for f in todo))
        for local in todo:
            self.put_bytes(parsed.child(local.rel), local.path.read_bytes())
            meter.add(local.size)
        return SyncReport(
            files_sent=len(todo),
            bytes_sent=sum(f.size for f in todo),
            files_skipped=len(files) - len(todo),
        )

    def sync_down(
        self, prefix: StorageURI | str, local_dir: Path, *, progress: Progress | None = None
    ) -> SyncReport:
        objects = list(self.list(prefix))
        todo = []
        for info in objects:
            target = target_under(local_dir, info.relative)
            if (
                target.is_file()
                and target.stat().st_size == info.size
                and digest_file(target).sha256 == info.digest
            ):
                continue
            todo.append(info)
        meter = Meter(progress, sum(i.size for i in todo))
        for info in todo:
            self.download_file(info.uri, target_under(local_dir, info.relative))
            meter.add(info.size)
        return SyncReport(
            files_sent=len(todo),
            bytes_sent=sum(i.size for i in todo),
            files_skipped=len(objects) - len(todo),
        )
