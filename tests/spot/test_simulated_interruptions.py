"""Rehearsing spot interruptions locally: the job restarts with its checkpoints restored, and
sagelift says whether the script resumed."""

from __future__ import annotations

import json
import tarfile

from sagelift import jobs
from sagelift.backends.base import JobState


def weights(status):
    with tarfile.open(status.model_artifacts) as tar:
        return json.load(tar.extractfile("weights.json"))


def test_resumable_script_interrupted_twice_ends_like_an_uninterrupted_run(
    make_project, clean_environ
):
    project = make_project("resumes", name="plain", hyperparameters={"seconds_per_epoch": 0.15})
    plain = jobs.run(jobs.load_spec(project, environ=clean_environ))
    assert plain.status.state is JobState.COMPLETED, plain.status.failure_reason

    project = make_project(
        "resumes",
        name="interrupted",
        hyperparameters={"seconds_per_epoch": 0.15},
        checkpoint_path="ckpt",
        simulate_interruptions=2,
        interrupt_at="1.2,1.2",
    )
    result = jobs.run(jobs.load_spec(project, environ=clean_environ))
    status = result.status
    assert status.state is JobState.COMPLETED, status.failure_reason
    assert weights(status) == weights(plain.status)

    reports = json.loads((result.handle.record_dir / "interruptions.json").read_text())
    assert [r["verdict"] for r in reports] == ["resumed", "resumed"]
    assert all(r["redone"] is not None and r["redone"] <= 1 for r in reports), reports
    history = [name for name, _ in status.transitions]
    assert history.count("Interrupted") == 2
    assert history[history.index("Interrupted") :][:4] == [
        "Interrupted",
        "Starting",
        "Downloading",
        "Training",
    ]
    assert any("interruption 1: resumed" in note for note in status.notes)
    log = list(jobs.stream(result.handle))
    assert sum("resuming after epoch" in line for line in log) == 2


def test_script_that_ignores_checkpoints_is_reported_as_restarted_from_scratch(
    make_project, clean_environ
):
    project = make_project("ignores_checkpoints", simulate_interruptions=1, interrupt_at="1.2")
    result = jobs.run(jobs.load_spec(project, environ=clean_environ))
    assert result.status.state is JobState.COMPLETED, result.status.failure_reason
    reports = json.loads((result.handle.record_dir / "interruptions.json").read_text())
    assert reports[0]["verdict"] == "restarted from scratch"
    assert any("restarted from scratch" in note for note in result.status.notes)


def test_cli_summary_names_each_interruption(make_project, clean_environ, tmp_path):
    import os
    import subprocess
    import sys

    project = make_project("ignores_checkpoints")
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "sagelift",
            "-C",
            str(project),
            "run",
            "--simulate-interruptions",
            "1",
            "--interrupt-at",
            "1",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, **clean_environ},
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert "interruption 1: restarted from scratch" in out.stderr


def test_an_interruption_the_job_outlived_is_reported_as_never_happened(
    make_project, clean_environ
):
    import os
    import subprocess
    import sys

    project = make_project("ok")
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "sagelift",
            "-C",
            str(project),
            "run",
            "--simulate-interruptions",
            "1",
            "--interrupt-at",
            "30",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, **clean_environ},
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert "interruption 1 planned at 30 s never happened: the job ended after " in out.stderr
    status = jobs.describe(project, "last")
    assert any("never happened" in note for note in status.notes), status.notes
