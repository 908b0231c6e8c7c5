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
from sagelift.contract.hyperparameters import encode_v3_hyperparameters
from sagelift.package import VERSION
from sagelift.spec import JobSpec, is_remote_uri

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


def _s3_channel(name: str, uri: str, content_type: str | None = None) -> dict[str, Any]:
    channel: dict[str, Any] = {
        "ChannelName": name,
        "DataSource": {
            "S3DataSource": {
                "S3DataType": "S3Prefix",
                "S3Uri": uri,
                "S3DataDistributionType": "FullyReplicated",
            }
        },
        "CompressionType": "None",
    }
    if content_type is not None:
        channel["ContentType"] = content_type
    return channel


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
        rendered.append(_s3_channel(channel.name, uri, channel.content_type))
    if code is not None:
        rendered.append(_s3_channel(code.channel_name, code.prefix_uri))
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
    hyperparameters as plain strings without ``sagemaker_*`` keys. A script-mode job needs
    ``code``; ValueError otherwise.
    """
    algorithm: dict[str, Any] = {"TrainingImage": image_uri, "TrainingInputMode": "File"}
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
        algorithm["ContainerEntrypoint"] = list(code.container_entrypoint)
        if code.container_arguments:
            algorithm["ContainerArguments"] = list(code.container_arguments)
        hyperparameters = render_hyperparameters(
            spec.hyperparameters,
            program=spec.entry_point.program,
            submit_directory=code_tarball_uri(code),
            job_name=job_name,
            region=region,
        )
    if spec.metric_definitions:
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
