"""Jobs supervised on this machine: what the local and container backends share.

:class:`HostJobs` stages the ``/opt/ml`` layout under the job's record directory, records the
supervisor's plan (a :class:`~sagelift.job.LocalRun`) and starts the supervisor
(:mod:`sagelift.backends.supervisor`) in its own session; it then answers describe / logs /
watch / stop from the record. A backend composes it with the command the supervisor runs: the
launcher on this machine, or a container runner.
"""

from __future__ import annotations

import logging
import os
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
from sagelift.backends.loglines import LineSplitter
from sagelift.backends.staging import stage_layout
from sagelift.contract.layout import CONTAINER_ROOT, TrainingLayout
from sagelift.errors import BackendError
from sagelift.job import JobHandle, JobState, JobStatus, LocalRun, PreparedJob
from sagelift.private_files import open_private
from sagelift.spec import is_remote_uri

__all__ = ["LAYOUT_DIR", "HostJobs", "LauncherCommand", "start_supervisor"]

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

    def submit(
        self,
        job: PreparedJob,
        *,
        command: LauncherCommand,
        overlays: Mapping[str, Path],
        env: Mapping[str, str],
    ) -> JobHandle:
        """Stage the layout (``overlays`` are left to the launcher), record the plan, start the
        supervisor. Raises BackendError when the supervisor cannot start."""
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
            self._start(job, command, overlays, env, checkpoint_path, lock)
        except BaseException:
            if lock is not None:
                lock.discard()
            raise
        finally:
            if lock is not None:
                lock.close()
        return JobHandle(backend=self.backend, name=job.name, record_dir=job.record_dir)

    def _start(
        self,
        job: PreparedJob,
        command: LauncherCommand,
        overlays: Mapping[str, Path],
        env: Mapping[str, str],
        checkpoint_path: str | None,
        lock: LocationLock | None,
    ) -> None:
        spec = job.spec
        record = job.record_dir
        layout = TrainingLayout(record / LAYOUT_DIR)
        # The config files name container paths, as SageMaker's do, whether or not this machine
        # can show the layout on /opt/ml; the SM_* variables follow where it really is.
        view = TrainingLayout(CONTAINER_ROOT)
        status = JobStatus(
            name=job.name,
            backend=self.backend,
            state=JobState.IN_PROGRESS,
            secondary_status="Starting",
            created_at=job.created_at,
            transitions=(("Starting", job.created_at),),
        )
        records.write_status(record, status)
        stage_layout(spec, job, layout, view, skip=set(overlays))
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
            },
            artifacts_dir=artifacts_dir,
            output_uri=output_uri,
            checkpoint_path=checkpoint_path,
            interruptions=spec.interruptions,
            overlay_channels=tuple(sorted(overlays)),
            max_runtime=spec.max_runtime,
            aws=job.settings.aws,
        )
        records.update_record(record, run=run)
        start_supervisor(record, pass_fds=() if lock is None else (lock.fd,))

    def describe(self, handle: JobHandle) -> JobStatus:
        status = records.read_status(handle.record_dir)
        if status.state.is_terminal or _supervisor_alive(handle.record_dir):
            return status
        # Re-read: the supervisor may have finished between the two reads.
        status = records.read_status(handle.record_dir)
        if status.state.is_terminal or not (handle.record_dir / "supervisor.pid").exists():
            return status
        return records.advance(
            status,
            "Failed",
            state=JobState.FAILED,
            failure_reason="InternalError: the job's supervisor process is gone "
            "(machine restarted or process killed)",
            ended_at=records.now(),
        )

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
        pid = _supervisor_pid(handle.record_dir)
        deadline = time.monotonic() + 5
        while pid is None and time.monotonic() < deadline:
            # Just submitted: the supervisor has not written its pid yet.
            time.sleep(POLL_SECONDS)
            pid = _supervisor_pid(handle.record_dir)
        if pid is None:
            return
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return


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
            subprocess.Popen(
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
    except OSError as exc:
        raise BackendError(
            f"could not start the job's supervisor: {exc}", hint="check that Python can run"
        ) from exc


def _fork_supervisor(record: Path) -> None:
    from sagelift.backends import supervisor
    from sagelift.runtime import cli as _launcher_cli  # noqa: F401 - loaded once, before the fork

    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid:
        os.waitpid(pid, 0)  # the middle process exits at once; the supervisor is orphaned
        return
    code = 1  # pragma: no cover - below runs in the forked processes only
    try:
        os.setsid()
        if os.fork():
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


def _supervisor_pid(record_dir: Path) -> int | None:
    try:
        return int((record_dir / "supervisor.pid").read_text())
    except (OSError, ValueError):
        return None


def _supervisor_alive(record_dir: Path) -> bool:
    pid = _supervisor_pid(record_dir)
    if pid is None:
        # Not written yet: the supervisor is starting.
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
