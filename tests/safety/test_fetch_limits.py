"""fetch within limits: an archive that would fill the disk is refused before anything is
written, and a refused or failed fetch leaves nothing at (or beside) its destination."""

from __future__ import annotations

import gzip
import io
import json
import os
import subprocess
import sys
import tarfile
from collections import namedtuple
from pathlib import Path

import pytest

from sagelift import jobs
from sagelift.errors import InfrastructureError, StorageError, UsageError
from sagelift.sourcedir import parse_size, safe_extract
from tests.conftest import MakeProject

GiB = 1024**3
CHUNK = 64 * 1024**2


def gzip_bomb(path: Path, size: int) -> Path:
    """A valid .tar.gz of one member of ``size`` zero bytes, a few MB on disk.

    gzip allows concatenated members, so the compressed zeros are made once and repeated: the
    test never compresses (nor holds) ``size`` bytes.
    """
    info = tarfile.TarInfo("weights.bin")
    info.size = size
    zeros = gzip.compress(bytes(CHUNK), compresslevel=1, mtime=0)
    whole, rest = divmod(size, CHUNK)
    with open(path, "wb") as out:
        out.write(gzip.compress(info.tobuf(format=tarfile.GNU_FORMAT), mtime=0))
        for _ in range(whole):
            out.write(zeros)
        tail = rest + (-size % tarfile.BLOCKSIZE) + 2 * tarfile.BLOCKSIZE
        out.write(gzip.compress(bytes(tail), mtime=0))
    return path


