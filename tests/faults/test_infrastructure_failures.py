"""Failures of the machine, not of the script, are reported as themselves and exit 3."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sagelift import jobs
from sagelift.backends import local
from sagelift.cli import main
from sagelift.job import JobState
from tests.conftest import MakeProject


@pytest.fixture
def tiny_disk(tmp_path: Path) -> object:
    """A 1 MiB tmpfs (needs root and mount permission; skipped otherwise)."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    if shutil.which("mount") is None:
        pytest.skip("no mount command")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_output_disk_is_an_infrastructure_failure_that_says_where_the_model_is(
    make_project: MakeProject,
    clean_environ: dict[str, str],
    tiny_disk: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    go = tmp_path / "go"
    go.touch()
    project = make_project(
        "lifecycle",
        output_path=str(tiny_disk),
        environment={"PID_FILE": str(tmp_path / "pids"), "GO_FILE": str(go), "MODEL_MB": "3"},
    )
    monkeypatch.setenv("HOME", clean_environ["HOME"])
    assert main(["-C", str(project), "run", "--job-name", "full-disk"]) == 3
    status = jobs.describe(project, "full-disk")
    assert status.state is JobState.FAILED
    reason = status.failure_reason or ""
    assert reason.startswith(
        "InfrastructureError: no space left on device while packing "
        f"model.tar.gz at {tiny_disk / 'full-disk' / 'output'}"
    ), reason
    kept = project / ".sagelift" / "jobs" / "full-disk" / "opt-ml" / "model"
    assert f"the model directory is kept at {kept}" in reason
    assert (kept / "weights.bin").stat().st_size == 3 << 20
    assert [p for p in tiny_disk.rglob("*") if p.is_file()] == []  # no partial archive


def test_a_launcher_that_never_ran_is_an_infrastructure_failure(
    make_project: MakeProject,
    clean_environ: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What a container engine that cannot start the container looks like to the supervisor:
    ``podman run`` exits 126 (or 125, 127) and the launcher inside never wrote its status."""

    def engine_failure(*_args: object, **_kwargs: object) -> list[str]:
        return [sys.executable, "-c", "import sys; print('crun: permission denied'); sys.exit(126)"]

    monkeypatch.setattr(local, "_launcher_argv", engine_failure)
    monkeypatch.setenv("HOME", clean_environ["HOME"])
    project = make_project("ok")
    assert main(["-C", str(project), "run", "--job-name", "no-start"]) == 3
    status = jobs.describe(project, "no-start")
    assert status.state is JobState.FAILED
    assert (status.failure_reason or "").startswith(
        "InfrastructureError: the container could not be started (the container engine exited "
        "with code 126"
    ), status.failure_reason
    assert "crun: permission denied" in list(jobs.logs(project, "no-start"))
