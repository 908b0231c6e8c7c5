"""The behaviour every storage must show. Bind it by subclassing with ``storage``, ``root`` and
``probe`` fixtures.

``probe`` observes what actually reached the storage (not what the sync reports), so the
incremental tests fail if a sync re-sends files it claims to skip.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol

import pytest

from sagelift.errors import StorageError
from sagelift.storage import Storage, StorageURI, Upload

LARGE = 11 * 1024 * 1024


class WriteProbe(Protocol):
    def reset(self) -> None: ...

    def written(self) -> dict[str, int]:
        """Relative name under ``root`` → bytes written there since the last ``reset``."""
        ...


def make_tree(base: Path) -> dict[str, bytes]:
    files = {
        "train.csv": b"a,b\n1,2\n" * 100,
        "empty.txt": b"",
        "nested/deeper/blob.bin": bytes(range(256)) * 40,
        "nested/notes.md": "ünïcode ✓\n".encode(),
        "with space/x y.txt": b"spaces",
    }
    for rel, data in files.items():
        path = base / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return files


def read_tree(base: Path) -> dict[str, bytes]:
    return {
        p.relative_to(base).as_posix(): p.read_bytes()
        for p in sorted(base.rglob("*"))
        if p.is_file()
    }


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[int, int]] = []

    def __call__(self, done: int, total: int) -> None:
        self.calls.append((done, total))


class StorageSuite:
    def test_put_get_exists_delete(self, storage: Storage, root: StorageURI) -> None:
        uri = root.child("a/b.txt")
        assert not storage.exists(uri)
        storage.put_bytes(uri, b"hello")
        assert storage.exists(uri)
        assert storage.exists(str(uri))
        assert storage.get_bytes(uri) == b"hello"
        storage.put_bytes(uri, b"again")
        assert storage.get_bytes(uri) == b"again"
        storage.delete(uri)
        assert not storage.exists(uri)
        storage.delete(uri)

    def test_copy_within_the_store(self, storage: Storage, root: StorageURI) -> None:
        source, dest = root.child("runtime/x.pyz"), root.child("code/1/x.pyz")
        storage.put_bytes(source, b"bundle")
        storage.copy(source, dest)
        assert storage.get_bytes(dest) == b"bundle"
        assert storage.get_bytes(source) == b"bundle"
        assert [info.relative for info in storage.list(root.child("code"))] == ["1/x.pyz"]

    def test_missing_object_is_a_storage_error_with_hint(
        self, storage: Storage, root: StorageURI
    ) -> None:
        with pytest.raises(StorageError) as info:
            storage.get_bytes(root.child("nope.bin"))
        assert info.value.hint
        assert info.value.exit_code == 3

    def test_upload_download_roundtrip_with_progress(
        self, storage: Storage, root: StorageURI, tmp_path: Path
    ) -> None:
        src = tmp_path / "src.bin"
        src.write_bytes(os.urandom(300_000))
        up, down = Recorder(), Recorder()
        storage.upload_file(src, root.child("model/src.bin"), progress=up)
        dest = tmp_path / "out" / "deep" / "dest.bin"
        storage.download_file(root.child("model/src.bin"), dest, progress=down)
        assert dest.read_bytes() == src.read_bytes()
        for calls in (up.calls, down.calls):
            assert calls[-1] == (300_000, 300_000)
            assert [d for d, _ in calls] == sorted(d for d, _ in calls)

    def test_upload_files_puts_each_file_at_its_uri(
        self, storage: Storage, root: StorageURI, tmp_path: Path
    ) -> None:
        files = make_tree(tmp_path / "src")
        big = tmp_path / "big.bin"
        big.write_bytes(os.urandom(LARGE))
        uploads = [
            Upload(path=tmp_path / "src" / rel, uri=root.child(f"many/{rel}")) for rel in files
        ]
        uploads.append(Upload(path=big, uri=root.child("many/big.bin")))
        seen = Recorder()
        storage.upload_files(uploads, progress=seen)
        for rel, data in files.items():
            assert storage.get_bytes(root.child(f"many/{rel}")) == data
        assert storage.get_bytes(root.child("many/big.bin")) == big.read_bytes()
        total = sum(len(v) for v in files.values()) + LARGE
        assert seen.calls[-1] == (total, total)

    def test_large_file_roundtrip(self, storage: Storage, root: StorageURI, tmp_path: Path) -> None:
        src = tmp_path / "big.bin"
        src.write_bytes(os.urandom(LARGE))
        storage.upload_file(src, root.child("big.bin"))
        dest = tmp_path / "big.out"
        storage.download_file(root.child("big.bin"), dest)
        assert dest.read_bytes() == src.read_bytes()

    def test_list_reads_prefix_as_a_directory(self, storage: Storage, root: StorageURI) -> None:
        storage.put_bytes(root.child("runs/1/a.txt"), b"a")
        storage.put_bytes(root.child("runs/1/sub/b.txt"), b"bb")
        storage.put_bytes(root.child("runs/10/c.txt"), b"ccc")
        found = {info.relative: info.size for info in storage.list(root.child("runs/1"))}
        assert found == {"a.txt": 1, "sub/b.txt": 2}
        infos = list(storage.list(root.child("runs/1")))
        assert {str(i.uri) for i in infos} == {
            str(root.child("runs/1/a.txt")),
            str(root.child("runs/1/sub/b.txt")),
        }
        assert list(storage.list(root.child("nothing-here"))) == []

    def test_sync_up_then_down_reproduces_the_tree(
        self, storage: Storage, root: StorageURI, tmp_path: Path
    ) -> None:
        files = make_tree(tmp_path / "src")
        report = storage.sync_up(tmp_path / "src", root.child("data"))
        assert report.files_sent == len(files)
        assert report.bytes_sent == sum(len(v) for v in files.values())
        assert report.files_skipped == 0
        down = storage.sync_down(root.child("data"), tmp_path / "dest")
        assert down.files_sent == len(files)
        assert read_tree(tmp_path / "dest") == files

    def test_sync_up_is_incremental(
        self, storage: Storage, root: StorageURI, probe: WriteProbe, tmp_path: Path
    ) -> None:
        src = tmp_path / "src"
        files = make_tree(src)
        storage.sync_up(src, root.child("data"))

        probe.reset()
        again = storage.sync_up(src, root.child("data"))
        assert (again.files_sent, again.bytes_sent, again.files_skipped) == (0, 0, len(files))
        assert probe.written() == {}

        # Same size, different content: a size-only comparison would miss it.
        (src / "nested/deeper/blob.bin").write_bytes(bytes(reversed(range(256))) * 40)
        (src / "new.txt").write_bytes(b"new file")
        probe.reset()
        changed = storage.sync_up(src, root.child("data"))
        assert changed.files_sent == 2
        assert changed.bytes_sent == 256 * 40 + 8
        assert changed.files_skipped == len(files) - 1
        assert set(probe.written()) == {"data/nested/deeper/blob.bin", "data/new.txt"}
        assert (
            storage.get_bytes(root.child("data/nested/deeper/blob.bin"))
            == bytes(reversed(range(256))) * 40
        )

    def test_sync_up_skips_an_unchanged_large_file(
        self, storage: Storage, root: StorageURI, probe: WriteProbe, tmp_path: Path
    ) -> None:
        src = tmp_path / "src"
        src.mkdir()
        (src / "weights.bin").write_bytes(os.urandom(LARGE))
        (src / "small.txt").write_bytes(b"small")
        progress = Recorder()
        first = storage.sync_up(src, root.child("ckpt"), progress=progress)
        assert first.bytes_sent == LARGE + 5
        assert progress.calls[-1] == (LARGE + 5, LARGE + 5)
        probe.reset()
        again = storage.sync_up(src, root.child("ckpt"))
        assert again.files_sent == 0
        assert probe.written() == {}

    def test_sync_down_is_incremental(
        self, storage: Storage, root: StorageURI, tmp_path: Path
    ) -> None:
        files = make_tree(tmp_path / "src")
        storage.sync_up(tmp_path / "src", root.child("data"))
        dest = tmp_path / "dest"
        storage.sync_down(root.child("data"), dest)
        again = storage.sync_down(root.child("data"), dest)
        assert (again.files_sent, again.files_skipped) == (0, len(files))

        (dest / "train.csv").write_bytes(b"x" * len(files["train.csv"]))
        fixed = storage.sync_down(root.child("data"), dest)
        assert fixed.files_sent == 1
        assert fixed.bytes_sent == len(files["train.csv"])
        assert read_tree(dest) == files

    def test_sync_up_of_a_missing_dir_fails_with_hint(
        self, storage: Storage, root: StorageURI, tmp_path: Path
    ) -> None:
        with pytest.raises(StorageError) as info:
            storage.sync_up(tmp_path / "absent", root.child("x"))
        assert info.value.hint
