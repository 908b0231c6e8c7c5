"""Checkpoint locations never lose files sagelift did not write, and stay SageMaker-like.

The jobs here are real: ``sagelift run`` in a subprocess, the supervisor syncing every 0.1 s
(``SAGELIFT_CHECKPOINT_SYNC_SECONDS``). The sync functions are also tested on their own, the
``s3://`` one against the moto server on loopback.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sagelift import jobs
from sagelift.aws import AwsSettings
from sagelift.backends.checkpoint_location import (
    LOCK_NAME,
    MANIFEST_NAME,
    check_location_free,
    lock_location,
    restore_checkpoints,
    restore_checkpoints_remote,
    sync_checkpoints_out,
    sync_checkpoints_remote,
)
from sagelift.errors import SpecError
from sagelift.preflight import check_checkpoint_location
from tests.conftest import MakeProject

SYNC_SECONDS = "0.1"
BUCKET = "sagelift-checkpoints"


def sagelift(project: Path, environ: dict[str, str], *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, **environ, "SAGELIFT_CHECKPOINT_SYNC_SECONDS": SYNC_SECONDS}
    return subprocess.Popen(
        [sys.executable, "-m", "sagelift", "-C", str(project), "run", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen[str], timeout: float = 120) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=timeout)
    return process.returncode, out, err


def wait_for(predicate, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


def tree(root: Path) -> dict[str, str]:
    """Every entry under ``root`` (links not followed): file contents, link targets, dirs."""
    found: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in (*dirnames, *filenames):
            path = Path(dirpath) / name
            rel = path.relative_to(root).as_posix()
            if path.is_symlink():
                found[rel] = "-> " + os.readlink(path)
            elif path.is_dir():
                found[rel] = "dir"
            else:
                found[rel] = path.read_text()
    return found


def user_files(location: Path, outside: Path) -> dict[str, str]:
    """A checkpoint location as a user leaves it: a model, links, an empty directory."""
    location.mkdir(parents=True, exist_ok=True)
    (location / "model-1.pt").write_text("weights 1")
    (location / "notes.txt").write_text("mine")
    os.symlink("model-1.pt", location / "latest.pt")
    outside.write_text("outside")
    os.symlink(outside, location / "outside.pt")
    (location / "empty").mkdir()
    return tree(location)


def ours(location: Path) -> dict[str, str]:
    return {k: v for k, v in tree(location).items() if k not in (MANIFEST_NAME, LOCK_NAME)}


# -- refused locations -------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["--checkpoint-path", "."],
        ["--checkpoint-path", ".."],
        ["--checkpoint-path", ".sagelift/checkpoints"],
        ["--checkpoint-path", "train.py"],
        ["--channel", "train=data", "--checkpoint-path", "data"],
        ["--channel", "train=data", "--checkpoint-path", "data/ckpt"],
        ["--output-path", "out", "--checkpoint-path", "out/ckpt"],
        ["--output-path", "ckpt/out", "--checkpoint-path", "ckpt"],
    ],
)
def test_overlapping_checkpoint_path_exits_2_and_creates_nothing(
    make_project: MakeProject, clean_environ: dict[str, str], args: list[str]
) -> None:
    project = make_project("ok")
    (project / "data").mkdir()
    (project / "data" / "rows.csv").write_text("1,2\n")
    before = tree(project)

    code, _, err = finish(sagelift(project, clean_environ, "train.py", *args))

    assert code == 2, err
    assert "checkpoint_path" in err
    assert "hint:" in err
    assert "Traceback" not in err
    assert tree(project) == before  # no .sagelift, no record, no checkpoint dir


def test_checkpoint_path_dot_on_a_long_job_keeps_the_project(
    make_project: MakeProject, clean_environ: dict[str, str]
) -> None:
    project = make_project("epoch_checkpoints")
    before = tree(project)
    code, _, err = finish(
        sagelift(project, clean_environ, "train.py", "--checkpoint-path", ".", "--hp", "epochs=5")
    )
    assert code == 2, err
    assert tree(project) == before


def test_check_allows_a_subdirectory_of_the_project(
    make_project: MakeProject, clean_environ: dict[str, str]
) -> None:
    project = make_project("ok", checkpoint_path="ckpt")
    check_checkpoint_location(jobs.load_spec(project, environ=clean_environ))
    (project / "ckpt").write_text("a file")
    with pytest.raises(SpecError, match="is a file"):
        check_checkpoint_location(jobs.load_spec(project, environ=clean_environ))


# -- real jobs ---------------------------------------------------------------------------


def test_concurrent_job_on_the_same_location_is_refused_and_every_file_kept(
    make_project: MakeProject, clean_environ: dict[str, str], tmp_path: Path
) -> None:
    project = make_project("epoch_checkpoints", checkpoint_path="ckpt")
    location = project / "ckpt"
    seeded = user_files(location, tmp_path / "outside.txt")
    started = tmp_path / "started"
    first = sagelift(project, clean_environ, "--hp", "tag=a", "--hp", f"started={started}")
    wait_for(lambda: (location / "a-epoch-01.ckpt").exists())
    (location / "added-during-job.txt").write_text("added by hand")

    code, _, err = finish(sagelift(project, clean_environ, "--hp", "tag=b"))
    assert code == 2, err
    assert "in use" in err
    assert len(list((project / ".sagelift" / "jobs").iterdir())) == 1  # no record for it

    code, out, err = finish(first)
    assert code == 0, out + err
    expected = {
        **seeded,
        "added-during-job.txt": "added by hand",
        **{f"a-epoch-{e:02d}.ckpt": f"a {e}\n" for e in range(1, 21)},
    }
    assert ours(location) == expected

    code, out, err = finish(sagelift(project, clean_environ, "--hp", "tag=b"))
    assert code == 0, out + err
    expected.update({f"b-epoch-{e:02d}.ckpt": f"b {e}\n" for e in range(1, 21)})
    assert ours(location) == expected


def test_a_job_that_ignores_checkpoints_keeps_links_and_empty_dirs(
    make_project: MakeProject, clean_environ: dict[str, str], tmp_path: Path
) -> None:
    project = make_project("ok", checkpoint_path="ckpt")
    seeded = user_files(project / "ckpt", tmp_path / "outside.txt")
    code, out, err = finish(sagelift(project, clean_environ))
    assert code == 0, out + err
    assert ours(project / "ckpt") == seeded
    assert (tmp_path / "outside.txt").read_text() == "outside"


def test_a_checkpoint_the_job_deleted_goes_only_where_sagelift_wrote_it(
    make_project: MakeProject, clean_environ: dict[str, str], tmp_path: Path
) -> None:
    project = make_project("epoch_checkpoints", checkpoint_path="ckpt")
    location = project / "ckpt"
    location.mkdir()
    (location / "keep.pt").write_text("mine")
    args = ["--hp", "epochs=3", "--hp", "tag=a", "--hp", "delete=a-epoch-01.ckpt"]
    code, out, err = finish(sagelift(project, clean_environ, *args))
    assert code == 0, out + err
    assert ours(location) == {
        "keep.pt": "mine",
        "a-epoch-02.ckpt": "a 2\n",
        "a-epoch-03.ckpt": "a 3\n",
    }

    # The next job is given both (restored); it deletes one of each. Only sagelift's goes.
    for name in ("a-epoch-02.ckpt", "keep.pt"):
        args = ["--hp", "epochs=1", "--hp", "tag=b", "--hp", f"delete={name}"]
        code, out, err = finish(sagelift(project, clean_environ, *args))
        assert code == 0, out + err
    assert ours(location) == {
        "keep.pt": "mine",
        "a-epoch-03.ckpt": "a 3\n",
        "b-epoch-01.ckpt": "b 1\n",
    }


# -- the local sync on its own -----------------------------------------------------------


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    job = tmp_path / "job"
    job.mkdir()
    return job, tmp_path / "location"


def test_sync_removes_only_what_sagelift_wrote_and_the_job_deleted(
    dirs: tuple[Path, Path], tmp_path: Path
) -> None:
    job, location = dirs
    seeded = user_files(location, tmp_path / "outside.txt")
    restore_checkpoints(location, job)
    held = set(os.listdir(job))
    (job / "step-1.ckpt").write_text("1")
    (job / "step-2.ckpt").write_text("2")
    outcome = sync_checkpoints_out(job, location, held=held)
    held |= outcome.present
    assert outcome.copied == 2
    (location / "added.txt").write_text("added meanwhile")

    assert not (job / "outside.pt").is_symlink()  # a link out of the location is not restored
    for name in ("step-1.ckpt", "model-1.pt", "notes.txt", "latest.pt"):
        os.unlink(job / name)
    os.rmdir(job / "empty")
    outcome = sync_checkpoints_out(job, location, held=held)

    assert outcome.deleted == 1
    assert ours(location) == {**seeded, "added.txt": "added meanwhile", "step-2.ckpt": "2"}
    manifest = json.loads((location / MANIFEST_NAME).read_text())
    assert set(manifest["files"]) == {"step-2.ckpt"}


def test_sync_keeps_what_the_job_never_held(dirs: tuple[Path, Path]) -> None:
    job, location = dirs
    (job / "a.ckpt").write_text("a")
    sync_checkpoints_out(job, location, held=set())
    (job / "a.ckpt").unlink()
    # Another job's view: it never had a.ckpt, so it did not delete it.
    assert sync_checkpoints_out(job, location, held=set()).deleted == 0
    assert (location / "a.ckpt").read_text() == "a"


def test_sync_neither_overwrites_nor_deletes_a_changed_or_foreign_file(
    dirs: tuple[Path, Path],
) -> None:
    job, location = dirs
    (job / "a.ckpt").write_text("a")
    sync_checkpoints_out(job, location, held={"a.ckpt"})
    (location / "a.ckpt").write_text("edited by hand")
    location.joinpath("b.ckpt").write_text("foreign")
    (job / "b.ckpt").write_text("the job's b")

    outcome = sync_checkpoints_out(job, location, held={"a.ckpt", "b.ckpt"})
    assert {note.split(" was")[0] for note in outcome.refused} == {
        "checkpoint a.ckpt",
        "checkpoint b.ckpt",
    }
    (job / "a.ckpt").write_text("a, next version")
    outcome = sync_checkpoints_out(job, location, held={"a.ckpt", "b.ckpt"})
    assert {note.split(" was")[0] for note in outcome.refused} == {
        "checkpoint a.ckpt",
        "checkpoint b.ckpt",
    }
    (job / "a.ckpt").unlink()
    sync_checkpoints_out(job, location, held={"a.ckpt", "b.ckpt"})
    assert (location / "a.ckpt").read_text() == "edited by hand"
    assert (location / "b.ckpt").read_text() == "foreign"


def test_sync_updates_and_links_its_own_files(dirs: tuple[Path, Path]) -> None:
    job, location = dirs
    (job / "sub").mkdir()
    (job / "sub" / "a.ckpt").write_text("1")
    os.symlink("sub/a.ckpt", job / "latest")
    os.symlink("/etc/hostname", job / "escape")
    outcome = sync_checkpoints_out(job, location, held=set())
    assert [n.split(" was")[0] for n in outcome.refused] == ["symlink escape"]
    (job / "sub" / "a.ckpt").write_text("2, longer")
    sync_checkpoints_out(job, location, held={"sub/a.ckpt", "latest"})
    assert (location / "sub" / "a.ckpt").read_text() == "2, longer"
    assert os.readlink(location / "latest") == "sub/a.ckpt"
    assert not (location / "escape").exists()
    assert not (location / "escape").is_symlink()

    (job / "latest").unlink()
    sync_checkpoints_out(job, location, held={"sub/a.ckpt", "latest"})
    assert not (location / "latest").is_symlink()


def test_sync_never_writes_through_a_symlinked_directory(
    dirs: tuple[Path, Path], tmp_path: Path
) -> None:
    job, location = dirs
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    location.mkdir()
    os.symlink(elsewhere, location / "sub")
    (job / "sub").mkdir()
    (job / "sub" / "a.ckpt").write_text("a")
    outcome = sync_checkpoints_out(job, location, held=set())
    assert outcome.copied == 0
    assert outcome.refused
    assert list(elsewhere.iterdir()) == []


def test_restore_keeps_internal_links_and_skips_outside_ones(
    dirs: tuple[Path, Path], tmp_path: Path
) -> None:
    job, location = dirs
    user_files(location, tmp_path / "outside.txt")
    (job / "x").write_text("x")
    sync_checkpoints_out(job, location, held=set())  # writes the manifest
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    assert restore_checkpoints(location, fresh) == 3
    assert tree(fresh) == {
        "model-1.pt": "weights 1",
        "notes.txt": "mine",
        "latest.pt": "-> model-1.pt",
        "empty": "dir",
        "x": "x",
    }


def test_lock_refuses_a_second_job_until_the_holder_dies(tmp_path: Path) -> None:
    location = tmp_path / "ckpt"
    lock = lock_location(location, owner="job-1")
    with pytest.raises(SpecError, match="in use by the running job job-1"):
        check_location_free(location)
    with pytest.raises(SpecError):
        lock_location(location, owner="job-2")
    lock.close()
    check_location_free(location)

    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from pathlib import Path\n"
            "from sagelift.backends.checkpoint_location import lock_location\n"
            f"lock_location(Path({str(location)!r}), owner='job-3')\n"
            "print('locked', flush=True)\n"
            "time.sleep(60)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "locked"
    with pytest.raises(SpecError, match="job-3"):
        check_location_free(location)
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    check_location_free(location)


# -- s3:// -------------------------------------------------------------------------------


@pytest.fixture
def s3(aws_settings: AwsSettings):  # type: ignore[no-untyped-def]
    from sagelift.aws import client
    from sagelift.storage import open_storage

    client("s3", aws_settings).create_bucket(Bucket=BUCKET)
    return open_storage("s3", aws=aws_settings)


def keys(storage, location: str) -> dict[str, bytes]:  # type: ignore[no-untyped-def]
    return {
        info.relative: storage.get_bytes(info.uri)
        for info in storage.list(location)
        if info.relative != MANIFEST_NAME
    }


def test_remote_sync_deletes_only_objects_sagelift_uploaded(
    s3, aws_settings: AwsSettings, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    location = f"s3://{BUCKET}/ckpt/run"
    s3.put_bytes(f"{location}/foreign.pt", b"foreign")
    job = tmp_path / "job"
    job.mkdir()
    assert restore_checkpoints_remote(location, job, aws_settings) == 1
    held = {"foreign.pt"}
    (job / "a.ckpt").write_bytes(b"a")
    (job / "b.ckpt").write_bytes(b"b")
    outcome = sync_checkpoints_remote(job, location, aws_settings, held=held)
    held |= outcome.present
    assert outcome.copied == 2

    s3.put_bytes(f"{location}/b.ckpt", b"rewritten by someone else")
    s3.put_bytes(f"{location}/other-job.ckpt", b"another job's")
    for name in ("foreign.pt", "a.ckpt", "b.ckpt"):
        (job / name).unlink()
    outcome = sync_checkpoints_remote(job, location, aws_settings, held=held)

    assert outcome.deleted == 1
    assert keys(s3, location) == {
        "foreign.pt": b"foreign",
        "b.ckpt": b"rewritten by someone else",
        "other-job.ckpt": b"another job's",
    }
    fresh = tmp_path / "fresh"
    restore_checkpoints_remote(location, fresh, aws_settings)
    assert sorted(p.name for p in fresh.iterdir()) == ["b.ckpt", "foreign.pt", "other-job.ckpt"]


def test_remote_sync_keeps_objects_the_job_never_held(
    s3, aws_settings: AwsSettings, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    location = f"s3://{BUCKET}/shared"
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    (first / "host-1.ckpt").write_bytes(b"1")
    sync_checkpoints_remote(first, location, aws_settings, held=set())
    (second / "host-2.ckpt").write_bytes(b"2")
    outcome = sync_checkpoints_remote(second, location, aws_settings, held={"host-2.ckpt"})
    assert outcome.deleted == 0
    assert keys(s3, location) == {"host-1.ckpt": b"1", "host-2.ckpt": b"2"}


def test_the_lock_travels_with_a_supervisor_started_as_a_new_interpreter(
    make_project: MakeProject, clean_environ: dict[str, str]
) -> None:
    """With other threads running, the supervisor is a new interpreter, not a fork: the lock
    must be passed to it, and let go of by this process."""
    import threading

    project = make_project("epoch_checkpoints", checkpoint_path="ckpt")
    spec = jobs.load_spec(project, environ=clean_environ, hyperparameters={"epochs": 10})
    release = threading.Event()
    other = threading.Thread(target=release.wait)
    other.start()
    try:
        handle = jobs.submit(spec)
    finally:
        release.set()
        other.join()
    with pytest.raises(SpecError, match="in use"):
        check_location_free(project / "ckpt")
    status = jobs.wait(handle)
    assert status.state.value == "Completed", status.failure_reason
    wait_for(lambda: _free(project / "ckpt"))
    assert {LOCK_NAME, MANIFEST_NAME, "run-epoch-10.ckpt"} <= set(os.listdir(project / "ckpt"))


def _free(location: Path) -> bool:
    try:
        check_location_free(location)
    except SpecError:
        return False
    return True
