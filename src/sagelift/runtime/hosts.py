"""One job as N hosts on this machine, as SageMaker runs it on N instances (Linux, as root).

The layout root holds one staged layout per host (``<root>/algo-1``, ``<root>/algo-2``, …).
Each host is a forked process tree in its own UTS and mount namespace: its host name is
``algo-i`` (``gethostname()`` answers it), a private ``/etc/hosts`` names every host at its
loopback address in the job's own block (``sagelift.contract.cluster``: from the job's name, so
jobs running at once do not share addresses), and the launcher then shows that host's layout on
``/opt/ml``. Scripts therefore find each other by host name exactly as in the cloud. torchrun's
master port is the first free one from the job's ``local_master_port``, not the toolkit's
fixed 7777: its rendezvous store listens on every address.

How the job ends, as SageMaker ends a multi-instance job:

* it completes only when every host completes;
* the first host that fails fails the job with its reason (``algo-2: AlgorithmError: …``), and
  the other hosts are stopped (SIGTERM, their grace, SIGKILL);
* a stop (SIGTERM, SIGINT, SIGHUP to this process) and the maximum runtime reach every host.

Every line a host writes comes out prefixed with ``[algo-i] ``, as CloudWatch shows one stream
per host. At the end each host's ``model/`` and ``output/data/`` are merged into the root's:
SageMaker packs ``/opt/ml/model`` of every instance into the one ``model.tar.gz`` (developer
guide, ``your-algorithms-training-algo-output.html``), so files of the same name clash; here the
lowest-numbered host's file wins and the clash is logged. Each host's own status is written
beside the job's (``<status>.algo-i.json``).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import logging
import os
import selectors
import shutil
import signal
import socket
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from types import FrameType

from sagelift.contract.cluster import (
    LOCAL_MASTER_PORTS,
    host_names,
    local_master_port,
    render_etc_hosts,
)
from sagelift.contract.layout import TrainingLayout
from sagelift.runtime.failure import write_failure_file
from sagelift.runtime.launcher import LaunchRequest, launch
from sagelift.runtime.processes import become_subreaper
from sagelift.runtime.status import LaunchState, LaunchStatus, now_iso, read_status, write_status

__all__ = [
    "ETC_HOSTS",
    "finish_hosts",
    "host_status_file",
    "namespaces_obstacle",
    "run_hosts",
]

log = logging.getLogger(__name__)

ETC_HOSTS = Path("/etc/hosts")
# <linux/sched.h>, <linux/mount.h>
_CLONE_NEWNS = 0x00020000
_CLONE_NEWUTS = 0x04000000
_MS_BIND = 0x1000
_MS_REC = 0x4000
_MS_PRIVATE = 0x40000
_READ_BYTES = 65536
_POLL_SECONDS = 0.05
#: A host that cannot even enter its namespaces exits with this code.
_SETUP_FAILED = 3


@dataclass
class _Host:
    name: str
    pid: int
    fd: int
    pending: bytes = b""
    returncode: int | None = None


def _exit_code(status: int) -> int:
    # os.waitstatus_to_exitcode, which the launcher's Python floor (3.8) lacks.
    return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


def host_status_file(status_file: Path, host: str) -> Path:
    """Where host ``host`` writes its own launch status, beside the job's."""
    return status_file.with_name(f"{status_file.stem}.{host}{status_file.suffix}")


def namespaces_obstacle() -> str | None:
    """Why this machine cannot run a job as several hosts, or None when it can: it takes
    Linux and root (a UTS and a mount namespace each, and a private ``/etc/hosts``).
    Probed in a forked child, so this process is left as it was."""
    if not sys.platform.startswith("linux"):
        return f"host namespaces are Linux-only (this is {sys.platform})"
    if os.geteuid() != 0:
        return "each host needs its own UTS and mount namespace, which takes root"
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child only reports through its exit code
        libc = ctypes.CDLL(None, use_errno=True)
        os._exit(0 if libc.unshare(_CLONE_NEWUTS | _CLONE_NEWNS) == 0 else 1)
    _, status = os.waitpid(pid, 0)
    if _exit_code(status) != 0:
        return (
            "unshare(CLONE_NEWUTS | CLONE_NEWNS) is refused here (a container without "
            "CAP_SYS_ADMIN?)"
        )
    return None


def _enter_host(name: str, hosts_file: Path) -> None:
    """Become host ``name``: own UTS and mount namespace, host name, ``/etc/hosts``."""
    libc = ctypes.CDLL(None, use_errno=True)

    def call(result: int, what: str) -> None:
        if result != 0:
            raise OSError(ctypes.get_errno(), f"{what}: {os.strerror(ctypes.get_errno())}")

    call(libc.unshare(_CLONE_NEWUTS | _CLONE_NEWNS), "unshare(CLONE_NEWUTS | CLONE_NEWNS)")
    encoded = name.encode()
    call(libc.sethostname(encoded, len(encoded)), f"sethostname({name})")
    call(libc.mount(b"none", b"/", None, _MS_REC | _MS_PRIVATE, None), "making / private")
    call(
        libc.mount(os.fsencode(hosts_file), os.fsencode(ETC_HOSTS), None, _MS_BIND, None),
        f"binding {hosts_file} on {ETC_HOSTS}",
    )


