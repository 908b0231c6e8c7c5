"""The container backend: jobs supervised on this machine, each inside an image.

``submit`` makes the image ready (``image.uri`` or the official framework image, pulled when
missing; or the ``deps`` image built from the requirements once and reused by its content
tag), then stages ``/opt/ml`` exactly as the local backend does (both compose
``sagelift.backends.host.HostJobs``). The supervisor runs
``python -m sagelift.backends.container_run PLAN``, which runs the container the way SageMaker
does (host network, hostname ``algo-1``, the layout on ``/opt/ml``), stops it with SIGTERM then
SIGKILL, and removes it afterwards. A job of several instances runs as one container per host
on a network of the job's own (``sagelift.backends.container_hosts``).

The launcher is not taken from the image: this sagelift package is mounted read-only at
``/opt/sagelift/sagelift``, so any image with ``python3`` (3.8+) runs jobs. A framework job
(``kind = "framework"``) and a bring-your-own job run the image's own entry point with
``train``, as SageMaker starts them: the framework image's sagemaker-training toolkit finds the
code staged at ``/opt/ml/code`` (its ``sagemaker_submit_directory``), installs its
``requirements.txt`` and runs ``sagemaker_program``. Without the launcher inside, the
supervisor enforces the max runtime, as the platform does.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import ClassVar, Literal

from sagelift import records
from sagelift.backends.base import (
    Capability,
    JobHandle,
    PreparedJob,
    check_byo_image,
    check_framework_image,
)
from sagelift.backends.host import HostJobs, HostSupervised
from sagelift.backends.local import (
    HOST_CAPABILITIES,
    check_host_paths,
    check_host_resources,
    code_digest_of,
)
from sagelift.contract.cluster import MAX_LOCAL_HOSTS
from sagelift.contract.environment import local_job_arn
from sagelift.contract.host import detect_host_facts
from sagelift.contract.layout import CONTAINER_ROOT, TrainingLayout
from sagelift.data.channel_inputs import check_channel_inputs
from sagelift.errors import InfrastructureError, UnsupportedFeature
from sagelift.job import ContainerImage
from sagelift.package import package_dir
from sagelift.runtime.floor import REFUSAL_SOURCE
from sagelift.runtime.main import launcher_args
from sagelift.spec import JobSpec

__all__ = [
    "HOSTNAME",
    "LAUNCHER_ROOT",
    "STATE_DIR",
    "ContainerBackend",
    "ContainerRun",
    "container_name",
    "container_run",
    "gpu_obstacle",
]

HOSTNAME = "algo-1"
#: SageMaker's argument to a training image (``docker run IMAGE train``).
TRAIN_ARGUMENT = "train"
LAUNCHER_ROOT = "/opt/sagelift"
STATE_DIR = "/opt/sagelift-state"
PLAN_FILE = "container.json"
HOST_STATE_DIR = "container-state"
#: Seconds past the launcher's own grace before the container is killed from outside.
KILL_MARGIN = 5.0
CDI_DIRS = (Path("/etc/cdi"), Path("/var/run/cdi"))

# Any image's python3 runs the launcher from the mounted package: no PYTHONPATH is set on the
# container (that would replace the image's own), and too old a Python gets a sentence in
# output/failure and the launcher status (sagelift.runtime.floor).
BOOTSTRAP = (
    REFUSAL_SOURCE
    + f"sys.path.insert(0, {LAUNCHER_ROOT!r})\n"
    + "from sagelift.runtime.main import main\n"
    + "sys.exit(main(sys.argv[1:]))\n"
)


@dataclass(frozen=True, slots=True, kw_only=True)
class ContainerRun:
    """Everything ``container_run`` needs to run one job's container; JSON-serialisable.

    ``mounts`` are ``(host path, container path, read_only)``; ``env`` values reach the
    container through the client's environment, never its argv.
    """

    cli: Literal["podman", "docker"]
    image: str
    name: str
    args: tuple[str, ...]
    #: ``--entrypoint``: ``python3`` runs the mounted launcher; None keeps the image's own
    #: ENTRYPOINT (a bring-your-own job, run as ``IMAGE train``).
    entrypoint: str | None = "python3"
    env: dict[str, str] = field(default_factory=dict)
    mounts: tuple[tuple[str, str, bool], ...] = ()
    gpus: bool = False
    grace: float = 120.0
    status_file: str = ""
    host_state_dir: str = ""
    #: Names of variables passed on from the runner's own environment when set there
    #: (credentials: never written into the plan).
    inherit: tuple[str, ...] = ()
    #: How many hosts run the job: above 1, ``mounts`` name the job's layout root, and
    #: ``sagelift.backends.container_hosts`` runs one container per host on a network of the
    #: job's own, each with ``<root>/algo-i`` on /opt/ml.
    host_count: int = 1
    #: Where this container sits: host networking as ``algo-1`` at 127.0.0.1 for one host;
    #: a job's own network, an address and an alias per host for several.
    hostname: str = HOSTNAME
    network: str = "host"
    ip: str | None = None
    add_hosts: dict[str, str] = field(default_factory=lambda: {HOSTNAME: "127.0.0.1"})

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ContainerRun:
        data = json.loads(text)
        data["args"] = tuple(data["args"])
        data["inherit"] = tuple(data.get("inherit", ()))
        data["mounts"] = tuple(tuple(m) for m in data["mounts"])
        return cls(**data)


def container_name(job_name: str) -> str:
    """``sagelift-<job>``: the container's name, unique as the job's."""
    return f"sagelift-{job_name}"


def runs_own_entrypoint(spec: JobSpec) -> bool:
    """The image's own entry point runs the job (a framework or bring-your-own job), not
    sagelift's launcher."""
    return spec.is_byo or spec.is_framework