def tar_gz(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


@pytest.fixture
def finished(make_project: MakeProject, clean_environ: dict[str, str]) -> tuple[Path, str, Path]:
    """A project with one completed local job: (project, job name, its model.tar.gz)."""
    project = make_project("ok")
    result = jobs.run(jobs.load_spec(project, environ=clean_environ), check=True)
    assert result.model_artifacts is not None
    return project, result.handle.name, Path(result.model_artifacts)


def listing(directory: Path) -> list[str]:
    return sorted(os.listdir(directory))


def test_the_bomb_archive_is_what_it_claims(tmp_path: Path) -> None:
    bomb = gzip_bomb(tmp_path / "b.tar.gz", 3 * GiB)
    assert bomb.stat().st_size < 16 * 1024**2
    with tarfile.open(bomb) as archive:
        first = archive.next()
    assert first is not None
    assert first.size == 3 * GiB


def test_a_gzip_bomb_over_the_free_space_is_refused_before_writing(
    finished: tuple[Path, str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project, job, model = finished
    gzip_bomb(model, 3 * GiB)
    dest = tmp_path / "out" / "model"
    before = listing(tmp_path)
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr("shutil.disk_usage", lambda _path: usage(4 * GiB, 3 * GiB, 1 * GiB))

    with pytest.raises(InfrastructureError) as caught:
        jobs.fetch(project, job, dest)

    assert caught.value.exit_code == 3
    assert "1.0 GiB free" in caught.value.message
    assert listing(tmp_path) == before  # no destination, no parent, no temporary sibling


def test_a_gzip_bomb_over_the_cap_is_refused_with_a_hint_and_nothing_written(
    finished: tuple[Path, str, Path], tmp_path: Path
) -> None:
    project, job, model = finished
    gzip_bomb(model, 3 * GiB)
    before = listing(project)

    result = subprocess.run(
        [sys.executable, "-m", "sagelift", "-C", str(project), "fetch", job, "--max-size", "1G"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 2, result.stderr
    assert "over the fetch limit of 1.0 GiB" in result.stderr
    assert "hint: if that is expected, raise the limit: --max-size" in result.stderr
    assert listing(project) == before
    assert not (project / "models").exists()


def test_the_cap_is_a_library_parameter_too(
    finished: tuple[Path, str, Path], tmp_path: Path
) -> None:
    project, job, model = finished
    gzip_bomb(model, 3 * GiB)
    before = listing(tmp_path)
    with pytest.raises(UsageError, match=r"over the fetch limit of 2\.0 GiB"):
        jobs.fetch(project, job, tmp_path / "m", max_bytes=parse_size("2GiB"))
    assert listing(tmp_path) == before


def test_a_traversing_archive_leaves_no_new_directory(
    finished: tuple[Path, str, Path], tmp_path: Path
) -> None:
    project, job, model = finished
    tar_gz(model, {"model.json": b"{}", "../escaped.txt": b"x"})
    before = listing(tmp_path)

    with pytest.raises(StorageError, match="climbs out"):
        jobs.fetch(project, job, tmp_path / "new" / "deeper" / "model")

    assert listing(tmp_path) == before
    assert not (tmp_path / "escaped.txt").exists()


def test_the_default_destination_is_not_created_by_a_refused_fetch(
    finished: tuple[Path, str, Path], tmp_path: Path
) -> None:
    project, job, model = finished
    tar_gz(model, {"/etc/evil": b"x"})
    with pytest.raises(StorageError):
        jobs.fetch(project, job)
    assert not (project / "models").exists()


def test_a_non_empty_destination_without_force_is_refused_and_left_as_it_was(
    finished: tuple[Path, str, Path], tmp_path: Path
) -> None:
    project, job, _ = finished
    dest = tmp_path / "place" / "dest"
    dest.mkdir(parents=True)
    (dest / "mine.txt").write_text("mine")

    with pytest.raises(UsageError, match="not empty"):
        jobs.fetch(project, job, dest)

    assert listing(tmp_path / "place") == ["dest"]
    assert listing(dest) == ["mine.txt"]


def test_force_overwrites_only_archive_members_and_removes_nothing(
    finished: tuple[Path, str, Path], tmp_path: Path
) -> None:
    project, job, _ = finished
    dest = tmp_path / "place" / "dest"
    dest.mkdir(parents=True)
    (dest / "mine.txt").write_text("mine")
    (dest / "model.json").write_text("old")

    jobs.fetch(project, job, dest, force=True)

    assert (dest / "mine.txt").read_text() == "mine"
    assert json.loads((dest / "model.json").read_text())["epochs"] == 1
    assert (dest / "output" / "metrics.json").is_file()
    assert listing(tmp_path / "place") == ["dest"]
    assert not (dest / ".sagelift-fetched").exists()  # the dir was the user's, not sagelift's


def test_a_fetch_into_a_new_dir_marks_it_as_sagelifts(
    finished: tuple[Path, str, Path], tmp_path: Path
) -> None:
    project, job, _ = finished
    dest = jobs.fetch(project, job, tmp_path / "a" / "b")
    marker = json.loads((dest / ".sagelift-fetched").read_text())
    assert marker["job"] == job
    assert listing(tmp_path / "a") == ["b"]


def test_a_regular_file_as_destination_is_a_usage_error(
    finished: tuple[Path, str, Path], tmp_path: Path
) -> None:
    project, job, _ = finished
    dest = tmp_path / "model.pkl"
    dest.write_text("keep me")

    result = subprocess.run(
        [sys.executable, "-m", "sagelift", "-C", str(project), "fetch", job, str(dest)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 2, result.stderr
    assert "exists and is not a directory" in result.stderr
    assert "hint:" in result.stderr
    assert "Traceback" not in result.stderr
    assert dest.read_text() == "keep me"


def test_safe_extract_stops_at_its_byte_limit(tmp_path: Path) -> None:
    archive = tar_gz(tmp_path / "a.tar.gz", {"a": b"x" * 600, "b": b"y" * 600})
    with pytest.raises(StorageError, match="over the 1000 B allowed"):
        safe_extract(archive, tmp_path / "dest", max_bytes=1000)
    assert list((tmp_path / "dest").iterdir()) == []
    assert safe_extract(archive, tmp_path / "ok", max_bytes=1200) == 1200


@pytest.mark.parametrize(
    ("text", "size"),
    [("10G", 10 * GiB), ("500M", 500 * 1024**2), ("2GiB", 2 * GiB), ("1.5k", 1536), ("7", 7)],
)
def test_sizes_parse(text: str, size: int) -> None:
    assert parse_size(text) == size


def test_a_bad_size_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="not a size"):
        parse_size("ten gigs")


# A downloaded directory (a model from MLflow) placed with the same guarantees.


def _download(root: Path) -> Path:
    (root / "sub").mkdir(parents=True)
    (root / "model.json").write_text('{"epochs": 2}')
    (root / "sub" / "weights.bin").write_bytes(bytes(4096))
    return root


def test_a_download_is_placed_with_its_marker(tmp_path: Path) -> None:
    from sagelift.unpacking import place_tree

    target = tmp_path / "models" / "job"
    place_tree(_download(tmp_path / "dl"), target, marker=(".marker", "m\n"))
    assert (target / "model.json").read_text() == '{"epochs": 2}'
    assert (target / "sub" / "weights.bin").stat().st_size == 4096
    assert (target / ".marker").read_text() == "m\n"


def test_a_download_over_the_cap_leaves_nothing(tmp_path: Path) -> None:
    from sagelift.unpacking import place_tree

    target = tmp_path / "models" / "job"
    with pytest.raises(UsageError, match="over the fetch limit"):
        place_tree(_download(tmp_path / "dl"), target, max_bytes=1000)
    assert not (tmp_path / "models").exists()


@pytest.mark.parametrize("link", ["file", "dir"])
def test_a_link_in_a_download_is_refused_before_anything_is_written(
    tmp_path: Path, link: str
) -> None:
    from sagelift.unpacking import place_tree

    source = _download(tmp_path / "dl")
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "id_rsa").write_text("key")
    if link == "file":
        (source / "sub" / "leak").symlink_to(secret / "id_rsa")
    else:
        (source / "leak").symlink_to(secret)
    target = tmp_path / "models" / "job"
    with pytest.raises(StorageError, match="link or special file"):
        place_tree(source, target)
    assert not (tmp_path / "models").exists()


def test_a_download_into_an_existing_dir_needs_force_and_keeps_other_files(
    tmp_path: Path,
) -> None:
    from sagelift.unpacking import place_tree

    target = tmp_path / "models" / "job"
    target.mkdir(parents=True)
    (target / "notes.txt").write_text("mine")
    with pytest.raises(UsageError, match="not empty"):
        place_tree(_download(tmp_path / "dl"), target)
    place_tree(tmp_path / "dl", target, force=True)
    assert (target / "notes.txt").read_text() == "mine"
    assert (target / "model.json").is_file()
