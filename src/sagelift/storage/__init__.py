"""Storage chosen by URI scheme: ``file://`` (and plain paths), ``s3://``, ``memory://``.

Implementations are imported only when their scheme is opened, so ``s3`` needs boto3 only when
used. ``memory://`` opens one store shared by the whole process, so what one caller writes
another can read.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from sagelift.errors import SpecError
from sagelift.storage.base import (
    SCHEMES,
    ObjectInfo,
    Progress,
    Storage,
    StorageURI,
    SyncReport,
    Upload,
    as_uri,
    parse_uri,
)

if TYPE_CHECKING:
    from sagelift.aws import AwsSettings
    from sagelift.storage.memory import MemoryStorage

__all__ = [
    "SCHEMES",
    "ObjectInfo",
    "Progress",
    "Storage",
    "StorageURI",
    "SyncReport",
    "Upload",
    "as_uri",
    "open_storage",
    "parse_uri",
    "shared_memory_storage",
]

_memory: MemoryStorage | None = None
_memory_lock = threading.Lock()


def shared_memory_storage() -> MemoryStorage:
    """The process-wide store behind ``memory://`` URIs, made on first use."""
    global _memory
    from sagelift.storage.memory import MemoryStorage

    with _memory_lock:
        if _memory is None:
            _memory = MemoryStorage()
        return _memory


def open_storage(uri_or_scheme: StorageURI | str, *, aws: AwsSettings | None = None) -> Storage:
    """The storage for a URI (``s3://b/k``, a path) or a bare scheme (``"s3"``).

    ``aws`` configures the ``s3`` storage and is ignored by the others. Raises SpecError for a
    malformed URI or an unknown scheme (naming the supported ones), MissingDependency when
    ``s3`` is asked for without boto3 installed (on first use).
    """
    if isinstance(uri_or_scheme, StorageURI):
        scheme = uri_or_scheme.scheme
    elif uri_or_scheme in SCHEMES:
        scheme = uri_or_scheme
    else:
        scheme = parse_uri(uri_or_scheme).scheme
    if scheme == "file":
        from sagelift.storage.local import LocalStorage

        return LocalStorage()
    if scheme == "memory":
        return shared_memory_storage()
    if scheme == "s3":
        from sagelift.storage.s3 import S3Storage

        return S3Storage(aws)
    raise SpecError(
        f"unsupported storage scheme {scheme!r}",
        hint=f"use one of: {', '.join(s + '://' for s in SCHEMES)} or a plain path",
    )
