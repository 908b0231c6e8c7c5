"""The environment a training script sees: every variable sagemaker-training 5.1.4 sets.

:func:`training_env` reproduces ``Environment().to_env_vars()`` of the toolkit
(``sagemaker_training/environment.py`` and ``mapping.py``) from the config files, the layout
and the host facts, with the same names and byte-identical values, plus the plain variables
the toolkit and the platform set (``CURRENT_HOST``, ``SAGEMAKER_JOB_NAME``,
``SAGEMAKER_REGION``, ``TRAINING_JOB_NAME``). It is pure: no environment reads, no probes.

Where the toolkit consults the process environment or AWS configuration, this module takes the
value SageMaker gives a job launched by SDK v2 in script mode instead:

* ``SAGEMAKER_PROGRAM`` / ``SAGEMAKER_SUBMIT_DIRECTORY`` env overrides are not modelled; the
  ``sagemaker_program`` / ``sagemaker_submit_directory`` hyperparameters decide.
* the region comes from ``sagemaker_region`` only (the toolkit falls back to boto3's default).
* ``job_name`` is the ``sagemaker_job_name`` hyperparameter, which is what the platform puts in
  ``TRAINING_JOB_NAME`` for such jobs.
* ``is_modelparallel_enabled`` is null: the toolkit reads ``SM_HP_MP_PARAMETERS`` from its own
  start-up environment, which SageMaker does not set.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from sagelift.contract.config_files import DEFAULT_GROUP_NAME, ConfigFiles
from sagelift.contract.host import HostFacts
from sagelift.contract.hyperparameters import (
    RESERVED_KEYS,
    JSONValue,
    decode_hyperparameters,
    decode_v3_hyperparameters,
    split_reserved,
    to_cmd_args,
    v3_serialize,
)
from sagelift.contract.layout import TrainingLayout

__all__ = [
    "LOCAL_ACCOUNT",
    "V3_CODE_CHANNEL",
    "V3_DRIVERS_CHANNEL",
    "entry_point_name",
    "local_job_arn",
    "training_env",
    "user_args",
    "v3_driver_files",
    "v3_training_env",
]

#: The account of a job that runs on this machine: no AWS account owns it.
LOCAL_ACCOUNT = "000000000000"


def local_job_arn(name: str, region: str) -> str:
    """The ``TRAINING_JOB_ARN`` of a job run on this machine: SageMaker's ARN shape, with the
    all-zero account that marks it local (no such job exists on SageMaker)."""
    return f"arn:aws:sagemaker:{region}:{LOCAL_ACCOUNT}:training-job/{name}"


# environment.get_distribution_instance_groups_from_resource_config: any of these framework
# parameters puts the current instance group into the distribution groups.
_DISTRIBUTION_FLAGS = (
    "sagemaker_mpi_enabled",
    "sagemaker_parameter_server_enabled",
    "sagemaker_distributed_dataparallel_enabled",
    "sagemaker_pytorch_ddp_enabled",
    "sagemaker_pytorch_xla_multi_worker_enabled",
    "sagemaker_multi_worker_mirrored_strategy_enabled",
    "sagemaker_torch_distributed_enabled",
)

# environment.num_neurons: this type is not probed, it is known to have 64 cores.
_TRN2_48XLARGE = "trn2.48xlarge"


def _split(config: ConfigFiles) -> tuple[dict[str, JSONValue], dict[str, JSONValue]]:
    return split_reserved(decode_hyperparameters(config.hyperparameters))


def user_args(config: ConfigFiles) -> list[str]:
    """The command-line arguments the toolkit passes to the entry point (``SM_USER_ARGS``)."""
    user, _ = _split(config)
    return to_cmd_args(user)


def entry_point_name(config: ConfigFiles) -> str | None:
    """The ``sagemaker_program`` hyperparameter (``train.py``), or None when there is none."""
    _, reserved = _split(config)
    program = reserved.get("sagemaker_program")
    return None if program is None else str(program)


def _env_value(value: Any) -> str:
    # mapping.to_env_vars: strings raw, None empty, everything else compact sorted JSON.
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def _module_name(program: str) -> str:
    return program[:-3] if program and program.endswith(".py") else program


def _toolkit_environment(
    *,
    layout: TrainingLayout,
    config: ConfigFiles,
    host: HostFacts,
    framework_module: str | None,
) -> dict[str, Any]:
    """The toolkit's ``dict(Environment())``: every public property, by name."""
    user, reserved = _split(config)
    resource = config.resource_config
    framework_params = {k: v for k, v in reserved.items() if k not in RESERVED_KEYS}

    hosts = list(resource["hosts"])
    current_host = resource["current_host"]
    instance_type = resource.get("current_instance_type", "local")
    current_group = resource.get("current_group_name", DEFAULT_GROUP_NAME)
    group_configs: list[dict[str, Any]] = list(resource.get("instance_groups", []))

    distribution_groups: Any
    if "sagemaker_distribution_instance_groups" in framework_params:
        distribution_groups = framework_params["sagemaker_distribution_instance_groups"]
    elif any(framework_params.get(flag, False) for flag in _DISTRIBUTION_FLAGS):
        distribution_groups = [current_group]
    else:
        distribution_groups = []

    if group_configs:
        distribution_hosts = [
            name
            for group in group_configs
            if group["instance_group_name"] in distribution_groups
            for name in group["hosts"]
        ]
    else:
        distribution_hosts = list(hosts)
    master_hostname = distribution_hosts[0] if distribution_hosts else hosts[0]
    current_group_hosts: list[str] = next(
        (g["hosts"] for g in group_configs if g["instance_group_name"] == current_group), []
    )

    program = reserved.get("sagemaker_program")
    num_neurons = 64 if _TRN2_48XLARGE in instance_type else host.num_neurons

    return {
        "additional_framework_parameters": framework_params,
        "channel_input_dirs": {
            name: str(layout.channel_dir(name)) for name in config.input_data_config
        },
        "current_host": current_host,
        "current_instance_group": current_group,
        "current_instance_group_hosts": current_group_hosts,
        "current_instance_type": instance_type,
        "distribution_hosts": distribution_hosts,
        "distribution_instance_groups": distribution_groups,
        "framework_module": framework_module,
        "hosts": hosts,
        "hyperparameters": user,
        "input_config_dir": str(layout.config_dir),
        "input_data_config": config.input_data_config,
        "input_dir": str(layout.input_dir),
        "instance_groups": [g["instance_group_name"] for g in group_configs],
        "instance_groups_dict": {g["instance_group_name"]: g for g in group_configs},
        "is_hetero": len(group_configs) > 1,
        "is_master": current_host == master_hostname,
        "is_modelparallel_enabled": None,
        "is_smddpmprun_installed": host.smddpmprun_installed,
        "is_smddprun_installed": host.smddprun_installed,
        "job_name": reserved.get("sagemaker_job_name"),
        "log_level": reserved.get("sagemaker_container_log_level", logging.INFO),
        "master_hostname": master_hostname,
        "model_dir": str(layout.model_dir),
        "module_dir": str(reserved.get("sagemaker_submit_directory", str(layout.code_dir))),
        "module_name": _module_name(str(program)),
        "network_interface_name": resource.get("network_interface_name", "eth0"),
        "num_cpus": host.num_cpus,
        "num_gpus": host.num_gpus,
        "num_neurons": num_neurons,
        "output_data_dir": str(layout.output_data_dir),
        "output_dir": str(layout.output_dir),
        "output_intermediate_dir": str(layout.output_intermediate_dir),
        "resource_config": resource,
        "topology": resource.get("topology", []),
        "user_entry_point": program,
    }


