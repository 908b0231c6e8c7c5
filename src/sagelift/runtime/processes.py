"""Process plumbing for the launcher: the stderr relay, the subreaper, leftover processes."""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import sys
import threading
from pathlib import Path

__all__ = [
    "STDERR_TAIL_BYTES",
    "StderrRelay",
    "adopted_children",
    "become_subreaper",
    "die_with_parent",
    "exit_status",
    "kill_adopted",
    "reap_adopted",
]

log = logging.getLogger(__name__)

STDERR_TAIL_BYTES = 16 * 1024
_PR_SET_CHILD_SUBREAPER = 36
_PR_SET_PDEATHSIG = 1


class StderrRelay:
    """Copies a child's stderr pipe to ``out_fd`` as it arrives and keeps its last bytes.

    Reads are raw (no line buffering), so lines reach the launcher's stderr as soon as the
    child writes them. If ``out_fd`` breaks, the relay keeps draining the pipe (so the child
    never blocks on a full pipe) and keeps the tail.
    """

    def __init__(self, pipe_fd: int, out_fd: int, *, limit: int = STDERR_TAIL_BYTES) -> None:
        self._pipe_fd = pipe_fd
        self._out_fd: int | None = out_fd
        self._limit = limit
        self._tail = bytearray()
        self._truncated = False
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="stderr-relay", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout: float) -> bool:
        """Wait for the pipe to close; ``False`` if a leftover process still holds it open."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def tail(self) -> str:
        """The last ``limit`` bytes seen, decoded; a line cut by the limit is dropped."""
        with self._lock:
            data = bytes(self._tail)
            truncated = self._truncated
        if truncated and b"\n" in data:
            data = data[data.index(b"\n") + 1 :]
        return data.decode("utf-8", errors="replace")

    def _run(self) -> None:
        try:
            while chunk := os.read(self._pipe_fd, 65536):
                with self._lock:
                    self._tail += chunk
                    if len(self._tail) > self._limit:
                        del self._tail[: len(self._tail) - self._limit]
                        self._truncated = True
                self._write(chunk)
        except OSError as exc:
            log.warning("reading the job's stderr failed: %s", exc)
        finally:
            os.close(self._pipe_fd)

    def _write(self, chunk: bytes) -> None:
        view = memoryview(chunk)
        while view and self._out_fd is not None:
            try:
                written = os.write(self._out_fd, view)
            except InterruptedError:
                continue
            except OSError:
                self._out_fd = None
                return
            view = view[written:]


def exit_status(returncode: int) -> tuple[int, int | None]:
    """``(exit code, signal)`` for a ``Popen.returncode``: a kill by signal N is ``128 + N``."""
    if returncode < 0:
        return 128 - returncode, -returncode
    return returncode, None


def become_subreaper() -> bool:
    """Adopt orphaned descendants (Linux ``PR_SET_CHILD_SUBREAPER``); ``True`` if in effect.

    PID 1 adopts them anyway. Adopted processes are the job's daemons that left its process
    group (``setsid``); the launcher kills them when the job ends.
    """
    if os.getpid() == 1:
        return True
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    return int(libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)) == 0


def die_with_parent(signum: int, parent: int) -> bool:
    """Have the kernel send ``signum`` to this process when its parent ``parent`` dies (Linux
    ``PR_SET_PDEATHSIG``); ``True`` if in effect. Call it in the child right after the fork:
    if ``parent`` is already gone the signal is sent at once. The signal fires when the *thread*
    that forked this process ends, so the parent must fork from a thread that lives as long as
    it does (its main thread).
    """
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    if int(libc.prctl(_PR_SET_PDEATHSIG, signum, 0, 0, 0)) != 0:
        return False
    if os.getppid() != parent:
        os.kill(os.getpid(), signum)
    return True


def adopted_children(exclude: int) -> list[int]:
    """Pids of this process's children other than ``exclude`` (Linux ``/proc``; else empty)."""
    pids: set[int] = set()
    for children in Path("/proc/self/task").glob("*/children"):
        try:
            pids.update(int(pid) for pid in children.read_text().split())
        except (OSError, ValueError):
            continue
    pids.discard(exclude)
    return sorted(pids)


def kill_adopted(exclude: int, *, rounds: int = 20) -> int:
    """SIGKILL and reap every child other than ``exclude``; returns how many were killed.

    Killing an adopted process can orphan its own children, which are then adopted in turn,
    so this repeats until no child is left (at most ``rounds`` times).
    """
    killed = 0
    for _ in range(rounds):
        pids = adopted_children(exclude)
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
                killed += 1
            except ProcessLookupError:
                pass
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
    return killed


def reap_adopted(exclude: int) -> None:
    """Collect adopted children that have exited, so they do not linger as zombies."""
    for pid in adopted_children(exclude):
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
