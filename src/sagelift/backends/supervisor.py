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
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from types import FrameType
from typing import Any

from sagelift import records
from sagelift.backends import artifacts
from sagelift.backends.interruptions import Attempt, analyse, unfired
from sagelift.backends.lifecycle import (
    STOP_REQUEST,
    SUPERVISOR_PID,
    describe_os_error,
    remove_partial_artifacts,
    write_holder,
)
from sagelift.backends.loglines import LineSplitter
from sagelift.contract.layout import TrainingLayout
from sagelift.errors import BackendError, SageliftError
from sagelift.job import JobState, JobStatus, LocalRun
from sagelift.private_files import open_private
from sagelift.runtime.hosts import host_status_file
from sagelift.runtime.pipes import ChannelFeeder
from sagelift.runtime.processes import become_subreaper, die_with_parent, kill_adopted
from sagelift.runtime.status import read_status as read_launch_status
from sagelift.spec import is_remote_uri

__all__ = ["main"]

log = logging.getLogger(__name__)

CHECKPOINT_SYNC_SECONDS = 10.0
#: Overrides ``CHECKPOINT_SYNC_SECONDS`` (seconds, > 0): for tests and slow disks.
SYNC_SECONDS_ENV = "SAGELIFT_CHECKPOINT_SYNC_SECONDS"
# SageMaker reports the first 1024 characters of output/failure as FailureReason.
FAILURE_REASON_LIMIT = 1024
#: How much of the log the end-of-attempt scan reads at once.
LOG_SCAN_BYTES = 1 << 16