def _sm_variables(props: Mapping[str, Any], user_args_: list[str]) -> dict[str, str]:
    """``Environment.to_env_vars``: the SM_* variables, built in the toolkit's order."""
    env: dict[str, Any] = {
        "hosts": props["hosts"],
        "network_interface_name": props["network_interface_name"],
        "hps": props["hyperparameters"],
        "user_entry_point": props["user_entry_point"],
        "framework_params": props["additional_framework_parameters"],
        "resource_config": props["resource_config"],
        "input_data_config": props["input_data_config"],
        "output_data_dir": props["output_data_dir"],
        "channels": sorted(props["channel_input_dirs"]),
        "current_host": props["current_host"],
        "current_instance_type": props["current_instance_type"],
        "current_instance_group": props["current_instance_group"],
        "current_instance_group_hosts": props["current_instance_group_hosts"],
        "instance_groups": props["instance_groups"],
        "instance_groups_dict": props["instance_groups_dict"],
        "distribution_instance_groups": props["distribution_instance_groups"],
        "is_hetero": props["is_hetero"],
        "module_name": props["module_name"],
        "log_level": props["log_level"],
        "framework_module": props["framework_module"],
        "input_dir": props["input_dir"],
        "input_config_dir": props["input_config_dir"],
        "output_dir": props["output_dir"],
        "num_cpus": props["num_cpus"],
        "num_gpus": props["num_gpus"],
        "num_neurons": props["num_neurons"],
        "model_dir": props["model_dir"],
        "module_dir": props["module_dir"],
        "training_env": props,
        "user_args": user_args_,
        "output_intermediate_dir": props["output_intermediate_dir"],
    }
    if props["topology"]:
        env["topology"] = props["topology"]
    for name, path in props["channel_input_dirs"].items():
        env[f"channel_{name}"] = path
    for key, value in props["hyperparameters"].items():
        env[f"hp_{key}"] = value
    return {f"SM_{key.upper()}": _env_value(value) for key, value in env.items()}


