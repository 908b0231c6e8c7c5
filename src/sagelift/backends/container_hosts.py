"""A job of several instances as that many containers, one per host, on a network of its own.

SageMaker starts one container per instance; the instances reach each other by host name
(``algo-1`` … ``algo-N``). Here the job's runner (``sagelift.backends.container_run``) creates a
bridge network for the job (``<container>-net``), starts container ``<container>-algo-i`` on it
with host name and network alias ``algo-i``, and, on podman, a fixed address per host
(``<subnet>.<10+i>``, as ``sagelift.contract.cluster`` numbers the local hosts) written into
every container's ``/etc/hosts`` (``--add-host``): podman's CNI backend has no DNS for aliases
without the dnsname plugin. Docker resolves the aliases on a user-defined network itself.

Each container sees its own staged layout ``<root>/algo-i`` on ``/opt/ml`` and the job's one
checkpoint directory ``<root>/checkpoints`` on ``/opt/ml/checkpoints`` (SageMaker syncs every
instance's checkpoints with the one ``CheckpointConfig.S3Uri``).

The job ends as ``sagelift.runtime.hosts`` ends a job of local hosts (``finish_hosts``): the
first host that fails fails the job with its reason and the other containers are stopped; a
stop or the maximum runtime reaches every container; every line comes out prefixed
``[algo-i] ``. The network and the containers are removed at the end.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import logging
import queue
import subprocess
import sys
import threading
from dataclasses import replace
from pathlib import Path
from typing import IO, Any

from sagelift.backends.container import STATE_DIR, ContainerRun
from sagelift.contract.cluster import FIRST_HOST_OCTET, host_names, host_rank
from sagelift.contract.layout import CONTAINER_ROOT, TrainingLayout
from sagelift.errors import InfrastructureError
from sagelift.runtime.failure import write_failure_file
from sagelift.runtime.hosts import finish_hosts, host_status_file
from sagelift.runtime.status import LaunchState, LaunchStatus, now_iso, read_status, write_status

__all__ = ["ContainerCluster", "host_plans", "network_name", "subnet_of"]

#: ``podman run``/``docker run`` exit codes of the engine itself (docker-run(1) "Exit Status").
ENGINE_START_CODES = (125, 126, 127)

log = logging.getLogger(__name__)


def network_name(plan: ContainerRun) -> str:
    """The job's own network: ``<container name>-net``."""
    return f"{plan.name}-net"


def subnet_of(inspect_json: str) -> str | None:
    """The first IPv4 subnet in ``<cli> network inspect NAME`` output (podman: ``subnets``,
    docker: ``IPAM.Config``), or None."""
    data: Any = json.loads(inspect_json)
    entry = data[0] if isinstance(data, list) and data else data
    if not isinstance(entry, dict):
        return None
    subnets = [s.get("subnet") for s in entry.get("subnets") or ()]
    subnets += [c.get("Subnet") for c in (entry.get("IPAM") or {}).get("Config") or ()]
    for subnet in subnets:
        if subnet and ipaddress.ip_network(subnet, strict=False).version == 4:
            return str(subnet)
    return None


def _address(subnet: str, host: str) -> str:
    network = ipaddress.ip_network(subnet, strict=False)
    return str(network.network_address + FIRST_HOST_OCTET + host_rank(host) + 1)


def host_plans(plan: ContainerRun, *, network: str, subnet: str | None) -> list[ContainerRun]:
    """One container per host of ``plan`` (``plan.host_count`` hosts). Pure.

    The mount on ``/opt/ml`` and the state mount move to ``<source>/algo-i``, the root's
    checkpoint directory is added on ``/opt/ml/checkpoints``, and each host gets its name,
    alias, status file (``host_status_file``) and, with a ``subnet``, its address and every
    host's address in ``/etc/hosts``.
    """
    names = host_names(plan.host_count)
    addresses = {h: _address(subnet, h) for h in names} if subnet else {}
    root = next(Path(s) for s, t, _ in plan.mounts if t == str(CONTAINER_ROOT))
    plans = []
    for host in names:
        mounts = [
            (f"{source}/{host}", target, read_only)
            if target in (str(CONTAINER_ROOT), STATE_DIR)
            else (source, target, read_only)
            for source, target, read_only in plan.mounts
        ]
        mounts.append(
            (str(TrainingLayout(root).checkpoint_dir), f"{CONTAINER_ROOT}/checkpoints", False)
        )
        plans.append(
            replace(
                plan,
                name=f"{plan.name}-{host}",
                mounts=tuple(mounts),
                host_count=1,
                hostname=host,
                network=network,
                ip=addresses.get(host),
                add_hosts=dict(addresses),
                status_file=str(host_status_file(Path(plan.status_file), host)),
                host_state_dir=str(Path(plan.host_state_dir) / host),
            )
        )
    return plans