class Supervisor:
    def __init__(self, record_dir: Path, *, sync_seconds: float = CHECKPOINT_SYNC_SECONDS) -> None:
        self.record_dir = record_dir
        self.record = records.read_record(record_dir)
        if self.record.run is None:
            raise BackendError(
                f"job {self.record.name} has no run plan", hint="submit the job through sagelift"
            )
        self.run: LocalRun = self.record.run
        self.layout = TrainingLayout(self.run.layout_root)
        self.status = records.read_status(record_dir)
        self.process: subprocess.Popen[bytes] | None = None
        self.stop_requested = threading.Event()
        self.done = threading.Event()
        self.lock = threading.Lock()
        self.attempts: list[Attempt] = []
        self.training_started: float | None = None
        self.max_runtime_exceeded = False
        self.sync_seconds = sync_seconds
        #: Every checkpoint path the job's directory has held (restored ones included): only
        #: these can have been deleted by the job, so only these may go at the location.
        self.held_checkpoints: set[str] = set()
        self.checkpoint_notes: list[str] = []
        #: What the supervisor is doing, for the failure reason of an OS error.
        self.doing = "starting the job"
        #: Set when this process adopts the orphans of a launcher that dies (see ``main``).
        self.adopts = False
        if (record_dir / STOP_REQUEST).exists():
            self.stop_requested.set()

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
        """Run the job, restarting it after each planned interruption; returns the exit code."""
        plan = list(self.run.interruptions)
        self.training_started = time.monotonic()
        self.save(records.advance(self.status, "Training", started_at=records.now()))
        for index in range(len(plan) + 1):
            interrupt_after = plan[index] if index < len(plan) else None
            attempt = Attempt(
                index=index,
                started=time.time(),
                restored_files=_count_files(self.layout.checkpoint_dir),
            )
            self.attempts.append(attempt)
            returncode = self.run_attempt(attempt, interrupt_after)
            if not attempt.interrupted or self.stop_requested.is_set():
                return returncode
            self.restart(attempt)
        return returncode

    def run_attempt(self, attempt: Attempt, interrupt_after: float | None) -> int:
        self.held_checkpoints |= artifacts.checkpoint_entries(self.layout.checkpoint_dir)
        log_path = self.record_dir / records.LOG_FILE
        offset = log_path.stat().st_size if log_path.exists() else 0
        with open(open_private(log_path), "ab", buffering=0) as log_file:
            feeders = self.pipe_feeders()
            for feeder in feeders:
                feeder.prepare()  # <channel>_0 exists before the job starts
            self.process = _start(self.run, log_file)
            if self.stop_requested.is_set():
                self.process.send_signal(signal.SIGTERM)
            self.done.clear()
            # Started after the launcher: with no other thread, it is forked, not exec'd.
            for feeder in feeders:
                feeder.start()
            syncer = threading.Thread(target=self.sync_checkpoints_loop, daemon=True)
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
        self.sync_checkpoints()
        attempt.ended = time.time()
        attempt.checkpoint_files_at_end = _count_files(self.layout.checkpoint_dir)
        attempt.last_checkpoint_write = _newest_mtime(self.layout.checkpoint_dir)
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

    def restart(self, attempt: Attempt) -> None:
        """A new instance: fresh layout, code and data staged again, checkpoints restored.
        A job of several hosts gets new instances for all of them, as a spot reclaim of a
        multi-instance job restarts the whole job."""
        from sagelift.backends.opt_ml import channel_dir_names, stage_inputs

        self.save(records.advance(self.status, "Starting"))
        hosts = _host_dirs(self.layout.root)
        if hosts:
            self.restart_hosts(hosts)
            return
        for directory in (
            self.layout.model_dir,
            self.layout.output_dir,
            self.layout.checkpoint_dir,
            self.layout.data_dir,
            self.layout.code_dir,
        ):
            shutil.rmtree(directory, ignore_errors=True)
        spec = self.record.spec
        assert spec is not None  # interruptions are rehearsed for project jobs only
        for directory in self.layout.directories(channel_dir_names(spec)):
            directory.mkdir(parents=True, exist_ok=True)
        self.save(records.advance(self.status, "Downloading"))
        stage_inputs(
            spec,
            self.layout,
            self.run.aws,
            checkpoint_path=self.run.checkpoint_path,
            # The launcher mounts these afresh, with an empty writable layer.
            skip_channels=set(self.run.overlay_channels),
        )
        self.save(records.advance(self.status, "Training"))

    def restart_hosts(self, hosts: list[Path]) -> None:
        """``restart`` for several hosts: every host's layout staged afresh (its share of
        sharded channels), the job's shared checkpoint directory restored from its location
        and linked into every host's layout again."""
        from sagelift.backends.opt_ml import channel_dir_names, stage_inputs

        spec = self.record.spec
        assert spec is not None  # interruptions are rehearsed for project jobs only
        for directory in (self.layout.model_dir, self.layout.output_dir):
            shutil.rmtree(directory, ignore_errors=True)
        shutil.rmtree(self.layout.checkpoint_dir, ignore_errors=True)
        for directory in (
            self.layout.model_dir,
            self.layout.output_data_dir,
            self.layout.checkpoint_dir,
        ):
            directory.mkdir(parents=True, exist_ok=True)
        self.save(records.advance(self.status, "Downloading"))
        target = self.run.checkpoint_path
        if target and is_remote_uri(target):
            artifacts.restore_checkpoints_remote(target, self.layout.checkpoint_dir, self.run.aws)
        elif target:
            artifacts.restore_checkpoints(Path(target), self.layout.checkpoint_dir)
        for root in hosts:
            host = TrainingLayout(root)
            if host.checkpoint_dir.is_symlink():
                host.checkpoint_dir.unlink()
            for directory in (
                host.model_dir,
                host.output_dir,
                host.checkpoint_dir,
                host.data_dir,
                host.code_dir,
            ):
                shutil.rmtree(directory, ignore_errors=True)
            for directory in host.directories(channel_dir_names(spec)):
                directory.mkdir(parents=True, exist_ok=True)
            stage_inputs(
                spec,
                host,
                self.run.aws,
                checkpoint_path=None,
                skip_channels=set(self.run.overlay_channels),
                host=root.name,
            )
            host.checkpoint_dir.rmdir()
            host.checkpoint_dir.symlink_to(self.layout.checkpoint_dir)
        self.save(records.advance(self.status, "Training"))

    def sync_checkpoints_loop(self) -> None:
        while not self.done.wait(self.sync_seconds):
            self.sync_checkpoints()

    def sync_checkpoints(self) -> None:
        target = self.run.checkpoint_path
        if target:
            try:
                if is_remote_uri(target):
                    outcome = artifacts.sync_checkpoints_remote(
                        self.layout.checkpoint_dir,
                        target,
                        self.run.aws,
                        held=self.held_checkpoints,
                    )
                else:
                    outcome = artifacts.sync_checkpoints_out(
                        self.layout.checkpoint_dir, Path(target), held=self.held_checkpoints
                    )
            except (OSError, SageliftError) as exc:
                log.warning("checkpoint sync to %s failed: %s", target, exc)
                return
            self.held_checkpoints |= outcome.present
            for note in outcome.refused:
                if note not in self.checkpoint_notes:
                    log.warning("%s", note)
                    self.checkpoint_notes.append(note)

    def finish(self, returncode: int) -> None:
        launcher = read_launch_status(self.run.launcher_status)
        state_name = None if launcher is None else launcher.state
        if self.max_runtime_exceeded:
            state_name = "MaxRuntimeExceeded"
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
            reason = _failure_reason(self.layout, returncode, launched=launcher is not None)
        elif secondary == "MaxRuntimeExceeded":
            reason = f"Training job exceeded MaxRuntimeInSeconds ({self.run.max_runtime} s)"
        notes = list(self.status.notes)
        if launcher is not None and launcher.opt_ml.startswith("unavailable"):
            notes.append(f"/opt/ml {launcher.opt_ml}")
        if len(self.attempts) > 1:
            notes += self.interruption_notes()
        notes += unfired(self.run.interruptions, self.attempts)
        notes += _host_notes(self.run.launcher_status, self.layout.root)
        notes += self.checkpoint_notes

        status = records.advance(self.status, "Uploading")
        self.save(status)
        model: Path | str | None = None
        output: Path | str | None = None
        if state is not JobState.FAILED:
            try:
                model, output = self.pack()
            except OSError as exc:
                model = output = None
                state, secondary = JobState.FAILED, "Failed"
                reason = self.os_failure(exc)
            if self.run.output_uri and model is not None and output is not None:
                self.doing = f"uploading the job's artifacts to {self.run.output_uri}"
                try:
                    model, output = artifacts.upload_outputs(
                        (model, output),
                        self.run.output_uri,
                        self.run.aws,
                    )
                except SageliftError as exc:
                    model = output = None
                    state, secondary = JobState.FAILED, "Failed"
                    reason = f"InfrastructureError: {self.doing} failed: {exc.message}"
                except OSError as exc:
                    model = output = None
                    state, secondary = JobState.FAILED, "Failed"
                    reason = self.os_failure(exc)
        artifacts.release_inputs(self.layout)
        for host in _host_dirs(self.layout.root):
            artifacts.release_inputs(TrainingLayout(host))
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

    def log_line(self, text: str) -> None:
        """Append a sagelift line to the job's log (what ``run`` and ``logs -f`` show)."""
        with open(self.record_dir / records.LOG_FILE, "ab") as log_file:
            log_file.write(f"sagelift: {text}\n".encode())

    def pack(self) -> tuple[Path, Path]:
        """Pack model and output data; a failure leaves no partial archive behind."""
        target = self.run.artifacts_dir
        self.doing = f"packing model.tar.gz at {target}"
        try:
            return artifacts.pack_outputs(self.layout, target, emit=self.log_line)
        except OSError:
            if (target / "model.tar.gz").is_file():
                self.doing = f"packing output.tar.gz at {target}"
            remove_partial_artifacts(target)
            raise

    def os_failure(self, exc: OSError) -> str:
        """The failure reason of an OS error met while ``doing`` something: what it was, where,
        and where the trained model was kept. Frees what it can first (staged data, the record's
        tmp dir), so that the status can still be written on a full disk."""
        artifacts.release_inputs(self.layout)
        shutil.rmtree(self.record_dir / "tmp", ignore_errors=True)
        reason = f"InfrastructureError: {describe_os_error(exc, self.doing)}"
        if _count_files(self.layout.model_dir):
            reason += f"; the model directory is kept at {self.layout.model_dir}"
        if exc.errno == errno.ENOSPC:
            reason += "; free space there and run the job again"
        return reason[:FAILURE_REASON_LIMIT]

    def interruption_notes(self) -> list[str]:
        reports = analyse(self.attempts)
        records.write_json_atomic(
            self.record_dir / "interruptions.json",
            [
                {
                    "interruption": r.index,
                    "verdict": r.verdict,
                    "detail": r.detail,
                    "lost_seconds": r.lost_seconds,
                    "redone": r.redone,
                }
                for r in reports
            ],
        )
        return [
            f"interruption {r.index}: {r.verdict}: {r.detail}"
            + ("" if r.lost_seconds is None else f"; {r.lost_seconds:.1f} s of work lost")
            for r in reports
        ]


