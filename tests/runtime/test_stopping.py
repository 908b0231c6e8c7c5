"""Stop, grace, maximum runtime and leftovers, with the launcher as a real process."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.runtime.conftest import Job, MakeJob, launcher_env, pid_alive, stop, wait_for

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs Linux")

HANDLER_SCRIPT = """
import os, signal, sys, time
out = os.environ["SM_OUTPUT_DATA_DIR"]

def handler(signum, frame):
    with open(os.path.join(out, "handled"), "w") as f:
        f.write(signal.Signals(signum).name)
    sys.exit(0)

signal.signal(signal.{signame}, handler)
open(os.path.join(out, "ready"), "w").close()
time.sleep(60)
"""

IGNORING_SCRIPT = """
import os, signal, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
open(os.path.join(os.environ["SM_OUTPUT_DATA_DIR"], "ready"), "w").close()
time.sleep(60)
"""


def _ready(job: Job) -> None:
    wait_for((job.layout.output_data_dir / "ready").exists, what="the script to start")


@pytest.mark.parametrize("signame", ["SIGTERM", "SIGINT", "SIGHUP"])
def test_stop_signal_reaches_the_scripts_own_handler(make_job: MakeJob, signame: str) -> None:
    job = make_job()
    job.write("train.py", HANDLER_SCRIPT.format(signame=signame))
    launcher = job.start()
    _ready(job)
    stop(launcher, getattr(signal, signame))
    assert launcher.returncode == 0
    assert (job.layout.output_data_dir / "handled").read_text() == signame
    status = job.status()
    assert status["state"] == "Stopped"
    assert status["failure_reason"] is None
    assert not job.layout.failure_file.exists()
    assert not job.layout.success_file.exists()


def test_a_script_ignoring_sigterm_is_killed_after_the_grace(make_job: MakeJob) -> None:
    job = make_job()
    job.write("train.py", IGNORING_SCRIPT)
    launcher = job.start("--grace", "1")
    _ready(job)
    started = time.monotonic()
    _, stderr = stop(launcher)
    elapsed = time.monotonic() - started
    assert launcher.returncode == 137
    assert 1 <= elapsed < 10
    assert "SIGKILL" in stderr
    status = job.status()
    assert (status["state"], status["signal"]) == ("Stopped", 9)
    assert not job.layout.failure_file.exists()


def test_max_runtime_sends_sigterm_to_the_script(make_job: MakeJob) -> None:
    job = make_job()
    job.write("train.py", HANDLER_SCRIPT.format(signame="SIGTERM"))
    result = job.run("--max-runtime", "1", "--grace", "5")
    assert result.returncode == 0
    assert (job.layout.output_data_dir / "handled").read_text() == "SIGTERM"
    status = job.status()
    assert status["state"] == "MaxRuntimeExceeded"
    assert "MaxRuntimeExceeded" in status["failure_reason"]
    assert not job.layout.failure_file.exists()


def test_max_runtime_kills_a_script_ignoring_sigterm(make_job: MakeJob) -> None:
    job = make_job()
    job.write("train.py", IGNORING_SCRIPT)
    started = time.monotonic()
    result = job.run("--max-runtime", "1", "--grace", "1")
    assert 2 <= time.monotonic() - started < 10
    assert result.returncode == 137
    assert job.status()["state"] == "MaxRuntimeExceeded"


SPAWNER_SCRIPT = """
import os, subprocess, sys, time
out = os.environ["SM_OUTPUT_DATA_DIR"]
child = subprocess.Popen(["sleep", "300"], start_new_session={escape})
with open(os.path.join(out, "grandchild.pid"), "w") as f:
    f.write(str(child.pid))
open(os.path.join(out, "ready"), "w").close()
if {linger}:
    time.sleep(60)
"""


def _grandchild(job: Job) -> int:
    return int((job.layout.output_data_dir / "grandchild.pid").read_text())


def test_stopping_leaves_no_orphan(make_job: MakeJob) -> None:
    job = make_job()
    job.write("train.py", SPAWNER_SCRIPT.format(escape=False, linger=True))
    launcher = job.start("--grace", "1")
    _ready(job)
    grandchild = _grandchild(job)
    assert pid_alive(grandchild)
    stop(launcher)
    wait_for(lambda: not pid_alive(grandchild), timeout=5, what="the grandchild to die")


def test_a_finished_job_leaves_no_orphan(make_job: MakeJob) -> None:
    job = make_job()
    job.write("train.py", SPAWNER_SCRIPT.format(escape=False, linger=False))
    result = job.run()
    assert result.returncode == 0, result.stderr
    wait_for(lambda: not pid_alive(_grandchild(job)), timeout=5, what="the grandchild to die")


@linux_only
def test_a_daemon_that_left_the_process_group_is_killed_too(make_job: MakeJob) -> None:
    job = make_job()
    job.write("train.py", SPAWNER_SCRIPT.format(escape=True, linger=False))
    result = job.run()
    assert result.returncode == 0, result.stderr
    wait_for(lambda: not pid_alive(_grandchild(job)), timeout=5, what="the daemon to die")


@linux_only
@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs util-linux unshare")
def test_as_pid_1_the_launcher_still_forwards_sigterm(make_job: MakeJob, tmp_path: Path) -> None:
    job = make_job()
    job.write("train.py", HANDLER_SCRIPT.format(signame="SIGTERM"))
    probe = subprocess.run(["unshare", "--pid", "--fork", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"no PID namespace here: {probe.stderr.decode().strip()}")
    wrapper = subprocess.Popen(
        ["unshare", "--pid", "--fork", *job.argv()],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=launcher_env(),
    )
    _ready(job)
    children = Path(f"/proc/{wrapper.pid}/task/{wrapper.pid}/children").read_text().split()
    assert len(children) == 1
    launcher_pid = int(children[0])
    # A PID namespace's init only receives signals it has a handler for.
    subprocess.run(["kill", "-TERM", str(launcher_pid)], check=True)
    wrapper.communicate(timeout=30)
    assert wrapper.returncode == 0
    assert (job.layout.output_data_dir / "handled").read_text() == "SIGTERM"
    assert job.status()["state"] == "Stopped"
