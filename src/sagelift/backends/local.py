"""The local backend: the job runs on this machine, in this Python or a cached venv, no Docker.

``submit`` stages the ``/opt/ml`` layout under the job's record directory, then starts the
supervisor (``sagelift.backends.supervisor``) in its own session and returns. The supervisor runs
the launcher (``python -m sagelift.runtime``), exactly what a container would run.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import ClassVar

from sagelift import records
from sagelift.backends.base import (
    Capability,
    JobHandle,
    PreparedJob,
)
from sagelift.backends.checkpoint_location import check_location_free
from sagelift.backends.environments import ensure_environment, requirements_file
from sagelift.backends.host import HostJobs, HostSupervised
from sagelift.contract.cluster import MAX_LOCAL_HOSTS
from sagelift.contract.host import detect_host_facts
from sagelift.contract.layout import CONTAINER_ROOT, TrainingLayout
from sagelift.data.channel_inputs import check_channel_inputs
from sagelift.errors import SpecError, UnsupportedFeature
from sagelift.runtime.main import launcher_args
from sagelift.spec import JobSpec, is_remote_uri

__all__ = ["LocalBackend", "check_host_paths", "code_digest_of", "opt_ml_bindable"]

#: What every backend supervised on this machine can do.
HOST_CAPABILITIES = frozenset(
    {
        Capability.DETACH,
        Capability.CHECKPOINTS,
        Capability.GPU,
        Capability.REMOTE_CHANNELS,
        Capability.INTERRUPTION_REHEARSAL,
    }
)


def check_host_paths(spec: JobSpec) -> None:
    """What a job supervised on this machine needs of the spec's paths: a local instance type,
    channels, output and checkpoint paths that are local directories or ``s3://``."""
    if not spec.is_local:
        raise UnsupportedFeature(
            f"instance_type '{spec.instance_type}' is a SageMaker instance type; "
            "this backend runs on this machine",
            hint="use instance_type = 'local' (or 'local_gpu')",
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
    if spec.checkpoint_path is not None and not is_remote_uri(spec.checkpoint_path):
        check_location_free(Path(spec.checkpoint_path))


def check_local_hosts(spec: JobSpec) -> None:
    """What running ``spec`` as several hosts on this machine needs (nothing for one host):
    at most ``MAX_LOCAL_HOSTS``, host namespaces (Linux, root), no MPI (it needs sshd and
    an MPI install in every host)."""
    if spec.distribution is not None and spec.distribution.kind == "mpi":
        raise UnsupportedFeature(
            "distribution 'mpi' needs Open MPI and sshd on every host, which a local job "
            "does not have",
            hint="rehearse with torch_distributed locally, or run mpi on SageMaker in an "
            "image with MPI (the PyTorch and TensorFlow framework images)",
        )
    if spec.instance_count == 1:
        return
    if spec.instance_count > MAX_LOCAL_HOSTS:
        raise UnsupportedFeature(
            f"instance_count={spec.instance_count}: a local job runs at most "
            f"{MAX_LOCAL_HOSTS} hosts on this machine",
            hint=f"use instance_count <= {MAX_LOCAL_HOSTS} locally, or an ml.* instance type "
            "on SageMaker",
        )
    from sagelift.runtime.hosts import namespaces_obstacle

    obstacle = namespaces_obstacle()
    if obstacle is not None:
        raise UnsupportedFeature(
            f"instance_count={spec.instance_count} runs as that many hosts here, and this "
            f"machine cannot give each its own host name and /etc/hosts: {obstacle}",
            hint="run as root on Linux, use instance_count = 1 locally, or an ml.* instance "
            "type on SageMaker",
        )


def check_host_resources(
    spec: JobSpec, *, command_on_host: bool, overlaid: Iterable[Path] = ()
) -> None:
    """This machine's side of a job: the output can be written, the command exists here (with
    ``command_on_host``: not for an image's or an isolated venv's command), and the staging
    copies fit on the disk (``overlaid`` channels are not copied)."""
    from sagelift import preflight

    preflight.check_output_creatable(spec)
    if command_on_host and spec.dependencies == "current":
        path = spec.environment.get("PATH", os.environ.get("PATH"))
        preflight.check_command_found(spec, path=path)
    if spec.source_dir.is_dir():
        preflight.check_free_space(spec, skip=overlaid)


class LocalBackend(HostSupervised):
    """The job runs on this machine, in this Python or a cached venv; channels are shown
    through copy-on-write overlays in the launcher's mount namespace where that works."""

    name: ClassVar[str] = "local"
    capabilities: ClassVar[frozenset[Capability]] = HOST_CAPABILITIES | {Capability.MULTI_INSTANCE}

    def check(self, spec: JobSpec) -> None:
        check_host_paths(spec)
        check_local_hosts(spec)
        if spec.instance_type == "local_gpu" and detect_host_facts().num_gpus == 0:
            raise UnsupportedFeature(
                "instance_type 'local_gpu' asks for a GPU and this machine has none "
                "(nvidia-smi found no GPU)",
                hint="use instance_type = 'local', or run on a machine with an NVIDIA GPU",
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
        if spec.is_byo:
            # A bring-your-own program gets no SM_* variables (SageMaker sets none): it finds
            # its files at /opt/ml only, so the job must be seen there.
            obstacle = "opt_ml = 'off'" if spec.opt_ml == "off" else _bind_obstacle()
            if obstacle is not None:
                raise UnsupportedFeature(
                    "kind = 'byo' reads /opt/ml itself (no SM_* paths), and this job cannot "
                    f"be bound on /opt/ml ({obstacle})",
                    hint="opt_ml must be bindable: set opt_ml = 'auto' and run as root on "
                    "Linux (or with unprivileged user namespaces), or use --backend container",
                )
        check_host_resources(spec, command_on_host=True, overlaid=overlay_channels(spec).values())

    def preflight(self, job: PreparedJob) -> None:
        """Beyond ``check``: every object a manifest channel names exists."""
        check_channel_inputs(job.spec, job.settings.aws)

    def __init__(self) -> None:
        self.host = HostJobs(self.name)

    def submit(self, job: PreparedJob) -> JobHandle:
        with self.host.submission(job):
            python = ensure_environment(job.spec)
            overlays = overlay_channels(job.spec)

            def command(job: PreparedJob, layout: TrainingLayout, status_file: Path) -> list[str]:
                return _launcher_argv(
                    job.spec, layout, status_file, python, overlays, job_name=job.name
                )

            records.update_record(job.record_dir, code_digest=code_digest_of(job.spec))
            return self.host.submit(
                job, command=command, overlays=overlays, env=job.spec.environment
            )


def code_digest_of(spec: JobSpec) -> str:
    """The content digest of the code a local job runs: what the code tarball would hold."""
    from sagelift.sourcedir import source_digest
    from sagelift.uploads import channel_skip_patterns

    return source_digest(spec.source_dir, exclude=(*spec.exclude, *channel_skip_patterns(spec)))


def overlay_channels(spec: JobSpec) -> dict[str, Path]:
    """The channels the launcher can show as overlays: local directories, where this machine
    has mount namespaces (the launcher copies any it then cannot mount)."""
    if _bind_obstacle() is not None:
        return {}
    # A host's share of a sharded channel is a copy: an overlay would show every file.
    sharded = spec.instance_count > 1
    return {
        c.name: Path(c.uri)
        for c in spec.channels
        if not c.is_pipe
        and not is_remote_uri(c.uri)
        and Path(c.uri).is_dir()
        and not (sharded and c.distribution == "ShardedByS3Key")
    }


def _launcher_argv(
    spec: JobSpec,
    layout: TrainingLayout,
    status_file: Path,
    python: str,
    overlays: dict[str, Path],
    *,
    job_name: str,
) -> list[str]:
    return [
        sys.executable,
        "-m",
        "sagelift.runtime",
        *launcher_args(
            spec.entry_point.launcher_arguments(),
            root=layout.root,
            max_runtime=spec.max_runtime,
            grace=spec.stop_grace,
            bind_opt_ml=spec.opt_ml,
            status_file=status_file,
            python=python,
            overlays=overlays,
            byo=spec.is_byo,
            hosts=spec.instance_count,
            processes_per_host=None
            if spec.distribution is None
            else spec.distribution.processes_per_host,
            code_on_path=spec.is_framework,
            contract=spec.contract,
            job_name=job_name,
        ),
    ]


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