def _job_key(request: LaunchRequest) -> str:
    """What picks the job's loopback block and master port: its name, else its root."""
    return request.job_name or str(request.root.resolve())


def _free_master_port(job: str) -> str:
    """The first port from ``local_master_port(job)`` on (wrapping within
    ``LOCAL_MASTER_PORTS``) that nothing listens on, on any address, as torchrun's store
    binds it. Raises OSError when every port is taken."""
    first = LOCAL_MASTER_PORTS.index(local_master_port(job))
    for step in range(len(LOCAL_MASTER_PORTS)):
        port = LOCAL_MASTER_PORTS[(first + step) % len(LOCAL_MASTER_PORTS)]
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind(("", port))
            except OSError:
                continue
        return str(port)
    raise OSError(errno.EADDRINUSE, "no free port for torchrun's master")


def _start_host(request: LaunchRequest, name: str, count: int, environ: Mapping[str, str]) -> _Host:
    assert request.status_file is not None
    root = request.root / name
    hosts_file = request.root / f"{name}.etc-hosts"
    hosts_file.write_text(
        render_etc_hosts(count, job=_job_key(request), current=name), encoding="ascii"
    )
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the forked host, reported through its status
        code = _SETUP_FAILED
        try:
            os.close(read_fd)
            os.dup2(write_fd, 1)
            os.dup2(write_fd, 2)
            os.close(write_fd)
            for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                signal.signal(signum, signal.SIG_DFL)
            _enter_host(name, hosts_file)
            host_request = replace(
                request,
                root=root,
                status_file=host_status_file(request.status_file, name),
                adopt_orphans=become_subreaper(),
            )
            status = launch(host_request, environ=environ)
            code = status.exit_code if status.exit_code is not None else 1
        except BaseException as exc:  # the host's end must be told, whatever it was
            sys.stderr.write(f"sagelift: host {name} could not run: {exc}\n")
            if isinstance(exc, SystemExit) and isinstance(exc.code, int):
                code = exc.code
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    os.close(write_fd)
    os.set_blocking(read_fd, False)
    return _Host(name=name, pid=pid, fd=read_fd)


class _Cluster:
    def __init__(self, hosts: list[_Host], out_fd: int, status_file: Path) -> None:
        self.hosts = hosts
        self.out_fd = out_fd
        self.status_file = status_file
        self.stopping = False
        self.failed: _Host | None = None

    def on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self.stopping = True
        self.signal_all(signal.SIGTERM)

    def signal_all(self, signum: int) -> None:
        for host in self.hosts:
            if host.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(host.pid, signum)

    def relay(self, host: _Host, chunk: bytes, *, final: bool = False) -> None:
        lines = (host.pending + chunk).split(b"\n")
        host.pending = lines.pop()
        if final and host.pending:
            lines.append(host.pending)
            host.pending = b""
        prefix = f"[{host.name}] ".encode()
        out = b"".join(prefix + line + b"\n" for line in lines)
        while out:
            try:
                written = os.write(self.out_fd, out)
            except InterruptedError:
                continue
            out = out[written:]

    def reap(self) -> None:
        for host in self.hosts:
            if host.returncode is not None:
                continue
            pid, status = os.waitpid(host.pid, os.WNOHANG)
            if not pid:
                continue
            host.returncode = _exit_code(status)
            if host.returncode == 0 or self.stopping or self.failed is not None:
                continue
            own = read_status(host_status_file(self.status_file, host.name))
            if own is not None and own.state in ("Stopped", "MaxRuntimeExceeded"):
                # The maximum runtime (or a stop) reached this host first: it reaches all.
                self.stopping = True
            else:
                # One instance failing fails the job.
                self.failed = host
            self.signal_all(signal.SIGTERM)

    def run(self) -> None:
        selector = selectors.DefaultSelector()
        for host in self.hosts:
            selector.register(host.fd, selectors.EVENT_READ, host)
        open_fds = len(self.hosts)
        while open_fds or any(h.returncode is None for h in self.hosts):
            for key, _ in selector.select(timeout=_POLL_SECONDS) if open_fds else []:
                host = key.data
                try:
                    chunk = os.read(host.fd, _READ_BYTES)
                except BlockingIOError:
                    continue
                if chunk:
                    self.relay(host, chunk)
                else:
                    self.relay(host, b"", final=True)
                    selector.unregister(host.fd)
                    os.close(host.fd)
                    open_fds -= 1
            if not open_fds:
                time.sleep(_POLL_SECONDS / 5)
            self.reap()
        selector.close()


