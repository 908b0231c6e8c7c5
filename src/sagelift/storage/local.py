"""``file://`` URIs and plain paths: objects are files, prefixes are directories."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
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
    LocalFile,
    Meter,
    atomic_writer,
    digest_file,
    scan_dir,
    target_under,
)

__all__ = ["LocalStorage"]

WORKERS = 8
_COPY_CHUNK = 1024 * 1024


def _os_error(action: str, exc: OSError) -> StorageError:
    where = f" ({exc.filename})" if exc.filename else ""
    if isinstance(exc, FileNotFoundError):
        return StorageError(f"{action}: no such file{where}", hint="check the path")
    return StorageError(
        f"{action} failed: {exc.strerror or exc}{where}",
        hint="check permissions and free disk space",
    )


def _copy(src: Path, dest: Path, meter: Meter) -> None:
    with src.open("rb") as reader, atomic_writer(dest) as writer:
        while chunk := reader.read(_COPY_CHUNK):
            writer.write(chunk)
            meter.add(len(chunk))


def _same(src: Path, dest: Path) -> bool:
    return digest_file(src).sha256 == digest_file(dest).sha256


class LocalStorage:
    """Files on this machine. Writes go through a temporary file renamed into place."""

    scheme = "file"

    def exists(self, uri: StorageURI | str) -> bool:
        return as_uri(uri).local_path().is_file()

    def get_bytes(self, uri: StorageURI | str) -> bytes:
        path = as_uri(uri).local_path()
        try:
            return path.read_bytes()
        except OSError as exc:
            raise _os_error(f"reading {path}", exc) from exc

    def put_bytes(self, uri: StorageURI | str, data: bytes) -> None:
        path = as_uri(uri).local_path()
        try:
            with atomic_writer(path) as handle:
                handle.write(data)
        except OSError as exc:
            raise _os_error(f"writing {path}", exc) from exc

    def upload_file(
        self, path: Path, uri: StorageURI | str, *, progress: Progress | None = None
    ) -> None:
        dest = as_uri(uri).local_path()
        try:
            _copy(path, dest, Meter(progress, path.stat().st_size))
        except OSError as exc:
            raise _os_error(f"copying {path} to {dest}", exc) from exc

    def upload_files(self, uploads: Sequence[Upload], *, progress: Progress | None = None) -> None:
        try:
            meter = Meter(progress, sum(u.path.stat().st_size for u in uploads))
            with ThreadPoolExecutor(max_workers=WORKERS) as pool:
                list(pool.map(lambda u: _copy(u.path, as_uri(u.uri).local_path(), meter), uploads))
        except OSError as exc:
            raise _os_error("copying files", exc) from exc

    def download_file(
        self, uri: StorageURI | str, path: Path, *, progress: Progress | None = None
    ) -> None:
        source = as_uri(uri).local_path()
        try:
            _copy(source, path, Meter(progress, source.stat().st_size))
        except OSError as exc:
            raise _os_error(f"copying {source} to {path}", exc) from exc

    def list(self, prefix: StorageURI | str) -> Iterator[ObjectInfo]:
        parsed = as_uri(prefix)
        root = parsed.local_path()
        if not root.is_dir():
            return
        for found in scan_dir(root):
            yield ObjectInfo(
                uri=parsed.child(found.rel),
                relative=found.rel,
                size=found.size,
            )

    def copy(self, source: StorageURI | str, dest: StorageURI | str) -> None:
        self.upload_file(as_uri(source).local_path(), dest)

    def delete(self, uri: StorageURI | str) -> None:
        path = as_uri(uri).local_path()
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            raise _os_error(f"deleting {path}", exc) from exc

    def sync_up(
        self, local_dir: Path, prefix: StorageURI | str, *, progress: Progress | None = None
    ) -> SyncReport:
        return _sync(local_dir, as_uri(prefix).local_path(), progress)

    def sync_down(
        self, prefix: StorageURI | str, local_dir: Path, *, progress: Progress | None = None
    ) -> SyncReport:
        source = as_uri(prefix).local_path()
        if not source.is_dir():
            return SyncReport(files_sent=0, bytes_sent=0, files_skipped=0)
        return _sync(source, local_dir, progress)


def _sync(source: Path, dest: Path, progress: Progress | None) -> SyncReport:
    files = scan_dir(source)

    def needed(local: LocalFile) -> bool:
        target = target_under(dest, local.rel)
        if not target.is_file() or target.stat().st_size != local.size:
            return True
        return not _same(local.path, target)

    try:
        with ThreadPoolExecutor(max_workers=WORKERS) as pool:
            todo = [f for f, need in zip(files, pool.map(needed, files), strict=True) if need]
            meter = Meter(progress, sum(f.size for f in todo))
            list(pool.map(lambda f: _copy(f.path, target_under(dest, f.rel), meter), todo))
    except OSError as exc:
        raise _os_error(f"syncing {source} to {dest}", exc) from exc
    return SyncReport(
        files_sent=len(todo),
        bytes_sent=sum(f.size for f in todo),
        files_skipped=len(files) - len(todo),
    )
