"""safe_extract refuses every way an archive can write outside its destination."""

from __future__ import annotations

import io
import stat
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from sagelift import archives
from sagelift.errors import StorageError
from sagelift.sourcedir import build_source_tarball, safe_extract


@pytest.fixture(params=["data-filter", "own-checks"])
def mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "own-checks":
        monkeypatch.setattr(archives, "_HAS_DATA_FILTER", False)
    elif not archives._HAS_DATA_FILTER:
        pytest.skip("this Python has no tarfile data filter")
    return str(request.param)


def entry(name: str, kind: bytes = tarfile.REGTYPE, **attrs: object) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    for key, value in attrs.items():
        setattr(info, key, value)
    return info


def write_tar(path: Path, *members: tarfile.TarInfo, data: bytes = b"payload") -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for member in members:
            if member.isreg():
                member.size = len(data)
                tar.addfile(member, io.BytesIO(data))
            else:
                tar.addfile(member)
    return path


UNSAFE: dict[str, Callable[[], list[tarfile.TarInfo]]] = {
    "absolute path": lambda: [entry("/tmp/sagelift-evil.txt")],
    "dot-dot": lambda: [entry("../evil.txt")],
    "dot-dot inside": lambda: [entry("a/../../evil.txt")],
    "absolute symlink": lambda: [entry("link", tarfile.SYMTYPE, linkname="/etc/passwd")],
    "escaping symlink": lambda: [entry("a/link", tarfile.SYMTYPE, linkname="../../outside")],
    "escaping hardlink": lambda: [entry("hard", tarfile.LNKTYPE, linkname="../outside.txt")],
    "absolute hardlink": lambda: [entry("hard", tarfile.LNKTYPE, linkname="/etc/passwd")],
    "char device": lambda: [entry("dev", tarfile.CHRTYPE, devmajor=1, devminor=3)],
    "block device": lambda: [entry("blk", tarfile.BLKTYPE, devmajor=8, devminor=0)],
    "fifo": lambda: [entry("fifo", tarfile.FIFOTYPE)],
    "symlink then write through it": lambda: [
        entry("escape", tarfile.SYMTYPE, linkname=".."),
        entry("escape/evil.txt"),
    ],
}


@pytest.mark.parametrize("case", list(UNSAFE))
def test_unsafe_members_are_refused_before_anything_is_written(
    tmp_path: Path, mode: str, case: str
) -> None:
    archive = write_tar(tmp_path / "evil.tar.gz", entry("first.txt"), *UNSAFE[case]())
    dest = tmp_path / "box" / "dest"
    with pytest.raises(StorageError) as info:
        safe_extract(archive, dest)
    assert info.value.hint
    assert list(dest.iterdir()) == []
    assert not (tmp_path / "box" / "evil.txt").exists()
    assert not (tmp_path / "box" / "outside").exists()


def test_a_symlink_already_in_dest_cannot_redirect_a_member(tmp_path: Path, mode: str) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "sub").symlink_to(outside)
    archive = write_tar(tmp_path / "a.tar.gz", entry("sub/evil.txt"))
    with pytest.raises(StorageError):
        safe_extract(archive, dest)
    assert list(outside.iterdir()) == []


def test_a_good_archive_round_trips(tmp_path: Path, mode: str) -> None:
    src = tmp_path / "src"
    (src / "pkg").mkdir(parents=True)
    (src / "train.py").write_text("print(1)\n")
    (src / "pkg" / "m.py").write_text("X = 1\n")
    (src / "run.sh").write_text("#!/bin/sh\n")
    (src / "run.sh").chmod(0o755)
    package = build_source_tarball(src, tmp_path / "s.tar.gz")
    dest = tmp_path / "dest"
    safe_extract(package.path, dest)
    assert (dest / "train.py").read_text() == "print(1)\n"
    assert (dest / "pkg" / "m.py").read_text() == "X = 1\n"
    assert (dest / "run.sh").stat().st_mode & 0o111


def test_inside_links_and_modes(tmp_path: Path, mode: str) -> None:
    archive = write_tar(
        tmp_path / "a.tar.gz",
        entry("dir", tarfile.DIRTYPE, mode=0o755),
        entry("dir/file.txt", mode=0o4777),
        entry("dir/link", tarfile.SYMTYPE, linkname="file.txt"),
        entry("hard", tarfile.LNKTYPE, linkname="dir/file.txt"),
    )
    dest = tmp_path / "dest"
    safe_extract(archive, dest)
    assert (dest / "dir" / "link").read_bytes() == b"payload"
    assert (dest / "hard").read_bytes() == b"payload"
    file_mode = (dest / "dir" / "file.txt").stat().st_mode
    assert not file_mode & stat.S_ISUID
    assert not file_mode & 0o022


def test_a_damaged_archive_is_a_storage_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.tar.gz"
    bad.write_bytes(b"\x1f\x8b not really gzip")
    with pytest.raises(StorageError) as info:
        safe_extract(bad, tmp_path / "dest")
    assert info.value.hint
