"""The launcher process of a supervised job: started by the supervisor, dying with it.

The launcher is this Python's ``sagelift.runtime`` (run in a fork of the supervisor, with no
second interpreter to start) or any other argv, such as a container runner (run as a
subprocess). Either way it gets SIGTERM when the supervisor dies (``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from typing import Any

from sagelift.job import LocalRun
from sagelift.runtime.processes import die_with_parent

__all__ = ["LAUNCHER_PREFIX", "ForkedLauncher", "start_launcher"]

LAUNCHER_PREFIX = [sys.executable, "-m", "sagelift.runtime"]


class ForkedLauncher:
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


def start_launcher(run: LocalRun, log_file: Any) -> Any:
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
        return ForkedLauncher(pid)
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
