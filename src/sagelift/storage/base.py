"""Storage URIs and the one interface every storage scheme implements.

A URI names an object (``s3://bucket/key``) or, for ``list``/``sync_*``, a prefix that is read
as a directory: ``s3://bucket/runs/1`` covers ``runs/1/a`` but not ``runs/10``. Plain paths are
``file`` URIs. Parsing is pure: nothing here touches the network or the disk.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from sagelift.errors import SpecError

__all__ = [
    "SCHEMES",
    "ObjectInfo",
    "Progress",
    "Storage",
    "StorageURI",
    "SyncReport",
    "Upload",
    "as_uri",
    "parse_uri",
]

SCHEMES = ("file", "memory", "s3")

# docs: AmazonS3/latest/userguide/bucketnamingrules.html (general purpose buckets)
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_IP_LIKE = re.compile(r"^\d+\.\d+\.\d+\.\d+$")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_S3_KEY_MAX = 1024


@dataclass(frozen=True, slots=True, kw_only=True)
class StorageURI:
    """A parsed storage location.

    ``netloc`` is the bucket for ``s3`` and the store name for ``memory`` (may be empty); it is
    always empty for ``file``. ``path`` is the key without a leading slash for ``s3``/``memory``
    and the filesystem path (as given) for ``file``.
    """

    scheme: str
    netloc: str
    path: str

    @property
    def bucket(self) -> str:
        return self.netloc

    @property
    def key(self) -> str:
        return self.path

    def child(self, relative: str) -> StorageURI:
        """The URI of ``relative`` (a POSIX path) under this one read as a directory."""
        relative = relative.strip("/")
        if not relative:
            return self
        base = self.path.rstrip("/")
        joined = f"{base}/{relative}" if base else relative
        return StorageURI(scheme=self.scheme, netloc=self.netloc, path=joined)

    def local_path(self) -> Path:
        """The filesystem path of a ``file`` URI; SpecError for any other scheme."""
        if self.scheme != "file":
            raise SpecError(
                f"{self} is not a local path", hint="pass a plain path or a file:// URI"
            )
        return Path(self.path)

    def __str__(self) -> str:
        if self.scheme == "file":
            return f"file://{self.path}" if self.path.startswith("/") else self.path
        return f"{self.scheme}://{self.netloc}/{self.path}"


@dataclass(frozen=True, slots=True, kw_only=True)
class ObjectInfo:
    """One object found by ``Storage.list``.

    ``relative`` is its path under the listed prefix (POSIX). ``digest`` is a sha256 hex when
    the storage knows it without reading the object, else None; ``etag`` is what the storage
    reports as its entity tag (S3), else None.
    """

    uri: StorageURI
    relative: str
    size: int
    digest: str | None = None
    etag: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SyncReport:
    """What a sync did: files and bytes transferred, and files left alone because identical."""

    files_sent: int
    bytes_sent: int
    files_skipped: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Upload:
    """One local file to put at ``uri``; ``sha256`` when the caller has hashed it already (the
    store records it without reading the file again)."""

    path: Path
    uri: StorageURI
    sha256: str | None = None


class Progress(Protocol):
    """Told how far a transfer has come; may be called from worker threads, never concurrently."""

    def __call__(self, done: int, total: int) -> None: ...


@runtime_checkable
class Storage(Protocol):
    """Objects under URIs of one scheme.

    Every method accepts a ``StorageURI`` or a string parsed by ``parse_uri``. Reading a
    missing object raises StorageError; infrastructure failures raise StorageError or
    CredentialsError with a hint. ``sync_up``/``sync_down`` are incremental: a file whose size
    and content digest already match the other side is not transferred again. Neither deletes
    anything on the receiving side.
    """

    scheme: str

    def exists(self, uri: StorageURI | str) -> bool: ...

    def get_bytes(self, uri: StorageURI | str) -> bytes: ...

    def put_bytes(self, uri: StorageURI | str, data: bytes) -> None: ...

    def upload_file(
        self, path: Path, uri: StorageURI | str, *, progress: Progress | None = None
    ) -> None: ...

    def download_file(
        self, uri: StorageURI | str, path: Path, *, progress: Progress | None = None
    ) -> None: ...

    def upload_files(self, uploads: Sequence[Upload], *, progress: Progress | None = None) -> None:
        """Put many local files at once (concurrently where the store can); ``progress`` sees
        the running total over all of them."""

    def list(self, prefix: StorageURI | str) -> Iterator[ObjectInfo]: ...

    def delete(self, uri: StorageURI | str) -> None: ...

    def copy(self, source: StorageURI | str, dest: StorageURI | str) -> None:
        """Copy one object to another key of the same store, without the data passing through
        this machine where the store can copy by itself (S3 CopyObject)."""

    def sync_up(
        self, local_dir: Path, prefix: StorageURI | str, *, progress: Progress | None = None
    ) -> SyncReport: ...

    def sync_down(
        self, prefix: StorageURI | str, local_dir: Path, *, progress: Progress | None = None
    ) -> SyncReport: ...


def _malformed(text: str, why: str, hint: str) -> SpecError:
    return SpecError(f"malformed storage URI {text!r}: {why}", hint=hint)


def parse_uri(text: str) -> StorageURI:
    """Parse ``s3://bucket/key``, ``memory://store/key``, ``file:///abs/path`` or a plain path.

    Raises SpecError (with a hint) for empty or whitespace-padded input, an ``s3`` URI without
    a valid bucket name, a ``file://`` URI with a host, and unknown schemes.
    """
    if not text or text != text.strip():
        raise _malformed(text, "empty or surrounded by whitespace", "remove the spaces")
    if any(ch in text for ch in "\n\r\t\0"):
        raise _malformed(text, "contains control characters", "remove them")
    match = _SCHEME.match(text)
    if match is None:
        if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:/(?!/)", text):
            raise _malformed(text, "the scheme needs two slashes", "write it as s3://bucket/key")
        return StorageURI(scheme="file", netloc="", path=text)
    scheme = match.group(1).lower()
    rest = text[match.end() :]
    netloc, _, path = rest.partition("/")
    if scheme == "file":
        if netloc not in ("", "localhost"):
            raise _malformed(
                text,
                f"file URIs take no host (got {netloc!r})",
                "use file:///absolute/path or a plain relative path",
            )
        return StorageURI(scheme="file", netloc="", path="/" + path)
    if scheme == "s3":
        return StorageURI(scheme="s3", netloc=_bucket(text, netloc), path=_s3_key(text, path))
    if scheme == "memory":
        return StorageURI(scheme="memory", netloc=netloc, path=path.lstrip("/"))
    raise SpecError(
        f"unsupported storage scheme {scheme!r} in {text!r}",
        hint=f"use one of: {', '.join(s + '://' for s in SCHEMES)} or a plain path",
    )


def _bucket(text: str, bucket: str) -> str:
    hint = "write s3://BUCKET/prefix; bucket names are 3-63 chars of a-z, 0-9, '.', '-'"
    if not bucket:
        raise _malformed(text, "no bucket name", hint)
    if not _BUCKET.match(bucket) or ".." in bucket or _IP_LIKE.match(bucket):
        raise _malformed(text, f"{bucket!r} is not a valid S3 bucket name", hint)
    return bucket


def _s3_key(text: str, key: str) -> str:
    key = key.lstrip("/")
    if len(key.encode()) > _S3_KEY_MAX:
        raise _malformed(text, "S3 keys are at most 1024 bytes", "shorten the key")
    if any(part in (".", "..") for part in key.split("/")):
        raise _malformed(text, "'.' and '..' are not allowed in keys", "use a plain prefix")
    return key


def as_uri(uri: StorageURI | str) -> StorageURI:
    """``uri`` itself, or ``parse_uri(uri)`` for a string."""
    return uri if isinstance(uri, StorageURI) else parse_uri(uri)
