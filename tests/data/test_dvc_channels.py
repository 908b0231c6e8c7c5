"""DVC-tracked channels in a real DVC repository with an S3 remote on the loopback moto server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sagelift import jobs, records
from sagelift.aws import AwsSettings, client
from sagelift.data import dvc
from sagelift.data.dvc import DirtyData
from tests.conftest import FIXTURES, dump_toml

pytest.importorskip("dvc")
pytestmark = pytest.mark.slow

DVC = str(Path(sys.executable).with_name("dvc"))


def sh(cwd: Path, *argv: str, env: dict[str, str] | None = None) -> None:
    subprocess.run(argv, cwd=cwd, check=True, capture_output=True, env=env)


@pytest.fixture
def dvc_project(tmp_path: Path, aws_settings: AwsSettings) -> Path:
    import shutil

    project = tmp_path / "proj"
    shutil.copytree(FIXTURES / "reads_channels", project)
    train = project / "data" / "train"
    train.mkdir(parents=True)
    (train / "a.csv").write_text("x,y\n1,2\n")
    (train / "sub").mkdir()
    (train / "sub" / "b.csv").write_text("x,y\n3,4\n")
    client("s3", aws_settings).create_bucket(Bucket="dvc-remote")
    env = {**os.environ, "AWS_ENDPOINT_URL": str(aws_settings.endpoint_url)}
    sh(project, "git", "init", "-q")
    sh(project, "git", "config", "user.email", "t@example.com")
    sh(project, "git", "config", "user.name", "t")
    sh(project, DVC, "init", "-q")
    sh(project, DVC, "remote", "add", "-d", "storage", "s3://dvc-remote/store")
    sh(project, DVC, "add", "-q", "data/train")
    sh(project, "git", "add", "-A")
    sh(project, "git", "commit", "-qm", "data")
    sh(project, DVC, "push", "-q", env=env)
    config: dict[str, Any] = {"entry_point": "train.py", "channels": {"train": "data/train"}}
    (project / "sagelift.toml").write_text(dump_toml(config), encoding="utf-8")
    return project


def test_a_clean_tracked_channel_runs_and_its_version_is_recorded(
    dvc_project: Path, clean_environ: dict[str, str]
) -> None:
    spec = jobs.load_spec(dvc_project, environ=clean_environ)
    result = jobs.run(spec, settings=jobs.load_settings(dvc_project, environ=clean_environ))
    assert result.ok, result.status.failure_reason
    recorded = records.read_record(result.handle.record_dir)
    version = recorded.data_versions["train"]
    assert version.endswith(".dir")
    assert version == dvc.version_of(dvc_project / "data" / "train").md5


def test_a_modified_tracked_channel_is_refused_with_the_fix(
    dvc_project: Path, clean_environ: dict[str, str]
) -> None:
    (dvc_project / "data" / "train" / "a.csv").write_text("x,y\n9,9\n")
    spec = jobs.load_spec(dvc_project, environ=clean_environ)
    with pytest.raises(DirtyData) as caught:
        jobs.submit(spec, settings=jobs.load_settings(dvc_project, environ=clean_environ))
    assert caught.value.exit_code == 2
    assert "differs from what DVC recorded" in caught.value.message
    assert caught.value.hint
    assert "dvc checkout data/train" in caught.value.hint
    assert "--allow-dirty-data" in caught.value.hint
    assert not (dvc_project / ".sagelift" / "jobs").exists() or not any(
        (dvc_project / ".sagelift" / "jobs").iterdir()
    )
    handle = jobs.submit(
        spec,
        settings=jobs.load_settings(dvc_project, environ=clean_environ),
        allow_dirty_data=True,
    )
    assert jobs.wait(handle).state.value == "Completed"


def test_data_in_the_remote_becomes_a_channel_prefix_with_0_bytes_sent(
    dvc_project: Path, aws_settings: AwsSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", str(aws_settings.endpoint_url))
    listing = dvc.remote_listing(dvc_project / "data" / "train")
    assert sorted(f.relpath for f in listing.files) == ["a.csv", "sub/b.csv"]
    assert all(f.url.startswith("s3://dvc-remote/store/files/md5/") for f in listing.files)
    s3 = client("s3", aws_settings)
    sent: list[int] = []

    def count(request: Any, **_: Any) -> None:
        body = request.body
        sent.append(len(body) if isinstance(body, (bytes, bytearray)) else 0)

    s3.meta.events.register("before-send.s3.*", count)
    s3.create_bucket(Bucket="jobs")
    sent.clear()
    assert dvc.missing_in_remote(listing, s3) == []
    prefix = dvc.materialise(listing, "s3://jobs/sagelift/dvc", s3)
    data_bytes = sum(sent) - len(json.dumps({"path": "", "md5": "", "files": 0})) - 64
    assert data_bytes <= 0, sent
    assert prefix == f"s3://jobs/sagelift/dvc/{listing.md5.removesuffix('.dir')}/"
    key = prefix.removeprefix("s3://jobs/") + "sub/b.csv"
    assert s3.get_object(Bucket="jobs", Key=key)["Body"].read() == b"x,y\n3,4\n"
    calls = len(sent)
    assert dvc.materialise(listing, "s3://jobs/sagelift/dvc", s3) == prefix
    assert len(sent) == calls + 1
