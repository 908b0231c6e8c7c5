"""The files SageMaker writes under ``/opt/ml/input/config`` before the container starts.

``render_*`` are pure and return JSON-ready dicts; :func:`write_config_files` and
:func:`read_config_files` are the only I/O. Shapes follow the SageMaker developer guide
(``your-algorithms-training-algo-running-container.html``) and the hyperparameters SageMaker
Python SDK v2 injects in script mode (``Framework._prepare_for_training``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sagelift.contract.hyperparameters import (
    JSONValue,
    encode_hyperparameters,
    encode_plain_hyperparameters,
)
from sagelift.contract.layout import TrainingLayout
from sagelift.private_files import private_dir, write_private_text

__all__ = [
    "DEFAULT_GROUP_NAME",
    "ChannelConfig",
    "ConfigFiles",
    "read_config_files",
    "render_byo_hyperparameters",
    "render_checkpoint_config",
    "render_hyperparameters",
    "render_input_data_config",
    "render_resource_config",
    "write_config_files",
]

DEFAULT_GROUP_NAME = "homogeneousCluster"


@dataclass(frozen=True)
class ChannelConfig:
    """One channel's entry in ``inputdataconfig.json``; values are SageMaker's API enums."""

    content_type: str | None = None
    input_mode: str = "File"
    s3_distribution_type: str = "FullyReplicated"
    record_wrapper_type: str = "None"


@dataclass(frozen=True)
class ConfigFiles:
    """The parsed contents of the config files of one layout.

    ``hyperparameters`` holds the encoded strings exactly as written (decode them with
    ``decode_hyperparameters``). ``checkpoint_config`` is None when no checkpoint file exists.
    """

    hyperparameters: dict[str, str]
    input_data_config: dict[str, Any]
    resource_config: dict[str, Any]
    checkpoint_config: dict[str, Any] | None = None


def render_hyperparameters(
    user_hps: Mapping[str, JSONValue],
    *,
    program: str | None,
    submit_directory: str | None,
    job_name: str,
    region: str,
    log_level: int = 20,
    framework_params: Mapping[str, JSONValue] | None = None,
    defaults: Mapping[str, JSONValue] | None = None,
) -> dict[str, str]:
    """``hyperparameters.json`` for a script-mode job: user values plus SDK v2's reserved keys.

    Every value is ``json.dumps``-encoded. ``program=None`` (module or command entry points)
    omits ``sagemaker_program``; ``submit_directory=None`` omits
    ``sagemaker_submit_directory`` (the toolkit then uses ``<root>/code``).
    ``framework_params`` are further reserved keys (the distribution settings,
    ``sagelift.contract.distribution``). Reserved keys win
    over user keys of the same name. ``defaults`` are keys an estimator adds of its own
    (``sagelift.contract.estimators``): user keys of the same name win over them. The result
    is sorted by key.
    """
    reserved: dict[str, JSONValue] = {
        **(framework_params or {}),
        "sagemaker_container_log_level": log_level,
        "sagemaker_job_name": job_name,
        "sagemaker_region": region,
    }
    if program is not None:
        reserved["sagemaker_program"] = program
    if submit_directory is not None:
        reserved["sagemaker_submit_directory"] = submit_directory
    encoded = encode_hyperparameters({**(defaults or {}), **user_hps, **reserved})
    return dict(sorted(encoded.items()))


def render_byo_hyperparameters(user_hps: Mapping[str, JSONValue]) -> dict[str, str]:
    """``hyperparameters.json`` for a bring-your-own image: the user's values as plain strings
    (``encode_plain_hyperparameters``) and none of the ``sagemaker_*`` script-mode keys, as the
    SDK's generic ``Estimator`` sends them. Sorted by key."""
    return dict(sorted(encode_plain_hyperparameters(user_hps).items()))


