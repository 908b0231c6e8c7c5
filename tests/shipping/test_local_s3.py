"""The local backend reading s3:// channels and writing to s3:// output and checkpoint paths."""

from __future__ import annotations

import io
import json
import tarfile
from dataclasses import replace
from pathlib import Path

import pytest

from sagelift import jobs
from sagelift.aws import AwsSettings
from sagelift.backends.base import JobState
from sagelift.settings import Settings
from sagelift.storage import Storage, open_storage
from tests.conftest import MakeProject

BUCKET = "sagelift-local"


@pytest.fixture
def s3(aws_settings: AwsSettings) -> Storage:
    from sagelift.aws import client

    client("s3", aws_settings).create_bucket(Bucket=BUCKET)
    return open_storage("s3", aws=aws_settings)


def test_s3_channel_in_s3_output_out_and_fetch(
    s3: Storage,
    aws_settings: AwsSettings,
    make_project: MakeProject,
    clean_environ: dict[str, str],
    tmp_path: Path,
) -> None:
    for name in ("a.csv", "sub/b.csv"):
        s3.put_bytes(f"s3://{BUCKET}/datasets/train/{name}", b"1,2\n")
    s3.put_bytes(f"s3://{BUCKET}/datasets/train2/not-mine.csv", b"x")
    project = make_project(
        "reads_channels",
        channels={"train": f"s3://{BUCKET}/datasets/train"},
        output_path=f"s3://{BUCKET}/outputs",
    )
    spec = jobs.load_spec(project, environ=clean_environ)
    result = jobs.run(spec, settings=Settings(aws=aws_settings))

    assert result.status.state is JobState.COMPLETED, result.status.failure_reason
    model_uri = f"s3://{BUCKET}/outputs/{result.handle.name}/output/model.tar.gz"
    assert result.model_artifacts == model_uri
    assert result.status.output_artifacts == model_uri.replace("model.tar", "output.tar")
    with tarfile.open(fileobj=io.BytesIO(s3.get_bytes(model_uri))) as archive:
        seen = json.load(archive.extractfile("channels.json"))  # type: ignore[arg-type]
    assert seen == {"train": ["a.csv", "sub"]}

    target = jobs.fetch(project, result.handle.name, tmp_path / "fetched")
    assert json.loads((target / "channels.json").read_text()) == seen


def test_s3_checkpoints_are_restored_and_saved(
    s3: Storage,
    aws_settings: AwsSettings,
    make_project: MakeProject,
    clean_environ: dict[str, str],
) -> None:
    location = f"s3://{BUCKET}/ckpt/run-1"
    s3.put_bytes(f"{location}/state.json", json.dumps({"epoch": 4}).encode())
    project = make_project("checkpoints", checkpoint_path=location)
    spec = jobs.load_spec(project, environ=clean_environ)
    result = jobs.run(spec, settings=Settings(aws=aws_settings))

    assert result.status.state is JobState.COMPLETED, result.status.failure_reason
    assert json.loads(s3.get_bytes(f"{location}/state.json")) == {"epoch": 5}


def test_local_backend_still_refuses_other_remote_schemes(
    make_project: MakeProject, clean_environ: dict[str, str]
) -> None:
    from sagelift.backends.local import LocalBackend
    from sagelift.errors import SageliftError

    project = make_project("ok")
    spec = jobs.load_spec(project, environ=clean_environ)
    with pytest.raises(SageliftError) as caught:
        LocalBackend().check(replace(spec, output_path="gs://bucket/out"))
    assert caught.value.exit_code == 2
