"""Execute a ``CreateTrainingJob`` request on this machine, through the local backend.

This is the cloud data path without the cloud: what SageMaker does with a request, done by the
local backend's machinery against the request's own S3 locations. Each input channel's
``S3Uri`` is downloaded into ``/opt/ml/input/data/<channel>`` of a layout under the job's
record; the three config files are written from the request (``HyperParameters`` as given,
``InputDataConfig``, ``ResourceConfig``); ``ContainerEntrypoint`` + ``ContainerArguments`` run
under the supervisor with ``/opt/ml`` mapped to that layout; ``model.tar.gz`` and
``output.tar.gz`` are uploaded to ``<S3OutputPath>/<job>/output/``. The job is recorded as a
local job, so ``describe``, ``logs``, ``wait`` and ``fetch`` work on it as on any other.

Without a container (``submit_request``) it runs only requests whose entry point is given
(``ContainerEntrypoint``): an image's built-in entry point needs the image. In container mode
(``rehearse_request``) the request's ``TrainingImage`` runs as SageMaker runs it: its own
entry point with ``train`` when the request sets no ``ContainerEntrypoint``, the request's
``Environment``, ``/opt/ml`` from the same staged layout, host name ``algo-1``; a request of
``InstanceCount`` N runs as N containers ``algo-1`` … ``algo-N`` on a network of the job's own
(``sagelift.backends.container_hosts``), each with its own staged layout.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

from sagelift import records
from sagelift.aws import AwsSettings
from sagelift.backends.container import ContainerRun, container_name
from sagelift.backends.host import LAUNCHER_STATUS, LAYOUT_DIR, start_supervisor
from sagelift.backends.opt_ml import keep_share
from sagelift.backends.sagemaker.images import is_gpu_instance
from sagelift.contract.cluster import MAX_LOCAL_HOSTS, host_names
from sagelift.contract.config_files import (
    ChannelConfig,
    render_checkpoint_config,
    render_input_data_config,
    render_resource_config,
    write_config_files,
)
from sagelift.contract.environment import local_job_arn
from sagelift.contract.layout import CONTAINER_ROOT, TrainingLayout
from sagelift.errors import SpecError, UnsupportedFeature
from sagelift.job import CloudJob, JobHandle, JobRecord, JobState, JobStatus, LocalRun
from sagelift.runtime.bundle import BUNDLE_NAME
from sagelift.spec import JobSpec
from sagelift.storage import open_storage
from sagelift.uploads import CODE_CHANNEL

__all__ = [
    "container_argv",
    "instance_count",
    "rehearse_request",
    "request_container",
    "submit_request",
]

PYTHON_NAMES = frozenset({"python", "python3"})
BACKEND = "local"
#: What SageMaker passes a training image that runs its own entry point.
TRAIN_ARGUMENT = "train"
CONTAINER_PLAN = "container.json"


def _field(request: Mapping[str, Any], *path: str) -> Any:
    value: Any = request
    for key in path:
        if not isinstance(value, Mapping) or key not in value:
            raise SpecError(
                f"the request lacks {'.'.join(path)}",
                hint="pass a complete CreateTrainingJob request",
                field=".".join(path),
            )
        value = value[key]
    return value


def _map_path(arg: str, root: Path) -> str:
    base = str(CONTAINER_ROOT)
    if arg == base or arg.startswith(base + "/"):
        return str(root) + arg[len(base) :]
    return arg


def container_argv(request: Mapping[str, Any], *, root: Path, python: str) -> list[str]:
    """The command that stands for the container: entry point + arguments, paths mapped.

    Every argument under ``/opt/ml`` is rewritten to the same path under ``root``; a bare
    ``python``/``python3`` interpreter becomes ``python``; when the entry point is sagelift's
    launcher bundle, ``--root <root>`` is passed to it. Raises UnsupportedFeature for a request
    without ``ContainerEntrypoint``.
    """
    algorithm = _field(request, "AlgorithmSpecification")
    entry = list(algorithm.get("ContainerEntrypoint") or ())
    if not entry:
        raise UnsupportedFeature(
            "the request has no AlgorithmSpecification.ContainerEntrypoint; running an image's "
            "own entry point needs the image",
            hint="ship the code with sagelift.uploads.ship_code, which sets the entry point",
        )
    entry = [_map_path(arg, root) for arg in entry]
    if entry[0] in PYTHON_NAMES:
        entry[0] = python
    if entry[-1].endswith("/" + BUNDLE_NAME):
        entry += ["--root", str(root)]
    arguments = [_map_path(arg, root) for arg in algorithm.get("ContainerArguments") or ()]
    return entry + arguments


def _channel_configs(request: Mapping[str, Any]) -> dict[str, tuple[str, ChannelConfig]]:
    default_mode = _field(request, "AlgorithmSpecification").get("TrainingInputMode", "File")
    channels: dict[str, tuple[str, ChannelConfig]] = {}
    for entry in request.get("InputDataConfig") or ():
        name = str(entry["ChannelName"])
        source = _field(entry, "DataSource", "S3DataSource")
        if source.get("S3DataType", "S3Prefix") != "S3Prefix":
            raise UnsupportedFeature(
                f"channel {name}: S3DataType {source['S3DataType']} is not emulated",
                hint="use S3Prefix channels",
            )
        config = ChannelConfig(
            content_type=entry.get("ContentType"),
            input_mode=entry.get("InputMode", default_mode),
            s3_distribution_type=source.get("S3DataDistributionType", "FullyReplicated"),
            record_wrapper_type=entry.get("RecordWrapperType", "None"),
        )
        channels[name] = (str(source["S3Uri"]), config)
    return channels


def submit_request(
    request: Mapping[str, Any],
    *,
    project_dir: Path,
    aws: AwsSettings,
    python: str | None = None,
    spec: JobSpec | None = None,
    data_versions: Mapping[str, str] | None = None,
) -> JobHandle:
    """Stage and start ``request`` as a local job recorded under ``project_dir``; returns at once.

    Channels (and checkpoints, with ``CheckpointConfig``) are downloaded before this returns;
    the job then runs detached, as a local job does. ``python`` (default: this interpreter)
    stands for the image's ``python3``. ``request`` may also be a DescribeTrainingJob answer.
    The record keeps what tracking needs (``sagelift track``): the image, the code digest, the
    ARN when the request has one, and ``spec``/``data_versions`` when given (the spec the
    request was built from and its channels' DVC versions). Raises SpecError for an
    incomplete request or a job name already recorded, UnsupportedFeature for what cannot run
    without a container, StorageError/CredentialsError when a download fails.
    """
    name = str(_field(request, "TrainingJobName"))
    output_path = str(_field(request, "OutputDataConfig", "S3OutputPath")).rstrip("/")
    _field(request, "ResourceConfig")
    channels = _channel_configs(request)
    record = records.jobs_root(project_dir) / name
    if record.exists():
        raise SpecError(
            f"a job named '{name}' is already recorded in {record.parent}",
            hint="give the request a new TrainingJobName",
            field="TrainingJobName",
        )
    if instance_count(request) > 1:
        raise UnsupportedFeature(
            "a request of several instances runs here as one container per instance",
            hint="rehearse it with --rehearse (its image on podman or docker)",
        )
    layout = TrainingLayout(record / LAYOUT_DIR)
    argv = container_argv(request, root=layout.root, python=python or sys.executable)
    checkpoint = request.get("CheckpointConfig") or None

    created = records.now()
    records.create_record_dir(record)
    status = JobStatus(
        name=name,
        backend=BACKEND,
        state=JobState.IN_PROGRESS,
        secondary_status="Starting",
        created_at=created,
        transitions=(("Starting", created),),
    )
    max_runtime = int((request.get("StoppingCondition") or {}).get("MaxRuntimeInSeconds", 86400))
    run = LocalRun(
        layout_root=layout.root,
        launcher=tuple(argv),
        launcher_status=record / LAUNCHER_STATUS,
        env={
            **{str(k): str(v) for k, v in (request.get("Environment") or {}).items()},
            "SAGEMAKER_BASE_DIR": str(layout.root),
            "TRAINING_JOB_NAME": name,
            "TRAINING_JOB_ARN": str(
                request.get("TrainingJobArn") or local_job_arn(name, aws.region or "us-east-1")
            ),
            "SAGELIFT_BACKEND": "emulator",
            "SAGELIFT_JOB_NAME": name,
        },
        artifacts_dir=record / "tmp" / "output",
        output_uri=f"{output_path}/{name}/output",
        checkpoint_path=checkpoint["S3Uri"] if checkpoint else None,
        max_runtime=max_runtime,
        enforce_max_runtime=True,
        aws=aws,
    )
    code_uri = channels.get(CODE_CHANNEL, ("", None))[0].rstrip("/")
    job = JobRecord(
        name=name,
        backend=BACKEND,
        created_at=created,
        # The request's stopping condition is what the job obeys.
        spec=None if spec is None else replace(spec, max_runtime=max_runtime),
        data_versions=dict(data_versions or {}),
        code_digest=code_uri.rsplit("/", 1)[-1] if code_uri else None,
        image_uri=(request.get("AlgorithmSpecification") or {}).get("TrainingImage"),
        emulates="sagemaker",
        run=run,
        cloud=CloudJob(
            arn=request.get("TrainingJobArn"), region=aws.region or "", request=dict(request)
        ),
    )
    try:
        _stage(
            request,
            record=record,
            layout=layout,
            status=status,
            channels=channels,
            checkpoint=checkpoint,
            aws=aws,
        )
        records.write_record(record, job)
        start_supervisor(record)
    except BaseException:
        shutil.rmtree(record, ignore_errors=True)
        raise
    return JobHandle(backend=BACKEND, name=name, record_dir=record)


def _stage(
    request: Mapping[str, Any],
    *,
    record: Path,
    layout: TrainingLayout,
    status: JobStatus,
    channels: Mapping[str, tuple[str, ChannelConfig]],
    checkpoint: Mapping[str, Any] | None,
    aws: AwsSettings,
) -> None:
    """Every host's layout: ``layout`` itself for one instance; for several, ``<root>/algo-i``
    per host (``ShardedByS3Key`` channels hold the host's share) and at ``layout`` the job's
    model, output and the checkpoints all hosts share."""
    records.write_status(record, status)
    resource = _field(request, "ResourceConfig")
    count = instance_count(request)
    hosts = host_names(count)
    host_layouts = [layout] if count == 1 else [TrainingLayout(layout.root / h) for h in hosts]
    for host_layout in host_layouts:
        for directory in host_layout.directories(tuple(channels)):
            directory.mkdir(parents=True, exist_ok=True)
    if count > 1:
        for directory in (layout.model_dir, layout.output_data_dir, layout.checkpoint_dir):
            directory.mkdir(parents=True, exist_ok=True)
    status = records.advance(status, "Downloading")
    records.write_status(record, status)
    for host, host_layout in zip(hosts, host_layouts, strict=True):
        for channel, (uri, config) in channels.items():
            target = host_layout.channel_dir(channel)
            open_storage(uri, aws=aws).sync_down(uri, target)
            if count > 1 and config.s3_distribution_type == "ShardedByS3Key":
                keep_share(target, host, count)
        write_config_files(
            host_layout,
            hyperparameters={
                str(k): str(v) for k, v in (request.get("HyperParameters") or {}).items()
            },
            input_data_config=render_input_data_config({k: v for k, (_, v) in channels.items()}),
            resource_config=render_resource_config(
                instance_type=str(resource.get("InstanceType", "local")),
                instance_count=count,
                current_host=host,
            ),
            checkpoint_config=(
                render_checkpoint_config(checkpoint.get("LocalPath", "/opt/ml/checkpoints"))
                if checkpoint
                else None
            ),
        )
    if checkpoint:
        open_storage(checkpoint["S3Uri"], aws=aws).sync_down(
            checkpoint["S3Uri"], layout.checkpoint_dir
        )


def instance_count(request: Mapping[str, Any]) -> int:
    """``ResourceConfig.InstanceCount`` (1 when absent). Raises UnsupportedFeature past
    ``MAX_LOCAL_HOSTS``: each instance is a container on this machine."""
    count = int((request.get("ResourceConfig") or {}).get("InstanceCount", 1))
    if count > MAX_LOCAL_HOSTS:
        raise UnsupportedFeature(
            f"InstanceCount={count}: a rehearsal runs at most {MAX_LOCAL_HOSTS} instances "
            "(one container each) on this machine",
            hint=f"rehearse with instance_count <= {MAX_LOCAL_HOSTS}",
        )
    return count


def request_container(
    request: Mapping[str, Any],
    *,
    cli: Literal["podman", "docker"],
    layout: TrainingLayout,
    status_file: Path,
    state_dir: Path,
    aws_env: Mapping[str, str],
    inherit: tuple[str, ...] = (),
) -> ContainerRun:
    """The container SageMaker would start for ``request``. Pure.

    ``TrainingImage`` with ``ContainerEntrypoint[0]`` as ``--entrypoint`` and the rest of it
    followed by ``ContainerArguments`` as arguments; without an entry point the image's own
    runs, with ``ContainerArguments`` or else ``train``. The environment is the request's
    ``Environment``, ``TRAINING_JOB_NAME``/``TRAINING_JOB_ARN`` as SageMaker sets them, and
    ``aws_env`` (what stands in for the execution role: region, endpoint); ``inherit`` names
    variables (credentials) the runner passes on from its own environment.
    """
    algorithm = _field(request, "AlgorithmSpecification")
    name = str(_field(request, "TrainingJobName"))
    entry = [str(a) for a in algorithm.get("ContainerEntrypoint") or ()]
    arguments = [str(a) for a in algorithm.get("ContainerArguments") or ()]
    if entry:
        entrypoint: str | None = entry[0]
        args = (*entry[1:], *arguments)
    else:
        entrypoint = None
        args = tuple(arguments) or (TRAIN_ARGUMENT,)
    env = {
        **dict(aws_env),
        **{str(k): str(v) for k, v in (request.get("Environment") or {}).items()},
        "TRAINING_JOB_NAME": name,
    }
    if request.get("TrainingJobArn"):
        env["TRAINING_JOB_ARN"] = str(request["TrainingJobArn"])
    resource = _field(request, "ResourceConfig")
    return ContainerRun(
        cli=cli,
        image=str(_field(algorithm, "TrainingImage")),
        name=container_name(name),
        args=tuple(args),
        entrypoint=entrypoint,
        env=env,
        mounts=((str(layout.root), str(CONTAINER_ROOT), False),),
        gpus=is_gpu_instance(str(resource.get("InstanceType", ""))) and _has_gpus(),
        grace=120.0,
        status_file=str(status_file),
        host_state_dir=str(state_dir),
        inherit=inherit,
        host_count=instance_count(request),
    )


def rehearse_request(
    request: Mapping[str, Any],
    *,
    record: Path,
    aws: AwsSettings,
    cli: Literal["podman", "docker"],
    aws_env: Mapping[str, str],
    inherit: tuple[str, ...] = (),
) -> None:
    """Run ``request`` in its image under the job already recorded at ``record``, as SageMaker
    would, and return once the supervisor has started.

    The record (written by the submission) gets its plan; its status goes Downloading while
    the channels are fetched from their ``S3Uri``; the supervisor then reports Training,
    Uploading and the end (``model.tar.gz`` and ``output.tar.gz`` to
    ``<S3OutputPath>/<job>/output/``, FailureReason from ``/opt/ml/output/failure``). Raises
    SpecError/UnsupportedFeature for what cannot run, StorageError/CredentialsError when a
    download fails.
    """
    name = str(_field(request, "TrainingJobName"))
    output_path = str(_field(request, "OutputDataConfig", "S3OutputPath")).rstrip("/")
    channels = _channel_configs(request)
    checkpoint = request.get("CheckpointConfig") or None
    layout = TrainingLayout(record / LAYOUT_DIR)
    state_dir = record / "container-state"
    state_dir.mkdir(exist_ok=True)
    plan = request_container(
        request,
        cli=cli,
        layout=layout,
        status_file=record / LAUNCHER_STATUS,
        state_dir=state_dir,
        aws_env=aws_env,
        inherit=inherit,
    )
    plan_file = record / CONTAINER_PLAN
    plan_file.write_text(plan.to_json(), encoding="utf-8")
    os.chmod(plan_file, 0o600)
    max_runtime = int((request.get("StoppingCondition") or {}).get("MaxRuntimeInSeconds", 86400))
    run = LocalRun(
        layout_root=layout.root,
        launcher=(sys.executable, "-m", "sagelift.backends.container_run", str(plan_file)),
        launcher_status=record / LAUNCHER_STATUS,
        env={"SAGELIFT_JOB_NAME": name},
        artifacts_dir=record / "tmp" / "output",
        output_uri=f"{output_path}/{name}/output",
        checkpoint_path=checkpoint["S3Uri"] if checkpoint else None,
        max_runtime=max_runtime,
        enforce_max_runtime=True,
        aws=aws,
    )
    status = records.read_status(record)
    if not status.transitions:  # DescribeTrainingJob lists Starting first
        status = replace(status, transitions=(("Starting", status.created_at),))
    _stage(
        request,
        record=record,
        layout=layout,
        status=status,
        channels=channels,
        checkpoint=checkpoint,
        aws=aws,
    )
    records.update_record(record, run=run)
    start_supervisor(record)


def _has_gpus() -> bool:
    from sagelift.contract.host import detect_host_facts

    return detect_host_facts().num_gpus > 0