def render_input_data_config(channels: Mapping[str, ChannelConfig]) -> dict[str, Any]:
    """``inputdataconfig.json``: one entry per channel, in the given order.

    Keys as SageMaker writes them: ``ContentType`` (only when set), ``TrainingInputMode``,
    ``S3DistributionType``, ``RecordWrapperType``.
    """
    rendered: dict[str, Any] = {}
    for name, channel in channels.items():
        entry: dict[str, str] = {}
        if channel.content_type is not None:
            entry["ContentType"] = channel.content_type
        entry["TrainingInputMode"] = channel.input_mode
        entry["S3DistributionType"] = channel.s3_distribution_type
        entry["RecordWrapperType"] = channel.record_wrapper_type
        rendered[name] = entry
    return rendered


def render_resource_config(
    *,
    instance_type: str,
    instance_count: int = 1,
    current_host: str = "algo-1",
    network_interface_name: str = "eth0",
) -> dict[str, Any]:
    """``resourceconfig.json`` for a homogeneous cluster, in SageMaker's key order.

    Hosts are ``algo-1`` … ``algo-<instance_count>``. Raises ``ValueError`` if
    ``instance_count < 1`` or ``current_host`` is not one of the hosts.
    """
    if instance_count < 1:
        raise ValueError(f"instance_count must be at least 1, not {instance_count}")
    hosts = [f"algo-{index}" for index in range(1, instance_count + 1)]
    if current_host not in hosts:
        raise ValueError(f"current_host {current_host!r} is not one of {hosts}")
    return {
        "current_host": current_host,
        "current_instance_type": instance_type,
        "current_group_name": DEFAULT_GROUP_NAME,
        "hosts": hosts,
        "instance_groups": [
            {
                "instance_group_name": DEFAULT_GROUP_NAME,
                "instance_type": instance_type,
                "hosts": list(hosts),
            }
        ],
        "network_interface_name": network_interface_name,
    }


def render_checkpoint_config(local_path: str) -> dict[str, Any]:
    """``checkpointconfig.json``, written by SageMaker when ``CheckpointConfig`` is set."""
    return {"LocalPath": local_path}


def _dump(obj: Mapping[str, Any]) -> str:
    # json.dump's default separators, as the SDK's local mode and the toolkit write these files.
    return json.dumps(obj, ensure_ascii=True)


def _write(path: Path, obj: Mapping[str, Any]) -> None:
    # 0600: hyperparameters.json holds the hyperparameters' values, secrets among them perhaps.
    write_private_text(path, _dump(obj))


def write_config_files(
    layout: TrainingLayout,
    *,
    hyperparameters: Mapping[str, str],
    input_data_config: Mapping[str, Any],
    resource_config: Mapping[str, Any],
    checkpoint_config: Mapping[str, Any] | None = None,
) -> None:
    """Write the config files into ``layout.config_dir`` (created if missing).

    Each file is one line of JSON with the mappings' own key order (the renderers make that
    order deterministic), so identical inputs give identical bytes. Each file is replaced
    atomically, readable by its owner only (0600, in a 0700 directory). A stale
    ``checkpointconfig.json`` is removed when ``checkpoint_config`` is None.
    """
    private_dir(layout.config_dir)
    _write(layout.hyperparameters_file, hyperparameters)
    _write(layout.input_data_config_file, input_data_config)
    _write(layout.resource_config_file, resource_config)
    if checkpoint_config is not None:
        _write(layout.checkpoint_config_file, checkpoint_config)
    else:
        layout.checkpoint_config_file.unlink(missing_ok=True)


def _read_object(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object, found {type(data).__name__}")
    return data


def read_config_files(layout: TrainingLayout) -> ConfigFiles:
    """Read the config files of ``layout``.

    Raises ``FileNotFoundError`` if one of the three required files is missing and
    ``ValueError`` if a file is not a JSON object or a hyperparameter value is not a string.
    """
    hyperparameters = _read_object(layout.hyperparameters_file)
    for key, value in hyperparameters.items():
        if not isinstance(value, str):
            raise ValueError(
                f"{layout.hyperparameters_file}: value of {key!r} is not a string; "
                "SageMaker hyperparameters are always strings"
            )
    checkpoint_file = layout.checkpoint_config_file
    return ConfigFiles(
        hyperparameters=hyperparameters,
        input_data_config=_read_object(layout.input_data_config_file),
        resource_config=_read_object(layout.resource_config_file),
        checkpoint_config=_read_object(checkpoint_file) if checkpoint_file.exists() else None,
    )