def run_hosts(
    request: LaunchRequest, count: int, *, environ: Mapping[str, str], out_fd: int = 1
) -> LaunchStatus:
    """Run the job staged under ``request.root`` as ``count`` hosts; returns how it ended
    (also written to ``request.status_file``, which it needs). Must run on the main thread of
    a process with no other threads (it forks). Raises ValueError when ``request`` has no
    status file."""
    status_file = request.status_file
    if status_file is None:
        raise ValueError("a job run as several hosts needs a status file")
    started_at = now_iso()
    request = replace(request, master_port=_free_master_port(_job_key(request)))
    cluster = _Cluster([], out_fd, status_file)
    previous = {
        signum: signal.signal(signum, cluster.on_signal)
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
    }
    try:
        for name in host_names(count):
            if cluster.stopping:
                break
            cluster.hosts.append(_start_host(request, name, count, environ))
        cluster.run()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return finish_hosts(
        request.root,
        status_file,
        [(h.name, h.returncode) for h in cluster.hosts],
        failed=None if cluster.failed is None else cluster.failed.name,
        stopping=cluster.stopping,
        started_at=started_at,
    )


def finish_hosts(
    root: Path,
    status_file: Path,
    hosts: list[tuple[str, int | None]],
    *,
    failed: str | None,
    stopping: bool,
    started_at: str,
) -> LaunchStatus:
    """How a job of several hosts ended, from each host's own status (``host_status_file``)
    and exit code (``hosts``: name, exit code, in host order): Failed with ``failed``'s
    reason when a host failed first, Stopped or MaxRuntimeExceeded when that reached the
    hosts, Completed only when every host completed. Merges the hosts' model and output into
    ``root``'s, writes the job's failure or success file there and the status to
    ``status_file``; returns the status. Shared by every way of running the hosts (forked
    namespaces here, containers on the container backend)."""
    status = _job_status(root, status_file, hosts, failed, stopping, started_at)
    _merge_outputs(root, [name for name, _ in hosts])
    if status.state == "Failed" and status.failure_reason:
        write_failure_file(TrainingLayout(root).failure_file, status.failure_reason)
    elif status.state == "Completed":
        layout = TrainingLayout(root)
        layout.success_file.parent.mkdir(parents=True, exist_ok=True)
        layout.success_file.touch()
    write_status(status_file, status)
    return status


def _job_status(
    root: Path,
    status_file: Path,
    hosts: list[tuple[str, int | None]],
    failed: str | None,
    stopping: bool,
    started_at: str,
) -> LaunchStatus:
    statuses = {name: read_status(host_status_file(status_file, name)) for name, _ in hosts}
    codes = dict(hosts)
    opt_ml = next((s.opt_ml for s in statuses.values() if s is not None), "off")
    state: LaunchState
    if failed is not None:
        own = statuses.get(failed)
        reason = own.failure_reason if own is not None and own.failure_reason else None
        if reason is None:
            reason = _read_failure(root / failed) or (
                f"AlgorithmError: the host's launcher exited with code {codes.get(failed)}"
            )
        return LaunchStatus(
            state="Failed",
            exit_code=codes.get(failed),
            signal=None,
            failure_reason=f"{failed}: {reason}",
            started_at=started_at,
            ended_at=now_iso(),
            opt_ml=opt_ml,
        )
    states = [s.state if s is not None else "Failed" for s in statuses.values()]
    if "MaxRuntimeExceeded" in states:
        state = "MaxRuntimeExceeded"
    elif stopping or "Stopped" in states:
        state = "Stopped"
    elif states and all(s == "Completed" for s in states):
        state = "Completed"
    else:
        state = "Failed"
    exit_codes = [code or 0 for _, code in hosts]
    return LaunchStatus(
        state=state,
        exit_code=max(exit_codes, default=0) if state != "Completed" else 0,
        signal=None,
        failure_reason=None,
        started_at=started_at,
        ended_at=now_iso(),
        opt_ml=opt_ml,
    )


def _read_failure(root: Path) -> str | None:
    try:
        return TrainingLayout(root).failure_file.read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def _merge_outputs(root: Path, hosts: list[str]) -> None:
    """Each host's ``model/`` and ``output/data/`` into the root's; the lowest-numbered host
    wins a clash (logged)."""
    target = TrainingLayout(root)
    for attribute in ("model_dir", "output_data_dir"):
        destination: Path = getattr(target, attribute)
        destination.mkdir(parents=True, exist_ok=True)
        owner: dict[Path, str] = {}
        for host in hosts:
            source: Path = getattr(TrainingLayout(root / host), attribute)
            if not source.is_dir():
                continue
            for path in sorted(source.rglob("*")):
                if path.is_dir() and not path.is_symlink():
                    continue
                relative = path.relative_to(source)
                if relative in owner:
                    log.warning(
                        "%s/%s is written by %s and %s; %s's is kept, as they would clash in "
                        "one archive on SageMaker",
                        destination.name,
                        relative,
                        owner[relative],
                        host,
                        owner[relative],
                    )
                    continue
                owner[relative] = host
                (destination / relative).parent.mkdir(parents=True, exist_ok=True)
                try:
                    os.link(path, destination / relative, follow_symlinks=False)
                except OSError as exc:
                    if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK):
                        raise
                    shutil.copy2(path, destination / relative, follow_symlinks=False)
