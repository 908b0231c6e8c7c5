"""Jobs supervised on this machine: what the local and container backends share.

:class:`HostJobs` stages the ``/opt/ml`` layout under the job's record directory, records the
supervisor's plan (a :class:`~sagelift.job.LocalRun`) and starts the supervisor
(:mod:`sagelift.backends.supervisor`) in its own session; it then answers describe / logs /
watch / stop from the record. A backend composes it with the command the supervisor runs: the
launcher on this machine, or a container runner.

A job's record is always true, whatever happens to sagelift's own processes. The submission
(``submission``: from before the first slow step to the supervisor's start) writes the
submitting process's pid file and a ``Starting`` status; interrupted (Ctrl-C, SIGTERM, SIGHUP
raise KeyboardInterrupt there) it marks the job Stopped and removes the staged copy; killed
outright, ``describe`` finds the submitter gone before any supervisor started and marks the job
Failed. A supervisor that is gone likewise makes the job Failed, and whatever of the job still
runs (any process whose environment names the job) is ended then.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

from sagelift import records
from sagelift.backends.base import LineSink, StatusSink
from sagelift.backends.checkpoint_location import LocationLock, lock_location
from sagelift.backends.lifecycle import (
    STOP_REQUEST,
    SUBMITTER_PID,
    SUPERVISOR_PID,
    describe_os_error,
    end_job_processes,
    read_holder,
    remove_partial_artifacts,
    write_holder,
)
from sagelift.backends.loglines import LineSplitter
from sagelift.backends.opt_ml import stage_hosts, stage_layout
from sagelift.contract.environment import local_job_arn
from sagelift.contract.layout import CONTAINER_ROOT, TrainingLayout
from sagelift.errors import BackendError, InfrastructureError, SageliftError
from sagelift.job import JobHandle, JobState, JobStatus, LocalRun, PreparedJob
from sagelift.private_files import open_private
from sagelift.spec import is_remote_uri

__all__ = ["LAYOUT_DIR", "HostJobs", "HostSupervised", "LauncherCommand", "start_supervisor"]

LAYOUT_DIR = "opt-ml"
POLL_SECONDS = 0.05
READ_BYTES = 65536
LAUNCHER_STATUS = "launcher-status.json"
SUPERVISOR_LOG = "supervisor.log"

#: ``(job, layout, launcher status file) -> argv`` of what the supervisor starts.
LauncherCommand = Callable[[PreparedJob, TrainingLayout, Path], list[str]]


class HostJobs:
    """Submit, describe, follow and stop jobs that a supervisor on this machine runs."""

    def __init__(self, backend: str) -> None:
        self.backend = backend

    @contextlib.contextmanager
    def submission(self, job: PreparedJob) -> Iterator[None]:
        """Hold ``job`` while it is being submitted: the job shows as ``Starting`` (with the
        submitting process's pid, for ``describe``), an OS error becomes an
        InfrastructureError (``jobs.submit`` then removes the record), and an interrupt
        (KeyboardInterrupt and the like) leaves the job Stopped with the reason and without its
        staged copy, then goes on."""
        record = job.record_dir
        if (record / SUBMITTER_PID).exists():
            yield  # nested: the outer submission holds the job
            return
        write_holder(record / SUBMITTER_PID)
        (record / records.LOG_FILE).touch()
        records.write_status(
            record,
            JobStatus(
                name=job.name,
                backend=self.backend,
                state=JobState.IN_PROGRESS,
                secondary_status="Starting",
                created_at=job.created_at,
                transitions=(("Starting", job.created_at),),
            ),
        )
        try:
            yield
        except SageliftError:
            raise
        except OSError as exc:
            raise InfrastructureError(
                f"submitting {job.name} failed: {describe_os_error(exc, 'staging the job')}",
                hint="free disk space or check permissions of the project's .sagelift directory",
            ) from exc
        except BaseException as exc:
            if read_holder(record / SUPERVISOR_PID) is not None:
                # Interrupted as the supervisor was being started: it stops the job.
                self.stop(job_handle(job, self.backend))
                raise
            signal_name = getattr(exc, "signal_name", None)
            if signal_name is None and isinstance(exc, KeyboardInterrupt):
                signal_name = "SIGINT"
            if signal_name is not None:
                state = JobState.STOPPED
                reason = f"submission interrupted by {signal_name} while staging; nothing ran"
            else:
                state = JobState.FAILED
                reason = f"InternalError: submission failed while staging: {exc!r}"
            _abandon(record, state, reason)
            raise

    def submit(
        self,
        job: PreparedJob,
        *,
        command: LauncherCommand,
        overlays: Mapping[str, Path],
        env: Mapping[str, str],
        enforce_max_runtime: bool = False,
    ) -> JobHandle:
        """Stage the layout (``overlays`` are left to the launcher), record the plan, start the
        supervisor. ``enforce_max_runtime``: the supervisor stops the job at its max runtime,
        as the platform does (for a job whose image runs without sagelift's launcher, which
        otherwise does it). Raises BackendError when the supervisor cannot start."""
        # A rehearsal of interruptions needs somewhere to keep checkpoints between attempts.
        checkpoint_path = job.spec.checkpoint_path or (
            str(job.record_dir / "checkpoints") if job.spec.interruptions else None
        )
        # The job holds its local checkpoint location from before the restore to its end: the
        # supervisor inherits the lock, this process lets go of it once that has started.
        lock = (
            lock_location(Path(checkpoint_path), owner=job.name)
            if checkpoint_path is not None and not is_remote_uri(checkpoint_path)
            else None
        )
        try:
            self._start(job, command, overlays, env, checkpoint_path, lock, enforce_max_runtime)
        except BaseException:
            if lock is not None:
                lock.discard()
            raise
        finally:
            if lock is not None:
                lock.close()
        return job_handle(job, self.backend)

    def _start(
        self,
        job: PreparedJob,
        command: LauncherCommand,
        overlays: Mapping[str, Path],
        env: Mapping[str, str],
        checkpoint_path: str | None,
        lock: LocationLock | None,
        enforce_max_runtime: bool,
    ) -> None:
        with self.submission(job):
            self._stage(job, command, overlays, env, checkpoint_path, lock, enforce_max_runtime)

    def _stage(
        self,
        job: PreparedJob,
        command: LauncherCommand,
        overlays: Mapping[str, Path],
        env: Mapping[str, str],
        checkpoint_path: str | None,
        lock: LocationLock | None,
        enforce_max_runtime: bool,
    ) -> None:
        spec = job.spec
        record = job.record_dir
        layout = TrainingLayout(record / LAYOUT_DIR)
        # The config files name container paths, as SageMaker's do, whether or not this machine
        # can show the layout on /opt/ml; the SM_* variables follow where it really is.
        view = TrainingLayout(CONTAINER_ROOT)
        if spec.instance_count > 1:
            stage_hosts(spec, job, layout, view, skip=set(overlays))
        else:
            stage_layout(spec, job, layout, view, skip=set(overlays))
        status = records.read_status(record)
        records.write_status(record, records.advance(status, "Downloading"))

        launcher_status = record / LAUNCHER_STATUS
        artifacts_dir, output_uri = _output_locations(spec.output_path, job.name, record)
        run = LocalRun(
            layout_root=layout.root,
            launcher=tuple(command(job, layout, launcher_status)),
            launcher_status=launcher_status,
            env={
                **env,
                "SAGELIFT_BACKEND": self.backend,
                "SAGELIFT_JOB_NAME": job.name,
                # What the platform sets next to the name (a container's own env says it too).
                "TRAINING_JOB_NAME": job.name,
                "TRAINING_JOB_ARN": local_job_arn(job.name, job.region),
            },
            artifacts_dir=artifacts_dir,
            output_uri=output_uri,
            checkpoint_path=checkpoint_path,
            interruptions=spec.interruptions,
            overlay_channels=tuple(sorted(overlays)),
            max_runtime=spec.max_runtime,
            enforce_max_runtime=enforce_max_runtime,
            aws=job.settings.aws,
        )
        records.update_record(record, run=run)
        if (record / STOP_REQUEST).exists():
            _abandon(record, JobState.STOPPED, "stopped while staging; nothing ran")
            return
        start_supervisor(record, pass_fds=() if lock is None else (lock.fd,))

    def describe(self, handle: JobHandle) -> JobStatus:
        """The job's status; a job whose holder (its supervisor, or before that the process
        submitting it) is gone is Failed, and that is recorded: what is left of it is ended
        and removed (the staged copy; the model directory stays)."""
        record = handle.record_dir
        status = records.read_status(record)
        if status.state.is_terminal:
            return status
        supervisor = read_holder(record / SUPERVISOR_PID)
        if supervisor is None:
            submitter = read_holder(record / SUBMITTER_PID)
            if submitter is None or submitter.alive:
                return status
            # The submitter starts the supervisor (and writes its pid file) before it ends.
            supervisor = read_holder(record / SUPERVISOR_PID)
            if supervisor is None:
                status = records.read_status(record)
                if status.state.is_terminal:
                    return status
                return _abandon(
                    record,
                    JobState.FAILED,
                    f"submission interrupted during staging: the sagelift process that was "
                    f"staging the job (pid {submitter.pid}) is gone",
                )
        if supervisor.alive:
            return status
        # Re-read: the supervisor may have finished between the two reads.
        status = records.read_status(record)
        if status.state.is_terminal:
            return status
        ended = end_job_processes(handle.name)
        reason = (
            f"InfrastructureError: the job's supervisor (pid {supervisor.pid}) is gone "
            "(process killed or machine restarted)"
        )
        if ended:
            reason += f"; {ended} processes of the job still running were ended"
        return _abandon(record, JobState.FAILED, reason, keep_layout=True)

    def logs(
        self, handle: JobHandle, *, follow: bool = False, on_status: StatusSink | None = None
    ) -> Iterator[str]:
        """The log's lines; with ``follow`` until the job ends, each status read on the way
        passed to ``on_status``. Memory stays bounded whatever the job writes: the log is read
        in chunks and cut into lines by :class:`~sagelift.backends.loglines.LineSplitter`
        (``\r`` ends a line too, an over-long line comes in pieces). A job that has no log
        yet (still staging) has no lines; with ``follow`` its log is waited for."""
        path = handle.record_dir / records.LOG_FILE
        delay = 0.002
        while not path.exists():
            ended = not follow
            if follow:
                status = self.describe(handle)
                if on_status is not None:
                    on_status(status)
                ended = status.state.is_terminal
            if ended and not path.exists():
                return
            time.sleep(delay)
            delay = min(delay * 2, POLL_SECONDS)
        splitter = LineSplitter()
        with open(path, "rb") as stream:
            delay = 0.002
            while True:
                chunk = stream.read(READ_BYTES)
                if chunk:
                    delay = 0.002
                    yield from splitter.feed(chunk)
                    continue
                ended = not follow
                if follow:
                    status = self.describe(handle)
                    if on_status is not None:
                        on_status(status)
                    ended = status.state.is_terminal
                if ended:
                    # Read to the end: the job may have written its last lines meanwhile.
                    while chunk := stream.read(READ_BYTES):
                        yield from splitter.feed(chunk)
                    yield from splitter.close()
                    return
                time.sleep(delay)
                delay = min(delay * 2, POLL_SECONDS)

    def watch(
        self,
        handle: JobHandle,
        *,
        on_line: LineSink | None = None,
        on_status: StatusSink | None = None,
    ) -> JobStatus:
        seen: list[tuple[JobState, str]] = []

        def report(status: JobStatus) -> None:
            key = (status.state, status.secondary_status)
            if on_status is not None and (not seen or seen[-1] != key):
                on_status(status)
            seen.append(key)

        if on_line is not None:
            for line in self.logs(handle, follow=True, on_status=report):
                on_line(line)
        while True:
            status = self.describe(handle)
            report(status)
            if status.state.is_terminal:
                return status
            time.sleep(POLL_SECONDS)

    def stop(self, handle: JobHandle) -> None:
        """Ask the supervisor to stop the job; a job still being staged is stopped by its
        submitter before it starts (or by its supervisor as it starts): returns at once."""
        (handle.record_dir / STOP_REQUEST).touch()
        supervisor = read_holder(handle.record_dir / SUPERVISOR_PID)
        if supervisor is not None and supervisor.alive:
            with contextlib.suppress(ProcessLookupError):
                os.kill(supervisor.pid, signal.SIGTERM)


def job_handle(job: PreparedJob, backend: str) -> JobHandle:
    return JobHandle(backend=backend, name=job.name, record_dir=job.record_dir)


class HostSupervised:
    """describe / logs / watch / stop of a backend whose jobs a supervisor on this machine runs
    (``self.host``): the local, container and rehearsal backends."""

    host: HostJobs

    def describe(self, handle: JobHandle) -> JobStatus:
        return self.host.describe(handle)

    def logs(self, handle: JobHandle, *, follow: bool = False) -> Iterator[str]:
        return self.host.logs(handle, follow=follow)

    def watch(
        self,
        handle: JobHandle,
        *,
        on_line: LineSink | None = None,
        on_status: StatusSink | None = None,
    ) -> JobStatus:
        return self.host.watch(handle, on_line=on_line, on_status=on_status)

    def stop(self, handle: JobHandle) -> None:
        self.host.stop(handle)


def start_supervisor(record: Path, *, pass_fds: tuple[int, ...] = ()) -> None:
    """Start the detached supervisor of the job whose record (with its ``run``) is ``record``.

    From a single-threaded process (the CLI) it is a double fork of this process, which has the
    modules loaded already; otherwise (a library user's threads) a new interpreter. Either way it
    runs in its own session, so Ctrl-C in the terminal reaches sagelift, not the job.
    ``pass_fds`` (a checkpoint location's lock) stay open in the supervisor. The log and
    ``supervisor.log`` are created 0600.
    Raises BackendError when the process cannot be started.
    """
    try:
        os.close(open_private(record / records.LOG_FILE))
        if threading.active_count() == 1 and hasattr(os, "fork"):
            _fork_supervisor(record)
            return
        errors = open_private(record / SUPERVISOR_LOG)
        try:
            process = subprocess.Popen(
                [sys.executable, "-m", "sagelift.backends.supervisor", str(record)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=errors,
                start_new_session=True,
                close_fds=True,
                pass_fds=pass_fds,
            )
        finally:
            os.close(errors)
        write_holder(record / SUPERVISOR_PID, process.pid)
    except OSError as exc:
        raise BackendError(
            f"could not start the job's supervisor: {exc}", hint="check that Python can run"
        ) from exc


def _fork_supervisor(record: Path) -> None:
    from sagelift.backends import supervisor
    from sagelift.runtime import main as _launcher_cli  # noqa: F401 - loaded once, before the fork

    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid:
        os.waitpid(pid, 0)  # the middle process exits at once; the supervisor is orphaned
        return
    code = 1  # pragma: no cover - below runs in the forked processes only
    try:
        os.setsid()
        # Until the supervisor has its handlers, a stop is the STOP_REQUEST file it reads.
        for signum in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, signal.SIG_IGN)
        if child := os.fork():
            # The pid file exists before the submitter goes on: describe never sees a job
            # with neither a submitter nor a supervisor while one is starting.
            write_holder(record / SUPERVISOR_PID, child)
            os._exit(0)
        devnull = os.open(os.devnull, os.O_RDWR)
        errors = open_private(record / SUPERVISOR_LOG)
        os.dup2(devnull, 0)
        os.dup2(devnull, 1)
        os.dup2(errors, 2)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        package_logger = logging.getLogger("sagelift")
        package_logger.handlers.clear()
        package_logger.propagate = True
        package_logger.setLevel(logging.NOTSET)
        code = supervisor.main([str(record)])
    finally:
        os._exit(code)


def _output_locations(output_path: str, job_name: str, record: Path) -> tuple[Path, str | None]:
    # SageMaker writes <S3OutputPath>/<job>/output/model.tar.gz; a remote output path is packed
    # in the record's tmp dir first, then uploaded by the supervisor.
    if is_remote_uri(output_path):
        return record / "tmp" / "output", f"{output_path.rstrip('/')}/{job_name}/output"
    return Path(output_path) / job_name / "output", None


def _abandon(record: Path, state: JobState, reason: str, *, keep_layout: bool = False) -> JobStatus:
    """Record that the job ended as ``state`` for ``reason`` without its supervisor finishing
    it, and remove what it left: the staged layout (with ``keep_layout``, only its data: the
    model directory stays), the record's tmp dir, partial archives. Returns the new status."""
    run = records.read_record(record).run
    layout = TrainingLayout(record / LAYOUT_DIR)
    if keep_layout:
        from sagelift.backends.artifacts import release_inputs

        release_inputs(layout)
    else:
        shutil.rmtree(layout.root, ignore_errors=True)
    shutil.rmtree(record / "tmp", ignore_errors=True)
    if run is not None:
        remove_partial_artifacts(run.artifacts_dir)
    status = records.read_status(record)
    status = records.advance(
        status,
        state.value,
        state=state,
        failure_reason=reason,
        ended_at=records.now(),
    )
    with contextlib.suppress(OSError):
        records.write_status(record, status)
    return status
