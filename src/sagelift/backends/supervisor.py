"""The host-side keeper of one local job: ``python -m sagelift.backends.supervisor RECORD_DIR``.

It runs detached from the terminal (its own session), so a job outlives ``sagelift run
--detach``. It starts the launcher with the command stored in ``job.json``, appends the job's
output to the log, syncs checkpoints out while the job runs, packs ``model.tar.gz`` and
``output.tar.gz`` at the end, and keeps ``status.json`` current. SIGTERM asks it to stop the job:
it forwards the signal to the launcher, which gives the script its grace period.

Nothing of the job outlives the supervisor: the launcher is started with ``PR_SET_PDEATHSIG``
(SIGTERM when the supervisor dies, which the launcher passes on to the training process group
with its grace), and the supervisor of a sagelift launcher is a child subreaper, so the
training processes of a launcher that was killed are adopted here and killed once it is gone.
Failures of its own (a full disk while packing, a launcher or container engine that ended
without saying how the job ended) are reported as ``InfrastructureError: ...``, not as the
script's failure.

This module owns the supervisor process: its signals and the attempt loop (the launcher started,
its planned interruptions and the max runtime enforced, checkpoints synced, what each attempt
did read back from the log). The job's state lives in :mod:`sagelift.backends.supervised_job`;
the launcher's start in :mod:`sagelift.backends.launcher_process`; checkpoint syncing in
:mod:`sagelift.backends.checkpoint_sync`; restarts on new instances in
:mod:`sagelift.backends.instances`; the job's end in :mod:`sagelift.backends.outcome`, with its
failure reason from :mod:`sagelift.backends.failure_reasons`.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path
from types import FrameType
from typing import Any

from sagelift import records
from sagelift.backends import artifacts, instances, outcome
from sagelift.backends.checkpoint_sync import CHECKPOINT_SYNC_SECONDS, CheckpointSync, sync_interval
from sagelift.backends.interruptions import Attempt
from sagelift.backends.launcher_process import LAUNCHER_PREFIX, start_launcher
from sagelift.backends.lifecycle import STOP_REQUEST, SUPERVISOR_PID, write_holder
from sagelift.backends.loglines import LineSplitter
from sagelift.backends.supervised_job import SupervisedJob
from sagelift.job import JobState
from sagelift.private_files import open_private
from sagelift.runtime.pipes import ChannelFeeder
from sagelift.runtime.processes import become_subreaper, kill_adopted

__all__ = ["main"]

log = logging.getLogger(__name__)

#: How much of the log the end-of-attempt scan reads at once.
LOG_SCAN_BYTES = 1 << 16


class Supervisor(SupervisedJob):
    """The supervisor of one job: its attempts, the launcher each one runs, and the signals
    that stop it."""

    def __init__(self, record_dir: Path, *, sync_seconds: float = CHECKPOINT_SYNC_SECONDS) -> None:
        super().__init__(record_dir)
        self.process: subprocess.Popen[bytes] | None = None
        self.stop_requested = threading.Event()
        self.done = threading.Event()
        self.attempts: list[Attempt] = []
        self.training_started: float | None = None
        self.max_runtime_exceeded = False
        self.checkpoints = CheckpointSync(
            self.run.checkpoint_path,
            self.layout.checkpoint_dir,
            self.run.aws,
            interval=sync_seconds,
        )
        #: Set when this process adopts the orphans of a launcher that dies (see ``main``).
        self.adopts = False
        if (record_dir / STOP_REQUEST).exists():
            self.stop_requested.set()

    def on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self.stop_requested.set()
        if self.status.state is JobState.IN_PROGRESS:
            self.save(replace(self.status, state=JobState.STOPPING))
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def execute(self) -> int:
        """Run the job, restarting it after each planned interruption; returns the exit code."""
        plan = list(self.run.interruptions)
        self.training_started = time.monotonic()
        self.save(records.advance(self.status, "Training", started_at=records.now()))
        for index in range(len(plan) + 1):
            interrupt_after = plan[index] if index < len(plan) else None
            attempt = Attempt(
                index=index,
                started=time.time(),
                restored_files=artifacts.count_files(self.layout.checkpoint_dir),
            )
            self.attempts.append(attempt)
            returncode = self.run_attempt(attempt, interrupt_after)
            if not attempt.interrupted or self.stop_requested.is_set():
                return returncode
            instances.restart(self)
        return returncode

    def run_attempt(self, attempt: Attempt, interrupt_after: float | None) -> int:
        self.checkpoints.hold_present()
        log_path = self.record_dir / records.LOG_FILE
        offset = log_path.stat().st_size if log_path.exists() else 0
        with open(open_private(log_path), "ab", buffering=0) as log_file:
            feeders = self.pipe_feeders()
            for feeder in feeders:
                feeder.prepare()  # <channel>_0 exists before the job starts
            self.process = start_launcher(self.run, log_file)
            if self.stop_requested.is_set():
                self.process.send_signal(signal.SIGTERM)
            self.done.clear()
            # Started after the launcher: with no other thread, it is forked, not exec'd.
            for feeder in feeders:
                feeder.start()
            syncer = threading.Thread(
                target=self.checkpoints.sync_until, args=(self.done,), daemon=True
            )
            syncer.start()
            try:
                return self._wait_attempt(attempt, interrupt_after, log_file, offset, syncer)
            finally:
                for feeder in feeders:
                    feeder.stop()

    def pipe_feeders(self) -> list[ChannelFeeder]:
        """The feeders of the job's Pipe-mode channels (none for a job without a spec)."""
        spec = self.record.spec
        if spec is None or not any(c.is_pipe for c in spec.channels):
            return []
        from sagelift.data.channel_inputs import pipe_feeders

        return pipe_feeders(
            spec.channels,
            self.layout.data_dir,
            self.run.aws,
            scratch=self.record_dir / "tmp" / "pipes",
            on_error=self.log_line,
        )

    def _wait_attempt(
        self,
        attempt: Attempt,
        interrupt_after: float | None,
        log_file: Any,
        offset: int,
        syncer: threading.Thread,
    ) -> int:
        assert self.process is not None
        try:
            returncode = self.process.wait(timeout=self._timeout(interrupt_after))
        except subprocess.TimeoutExpired:
            if self._past_max_runtime():
                returncode = self.stop_at_max_runtime(log_file)
                self.done.set()
                syncer.join()
                return self._attempt_done(attempt, offset, returncode)
            # What a spot reclaim does: SIGTERM, the grace period, then SIGKILL.
            attempt.interrupted = True
            attempt.interrupted_at = time.time()
            self.save(records.advance(self.status, "Interrupted"))
            notice = (
                f"sagelift: simulated spot interruption {attempt.index + 1} after "
                f"{interrupt_after:g} s: SIGTERM, then a restart from the checkpoints\n"
            )
            log_file.write(notice.encode())
            self.process.send_signal(signal.SIGTERM)
            returncode = self.process.wait()
        self.done.set()
        syncer.join()
        return self._attempt_done(attempt, offset, returncode)

    def _timeout(self, interrupt_after: float | None) -> float | None:
        """How long to wait for the launcher now: until the next planned interruption, or the
        max runtime when this supervisor is what enforces it (a request run as SageMaker)."""
        if not self.run.enforce_max_runtime or self.training_started is None:
            return interrupt_after
        left = max(0.0, self.training_started + self.run.max_runtime - time.monotonic())
        return left if interrupt_after is None else min(left, interrupt_after)

    def _past_max_runtime(self) -> bool:
        return (
            self.run.enforce_max_runtime
            and self.training_started is not None
            and time.monotonic() >= self.training_started + self.run.max_runtime
        )

    def stop_at_max_runtime(self, log_file: Any) -> int:
        """What SageMaker does at MaxRuntimeInSeconds: SIGTERM, and the job is Stopped."""
        assert self.process is not None
        self.max_runtime_exceeded = True
        log_file.write(
            f"sagelift: MaxRuntimeInSeconds ({self.run.max_runtime} s) reached: SIGTERM\n".encode()
        )
        self.process.send_signal(signal.SIGTERM)
        return int(self.process.wait())

    def _attempt_done(self, attempt: Attempt, offset: int, returncode: int) -> int:
        log_path = self.record_dir / records.LOG_FILE
        if self.adopts and (count := kill_adopted(-1)):
            # The launcher died without ending the training processes it started.
            log.warning("killed %d processes the job's launcher left behind", count)
        self.checkpoints.sync()
        attempt.ended = time.time()
        attempt.checkpoint_files_at_end = artifacts.count_files(self.layout.checkpoint_dir)
        attempt.last_checkpoint_write = artifacts.newest_mtime(self.layout.checkpoint_dir)
        # In chunks through the bounded splitter: a job that printed a 100 MB line must not
        # cost the supervisor 100 MB here.
        splitter = LineSplitter()
        with open(log_path, "rb") as stream:
            stream.seek(offset)
            while chunk := stream.read(LOG_SCAN_BYTES):
                for line in splitter.feed(chunk):
                    attempt.observe(line)
        for line in splitter.close():
            attempt.observe(line)
        return returncode

    def finish(self, returncode: int) -> None:
        """End the job after its last attempt (see ``outcome.finish``)."""
        outcome.finish(
            self,
            returncode,
            stopped=self.stop_requested.is_set(),
            max_runtime_exceeded=self.max_runtime_exceeded,
            attempts=self.attempts,
            checkpoint_notes=self.checkpoints.notes,
        )


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    record_dir = Path(args[0])
    logging.basicConfig(level=logging.INFO, format="sagelift: %(message)s")
    write_holder(record_dir / SUPERVISOR_PID)
    if records.read_status(record_dir).state.is_terminal:
        # Ended while it was being started (its submission was declared dead): nothing to run.
        return 0
    supervisor = Supervisor(record_dir, sync_seconds=sync_interval(os.environ))
    signal.signal(signal.SIGTERM, supervisor.on_signal)
    signal.signal(signal.SIGINT, supervisor.on_signal)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    if (record_dir / STOP_REQUEST).exists():
        # Asked before the handlers were in place (a SIGTERM then was ignored).
        supervisor.stop_requested.set()
    if list(supervisor.run.launcher[:3]) == LAUNCHER_PREFIX:
        # Not for a container engine: its helpers (conmon, the rootless pause process) must
        # not become ours to kill.
        supervisor.adopts = become_subreaper()
    try:
        returncode = supervisor.execute()
        supervisor.finish(returncode)
    except Exception as exc:  # the record must say what happened, whatever it was
        log.exception("supervisor failed")
        reason = (
            supervisor.os_failure(exc)
            if isinstance(exc, OSError)
            else f"InternalError: sagelift supervisor: {exc!r}"
        )
        supervisor.save(
            replace(
                supervisor.status,
                state=JobState.FAILED,
                secondary_status="Failed",
                failure_reason=reason,
                ended_at=records.now(),
            )
        )
        return 1
    finally:
        shutil.rmtree(record_dir / "tmp", ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