def training_env(
    *,
    layout: TrainingLayout,
    config: ConfigFiles,
    host: HostFacts,
    framework_module: str | None = None,
) -> dict[str, str]:
    """Every variable the toolkit's ``Environment().to_env_vars()`` produces, plus plain ones.

    Paths are under ``layout.root``. JSON values are compact with sorted keys, exactly as the
    toolkit renders them; ``SM_CHANNEL_<NAME>`` and ``SM_HP_<NAME>`` upper-case the name and
    keep other characters (``SM_HP_LEARNING-RATE``). ``framework_module`` is the
    ``SAGEMAKER_TRAINING_MODULE`` of a framework image (``pkg.module:main``), if any.

    Raises ``KeyError`` if ``resourceconfig.json`` lacks ``hosts`` or ``current_host``.
    """
    props = _toolkit_environment(
        layout=layout, config=config, host=host, framework_module=framework_module
    )
    env = _sm_variables(props, to_cmd_args(props["hyperparameters"]))
    _, reserved = _split(config)
    job_name = reserved.get("sagemaker_job_name")
    env["CURRENT_HOST"] = str(props["current_host"])
    env["SAGEMAKER_JOB_NAME"] = "" if job_name is None else str(job_name)
    env["SAGEMAKER_REGION"] = str(reserved.get("sagemaker_region") or "")
    if job_name is not None:
        env["TRAINING_JOB_NAME"] = str(job_name)
    return env


# SDK v3 (sagemaker-train, ``ModelTrainer``): the two channels it adds after the user's, and the
# fixed values of ``container_drivers/scripts/environment.py``.
V3_CODE_CHANNEL = "code"
V3_DRIVERS_CHANNEL = "sm_drivers"
_V3_MASTER_ADDR = "algo-1"
_V3_MASTER_PORT = 7777
_V3_IGNORE_PATTERNS = [".env", ".git", "__pycache__", ".DS_Store", ".cache", ".ipynb_checkpoints"]
_V3_CHANNEL_ENTRY = {
    "TrainingInputMode": "File",
    "S3DistributionType": "FullyReplicated",
    "RecordWrapperType": "None",
}