class ContainerCluster:
    """The containers of a job of several hosts: ``start``, ``stop`` (from a signal handler),
    ``wait`` (returns the job's exit code once every container is gone)."""

    def __init__(self, plan: ContainerRun, cli: Any, *, out: IO[bytes] | None = None) -> None:
        from sagelift.backends.container_run import ContainerJob

        self.plan = plan
        self.cli = cli
        self.out = out if out is not None else sys.stdout.buffer
        self.network = network_name(plan)
        self.jobs: list[ContainerJob] = []
        self.hosts: list[str] = []
        self.stopping = threading.Event()
        self.failed: str | None = None
        self.lock = threading.Lock()
        self.ended: queue.Queue[tuple[str, int]] = queue.Queue()
        self.relays: list[threading.Thread] = []
        self.started_at = now_iso()
        self.root = next(Path(s) for s, t, _ in plan.mounts if t == str(CONTAINER_ROOT))

    def _engine(self, *args: str) -> subprocess.CompletedProcess[str]:
        from sagelift.backends.container_run import cli_env
        from sagelift.images.runner import run_command

        return run_command([self.plan.cli, *args], env=cli_env(), timeout=60)

    def _create_network(self) -> str | None:
        self._engine("network", "rm", "--force", self.network)  # a stale one of a killed run
        created = self._engine("network", "create", self.network)
        if created.returncode != 0:
            raise InfrastructureError(
                f"{self.plan.cli} network create {self.network} failed: "
                + (created.stderr or created.stdout).strip(),
                hint="check that the container engine can create bridge networks here "
                "(rootless podman needs slirp4netns or pasta)",
            )
        if self.plan.cli == "docker":
            return None  # docker's own DNS resolves the aliases
        inspected = self._engine("network", "inspect", self.network)
        subnet = subnet_of(inspected.stdout) if inspected.returncode == 0 else None
        if subnet is None:
            raise InfrastructureError(
                f"{self.plan.cli} network {self.network} has no IPv4 subnet",
                hint="check the container engine's network configuration",
            )
        return subnet

    def start(self) -> None:
        from sagelift.backends.container_run import ContainerJob

        subnet = self._create_network()
        for host_plan in host_plans(self.plan, network=self.network, subnet=subnet):
            if self.stopping.is_set():
                break
            host = host_plan.hostname
            _prepare_host(self.root / host, Path(host_plan.host_state_dir))
            job = ContainerJob(host_plan, self.cli)
            job.start(stdout=subprocess.PIPE)
            self.jobs.append(job)
            self.hosts.append(host)
            relay = threading.Thread(target=self._relay, args=(host, job), daemon=True)
            relay.start()
            self.relays.append(relay)
            threading.Thread(target=self._wait_host, args=(host, job), daemon=True).start()

    def _relay(self, host: str, job: Any) -> None:
        prefix = f"[{host}] ".encode()
        assert job.process is not None
        assert job.process.stdout is not None
        for line in job.process.stdout:
            with self.lock:
                self.out.write(prefix + line if line.endswith(b"\n") else prefix + line + b"\n")
                self.out.flush()

    def _wait_host(self, host: str, job: Any) -> None:
        self.ended.put((host, job.wait()))

    def stop(self) -> None:
        """Stop every container (SIGTERM, its grace, SIGKILL); non-blocking."""
        self.stopping.set()
        for job in list(self.jobs):
            job.stop()

    def wait(self) -> int:
        codes: dict[str, int | None] = dict.fromkeys(self.hosts)
        try:
            pending = len(self.hosts)
            while pending:
                try:
                    host, code = self.ended.get(timeout=0.5)
                except queue.Empty:
                    continue
                pending -= 1
                codes[host] = code
                self._host_ended(host, code)
            for relay in self.relays:
                relay.join(timeout=10)
        finally:
            self._engine("network", "rm", "--force", self.network)
        status = finish_hosts(
            self.root,
            Path(self.plan.status_file),
            [(h, codes[h]) for h in self.hosts],
            failed=self.failed,
            stopping=self.stopping.is_set(),
            started_at=self.started_at,
        )
        if status.state == "Completed":
            return 0
        return status.exit_code or 1

    def _host_ended(self, host: str, code: int) -> None:
        own_file = host_status_file(Path(self.plan.status_file), host)
        own = read_status(own_file)
        if own is None:
            # An image's own entry point (a bring-your-own or toolkit image) reports through
            # its exit code and /opt/ml/output/failure only.
            own = _status_from_exit(self.root / host, code, stopped=self.stopping.is_set())
            write_status(own_file, own)
        if code == 0 or self.stopping.is_set() or self.failed is not None:
            return
        if own.state in ("Stopped", "MaxRuntimeExceeded"):
            self.stop()  # the maximum runtime (or a stop) reached this host first
        else:
            self.failed = host  # one instance failing fails the job
            self.stop()


def _prepare_host(layout_root: Path, state_dir: Path) -> None:
    """The host's state directory, and a real (empty) ``checkpoints`` directory in its layout
    for the job's checkpoint mount: staging links it to the job's, a link the container
    could not follow."""
    state_dir.mkdir(parents=True, exist_ok=True)
    checkpoints = TrainingLayout(layout_root).checkpoint_dir
    if checkpoints.is_symlink():
        checkpoints.unlink()
    checkpoints.mkdir(parents=True, exist_ok=True)


def _status_from_exit(root: Path, code: int, *, stopped: bool) -> LaunchStatus:
    reason = None
    state: LaunchState
    if code == 0:
        state = "Completed"
    elif stopped:
        state = "Stopped"
    else:
        state = "Failed"
        try:
            reason = TrainingLayout(root).failure_file.read_text(encoding="utf-8").strip()
        except OSError:
            reason = ""
        if not reason and code in ENGINE_START_CODES:
            reason = (
                f"InfrastructureError: the host's container could not be started (the "
                f"container engine exited with code {code}); its error is in the job's log"
            )
        reason = reason or f"AlgorithmError: the container exited with code {code}"
        with contextlib.suppress(OSError):
            write_failure_file(TrainingLayout(root).failure_file, reason)
    return LaunchStatus(
        state=state,
        exit_code=code,
        signal=None,
        failure_reason=reason,
        started_at=now_iso(),
        ended_at=now_iso(),
        opt_ml="off",
    )
