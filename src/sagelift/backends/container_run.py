"""``python -m sagelift.backends.container_run PLAN``: one job's container, start to removal.

The supervisor runs this in place of the launcher. A job of several hosts runs as one
container per host (``sagelift.backends.container_hosts``). It starts the container attached (its
output goes to the job log), turns SIGTERM into ``<cli> kill --signal TERM`` (the launcher,
PID 1 inside, gives the script its grace), kills the container if it outlives the grace, and
removes it at the end (the exit code comes from ``run`` without ``--rm``: the docker CLI
against podman reports 0 with ``--rm``). Its exit code is the container's.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType

from sagelift.backends.container import KILL_MARGIN, ContainerRun
from sagelift.backends.container_hosts import ContainerCluster
from sagelift.errors import SageliftError
from sagelift.images.builder import ContainerCLI, Mount, detect_container_cli
from sagelift.images.runner import run_command

__all__ = ["ContainerJob", "cli_env", "main"]

log = logging.getLogger(__name__)

_CLI_ENV = ("CONTAINERS_CONF", "REGISTRY_AUTH_FILE", "DOCKER_HOST", "DOCKER_CONFIG")


def cli_env() -> dict[str, str]:
    """What the container CLI needs of this process's environment (its configuration)."""
    return {k: os.environ[k] for k in _CLI_ENV if k in os.environ}


class ContainerJob:
    """A running job container: ``start``, ``stop`` (from a signal handler), ``wait``."""

    def __init__(self, plan: ContainerRun, cli: ContainerCLI) -> None:
        self.plan = plan
        self.cli = cli
        self.process: subprocess.Popen[bytes] | None = None
        self.stopping = threading.Event()
        self.exited = threading.Event()

    def _engine(self, *args: str) -> int:
        result = run_command([self.plan.cli, *args], env=cli_env(), timeout=60)
        return result.returncode

    def start(self, *, stdout: int | None = None) -> None:
        """Start the container; its output goes to ``stdout`` (default: this process's)."""
        self.process = self.cli.run(
            self.plan.image,
            entrypoint=self.plan.entrypoint,
            args=self.plan.args,
            env={
                **self.plan.env,
                **{k: os.environ[k] for k in self.plan.inherit if k in os.environ},
            },
            mounts=[Mount(source=Path(s), target=t, read_only=ro) for s, t, ro in self.plan.mounts],
            network=self.plan.network,
            hostname=self.plan.hostname,
            add_hosts=self.plan.add_hosts,
            ip=self.plan.ip,
            aliases=() if self.plan.network == "host" else (self.plan.hostname,),
            name=self.plan.name,
            gpus=self.plan.gpus,
            stdout=stdout,
            stderr=None if stdout is None else subprocess.STDOUT,
        )

    def stop(self) -> None:
        """SIGTERM to the container now, SIGKILL when it outlives the grace (non-blocking)."""
        if self.stopping.is_set():
            return
        self.stopping.set()
        threading.Thread(target=self._stop, daemon=True).start()

    def _stop(self) -> None:
        # The container may not exist yet when the stop comes right after the start.
        while not self.exited.is_set():
            if self._engine("kill", "--signal", "TERM", self.plan.name) == 0:
                break
            if self.exited.wait(0.2):
                return
        if not self.exited.wait(self.plan.grace + KILL_MARGIN):
            log.warning("container %s outlived its grace; killing it", self.plan.name)
            self._engine("kill", "--signal", "KILL", self.plan.name)

    def wait(self) -> int:
        assert self.process is not None
        try:
            returncode = self.process.wait()
        finally:
            self.exited.set()
            self._collect_status()
            self._engine("rm", "--force", self.plan.name)
        return returncode

    def _collect_status(self) -> None:
        source = Path(self.plan.host_state_dir) / "launcher-status.json"
        if source.is_file():
            os.replace(source, self.plan.status_file)


def main(argv: Sequence[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    logging.basicConfig(level=logging.INFO, format="sagelift: %(message)s", stream=sys.stderr)
    plan = ContainerRun.from_json(Path(args[0]).read_text(encoding="utf-8"))
    try:
        cli = detect_container_cli(plan.cli, env=cli_env(), runner=run_command)
        job: ContainerJob | ContainerCluster
        job = ContainerCluster(plan, cli) if plan.host_count > 1 else ContainerJob(plan, cli)
        handler = _on_signal(job)
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, handler)
        job.start()
        return job.wait()
    except SageliftError as exc:
        print(f"sagelift: {exc.message} (hint: {exc.hint})", file=sys.stderr)
        return exc.exit_code


def _on_signal(job: ContainerJob | ContainerCluster) -> Callable[[int, FrameType | None], None]:
    def handle(_signum: int, _frame: FrameType | None) -> None:
        with contextlib.suppress(Exception):
            job.stop()

    return handle


if __name__ == "__main__":
    raise SystemExit(main())
