"""Code and data shipped to a loopback S3 server: content-addressed code, incremental data."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from sagelift.aws import AwsSettings
from sagelift.jobs import load_spec
from sagelift.runtime.bundle import BUNDLE_NAME
from sagelift.spec import JobSpec
from sagelift.storage import Storage, open_storage
from sagelift.uploads import CODE_CHANNEL, TARBALL_NAME, ship_channels, ship_code
from tests.conftest import MakeProject

BUCKET = "sagelift-ship"
ROOT = f"s3://{BUCKET}/sagelift"


@pytest.fixture
def s3(aws_settings: AwsSettings) -> Storage:
    from sagelift.aws import client

    client("s3", aws_settings).create_bucket(Bucket=BUCKET)
    return open_storage("s3", aws=aws_settings)


def _spec(project: Path, environ: dict[str, str]) -> JobSpec:
    return load_spec(project, environ=environ)


def _project(make_project: MakeProject) -> Path:
    project = make_project(
        "reads_channels",
        base_job_name="shiptest",
        channels={"train": "data/train"},
        hyperparameters={"epochs": 2},
    )
    train = project / "data" / "train"
    train.mkdir(parents=True)
    for index in range(5):
        (train / f"part-{index}.csv").write_text(f"{index},1,2\n" * 50)
    return project


def _keys(storage: Storage, prefix: str) -> dict[str, int]:
    return {info.relative: info.size for info in storage.list(prefix)}


def test_code_is_uploaded_once_per_content(
    s3: Storage, make_project: MakeProject, clean_environ: dict[str, str]
) -> None:
    project = _project(make_project)
    spec = _spec(project, clean_environ)

    first = ship_code(spec, storage=s3, root_uri=ROOT)
    assert first.prefix_uri == f"{ROOT}/code/{first.digest}/"
    stored = _keys(s3, first.prefix_uri)
    assert set(stored) == {TARBALL_NAME, BUNDLE_NAME}
    assert first.bytes_uploaded == sum(stored.values())
    assert first.channel_name == CODE_CHANNEL
    assert first.container_entrypoint == (
        "python3",
        f"/opt/ml/input/data/{CODE_CHANNEL}/{BUNDLE_NAME}",
    )
    args = first.container_arguments
    assert (
        args[args.index("--code-tarball") + 1]
        == f"/opt/ml/input/data/{CODE_CHANNEL}/{TARBALL_NAME}"
    )
    assert args[args.index("--hide-channel") + 1] == CODE_CHANNEL
    assert args[-2:] == ("--program", "train.py")

    again = ship_code(spec, storage=s3, root_uri=ROOT)
    assert (again.digest, again.bytes_uploaded) == (first.digest, 0)

    (project / "train.py").write_text((project / "train.py").read_text() + "# one more line\n")
    edited = ship_code(spec, storage=s3, root_uri=ROOT)
    assert edited.digest != first.digest
    # A code edit sends the new tarball only: the launcher bundle is copied inside the store.
    stored = _keys(s3, edited.prefix_uri)
    assert set(stored) == {TARBALL_NAME, BUNDLE_NAME}
    assert edited.bytes_uploaded == stored[TARBALL_NAME]


def test_code_tarball_leaves_out_channel_data_inside_the_source_dir(
    s3: Storage, make_project: MakeProject, clean_environ: dict[str, str]
) -> None:
    project = _project(make_project)
    (project / "data" / "notes.txt").write_text("kept: not a channel\n")
    shipped = ship_code(_spec(project, clean_environ), storage=s3, root_uri=ROOT)
    data = s3.get_bytes(shipped.prefix_uri + TARBALL_NAME)
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        names = archive.getnames()
    assert "train.py" in names
    assert "data/notes.txt" in names
    assert not any(n.startswith("data/train") for n in names)


def test_channels_are_snapshotted_incrementally(
    s3: Storage, make_project: MakeProject, clean_environ: dict[str, str]
) -> None:
    project = _project(make_project)
    spec = _spec(project, clean_environ)
    train = project / "data" / "train"

    (first,) = ship_channels(spec, storage=s3, root_uri=ROOT)
    assert first.name == "train"
    assert first.digest is not None
    assert first.uri == f"{ROOT}/data/shiptest/train/{first.digest}/"
    assert first.files_uploaded == 5
    assert first.bytes_uploaded == sum(p.stat().st_size for p in train.iterdir())

    (again,) = ship_channels(spec, storage=s3, root_uri=ROOT)
    assert (again.uri, again.files_uploaded, again.bytes_uploaded) == (first.uri, 0, 0)
    assert again.files_copied == 0

    (train / "part-3.csv").write_text("changed\n")
    (train / "part-4.csv").unlink()
    (changed,) = ship_channels(spec, storage=s3, root_uri=ROOT)
    assert changed.digest != first.digest
    # The one changed file is sent; the three unchanged ones are copied inside S3.
    assert (changed.files_uploaded, changed.bytes_uploaded) == (1, len("changed\n"))
    assert changed.files_copied == 3
    remote = _keys(s3, changed.uri)
    assert sorted(remote) == ["part-0.csv", "part-1.csv", "part-2.csv", "part-3.csv"]
    assert s3.get_bytes(changed.uri + "part-3.csv") == b"changed\n"
    # The first snapshot is left exactly as it was.
    assert sorted(_keys(s3, first.uri)) == [f"part-{i}.csv" for i in range(5)]
    assert s3.get_bytes(first.uri + "part-3.csv") == b"3,1,2\n" * 50


def test_s3_channels_pass_through_and_single_files_land_under_their_name(
    s3: Storage, make_project: MakeProject, clean_environ: dict[str, str], tmp_path: Path
) -> None:
    single = tmp_path / "labels.json"
    single.write_text('{"a": 1}')
    project = make_project(
        "reads_channels",
        base_job_name="shiptest",
        channels={"remote": f"s3://{BUCKET}/elsewhere/x", "labels": str(single)},
    )
    shipped = {
        c.name: c for c in ship_channels(_spec(project, clean_environ), storage=s3, root_uri=ROOT)
    }
    assert shipped["remote"].uri == f"s3://{BUCKET}/elsewhere/x"
    assert shipped["remote"].bytes_uploaded == 0
    assert shipped["remote"].digest is None
    assert _keys(s3, shipped["labels"].uri) == {"labels.json": len('{"a": 1}')}


def test_progress_is_reported_for_uploads(
    s3: Storage, make_project: MakeProject, clean_environ: dict[str, str]
) -> None:
    project = _project(make_project)
    seen: list[tuple[int, int]] = []
    ship_channels(
        _spec(project, clean_environ),
        storage=s3,
        root_uri=ROOT,
        progress=lambda done, total: seen.append((done, total)),
    )
    assert seen
    assert seen[-1][0] == seen[-1][1] > 0
