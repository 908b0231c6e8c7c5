"""The host-side keeper of one local job: ``python -m sagelift.backends.supervisor RECORD_DIR``.

It runs detached from the terminal (its own session), so a job outlives ``sagelift run
--detach``. It starts the launcher with the command stored in ``job.json``, appends the job's
output to the log, syncs checkpoints out while the job runs, packs ``model.tar.gz`` and
``output.tar.gz`` at the end, and keeps ``status.json`` current. SIGTERM asks it to stop the job:
it forwards the signal to the launcher, which gives the script its grace period.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
from dataclasses import replace
from pathlib import Path
from types import FrameType
from typing import Any

from sagelift import records
from sagelift.backends import artifacts
from sagelift.backends.base import JobState, JobStatus
from sagelift.contract.layout import TrainingLayout
from sagelift.errors import SageliftError
from sagelift.spec import is_remote_uri

__all__ = ["main"]

log = logging.getLogger(__name__)

CHECKPOINT_SYNC_SECONDS = 10.0
# SageMaker reports the first 1024 characters of output/failure as FailureReason.
FAILURE_REASON_LIMIT = 1024


class Supervisor:
    def __init__(self, record_dir: Path) -> None:
        self.record_dir = record_dir
        self.job: dict[str, Any] = records.read_job(record_dir)
        self.run: dict[str, Any] = self.job["run"]
        self.layout = TrainingLayout(Path(self.run["layout_root"]))
        self.status = records.read_status(record_dir)
        self.process: subprocess.Popen[bytes] | None = None
        self.stop_requested = threading.Event()
        self.done = threading.Event()
        self.lock = threading.Lock()

    def save(self, status: JobStatus) -> None:
        with self.lock:
            self.status = status
            records.write_status(self.record_dir, status)

    def on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self.stop_requested.set()
        if self.status.state is JobState.IN_PROGRESS:
            self.save(replace(self.status, state=JobState.STOPPING))
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def execute(self) -> int:
        env = dict(os.environ)
        env.update(self.run["env"])
        self.save(records.advance(self.status, "Training", started_at=records.now()))
        with open(self.record_dir / records.LOG_FILE, "ab", buffering=0) as log_file:
            self.process = subprocess.Popen(
                self.run["launcher"],
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=self.run["layout_root"],
            )
            if self.stop_requested.is_set():
                self.process.send_signal(signal.SIGTERM)
            syncer = threading.Thread(target=self.sync_checkpoints_loop, daemon=True)
            syncer.start()
            returncode = self.process.wait()
            self.done.set()
            syncer.join()
        self.sync_checkpoints()
        return returncode

    def sync_checkpoints_loop(self) -> None:
        while not self.done.wait(CHECKPOINT_SYNC_SECONDS):
            self.sync_checkpoints()

    def sync_checkpoints(self) -> None:
        target = self.run.get("checkpoint_path")
        if target:
            try:
                if is_remote_uri(target):
                    artifacts.sync_checkpoints_remote(
                        self.layout.checkpoint_dir,
                        target,
                        artifacts.aws_from_dict(self.run.get("aws")),
                    )
                else:
                    artifacts.sync_checkpoints_out(self.layout.checkpoint_dir, Path(target))
            except (OSError, SageliftError) as exc:
                log.warning("checkpoint sync to %s failed: %s", target, exc)

    def finish(self, returncode: int) -> None:
        launcher = _read_launcher_status(Path(self.run["launcher_status"]))
        state_name = launcher.get("state")
        if self.stop_requested.is_set() or state_name == "Stopped":
            state, secondary = JobState.STOPPED, "Stopped"
        elif state_name == "MaxRuntimeExceeded":
            state, secondary = JobState.STOPPED, "MaxRuntimeExceeded"
        elif returncode == 0:
            state, secondary = JobState.COMPLETED, "Completed"
        else:
            state, secondary = JobState.FAILED, "Failed"
        reason = None
        if state is JobState.FAILED:
            reason = _failure_reason(self.layout, returncode)
        elif secondary == "MaxRuntimeExceeded":
            reason = (
                f"Training job exceeded MaxRuntimeInSeconds ({self.job['spec']['max_runtime']} s)"
            )
        notes = list(self.status.notes)
        if launcher.get("opt_ml", "").startswith("unavailable"):
            notes.append(f"/opt/ml {launcher['opt_ml']}")

        status = records.advance(self.status, "Uploading")
        self.save(status)
        model: Path | str | None = None
        output: Path | str | None = None
        if state is not JobState.FAILED:
            model, output = artifacts.pack_outputs(self.layout, Path(self.run["artifacts_dir"]))
            if self.run.get("output_uri"):
                try:
                    model, output = artifacts.upload_outputs(
                        (model, output),
                        self.run["output_uri"],
                        artifacts.aws_from_dict(self.run.get("aws")),
                    )
                except SageliftError as exc:
                    model = output = None
                    state, secondary = JobState.FAILED, "Failed"
                    reason = f"ClientError: uploading the job's artifacts failed: {exc.message}"
        artifacts.release_inputs(self.layout)
        self.save(
            records.advance(
                status,
                secondary,
                state=state,
                failure_reason=reason,
                ended_at=records.now(),
                exit_code=returncode,
                model_artifacts=None if model is None else str(model),
                output_artifacts=None if output is None else str(output),
                notes=tuple(notes),
            )
        )


def _read_launcher_status(path: Path) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data


def _failure_reason(layout: TrainingLayout, returncode: int) -> str:
    try:
        text = layout.failure_file.read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = ""
    text = text.strip()
    if not text:
        text = f"AlgorithmError: the training process exited with code {returncode}"
    return text[:FAILURE_REASON_LIMIT]


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    record_dir = Path(args[0])
    logging.basicConfig(level=logging.INFO, format="sagelift: %(message)s")
    supervisor = Supervisor(record_dir)
    (record_dir / "supervisor.pid").write_text(str(os.getpid()), encoding="utf-8")
    signal.signal(signal.SIGTERM, supervisor.on_signal)
    signal.signal(signal.SIGINT, supervisor.on_signal)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        returncode = supervisor.execute()
        supervisor.finish(returncode)
    except Exception as exc:  # the record must say what happened, whatever it was
        log.exception("supervisor failed")
        supervisor.save(
            replace(
                supervisor.status,
                state=JobState.FAILED,
                secondary_status="Failed",
                failure_reason=f"InternalError: sagelift supervisor: {exc!r}",
                ended_at=records.now(),
            )
        )
        return 1
    finally:
        shutil.rmtree(record_dir / "tmp", ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
