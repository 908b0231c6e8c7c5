"""The CreateTrainingJob request, built from a spec as pure code.

Nothing here touches the network or the disk: the caller resolves the role, the image, the
bucket and the shipped code first and passes them in. Field names and shapes follow the
SageMaker API reference (``API_CreateTrainingJob.html``); the hyperparameters use the same
encoding as the local backend (``sagelift.contract.config_files.render_hyperparameters``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sagelift.contract.config_files import render_byo_hyperparameters, render_hyperparameters
from sagelift.contract.distribution import distribution_hyperparameters
from sagelift.contract.estimators import estimator_hyperparameters
from sagelift.contract.hyperparameters import encode_v3_hyperparameters
from sagelift.package import VERSION
from sagelift.spec import Channel, JobSpec, is_remote_uri

if TYPE_CHECKING:
    from sagelift.uploads import ShippedChannel, ShippedCode

__all__ = [
    "CHECKPOINT_LOCAL_PATH",
    "CODE_TARBALL",
    "build_create_training_job_request",
    "default_tags",
]

CHECKPOINT_LOCAL_PATH = "/opt/ml/checkpoints"
CODE_TARBALL = "sourcedir.tar.gz"
BACKEND_ENV = "SAGELIFT_BACKEND"


def default_tags(*, project: str, git_commit: str | None, dirty: bool) -> dict[str, str]:
    """The tags every sagelift job carries: project, git commit (``-dirty`` if edited), version."""
    tags = {"sagelift:project": project, "sagelift:version": VERSION}
    if git_commit:
        tags["sagelift:git-commit"] = git_commit + ("-dirty" if dirty else "")
    return tags


def code_tarball_uri(code: ShippedCode) -> str:
    """The S3 URI of the shipped ``sourcedir.tar.gz`` (``sagemaker_submit_directory``)."""
    return code.prefix_uri.rstrip("/") + "/" + CODE_TARBALL


def _s3_channel(
    name: str, uri: str, channel: Channel | None = None, *, job_mode: str = "File"
) -> dict[str, Any]:
    """One ``Channel`` of ``InputDataConfig``; ``channel`` None is the code channel (File mode,
    an S3 prefix). ``InputMode`` appears only where the channel's mode differs from the job's
    ``TrainingInputMode``, as the SDK sends it; ``RecordWrapperType`` only when it wraps."""
    source: dict[str, Any] = {
        "S3DataType": "S3Prefix" if channel is None else channel.s3_data_type,
        "S3Uri": uri,
        "S3DataDistributionType": "FullyReplicated" if channel is None else channel.distribution,
    }
    if channel is not None and channel.attribute_names:
        source["AttributeNames"] = list(channel.attribute_names)
    rendered: dict[str, Any] = {
        "ChannelName": name,
        "DataSource": {"S3DataSource": source},
        "CompressionType": "None" if channel is None else channel.compression,
    }
    if channel is not None and channel.content_type is not None:
        rendered["ContentType"] = channel.content_type
    if channel is not None and channel.record_wrapper != "None":
        rendered["RecordWrapperType"] = channel.record_wrapper
    mode = "File" if channel is None else channel.input_mode
    if mode != job_mode:
        rendered["InputMode"] = mode
    return rendered


def _input_data_config(
    spec: JobSpec, code: ShippedCode | None, channels: Sequence[ShippedChannel]
) -> list[dict[str, Any]]:
    shipped = {c.name: c.uri for c in channels}
    rendered = []
    for channel in spec.channels:
        if channel.name in shipped:
            uri = shipped[channel.name]
        elif is_remote_uri(channel.uri):
            uri = channel.uri
        else:
            raise ValueError(f"channel {channel.name!r} is local and was not shipped")
        rendered.append(_s3_channel(channel.name, uri, channel, job_mode=spec.input_mode))
    if code is not None and spec.kind == "script":
        # The launcher reads the code from its channel; the framework toolkit fetches
        # sagemaker_submit_directory itself.
        rendered.append(_s3_channel(code.channel_name, code.prefix_uri, job_mode=spec.input_mode))
    return rendered


def build_create_training_job_request(
    spec: JobSpec,
    *,
    job_name: str,
    role_arn: str,
    image_uri: str,
    code: ShippedCode | None,
    channels: Sequence[ShippedChannel],
    output_path: str,
    checkpoint_s3_uri: str | None,
    region: str,
    tags: Mapping[str, str],
    enable_spot: bool = False,
    max_wait: int | None = None,
    retry_attempts: int | None = None,
    framework: str | None = None,
) -> dict[str, Any]:
    """The CreateTrainingJob request for ``spec``, as boto3 takes it. Pure.

    Local channels must appear in ``channels`` (already shipped); ``s3://`` channels of the
    spec pass straight through. The shipped code becomes one more input channel and the
    container's entry point. ``Environment`` is the spec's plus ``SAGELIFT_BACKEND=sagemaker``
    (the spec parser already refuses secret-looking names). Raises ValueError for a local
    channel that was not shipped, or spot without ``max_wait``. Validate the result with
    ``validation.validate_request`` before sending it.

    A bring-your-own job (``spec.kind == "byo"``, ``code`` None: the image holds its code) is
    sent as the SDK's generic ``Estimator`` sends one: no ``ContainerEntrypoint`` or
    ``ContainerArguments`` (SageMaker runs ``IMAGE train``), no code channel, and the
    hyperparameters as plain strings without ``sagemaker_*`` keys.

    A framework job (``spec.kind == "framework"``) is sent as the SDK v2's framework
    estimators (``SKLearn``, ``PyTorch``, ...) send one: no ``ContainerEntrypoint`` or
    ``ContainerArguments`` (the image's own entry point, the sagemaker-training toolkit, runs),
    no code channel: ``sagemaker_submit_directory`` is the S3 URI of ``sourcedir.tar.gz``,
    with ``sagemaker_program``, ``sagemaker_container_log_level``, ``sagemaker_job_name`` and
    ``sagemaker_region``, every value JSON-encoded; and what the estimator of ``framework``
    (``image.framework``) adds of its own (``sagelift.contract.estimators``: TensorFlow's
    ``model_dir``, ``<output_path>/<job_name>/model``, or ``/opt/ml/model`` under MPI) unless
    the user's hyperparameters set it. Script-mode and framework jobs need ``code``;
    ValueError otherwise.
    """
    algorithm: dict[str, Any] = {
        "TrainingImage": image_uri,
        "TrainingInputMode": spec.input_mode,
    }
    if spec.is_byo:
        hyperparameters = render_byo_hyperparameters(spec.hyperparameters)
    elif code is None:
        raise ValueError("a script-mode job needs its shipped code")
    elif spec.contract == "v3":
        # SDK v3's ModelTrainer sends the user's values only, through safe_serialize.
        algorithm["ContainerEntrypoint"] = list(code.container_entrypoint)
        if code.container_arguments:
            algorithm["ContainerArguments"] = list(code.container_arguments)
        hyperparameters = encode_v3_hyperparameters(spec.hyperparameters)
    else:
        if not spec.is_framework:
            algorithm["ContainerEntrypoint"] = list(code.container_entrypoint)
            if code.container_arguments:
                algorithm["ContainerArguments"] = list(code.container_arguments)
        hyperparameters = render_hyperparameters(
            spec.hyperparameters,
            program=spec.entry_point.program,
            submit_directory=code_tarball_uri(code),
            job_name=job_name,
            region=region,
            framework_params=distribution_hyperparameters(
                spec.distribution, instance_type=spec.instance_type
            ),
            defaults=estimator_hyperparameters(
                framework if spec.is_framework else None,
                output_path=output_path,
                job_name=job_name,
                distribution=spec.distribution,
            ),
        )
    # SageMaker defines the metrics of its built-in algorithms itself and refuses a request
    # that sets them; sagelift still reads them from the logs for tracking.
    if spec.metric_definitions and spec.algorithm is None:
        algorithm["MetricDefinitions"] = [
            {"Name": m.name, "Regex": m.regex} for m in spec.metric_definitions
        ]
    stopping: dict[str, Any] = {"MaxRuntimeInSeconds": spec.max_runtime}
    request: dict[str, Any] = {
        "TrainingJobName": job_name,
        "RoleArn": role_arn,
        "AlgorithmSpecification": algorithm,
        "HyperParameters": hyperparameters,
        "OutputDataConfig": {"S3OutputPath": output_path},
        "ResourceConfig": {
            "InstanceType": spec.instance_type,
            "InstanceCount": spec.instance_count,
            "VolumeSizeInGB": spec.volume_size,
        },
        "StoppingCondition": stopping,
        "Environment": {**dict(spec.environment), BACKEND_ENV: "sagemaker"},
        "Tags": [{"Key": k, "Value": v} for k, v in sorted(tags.items())],
    }
    inputs = _input_data_config(spec, code, channels)
    if inputs:  # the API takes 1-20 channels, or none at all
        request["InputDataConfig"] = inputs
    if checkpoint_s3_uri is not None:
        request["CheckpointConfig"] = {
            "S3Uri": checkpoint_s3_uri,
            "LocalPath": CHECKPOINT_LOCAL_PATH,
        }
    if enable_spot:
        if max_wait is None:
            raise ValueError("managed spot training needs max_wait")
        request["EnableManagedSpotTraining"] = True
        stopping["MaxWaitTimeInSeconds"] = max_wait
    if retry_attempts is not None:
        request["RetryStrategy"] = {"MaximumRetryAttempts": retry_attempts}
    return request
