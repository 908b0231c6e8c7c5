"""The behaviour every backend must show. Bind it by subclassing with a ``backend`` fixture.

Each test runs a small real training project from ``tests/fixtures/jobs`` through the public
API and checks what a user would notice: the model, the failure reason, signals, channels.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path
from typing import Any

import pytest

from sagelift import jobs
from sagelift.backends.base import JobHandle, JobState

ROOT = Path(__file__).resolve().parents[2]


def tree_digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def read_member(archive: str | Path, name: str) -> bytes:
    with tarfile.open(archive) as tar:
        member = tar.extractfile(name)
        assert member is not None
        return member.read()


def wait_for(predicate: Any, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purposes.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


class BackendSuite:
    """Subclasses provide the ``backend_overrides`` fixture (spec keys selecting the backend),
    name the ``SAGELIFT_BACKEND`` the job sees, and may change how a job is submitted and how
    its artifacts are read (a cloud binding runs the request SageMaker stored)."""

    #: What the training script sees in SAGELIFT_BACKEND.
    expected_backend = "local"

    @pytest.fixture
    def backend_overrides(self) -> dict[str, Any]:
        raise NotImplementedError

    def spec(self, project: Path, environ: dict[str, str], overrides: dict[str, Any], **more: Any):
        return jobs.load_spec(project, environ=environ, **overrides, **more)

    def submit(self, spec: Any) -> JobHandle:
        return jobs.submit(spec)

    def artifact(self, uri: str | None) -> Path:
        """A local file holding the artifact at ``uri``."""
        assert uri is not None
        return Path(uri)

    def run(self, project: Path, environ: dict[str, str], overrides: dict[str, Any], **more: Any):
        handle = self.submit(self.spec(project, environ, overrides, **more))
        return jobs.JobResult(handle=handle, status=jobs.wait(handle))

    def member(self, uri: str | None, name: str) -> bytes:
        return read_member(self.artifact(uri), name)

    # -- success and failure ------------------------------------------------------------

    def test_success_writes_model_and_output(self, make_project, clean_environ, backend_overrides):
        project = make_project("ok", hyperparameters={"epochs": 2})
        result = self.run(project, clean_environ, backend_overrides)
        assert result.status.state is JobState.COMPLETED, result.status.failure_reason
        assert result.status.exit_code == 0
        model = result.status.model_artifacts
        assert model is not None
        assert model.endswith(f"{result.handle.name}/output/model.tar.gz")
        assert json.loads(self.member(model, "model.json"))["epochs"] == 2
        output = result.status.output_artifacts
        assert output is not None
        assert json.loads(self.member(output, "metrics.json")) == {"accuracy": 0.5}

    def test_failure_file_becomes_failure_reason(
        self, make_project, clean_environ, backend_overrides
    ):
        project = make_project("failure_file")
        result = self.run(project, clean_environ, backend_overrides)
        assert result.status.state is JobState.FAILED
        assert result.status.failure_reason == "DataError: the training set is empty"
        assert result.status.exit_code == 3

    def test_crash_traceback_becomes_failure_reason(
        self, make_project, clean_environ, backend_overrides
    ):
        project = make_project("crash")
        result = self.run(project, clean_environ, backend_overrides)
        assert result.status.state is JobState.FAILED
        reason = result.status.failure_reason or ""
        assert len(reason) <= 1024
        # The exception line comes first: it is what SageMaker's 1024 characters must show.
        assert "ValueError: cannot parse data.csv: bad header" in reason.splitlines()[0]
        assert "Traceback" in reason

    def test_exit_code_is_recorded(self, make_project, clean_environ, backend_overrides):
        project = make_project("exit_code")
        result = self.run(project, clean_environ, backend_overrides)
        assert result.status.state is JobState.FAILED
        assert result.status.exit_code == 7
        assert "7" in (result.status.failure_reason or "")

    # -- inputs ---------------------------------------------------------------------------

    def test_channels_visible_as_sm_channel(self, make_project, clean_environ, backend_overrides):
        project = make_project("reads_channels")
        for name, files in {"train": ["a.csv", "b.csv"], "test": ["c.csv"]}.items():
            (project / "data" / name).mkdir(parents=True)
            for file in files:
                (project / "data" / name / file).write_text("1,2\n")
        result = self.run(
            project,
            clean_environ,
            backend_overrides,
            channels={"train": "data/train", "test": "data/test"},
        )
        assert result.status.state is JobState.COMPLETED, result.status.failure_reason
        seen = json.loads(self.member(result.status.model_artifacts, "channels.json"))
        assert seen == {"test": ["c.csv"], "train": ["a.csv", "b.csv"]}

    def test_hyperparameters_arrive_as_strings_and_arguments(
        self, make_project, clean_environ, backend_overrides
    ):
        project = make_project("ok", hyperparameters={"epochs": 3, "lr": 0.01, "name": "abc"})
        result = self.run(project, clean_environ, backend_overrides)
        assert result.status.state is JobState.COMPLETED, result.status.failure_reason
        seen = json.loads(self.member(result.status.model_artifacts, "env.json"))
        assert seen["argv"] == ["--epochs", "3", "--lr", "0.01", "--name", "abc"]
        assert seen["env"]["SM_HP_EPOCHS"] == "3"
        assert json.loads(seen["env"]["SM_HPS"]) == {"epochs": 3, "lr": 0.01, "name": "abc"}
        assert seen["env"]["SAGELIFT_BACKEND"] == self.expected_backend
        assert seen["env"]["TRAINING_JOB_NAME"] == result.handle.name
        # The file the script read, as SDK v2 writes it: every value a JSON-encoded string.
        written = seen["hyperparameters_file"]
        assert {k: written[k] for k in ("epochs", "lr", "name")} == {
            "epochs": "3",
            "lr": "0.01",
            "name": '"abc"',
        }
        assert json.loads(written["sagemaker_program"]) == "train.py"
        model = json.loads(self.member(result.status.model_artifacts, "model.json"))
        assert model == {"epochs": 3, "lr": 0.01, "name": "abc"}

    def test_script_writing_into_its_channel_leaves_user_data_untouched(
        self, make_project, clean_environ, backend_overrides
    ):
        project = make_project("writes_channel")
        data = project / "data"
        (data / "sub").mkdir(parents=True)
        (data / "deep" / "er").mkdir(parents=True)
        (data / "data.csv").write_text("a,b\n1,2\n")
        (data / "sub" / "more.csv").write_text("3,4\n")
        (data / "extra.csv").write_text("5,6\n")
        (data / "deep" / "er" / "x.csv").write_text("7,8\n")
        before = tree_digest(data)
        modes = {p: p.stat().st_mode for p in data.rglob("*")}
        result = self.run(project, clean_environ, backend_overrides, channels={"train": "data"})
        assert result.status.state is JobState.COMPLETED, result.status.failure_reason
        assert tree_digest(data) == before
        assert {p: p.stat().st_mode for p in data.rglob("*")} == modes

    # -- signals --------------------------------------------------------------------------

    def _start_signals_job(
        self, project: Path, environ, overrides, mode: str, **more: Any
    ) -> tuple[JobHandle, Path]:
        marker = project / "marker.txt"
        spec = self.spec(
            project,
            environ,
            overrides,
            environment={"MARKER_FILE": str(marker), "SIGTERM_MODE": mode},
            **more,
        )
        handle = self.submit(spec)
        wait_for(lambda: any("ready" in line for line in jobs.stream(handle)))
        return handle, marker

    def test_stop_delivers_sigterm_to_the_scripts_handler(
        self, make_project, clean_environ, backend_overrides
    ):
        project = make_project("signals")
        handle, marker = self._start_signals_job(
            project, clean_environ, backend_overrides, "handle"
        )
        jobs.stop(handle)
        status = jobs.wait(handle, timeout=30)
        assert status.state is JobState.STOPPED
        assert marker.read_text().startswith("SIGTERM")
        # Stopped jobs keep their model, as on SageMaker.
        assert self.member(status.model_artifacts, "partial.txt") == b"saved on SIGTERM"

    def test_stop_kills_a_script_that_ignores_sigterm_after_the_grace(
        self, make_project, clean_environ, backend_overrides
    ):
        project = make_project("signals")
        handle, marker = self._start_signals_job(
            project, clean_environ, backend_overrides, "ignore", stop_grace=1
        )
        started = time.monotonic()
        jobs.stop(handle)
        status = jobs.wait(handle, timeout=30)
        assert status.state is JobState.STOPPED
        assert marker.read_text().startswith("SIGTERM")
        assert time.monotonic() - started < 15

    def test_max_runtime_sends_sigterm_then_stops(
        self, make_project, clean_environ, backend_overrides
    ):
        project = make_project("signals")
        handle, marker = self._start_signals_job(
            project, clean_environ, backend_overrides, "ignore", max_runtime=2, stop_grace=1
        )
        status = jobs.wait(handle, timeout=30)
        assert status.state is JobState.STOPPED
        assert status.secondary_status == "MaxRuntimeExceeded"
        assert marker.read_text().startswith("SIGTERM")

    # -- checkpoints ----------------------------------------------------------------------

    def test_checkpoints_written_by_one_job_are_restored_in_the_next(
        self, make_project, clean_environ, backend_overrides
    ):
        project = make_project("checkpoints", checkpoint_path="ckpt")
        first = self.run(project, clean_environ, backend_overrides)
        second = self.run(project, clean_environ, backend_overrides)
        assert first.status.state is second.status.state is JobState.COMPLETED
        assert self.member(second.status.model_artifacts, "epoch.txt") == b"2"
        assert json.loads((project / "ckpt" / "state.json").read_text()) == {"epoch": 2}
        assert any("resumed from epoch 1" in line for line in jobs.stream(second.handle))

    # -- Ctrl-C ---------------------------------------------------------------------------

    def test_ctrl_c_stops_the_job_and_leaves_no_orphan(
        self, make_project, clean_environ, backend_overrides
    ):
        project = make_project("grandchild")
        pid_file = project / "grandchild.pid"
        flags = [f"--{k.replace('_', '-')}={v}" for k, v in backend_overrides.items()]
        cli = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "sagelift",
                "-C",
                str(project),
                "run",
                *flags,
                "--env",
                f"PID_FILE={pid_file}",
                "--stop-grace",
                "2",
            ],
            env={**os.environ, **clean_environ},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        wait_for(pid_file.exists)
        grandchild = int(pid_file.read_text())
        assert pid_alive(grandchild)
        cli.send_signal(signal.SIGINT)
        out, _ = cli.communicate(timeout=60)
        assert cli.returncode == 130, out.decode()
        assert b"stopping" in out
        wait_for(lambda: not pid_alive(grandchild), timeout=10)
        status = jobs.describe(project, "last")
        assert status.state is JobState.STOPPED