def _host_dirs(root: Path) -> list[Path]:
    """The per-host layouts of a job run as several hosts, in host order."""
    hosts = [p for p in root.glob("algo-*") if p.is_dir() and p.name[5:].isdigit()]
    return sorted(hosts, key=lambda p: int(p.name[5:]))


def _host_notes(status_file: Path, root: Path) -> list[str]:
    """``describe``'s line per host of a job run as several hosts: how each one ended."""
    notes = []
    for host in _host_dirs(root):
        own = read_launch_status(host_status_file(status_file, host.name))
        if own is None:
            notes.append(f"{host.name}: did not report (it was not started or was killed)")
            continue
        note = f"{host.name}: {own.state}, exit code {own.exit_code}"
        if own.failure_reason:
            note += f": {own.failure_reason.strip().splitlines()[0]}"
        notes.append(note)
    return notes


def _count_files(directory: Path) -> int:
    return sum(1 for p in directory.rglob("*") if p.is_file()) if directory.is_dir() else 0


def _newest_mtime(directory: Path) -> float | None:
    times = [p.stat().st_mtime for p in directory.rglob("*") if p.is_file()]
    return max(times) if times else None


class _Forked:
    """The launcher run in a forked copy of this process: no second interpreter to start."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None

    def send_signal(self, signum: int) -> None:
        if self.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signum)

    def poll(self) -> int | None:
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = 0.001
        while self.poll() is None:
            if deadline is not None and time.monotonic() >= deadline:
                raise subprocess.TimeoutExpired([str(self.pid)], timeout or 0)
            time.sleep(delay)
            delay = min(delay * 2, 0.05)
        assert self.returncode is not None
        return self.returncode


LAUNCHER_PREFIX = [sys.executable, "-m", "sagelift.runtime"]


def _start(run: LocalRun, log_file: Any) -> Any:
    """Start the launcher, in a fork when it is this Python's ``sagelift.runtime``.

    Either way it gets SIGTERM when this process dies (``die_with_parent``); both starts happen
    on the main thread, which lives as long as the supervisor.
    """
    argv = list(run.launcher)
    env = {**os.environ, **run.env}
    parent = os.getpid()
    if argv[:3] == LAUNCHER_PREFIX and threading.active_count() == 1:
        from sagelift.runtime import main as launcher_cli

        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child never returns
            code = 1
            try:
                die_with_parent(signal.SIGTERM, parent)
                os.chdir(run.layout_root)
                os.environ.clear()
                os.environ.update(env)
                devnull = os.open(os.devnull, os.O_RDONLY)
                os.dup2(devnull, 0)
                os.dup2(log_file.fileno(), 1)
                os.dup2(log_file.fileno(), 2)
                for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                    signal.signal(signum, signal.SIG_DFL)
                logging.getLogger().handlers.clear()
                code = launcher_cli.main(argv[3:])
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        return _Forked(pid)
    return subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=log_file,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=run.layout_root,
        # The supervisor's main thread, with no other thread running: preexec_fn is safe.
        preexec_fn=lambda: _die_with(parent),
    )


def _die_with(parent: int) -> None:
    die_with_parent(signal.SIGTERM, parent)


def _failure_reason(layout: TrainingLayout, returncode: int, *, launched: bool = True) -> str:
    """The job's failure file; else, when the launcher reported how the job ended
    (``launched``), the script's exit code; else the launcher (or the container engine that
    was to run it) failed: an infrastructure failure, not the script's."""
    try:
        with open(layout.failure_file, "rb") as stream:  # only what FailureReason can hold
            text = stream.read(4 * FAILURE_REASON_LIMIT).decode("utf-8", errors="replace")
    except OSError:
        text = ""
    text = text.strip()
    if not text and launched:
        text = f"AlgorithmError: the training process exited with code {returncode}"
    elif not text and returncode < 0:
        name = signal.Signals(-returncode).name
        text = (
            f"InfrastructureError: the job's launcher was killed by {name} before the job "
            "ended; its training processes were ended too"
        )
    elif not text and returncode in ENGINE_START_CODES:
        text = (
            f"InfrastructureError: the container could not be started (the container engine "
            f"exited with code {returncode} before the launcher ran); its error is at the end "
            "of the job's log"
        )
    elif not text:
        text = (
            f"InfrastructureError: the job's launcher ended with code {returncode} without "
            "saying how the job ended; see the end of the job's log"
        )
    return text[:FAILURE_REASON_LIMIT]


#: ``podman run``/``docker run``: 125 the engine failed, 126 the command cannot be invoked,
#: 127 the command was not found (docker-run(1) "Exit Status").
ENGINE_START_CODES = (125, 126, 127)


def _sync_seconds(environ: Mapping[str, str]) -> float:
    try:
        value = float(environ.get(SYNC_SECONDS_ENV, CHECKPOINT_SYNC_SECONDS))
    except ValueError:
        return CHECKPOINT_SYNC_SECONDS
    return value if value > 0 else CHECKPOINT_SYNC_SECONDS


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    record_dir = Path(args[0])
    logging.basicConfig(level=logging.INFO, format="sagelift: %(message)s")
    write_holder(record_dir / SUPERVISOR_PID)
    if records.read_status(record_dir).state.is_terminal:
        # Ended while it was being started (its submission was declared dead): nothing to run.
        return 0
    supervisor = Supervisor(record_dir, sync_seconds=_sync_seconds(os.environ))
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
