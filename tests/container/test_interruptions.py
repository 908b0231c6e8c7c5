"""A rehearsed spot interruption on the container backend: the container gets SIGTERM, the
layout is staged again with the checkpoints restored, and a resumable script ends as if it had
never been interrupted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from typing import Any

import pytest

from sagelift import jobs, records
from sagelift.backends.base import JobState, JobStatus
from sagelift.images.base import BaseImage
from tests.conftest import MakeProject

pytestmark = pytest.mark.slow

SECONDS_PER_EPOCH = 0.15


def weights(status: JobStatus) -> Any:
    assert status.model_artifacts is not None
    with tarfile.open(status.model_artifacts) as tar:
        member = tar.extractfile("weights.json")
        assert member is not None
        return json.load(member)


def test_checkpoints_written_before_an_interruption_survive_it(
    make_project: MakeProject,
    container_environ: dict[str, str],
    cpu_base_image: BaseImage,
    clean_environ: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SAGELIFT_IMAGE_URI", cpu_base_image.ref)
    hyperparameters = {"seconds_per_epoch": SECONDS_PER_EPOCH}
    plain_project = make_project(
        "resumes", name="plain", backend="container", hyperparameters=hyperparameters
    )
    plain = jobs.run(jobs.load_spec(plain_project, environ=clean_environ))
    assert plain.status.state is JobState.COMPLETED, plain.status.failure_reason

    project = make_project(
        "resumes", name="interrupted", hyperparameters=hyperparameters, checkpoint_path="ckpt"
    )
    env = {**os.environ, **clean_environ, **container_environ}
    env["SAGELIFT_IMAGE_URI"] = cpu_base_image.ref
    env["SAGELIFT_IMAGE_CONTAINER_CLI"] = "podman"
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "sagelift",
            "-C",
            str(project),
            "run",
            "--backend",
            "container",
            "--simulate-interruptions",
            "1",
            "--interrupt-at",
            "1.5",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert "interruption 1: resumed" in out.stderr

    record_dir = records.find_record(project, "last")
    status = jobs.describe(project, record_dir.name)
    assert status.state is JobState.COMPLETED, status.failure_reason
    assert records.read_record(record_dir).backend == "container"
    reports = json.loads((record_dir / "interruptions.json").read_text())
    assert [r["verdict"] for r in reports] == ["resumed"], reports
    assert weights(status) == weights(plain.status)
    assert "resuming after epoch" in out.stdout
    # The checkpoints outlive the job in checkpoint_path, up to the last epoch.
    saved = sorted(p.name for p in (project / "ckpt").rglob("*.json"))
    assert saved, "no checkpoint in checkpoint_path"
    assert saved[-1].endswith("-00000020.json"), saved
    assert not _containers_named(record_dir.name, env)


def _containers_named(job: str, env: dict[str, str]) -> list[str]:
    listing = subprocess.run(
        ["podman", "ps", "--all", "--format", "{{.Names}}", "--filter", f"name={job}"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    )
    return listing.stdout.split()
