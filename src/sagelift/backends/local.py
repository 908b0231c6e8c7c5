"""The local backend: the job runs on this machine, in this Python or a cached venv, no Docker.

``submit`` stages the ``/opt/ml`` layout under the job's record directory, then starts the
supervisor (``sagelift.backends.supervisor``) in its own session and returns. The supervisor runs
the launcher (``python -m sagelift.runtime``), exactly what a container would run.
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
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from sagelift import records
from sagelift.backends.artifacts import aws_to_dict
from sagelift.backends.base import (
    Capability,
    JobHandle,
    JobState,
    JobStatus,
    PreparedJob,
)
from sagelift.backends.environments import ensure_environment, requirements_file
from sagelift.backends.staging import stage_layout
from sagelift.contract.host import detect_host_facts
from sagelift.contract.layout import CONTAINER_ROOT, TrainingLayout
from sagelift.errors import BackendError, SpecError, UnsupportedFeature
from sagelift.private_files import open_private
from sagelift.spec import JobSpec, is_remote_uri

__all__ = ["LocalBackend", "opt_ml_bindable", "start_supervisor"]

LAYOUT_DIR = "opt-ml"
SUPERVISOR_LOG = "supervisor.log"
POLL_SECONDS = 0.05


class LocalBackend:
    name: ClassVar[str] = "local"
    #: Local directory channels are shown through copy-on-write overlays in the launcher's
    #: mount namespace where that works; a container sees copies.
    channel_overlays: ClassVar[bool] = True
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {Capability.DETACH, Capability.CHECKPOINTS, Capability.GPU}
    )

    def check(self, spec: JobSpec) -> None:
        if not spec.is_local:
            raise UnsupportedFeature(
                f"instance_type '{spec.instance_type}' is a SageMaker instance type; "
                "the local backend runs on this machine",
                hint="use instance_type = 'local' (or 'local_gpu')",
            )
        if spec.instance_type == "local_gpu" and detect_host_facts().num_gpus == 0:
            raise UnsupportedFeature(
                "instance_type 'local_gpu' asks for a GPU and this machine has none "
                "(nvidia-smi found no GPU)",
                hint="use instance_type = 'local', or run on a machine with an NVIDIA GPU",
            )
        for channel in spec.channels:
            if is_remote_uri(channel.uri) and not channel.uri.startswith("s3://"):
                raise UnsupportedFeature(
                    f"channels.{channel.name}: '{channel.uri}' is neither a local directory "
                    "nor an s3:// URI",
                    hint="download the data and point the channel at the directory",
                )
        for key, value in (
            ("output_path", spec.output_path),
            ("checkpoint_path", spec.checkpoint_path),
        ):
            if value is not None and is_remote_uri(value) and not value.startswith("s3://"):
                raise UnsupportedFeature(
                    f"{key}: '{value}' is neither a local directory nor an s3:// URI",
                    hint=f"set {key} to a local directory or s3://bucket/prefix",
                )
        if spec.dependencies == "isolated" and requirements_file(spec) is None:
            raise SpecError(
                "dependencies = 'isolated' needs a requirements file",
                hint="add requirements.txt to the source dir or set requirements = 'path'",
                field="dependencies",
            )
        if spec.opt_ml == "require" and not opt_ml_bindable():
            raise UnsupportedFeature(
                "opt_ml = 'require', but this machine cannot bind the job on /opt/ml "
                f"({_bind_obstacle()})",
                hint="set opt_ml = 'auto' (paths then point into .sagelift/jobs/<job>/opt-ml) "
                "or run as root on Linux",
            )

    def submit(self, job: PreparedJob) -> JobHandle:
        spec = job.spec
        record = job.record_dir
        layout = TrainingLayout(record / LAYOUT_DIR)
        # The config files name container paths, as SageMaker's do, whether or not this machine
        # can show the layout on /opt/ml; the SM_* variables follow where it really is.
        view = TrainingLayout(CONTAINER_ROOT)
        python = ensure_environment(spec)

        status = JobStatus(
            name=job.name,
            backend=self.name,
            state=JobState.IN_PROGRESS,
            secondary_status="Starting",
            created_at=job.created_at,
            transitions=(("Starting", job.created_at),),
        )
        records.write_status(record, status)
        overlays = overlay_channels(spec) if self.channel_overlays else {}
        stage_layout(spec, job, layout, view, skip=set(overlays))
        status = records.advance(status, "Downloading")
        records.write_status(record, status)

        launcher_status = record / "launcher-status.json"
        run: dict[str, Any] = {
            "layout_root": str(layout.root),
            "launcher": self.launcher_command(job, layout, launcher_status, python),
            "launcher_status": str(launcher_status),
            "env": {
                **spec.environment,
                "SAGELIFT_BACKEND": self.name,
                "SAGELIFT_JOB_NAME": job.name,
            },
            **_output_locations(spec.output_path, job.name, record),
            # A rehearsal of interruptions needs somewhere to keep checkpoints between attempts.
            "checkpoint_path": spec.checkpoint_path
            or (str(record / "checkpoints") if spec.interruptions else None),
            "interruptions": list(spec.interruptions),
            "aws": aws_to_dict(job.settings.aws),
        }
        data = records.read_job(record)
        data["run"] = run
        records.write_json_atomic(record / records.JOB_FILE, data)
        start_supervisor(record)
        return JobHandle(backend=self.name, name=job.name, record_dir=record)

    def launcher_command(
        self, job: PreparedJob, layout: TrainingLayout, status_file: Path, python: str
    ) -> list[str]:
        """The command the supervisor runs: the launcher on this machine. Other backends that
        reuse the local machinery (containers) override this."""
        overlays = overlay_channels(job.spec) if self.channel_overlays else {}
        return _launcher_argv(job.spec, layout, status_file, python, overlays)

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

    def logs(self, handle: JobHandle, *, follow: bool = False) -> Iterator[str]:
        path = handle.record_dir / records.LOG_FILE
        with open(path, "rb") as stream:
            pending = b""
            delay = 0.002
            while True:
                chunk = stream.read(65536)
                if chunk:
                    delay = 0.002
                    pending += chunk
                    *lines, pending = pending.split(b"\n")
                    for line in lines:
                        yield line.decode("utf-8", errors="replace")
                    continue
                if not follow or self.describe(handle).state.is_terminal:
                    # One more read: the job may have written its last lines meanwhile.
                    rest = pending + stream.read()
                    for line in rest.split(b"\n"):
                        if line:
                            yield line.decode("utf-8", errors="replace")
                    return
                time.sleep(delay)
                delay = min(delay * 2, POLL_SECONDS)

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


def start_supervisor(record: Path) -> None:
    """Start the detached supervisor of the job whose ``job.json`` (with ``run``) is in ``record``.

    From a single-threaded process (the CLI) it is a double fork of this process, which has the
    modules loaded already; otherwise (a library user's threads) a new interpreter. Either way it
    runs in its own session, so Ctrl-C in the terminal reaches sagelift, not the job. The log
    and ``supervisor.log`` are created 0600. Raises BackendError when the process cannot be
    started.
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


def overlay_channels(spec: JobSpec) -> dict[str, Path]:
    """The channels the launcher can show as overlays: local directories, where this machine
    has mount namespaces (the launcher copies any it then cannot mount)."""
    if _bind_obstacle() is not None:
        return {}
    return {
        c.name: Path(c.uri)
        for c in spec.channels
        if not is_remote_uri(c.uri) and Path(c.uri).is_dir()
    }


def _output_locations(output_path: str, job_name: str, record: Path) -> dict[str, str]:
    # SageMaker writes <S3OutputPath>/<job>/output/model.tar.gz; a remote output path is packed
    # in the record's tmp dir first, then uploaded by the supervisor.
    if is_remote_uri(output_path):
        return {
            "artifacts_dir": str(record / "tmp" / "output"),
            "output_uri": f"{output_path.rstrip('/')}/{job_name}/output",
        }
    return {"artifacts_dir": str(Path(output_path) / job_name / "output")}


def _launcher_argv(
    spec: JobSpec,
    layout: TrainingLayout,
    status_file: Path,
    python: str,
    overlays: dict[str, Path],
) -> list[str]:
    argv = [
        sys.executable,
        "-m",
        "sagelift.runtime",
        "--root",
        str(layout.root),
        "--max-runtime",
        str(spec.max_runtime),
        "--grace",
        str(spec.stop_grace),
        "--bind-opt-ml",
        spec.opt_ml,
        "--status-file",
        str(status_file),
        "--python",
        python,
    ]
    for name, directory in sorted(overlays.items()):
        argv += ["--overlay-channel", f"{name}={directory}"]
    argv += spec.entry_point.launcher_arguments()
    return argv


def opt_ml_bindable() -> bool:
    """Whether a job can see its layout on /opt/ml through a private mount namespace."""
    return _bind_obstacle() is None


def _bind_obstacle() -> str | None:
    if not sys.platform.startswith("linux"):
        return f"mount namespaces are Linux-only (this is {sys.platform})"
    if shutil.which("true") is None:  # pragma: no cover - a broken PATH, not a real platform
        return "no usable PATH"
    if os.geteuid() == 0:
        return None
    if not CONTAINER_ROOT.is_dir():
        return "/opt/ml does not exist and only root can create it"
    try:
        enabled = Path("/proc/sys/kernel/unprivileged_userns_clone").read_text().strip()
    except OSError:
        enabled = "1"
    if enabled == "0":
        return "unprivileged user namespaces are disabled"
    return None


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
