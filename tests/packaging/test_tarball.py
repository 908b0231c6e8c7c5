"""The source tarball: byte-identical for the same tree, and what goes in it."""

from __future__ import annotations

import gzip
import os
import tarfile
from pathlib import Path

import pytest

from sagelift.codefiles import iter_source_files
from sagelift.errors import SpecError
from sagelift.sourcedir import build_source_tarball, source_digest

TREE = {
    "train.py": b"print('train')\n",
    "run.sh": b"#!/bin/sh\necho hi\n",
    "pkg/__init__.py": b"",
    "pkg/model.py": b"X = 1\n",
    "pkg/sub/deep.txt": b"deep",
    "requirements.txt": b"numpy\n",
}


def make_tree(root: Path, order: list[str] | None = None) -> Path:
    for rel in order or list(TREE):
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(TREE[rel])
    (root / "run.sh").chmod(0o755)
    return root


def members(tarball: Path) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(tarball) as tar:
        return {m.name: m for m in tar.getmembers()}


def test_same_tree_gives_identical_bytes(tmp_path: Path) -> None:
    first = build_source_tarball(make_tree(tmp_path / "a"), tmp_path / "one.tar.gz")

    # Same content created in reverse order elsewhere, with other mtimes and read bits.
    other = make_tree(tmp_path / "b", order=list(reversed(TREE)))
    for i, path in enumerate(sorted(other.rglob("*"))):
        os.utime(path, (1_000_000 + i * 7777, 2_000_000 + i * 9999))
    (other / "train.py").chmod(0o600)
    second = build_source_tarball(other, tmp_path / "two.tar.gz")

    assert first.digest == second.digest
    assert (tmp_path / "one.tar.gz").read_bytes() == (tmp_path / "two.tar.gz").read_bytes()
    assert first.file_count == len(TREE)
    assert first.size == (tmp_path / "one.tar.gz").stat().st_size
    assert source_digest(tmp_path / "a") == source_digest(other)


def test_content_or_exec_bit_changes_the_digest(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "a")
    before = build_source_tarball(tree, tmp_path / "x.tar.gz").digest
    digest_before = source_digest(tree)
    (tree / "train.py").chmod(0o755)
    after_chmod = build_source_tarball(tree, tmp_path / "x.tar.gz").digest
    (tree / "pkg/model.py").write_bytes(b"X = 2\n")
    after_edit = build_source_tarball(tree, tmp_path / "x.tar.gz").digest
    assert len({before, after_chmod, after_edit}) == 3
    assert source_digest(tree) != digest_before


def test_entries_are_normalised(tmp_path: Path) -> None:
    package = build_source_tarball(make_tree(tmp_path / "a"), tmp_path / "s.tar.gz")
    found = members(package.path)
    assert list(found) == sorted(found, key=lambda n: n.split("/"))
    assert {"pkg", "pkg/sub"} <= set(found)
    for info in found.values():
        assert (info.mtime, info.uid, info.gid, info.uname, info.gname) == (0, 0, 0, "", "")
    assert found["run.sh"].mode == 0o755
    assert found["train.py"].mode == 0o644
    assert found["pkg"].isdir()
    assert found["pkg"].mode == 0o755
    raw = package.path.read_bytes()
    assert raw[4:8] == b"\0\0\0\0"  # gzip MTIME
    assert not raw[3] & 0x08  # no FNAME flag
    with gzip.open(package.path) as gz:
        assert gz.read()


def test_extra_files_are_added_and_override(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "a")
    package = build_source_tarball(
        tree,
        tmp_path / "s.tar.gz",
        extra_files={"sagelift_launcher.py": b"launch\n", "train.py": b"replaced\n"},
    )
    with tarfile.open(package.path) as tar:
        assert tar.extractfile("sagelift_launcher.py").read() == b"launch\n"  # type: ignore[union-attr]
        assert tar.extractfile("train.py").read() == b"replaced\n"  # type: ignore[union-attr]
    assert package.file_count == len(TREE) + 1


@pytest.mark.parametrize("name", ["/abs.py", "../up.py", "a/../b.py", "", "./x.py"])
def test_extra_file_paths_must_be_plain(tmp_path: Path, name: str) -> None:
    with pytest.raises(SpecError):
        build_source_tarball(
            make_tree(tmp_path / "a"), tmp_path / "s.tar.gz", extra_files={name: b""}
        )


def test_too_big_a_tree_is_refused_naming_the_biggest_files(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "a")
    (tree / "data").mkdir()
    (tree / "data" / "huge.csv").write_bytes(b"x" * 3000)
    (tree / "weights.bin").write_bytes(b"y" * 2000)
    with pytest.raises(SpecError) as info:
        build_source_tarball(tree, tmp_path / "s.tar.gz", max_bytes=4000)
    assert "data/huge.csv" in str(info.value)
    assert "weights.bin" in str(info.value)
    assert info.value.hint is not None
    assert "channel" in info.value.hint
    assert info.value.field == "source_dir"
    assert not (tmp_path / "s.tar.gz").exists()
    assert build_source_tarball(tree, tmp_path / "s.tar.gz", exclude=["data/", "*.bin"]).file_count


def test_symlinks_are_followed_only_inside_the_tree(tmp_path: Path) -> None:
    outside = tmp_path / "secret.txt"
    outside.write_text("secret")
    tree = make_tree(tmp_path / "a")
    (tree / "inside_link.py").symlink_to("train.py")
    (tree / "outside_link.txt").symlink_to(outside)
    (tree / "loop").symlink_to(".")
    (tree / "dangling").symlink_to("nothing")
    files = dict(iter_source_files(tree))
    assert "inside_link.py" in files
    assert files["inside_link.py"].read_bytes() == TREE["train.py"]
    assert "outside_link.txt" not in files
    assert not any(rel.startswith("loop") for rel in files)
    assert "dangling" not in files
    package = build_source_tarball(tree, tmp_path / "s.tar.gz")
    found = members(package.path)
    assert found["inside_link.py"].isfile()
    assert "outside_link.txt" not in found


def test_skip_leaves_out_a_channel_dir(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "a")
    (tree / "data").mkdir()
    (tree / "data" / "train.csv").write_text("1,2\n")
    files = dict(iter_source_files(tree, skip=[tree / "data"]))
    assert "data/train.csv" not in files
    assert "train.py" in files
