"""The shared storage suite, bound to memory://, file:// and s3:// (a moto server on loopback)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from sagelift.aws import AwsSettings
from sagelift.storage import StorageURI
from sagelift.storage.local import LocalStorage
from sagelift.storage.memory import MemoryStorage
from sagelift.storage.s3 import S3Storage
from tests.storage.suite import StorageSuite

MB = 1024 * 1024
BUCKET = "sagelift-test"


class MemoryProbe:
    def __init__(self, storage: MemoryStorage, root: StorageURI, patch: pytest.MonkeyPatch) -> None:
        self._writes: Counter[str] = Counter()
        put = storage.put_bytes

        def counting_put(uri: Any, data: bytes) -> None:
            self._writes[str(uri).removeprefix(str(root) + "/")] += len(data)
            put(uri, data)

        patch.setattr(storage, "put_bytes", counting_put)

    def reset(self) -> None:
        self._writes.clear()

    def written(self) -> dict[str, int]:
        return dict(self._writes)


class FileProbe:
    """Files written since ``reset``: every write lands as a new inode (temp file + rename)."""

    def __init__(self, root: Path) -> None:
        self._root = root
        self._before: dict[str, tuple[int, int]] = {}

    def _snapshot(self) -> dict[str, tuple[int, int]]:
        if not self._root.exists():
            return {}
        return {
            p.relative_to(self._root).as_posix(): (p.stat().st_ino, p.stat().st_mtime_ns)
            for p in self._root.rglob("*")
            if p.is_file()
        }

    def reset(self) -> None:
        self._before = self._snapshot()

    def written(self) -> dict[str, int]:
        return {
            rel: (self._root / rel).stat().st_size
            for rel, state in self._snapshot().items()
            if self._before.get(rel) != state
        }


class S3Probe:
    """Objects written since ``reset``, seen as PutObject/UploadPart calls leaving the client."""

    def __init__(self, storage: S3Storage, root: StorageURI) -> None:
        self._writes: Counter[str] = Counter()
        self._prefix = root.key + "/"
        storage.client.meta.events.register("before-parameter-build.s3.PutObject", self._seen)
        storage.client.meta.events.register("before-parameter-build.s3.UploadPart", self._seen)

    def _seen(self, params: dict[str, Any], **_: Any) -> None:
        self._writes[str(params["Key"]).removeprefix(self._prefix)] += 1

    def reset(self) -> None:
        self._writes.clear()

    def written(self) -> dict[str, int]:
        return dict(self._writes)


class TestMemoryStorage(StorageSuite):
    @pytest.fixture
    def storage(self) -> MemoryStorage:
        return MemoryStorage()

    @pytest.fixture
    def root(self) -> StorageURI:
        return StorageURI(scheme="memory", netloc="test", path="root")

    @pytest.fixture
    def probe(
        self, storage: MemoryStorage, root: StorageURI, monkeypatch: pytest.MonkeyPatch
    ) -> MemoryProbe:
        return MemoryProbe(storage, root, monkeypatch)


class TestLocalStorage(StorageSuite):
    @pytest.fixture
    def storage(self) -> LocalStorage:
        return LocalStorage()

    @pytest.fixture
    def root(self, tmp_path: Path) -> StorageURI:
        return StorageURI(scheme="file", netloc="", path=str(tmp_path / "store"))

    @pytest.fixture
    def probe(self, root: StorageURI) -> FileProbe:
        return FileProbe(root.local_path())


class TestS3Storage(StorageSuite):
    @pytest.fixture
    def storage(self, aws_settings: AwsSettings) -> S3Storage:
        storage = S3Storage(aws_settings, multipart_threshold=5 * MB, multipart_chunksize=5 * MB)
        storage.client.create_bucket(Bucket=BUCKET)
        return storage

    @pytest.fixture
    def root(self) -> StorageURI:
        return StorageURI(scheme="s3", netloc=BUCKET, path="root")

    @pytest.fixture
    def probe(self, storage: S3Storage, root: StorageURI) -> S3Probe:
        return S3Probe(storage, root)
