"""Who holds a job on this machine, and what is left of it when they are gone.

A job supervised here is held first by the process that submits it (it stages the layout) and
then by its supervisor. Each writes a pid file in the record directory (``pid start-time``, the
start time from ``/proc`` so that a reused pid is not taken for the holder). ``describe`` reads
them to tell a job in progress from one whose holder was killed; this module answers that
question and finds and ends the processes a dead holder left behind: every process whose
environment names the job (``SAGELIFT_JOB_NAME``, which the launcher passes on to the training
code and everything it starts).
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from sagelift.private_files import write_private_text

__all__ = [
    "JOB_NAME_ENV",
    "STOP_REQUEST",
    "SUBMITTER_PID",
    "SUPERVISOR_PID",
    "Holder",
    "describe_os_error",
    "end_job_processes",
    "holder_of",
    "job_processes",
    "read_holder",
    "remove_partial_artifacts",
    "write_holder",
]

SUBMITTER_PID = "submitter.pid"
SUPERVISOR_PID = "supervisor.pid"
#: Written by ``stop`` so that a job still being staged is stopped before it starts.
STOP_REQUEST = "stop-requested"
JOB_NAME_ENV = "SAGELIFT_JOB_NAME"


@dataclass(frozen=True, slots=True, kw_only=True)
class Holder:
    """A process holding a job: its pid and, where ``/proc`` tells it, its start time."""

    pid: int
    start: str | None = None

    @property
    def alive(self) -> bool:
        """Whether this very process (not a later one with its pid) still runs; a zombie does
        not count."""
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass
        stat = _stat(self.pid)
        if stat is None:
            return not Path("/proc/self/stat").exists()
        if stat[0] == "Z":
            return False
        return self.start is None or stat[19] == self.start


def _stat(pid: int) -> list[str] | None:
    """Fields of ``/proc/<pid>/stat`` after the command name (state first), or None."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rpartition(")")[2].split()


def holder_of(pid: int) -> Holder:
    stat = _stat(pid)
    return Holder(pid=pid, start=None if stat is None else stat[19])


def write_holder(path: Path, pid: int | None = None) -> None:
    """Write the pid file ``path`` for ``pid`` (default: this process), atomically."""
    holder = holder_of(os.getpid() if pid is None else pid)
    write_private_text(path, f"{holder.pid} {holder.start or ''}".strip())


def read_holder(path: Path) -> Holder | None:
    """The holder a pid file names, or None when there is no (readable) pid file."""
    try:
        fields = path.read_text(encoding="utf-8").split()
        return Holder(pid=int(fields[0]), start=fields[1] if len(fields) > 1 else None)
    except (OSError, ValueError, IndexError):
        return None


def job_processes(job_name: str) -> list[int]:
    """Pids of this user's processes whose environment names the job (Linux; else empty),
    this process excepted."""
    needle = f"{JOB_NAME_ENV}={job_name}".encode()
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            pid = int(entry.name)
            if pid == os.getpid():
                continue
            if needle in (entry / "environ").read_bytes().split(b"\0"):
                found.append(pid)
        except (OSError, ValueError):
            continue
    return sorted(found)


def end_job_processes(job_name: str, *, grace: float = 2.0) -> int:
    """SIGTERM every process of the job, SIGKILL those left after ``grace`` seconds; returns
    how many there were. For a job whose supervisor is gone: nobody else will end them."""
    pids = job_processes(job_name)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while pids and time.monotonic() < deadline:
        pids = [pid for pid in pids if holder_of(pid).alive]
        time.sleep(0.05)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    return len(pids)


def remove_partial_artifacts(directory: Path) -> None:
    """Delete the temporary files packing leaves when it is cut short (``.model.tar.gz.*.tmp``
    and the like); finished archives stay."""
    if not directory.is_dir():
        return
    for path in directory.glob(".*.tar.gz.*.tmp"):
        with contextlib.suppress(OSError):
            path.unlink()


def describe_os_error(exc: OSError, doing: str) -> str:
    """A failure reason for an OS error met while ``doing`` something, e.g. ``"no space left on
    device while packing model.tar.gz at /out/job/output"``."""
    what = "no space left on device" if exc.errno == errno.ENOSPC else exc.strerror or str(exc)
    where = f" ({exc.filename})" if exc.filename else ""
    return f"{what} while {doing}{where}"
