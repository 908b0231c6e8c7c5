"""Kill each of sagelift's processes in each phase of a job; the job must end truthfully.

Each cell runs ``sagelift run`` (a real CLI process) on the ``lifecycle`` fixture, waits for a
phase (staging, training, packing, uploading to S3 on the moto server) by what the job's files
show, signals one process (the CLI, the supervisor, the launcher) and then checks what a user
would: ``describe`` shows a terminal state within seconds, no process of the job is alive
5 s later (the pids the script wrote for itself, its grandchild and its launcher, and every
process whose environment names the job), no partial archive or staged copy is left, the
project's own files are unchanged, and the next run completes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sagelift import jobs, records
from sagelift.aws import AwsSettings, client
from sagelift.backends.lifecycle import SUPERVISOR_PID, job_processes, read_holder
from sagelift.job import JobState, JobStatus
from tests.aws_server import REGION
from tests.conftest import MakeProject
from tests.suites.backend_suite import pid_alive, tree_digest

BUCKET = "sagelift-faults"
STAGING_FILES = 3000
STAGING_FILE_BYTES = 16 * 1024
MODEL_MB = 48


@dataclass(frozen=True)
class Cell:
    process: str  # cli | supervisor | launcher
    signum: int
    phase: str  # staging | training | packing | uploading
    state: JobState
    reason: str | None = None  # a part of the failure reason
    exit_code: int | None = None  # of the CLI, when it survives the signal

    @property
    def id(self) -> str:
        return f"{self.process}-{signal.Signals(self.signum).name}-{self.phase}"


KILL = signal.SIGKILL
CELLS = [
    Cell("cli", KILL, "staging", JobState.FAILED, "submission interrupted during staging"),
    Cell("cli", signal.SIGTERM, "staging", JobState.STOPPED, "SIGTERM while staging", 143),
    Cell("cli", signal.SIGINT, "staging", JobState.STOPPED, "SIGINT while staging", 130),
    Cell("cli", signal.SIGTERM, "training", JobState.STOPPED, None, 143),
    Cell("cli", signal.SIGHUP, "training", JobState.STOPPED, None, 129),
    Cell("cli", KILL, "training", JobState.COMPLETED),
    Cell("cli", KILL, "packing", JobState.COMPLETED),
    Cell("cli", KILL, "uploading", JobState.COMPLETED),
    Cell("supervisor", KILL, "training", JobState.FAILED, "supervisor"),
    Cell("supervisor", KILL, "packing", JobState.FAILED, "supervisor"),
    Cell("supervisor", KILL, "uploading", JobState.FAILED, "supervisor"),
    Cell("launcher", KILL, "training", JobState.FAILED, "launcher was killed by SIGKILL"),
]


def wait_until(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def status_of(record: Path) -> JobStatus | None:
    try:
        return records.read_status(record)
    except (FileNotFoundError, records.DamagedRecord):
        return None


def project_digest(project: Path) -> dict[str, str]:
    return {k: v for k, v in tree_digest(project).items() if not k.startswith(".sagelift")}


@pytest.fixture
def s3_bucket(aws_settings: AwsSettings) -> str:
    client("s3", aws_settings).create_bucket(Bucket=BUCKET)
    return BUCKET


@pytest.mark.parametrize("cell", CELLS, ids=lambda c: c.id)
def test_fault_matrix(
    cell: Cell,
    make_project: MakeProject,
    clean_environ: dict[str, str],
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    remote = cell.phase == "uploading"
    config: dict[str, Any] = {"stop_grace": 2, "output_path": str(tmp_path / "out")}
    if remote:
        endpoint = request.getfixturevalue("moto_endpoint")
        request.getfixturevalue("s3_bucket")
        config["output_path"] = f"s3://{BUCKET}/out"
        config["aws"] = {"endpoint_url": endpoint, "region": REGION}
    pid_file, go_file = tmp_path / "pids.json", tmp_path / "go"
    config["environment"] = {
        "PID_FILE": str(pid_file),
        "GO_FILE": str(go_file),
        "MODEL_MB": str(MODEL_MB if cell.phase in ("packing", "uploading") else 0),
    }
    project = make_project("lifecycle", **config)
    if cell.phase == "staging":
        blob = project / "blob"
        blob.mkdir()
        for index in range(STAGING_FILES):
            (blob / f"{index:05}.bin").write_bytes(os.urandom(STAGING_FILE_BYTES))
    before = project_digest(project)
    name = f"fault-{cell.id.lower()}"
    record = records.jobs_root(project) / name
    cli = subprocess.Popen(
        [sys.executable, "-m", "sagelift", "-C", str(project), "run", "--job-name", name],
        env={**os.environ, **clean_environ},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        _reach(cell.phase, record, pid_file, go_file, remote, tmp_path / "out" / name / "output")
        target = {
            "cli": lambda: cli.pid,
            "supervisor": lambda: _holder_pid(record),
            "launcher": lambda: json.loads(pid_file.read_text())["launcher"],
        }[cell.process]()
        os.kill(target, cell.signum)
        if cell.state is JobState.COMPLETED:
            go_file.touch()
        if cell.exit_code is not None:
            out, _ = cli.communicate(timeout=30)
            assert cli.returncode == cell.exit_code, out.decode()
        status = wait_until(
            lambda: (s := jobs.describe(project, name)).state.is_terminal and s,
            30 if cell.state is JobState.COMPLETED else 10,
            "a terminal state",
        )
    except BaseException:
        go_file.touch()
        raise
    finally:
        if cli.poll() is None:
            cli.kill()
        cli.communicate()

    assert status.state is cell.state, status
    if cell.reason is not None:
        assert cell.reason in (status.failure_reason or ""), status.failure_reason
    assert jobs.list_jobs(project)[0].state is cell.state  # ls agrees
    _assert_nothing_of_the_job_runs(name, record, pid_file)
    go_file.touch()
    if cell.phase == "staging":
        assert not (record / "opt-ml").exists(), "the staged copy is left"
        _assert_stop_and_logs_answer(project, name)
    leftovers = [p for p in (tmp_path / "out").rglob(".*.tmp")] if not remote else []
    assert leftovers == [], leftovers
    assert project_digest(project) == before
    # The stop request and the pids of this job do not hinder the next one.
    again = jobs.run(jobs.load_spec(project, environ=clean_environ, environment={"MODEL_MB": "0"}))
    assert again.status.state is JobState.COMPLETED, again.status.failure_reason


def _holder_pid(record: Path) -> int:
    holder = wait_until(lambda: read_holder(record / SUPERVISOR_PID), 10, "the supervisor pid")
    return int(holder.pid)


def _reach(
    phase: str, record: Path, pid_file: Path, go_file: Path, remote: bool, artifacts: Path
) -> None:
    """Return once the job is in ``phase``."""
    if phase == "staging":
        wait_until(
            lambda: (
                (s := status_of(record)) is not None
                and s.secondary_status == "Starting"
                and (record / "opt-ml" / "code").is_dir()
            ),
            30,
            "staging",
        )
        return
    wait_until(pid_file.exists, 30, "training")
    wait_until(lambda: pid_file.read_text(), 5, "the pid file's content")
    if phase == "training":
        return
    go_file.touch()
    if phase == "packing":
        wait_until(lambda: list(artifacts.glob(".model.tar.gz.*.tmp")), 30, "packing")
    else:
        wait_until((record / "tmp" / "output" / "output.tar.gz").exists, 30, "uploading")


def _assert_nothing_of_the_job_runs(name: str, record: Path, pid_file: Path) -> None:
    pids = list(json.loads(pid_file.read_text()).values()) if pid_file.exists() else []
    supervisor = read_holder(record / SUPERVISOR_PID)
    if supervisor is not None:
        pids.append(supervisor.pid)

    def none_alive() -> bool:
        return not any(pid_alive(pid) for pid in pids) and not job_processes(name)

    wait_until(none_alive, 5, f"the job's processes to end: {pids}, {job_processes(name)}")


def _assert_stop_and_logs_answer(project: Path, name: str) -> None:
    for command in (["stop", name], ["logs", name]):
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "sagelift", "-C", str(project), *command],
            capture_output=True,
            timeout=30,
        )
        assert done.returncode == 0, done
        assert time.monotonic() - started < 10