def v3_training_env(
    *,
    layout: TrainingLayout,
    config: ConfigFiles,
    host: HostFacts,
    entry_script: str,
    job_name: str,
    log_level: int | str = 20,
) -> dict[str, str]:
    """The variables SDK v3's ``sm_train.sh`` exports before its basic script driver runs the
    entry script (``scripts/environment.py`` ``set_env``, each value as ``safe_serialize``
    writes it into ``sm_training.env``), plus ``TRAINING_JOB_NAME``.

    ``config.input_data_config`` holds the user's channels; the ``code`` and ``sm_drivers``
    channels v3 adds follow them, as in its request. Two deliberate differences: paths are
    under ``layout.root``, and ``SM_SOURCE_DIR`` / ``SM_CHANNEL_CODE`` name the code directory
    the job runs in (v3 unpacks the code into ``input/data/code``; sagelift keeps
    ``/opt/ml/code``). ``SM_DISTRIBUTED_*`` are absent, as for a v3 job without a
    ``distributed`` setting (the basic script driver). Raises ``KeyError`` when
    ``resourceconfig.json`` lacks ``current_host``, ``current_instance_type``, ``hosts`` or
    ``network_interface_name``.
    """
    data_dir = str(layout.data_dir)
    input_data_config: dict[str, Any] = {
        **config.input_data_config,
        V3_CODE_CHANNEL: dict(_V3_CHANNEL_ENTRY),
        V3_DRIVERS_CHANNEL: dict(_V3_CHANNEL_ENTRY),
    }
    env: dict[str, Any] = {
        "SM_MODEL_DIR": str(layout.model_dir),
        "SM_INPUT_DIR": str(layout.input_dir),
        "SM_INPUT_DATA_DIR": data_dir,
        "SM_INPUT_CONFIG_DIR": str(layout.config_dir),
        "SM_OUTPUT_DIR": str(layout.output_dir),
        "SM_OUTPUT_FAILURE": str(layout.failure_file),
        "SM_OUTPUT_DATA_DIR": str(layout.output_data_dir),
        "SM_LOG_LEVEL": log_level,
        "SM_MASTER_ADDR": _V3_MASTER_ADDR,
        "SM_MASTER_PORT": _V3_MASTER_PORT,
        "SM_SOURCE_DIR": str(layout.code_dir),
        "SM_ENTRY_SCRIPT": entry_script,
    }
    channels = list(input_data_config)
    channel_dirs = {name: f"{data_dir}/{name}" for name in channels}
    channel_dirs[V3_CODE_CHANNEL] = str(layout.code_dir)
    for name in channels:
        env[f"SM_CHANNEL_{name.upper()}"] = channel_dirs[name]
    env["SM_CHANNELS"] = channels
    hps = decode_v3_hyperparameters(config.hyperparameters)
    for key, value in hps.items():
        env[f"SM_HP_{key.replace('-', '_').upper()}"] = value
    env["SM_HPS"] = hps
    resource = config.resource_config
    hosts = sorted(resource["hosts"])
    env["SM_CURRENT_HOST"] = resource["current_host"]
    env["SM_CURRENT_INSTANCE_TYPE"] = resource["current_instance_type"]
    env["SM_HOSTS"] = hosts
    env["SM_NETWORK_INTERFACE_NAME"] = resource["network_interface_name"]
    env["SM_HOST_COUNT"] = len(hosts)
    env["SM_CURRENT_HOST_RANK"] = hosts.index(resource["current_host"])
    env["SM_NUM_CPUS"] = host.num_cpus
    env["SM_NUM_GPUS"] = host.num_gpus
    env["SM_NUM_NEURONS"] = host.num_neurons
    env["SM_RESOURCE_CONFIG"] = resource
    env["SM_INPUT_DATA_CONFIG"] = input_data_config
    env["SM_TRAINING_ENV"] = {
        "channel_input_dirs": {name: channel_dirs[name] for name in channels},
        "current_host": env["SM_CURRENT_HOST"],
        "current_instance_type": env["SM_CURRENT_INSTANCE_TYPE"],
        "hosts": hosts,
        "master_addr": _V3_MASTER_ADDR,
        "master_port": _V3_MASTER_PORT,
        "hyperparameters": hps,
        "input_data_config": input_data_config,
        "input_config_dir": env["SM_INPUT_CONFIG_DIR"],
        "input_data_dir": data_dir,
        "input_dir": env["SM_INPUT_DIR"],
        "job_name": job_name,
        "log_level": log_level,
        "model_dir": env["SM_MODEL_DIR"],
        "network_interface_name": env["SM_NETWORK_INTERFACE_NAME"],
        "num_cpus": host.num_cpus,
        "num_gpus": host.num_gpus,
        "num_neurons": host.num_neurons,
        "output_data_dir": env["SM_OUTPUT_DATA_DIR"],
        "resource_config": resource,
    }
    rendered = {key: v3_serialize(value) for key, value in env.items()}
    rendered["TRAINING_JOB_NAME"] = job_name
    return rendered


def v3_driver_files(
    env: Mapping[str, str], *, entry_script: str, source_dir: str
) -> dict[str, str]:
    """The files SDK v3 leaves in the job, relative to the ``input`` directory: the
    ``sm_drivers`` channel's ``sourcecode.json`` (``SourceCode.model_dump()``) and
    ``distributed.json`` (``{}`` without a distributed setting), and the ``sm_training.env``
    its ``environment.py`` writes (``export KEY='value'`` lines)."""
    source_code = {
        "source_dir": source_dir,
        "requirements": None,
        "entry_script": entry_script,
        "command": None,
        "args": None,
        "ignore_patterns": _V3_IGNORE_PATTERNS,
    }
    exported = "".join(
        f"export {key}='{value}'\n" for key, value in env.items() if key.startswith("SM_")
    )
    return {
        f"data/{V3_DRIVERS_CHANNEL}/sourcecode.json": json.dumps(source_code),
        f"data/{V3_DRIVERS_CHANNEL}/distributed.json": json.dumps({}),
        "sm_training.env": exported,
    }