def container_args(spec: JobSpec) -> tuple[str, ...]:
    """The container's arguments: ``python3 -c BOOTSTRAP`` and the launcher's own; for a job
    that runs the image's own entry point ``train``, as SageMaker starts such an image."""
    if runs_own_entrypoint(spec):
        return (TRAIN_ARGUMENT,)
    args = launcher_args(
        spec.entry_point.launcher_arguments(),
        root=CONTAINER_ROOT,
        max_runtime=spec.max_runtime,
        grace=spec.stop_grace,
        bind_opt_ml="off",
        status_file=f"{STATE_DIR}/launcher-status.json",
        python="python3",
        contract=spec.contract,
        processes_per_host=None
        if spec.distribution is None
        else spec.distribution.processes_per_host,
    )
    return ("-c", BOOTSTRAP, *args)


def container_run(
    *,
    job: PreparedJob,
    cli: Literal["podman", "docker"],
    image: str,
    layout: TrainingLayout,
    status_file: Path,
    package_dir: Path,
) -> ContainerRun:
    """The container for ``job``: pure, from the job, its image and where things are."""
    spec = job.spec
    state = job.record_dir / HOST_STATE_DIR
    return ContainerRun(
        cli=cli,
        image=image,
        name=container_name(job.name),
        args=container_args(spec),
        entrypoint=None if runs_own_entrypoint(spec) else "python3",
        env={
            **spec.environment,
            "SAGELIFT_BACKEND": ContainerBackend.name,
            "SAGELIFT_JOB_NAME": job.name,
            "TRAINING_JOB_NAME": job.name,
            "TRAINING_JOB_ARN": local_job_arn(job.name, job.region),
            "PYTHONUNBUFFERED": "1",
        },
        mounts=(
            (str(layout.root), str(CONTAINER_ROOT), False),
            (str(package_dir), f"{LAUNCHER_ROOT}/sagelift", True),
            (str(state), STATE_DIR, False),
        ),
        gpus=spec.instance_type == "local_gpu",
        grace=spec.stop_grace,
        status_file=str(status_file),
        host_state_dir=str(state),
        host_count=spec.instance_count,
    )


def gpu_obstacle(cli: str, *, num_gpus: int, cdi_dirs: tuple[Path, ...] = CDI_DIRS) -> str | None:
    """Why a GPU job cannot run in a container here, or None when it can."""
    if num_gpus == 0:
        return "this machine has no NVIDIA GPU (nvidia-smi found none)"
    if cli == "podman" and not any(d.is_dir() and any(d.glob("nvidia*")) for d in cdi_dirs):
        return "podman has no NVIDIA CDI spec (/etc/cdi/nvidia.yaml)"
    return None


def check_container_hosts(spec: JobSpec) -> None:
    """What running ``spec`` as one container per host needs (nothing for one host): at most
    ``MAX_LOCAL_HOSTS`` containers, and no MPI (the launcher does not start mpirun and sshd
    across containers)."""
    if spec.distribution is not None and spec.distribution.kind == "mpi":
        raise UnsupportedFeature(
            "distribution 'mpi' needs mpirun and sshd across the containers, which the "
            "container backend does not start",
            hint="rehearse with torch_distributed here, or run mpi on SageMaker in an image "
            "with MPI (the PyTorch and TensorFlow framework images)",
        )
    if spec.instance_count > MAX_LOCAL_HOSTS:
        raise UnsupportedFeature(
            f"instance_count={spec.instance_count}: the container backend runs at most "
            f"{MAX_LOCAL_HOSTS} containers (hosts) on this machine",
            hint=f"use instance_count <= {MAX_LOCAL_HOSTS} here, or an ml.* instance type "
            "on SageMaker",
        )


class ContainerBackend(HostSupervised):
    """Runs the job in a container image on this machine (podman or docker)."""

    name: ClassVar[str] = "container"
    capabilities: ClassVar[frozenset[Capability]] = HOST_CAPABILITIES | {Capability.MULTI_INSTANCE}

    def __init__(self) -> None:
        self.host = HostJobs(self.name)

    def check(self, spec: JobSpec) -> None:
        """Paths as on the host, a container CLI installed, GPUs passed through for
        ``local_gpu``. ``opt_ml`` and ``dependencies`` do not apply: the container always has
        /opt/ml and the image holds the dependencies."""
        from sagelift.images.runner import INSTALL_HINT

        check_host_paths(spec)
        check_container_hosts(spec)
        if not any(shutil.which(name) for name in ("podman", "docker")):
            raise InfrastructureError(
                "the container backend needs podman or docker, and neither is installed",
                hint=INSTALL_HINT,
            )
        if spec.instance_type == "local_gpu":
            cli = "podman" if shutil.which("podman") else "docker"
            obstacle = gpu_obstacle(cli, num_gpus=detect_host_facts().num_gpus)
            if obstacle is not None:
                raise UnsupportedFeature(
                    f"instance_type 'local_gpu' runs the container with GPUs, but {obstacle}",
                    hint="use instance_type = 'local', or install the NVIDIA Container Toolkit "
                    "(nvidia-ctk cdi generate --output=/etc/cdi/nvidia.yaml) on a GPU machine",
                )
        # The command lives in the image, not on this machine's PATH.
        check_host_resources(spec, command_on_host=False)

    def preflight(self, job: PreparedJob) -> None:
        """Beyond ``check``: every object a manifest channel names exists (the image is made
        ready at submission); a bring-your-own job names its image, a framework job a known
        framework image."""
        check_byo_image(job.spec, job.settings.image.uri)
        check_framework_image(job.spec, job.settings.image)
        if job.spec.is_framework and not job.settings.image.uri:
            from sagelift.images.service import framework_ref

            framework_ref(job.settings)  # an unknown framework or version: exit 2 here
        check_channel_inputs(job.spec, job.settings.aws)

    def submit(self, job: PreparedJob) -> JobHandle:
        """Make the image ready (build or pull when missing), record it, then run the
        container under a supervisor on this machine."""
        with self.host.submission(job):
            return self._submit(job)

    def _submit(self, job: PreparedJob) -> JobHandle:
        from sagelift.images.service import container_cli_for, local_image

        cli = container_cli_for(job.settings.image)
        accelerator: Literal["cpu", "gpu"] = (
            "gpu" if job.spec.instance_type == "local_gpu" else "cpu"
        )
        image = local_image(job.spec, job.settings, cli, accelerator=accelerator)
        recorded = ContainerImage(
            ref=image.ref, image_id=image.image_id, mode=image.mode, cli=cli.name
        )
        records.update_record(
            job.record_dir,
            container=recorded,
            image_uri=image.ref,
            image_digest=image.image_id,
            code_digest=code_digest_of(job.spec),
        )
        (job.record_dir / HOST_STATE_DIR).mkdir(exist_ok=True)

        def command(job: PreparedJob, layout: TrainingLayout, status_file: Path) -> list[str]:
            plan = container_run(
                job=job,
                cli=cli.name,
                image=recorded.ref,
                layout=layout,
                status_file=status_file,
                package_dir=package_dir(),
            )
            path = job.record_dir / PLAN_FILE
            path.write_text(plan.to_json(), encoding="utf-8")
            os.chmod(path, 0o600)
            return [sys.executable, "-m", "sagelift.backends.container_run", str(path)]

        return self.host.submit(
            job,
            command=command,
            overlays={},
            env=job.spec.environment,
            enforce_max_runtime=runs_own_entrypoint(job.spec),
        )
