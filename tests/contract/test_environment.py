from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sagelift.contract.config_files import (
    ChannelConfig,
    ConfigFiles,
    render_hyperparameters,
    render_input_data_config,
    render_resource_config,
)
from sagelift.contract.environment import entry_point_name, training_env, user_args
from sagelift.contract.host import HostFacts
from sagelift.contract.hyperparameters import JSONValue
from sagelift.contract.layout import TrainingLayout

HOST = HostFacts(num_cpus=8, num_gpus=0, num_neurons=0)


def _config(
    user_hps: dict[str, JSONValue] | None = None,
    *,
    program: str | None = "train.py",
    channels: tuple[str, ...] = ("train",),
    resource: dict[str, Any] | None = None,
    hyperparameters: dict[str, str] | None = None,
) -> ConfigFiles:
    return ConfigFiles(
        hyperparameters=hyperparameters
        if hyperparameters is not None
        else render_hyperparameters(
            user_hps or {},
            program=program,
            submit_directory=None,
            job_name="job-7",
            region="eu-central-1",
        ),
        input_data_config=render_input_data_config({c: ChannelConfig() for c in channels}),
        resource_config=resource or render_resource_config(instance_type="ml.c5.2xlarge"),
    )


def test_paths_follow_the_layout_root(tmp_path: Path) -> None:
    layout = TrainingLayout(tmp_path / "job" / "opt" / "ml")
    env = training_env(layout=layout, config=_config(), host=HOST)
    root = str(layout.root)
    assert env["SM_MODEL_DIR"] == f"{root}/model"
    assert env["SM_CHANNEL_TRAIN"] == f"{root}/input/data/train"
    assert env["SM_OUTPUT_DATA_DIR"] == f"{root}/output/data"
    assert env["SM_OUTPUT_INTERMEDIATE_DIR"] == f"{root}/output/intermediate"
    assert env["SM_INPUT_CONFIG_DIR"] == f"{root}/input/config"
    assert env["SM_MODULE_DIR"] == f"{root}/code"
    assert json.loads(env["SM_TRAINING_ENV"])["model_dir"] == f"{root}/model"


def test_hyperparameters_arrive_as_strings_with_names_upper_cased() -> None:
    config = _config({"learning-rate": 0.01, "optimizer": "adam", "layers": [1, 2], "flag": True})
    env = training_env(layout=TrainingLayout(Path("/opt/ml")), config=config, host=HOST)
    assert env["SM_HP_LEARNING-RATE"] == "0.01"
    assert env["SM_HP_OPTIMIZER"] == "adam"
    assert env["SM_HP_LAYERS"] == "[1,2]"
    assert env["SM_HP_FLAG"] == "true"
    assert json.loads(env["SM_HPS"]) == {
        "learning-rate": 0.01,
        "optimizer": "adam",
        "layers": [1, 2],
        "flag": True,
    }
    assert json.loads(env["SM_USER_ARGS"]) == user_args(config)
    assert user_args(config) == [
        "--flag", "True", "--layers", "[1, 2]", "--learning-rate", "0.01", "--optimizer", "adam",
    ]  # fmt: skip
    assert not any(k.startswith("SM_HP_SAGEMAKER") for k in env)


def test_plain_variables_and_job_identity() -> None:
    env = training_env(layout=TrainingLayout(Path("/opt/ml")), config=_config(), host=HOST)
    assert env["CURRENT_HOST"] == "algo-1"
    assert env["SAGEMAKER_JOB_NAME"] == "job-7"
    assert env["TRAINING_JOB_NAME"] == "job-7"
    assert env["SAGEMAKER_REGION"] == "eu-central-1"
    assert json.loads(env["SM_TRAINING_ENV"])["job_name"] == "job-7"


def test_without_reserved_hyperparameters_the_toolkit_defaults_apply() -> None:
    config = _config(hyperparameters={"epochs": "3"})
    env = training_env(layout=TrainingLayout(Path("/opt/ml")), config=config, host=HOST)
    assert "TRAINING_JOB_NAME" not in env
    assert env["SAGEMAKER_JOB_NAME"] == ""
    assert env["SAGEMAKER_REGION"] == ""
    assert env["SM_LOG_LEVEL"] == "20"
    assert env["SM_USER_ENTRY_POINT"] == ""
    # The toolkit renders a missing program as str(None).
    assert env["SM_MODULE_NAME"] == "None"
    assert entry_point_name(config) is None


def test_entry_point_and_module_name() -> None:
    config = _config(program="src/train.py")
    env = training_env(layout=TrainingLayout(Path("/opt/ml")), config=config, host=HOST)
    assert entry_point_name(config) == "src/train.py"
    assert env["SM_USER_ENTRY_POINT"] == "src/train.py"
    assert env["SM_MODULE_NAME"] == "src/train"


def test_host_facts_and_framework_module() -> None:
    env = training_env(
        layout=TrainingLayout(Path("/opt/ml")),
        config=_config(),
        host=HostFacts(num_cpus=96, num_gpus=8, num_neurons=0, smddprun_installed=True),
        framework_module="sagemaker_pytorch_container.training:main",
    )
    assert (env["SM_NUM_CPUS"], env["SM_NUM_GPUS"], env["SM_NUM_NEURONS"]) == ("96", "8", "0")
    assert env["SM_FRAMEWORK_MODULE"] == "sagemaker_pytorch_container.training:main"
    assert json.loads(env["SM_TRAINING_ENV"])["is_smddprun_installed"] is True


def test_trn2_48xlarge_has_64_neuron_cores_without_probing() -> None:
    config = _config(resource=render_resource_config(instance_type="ml.trn2.48xlarge"))
    env = training_env(layout=TrainingLayout(Path("/opt/ml")), config=config, host=HOST)
    assert env["SM_NUM_NEURONS"] == "64"


def test_channels_are_sorted_in_sm_channels_and_each_gets_a_variable() -> None:
    config = _config(channels=("validation", "train", "test-set"))
    env = training_env(layout=TrainingLayout(Path("/opt/ml")), config=config, host=HOST)
    assert env["SM_CHANNELS"] == '["test-set","train","validation"]'
    assert env["SM_CHANNEL_TEST-SET"] == "/opt/ml/input/data/test-set"
    assert {k for k in env if k.startswith("SM_CHANNEL_")} == {
        "SM_CHANNEL_TEST-SET",
        "SM_CHANNEL_TRAIN",
        "SM_CHANNEL_VALIDATION",
    }


def test_heterogeneous_cluster_and_topology() -> None:
    resource = {
        "current_host": "algo-2",
        "current_instance_type": "ml.p4d.24xlarge",
        "current_group_name": "gpus",
        "hosts": ["algo-1", "algo-2", "algo-3"],
        "instance_groups": [
            {"instance_group_name": "cpus", "instance_type": "ml.c5.xlarge", "hosts": ["algo-1"]},
            {
                "instance_group_name": "gpus",
                "instance_type": "ml.p4d.24xlarge",
                "hosts": ["algo-2", "algo-3"],
            },
        ],
        "network_interface_name": "eth0",
        "topology": [{"hostName": "algo-2", "capacityUnitId": "u1"}],
    }
    config = _config({"sagemaker_distribution_instance_groups": ["gpus"]}, resource=resource)
    env = training_env(layout=TrainingLayout(Path("/opt/ml")), config=config, host=HOST)
    assert env["SM_IS_HETERO"] == "true"
    assert env["SM_CURRENT_INSTANCE_GROUP"] == "gpus"
    assert env["SM_CURRENT_INSTANCE_GROUP_HOSTS"] == '["algo-2","algo-3"]'
    assert env["SM_DISTRIBUTION_INSTANCE_GROUPS"] == '["gpus"]'
    assert env["SM_TOPOLOGY"] == '[{"capacityUnitId":"u1","hostName":"algo-2"}]'
    training = json.loads(env["SM_TRAINING_ENV"])
    assert training["master_hostname"] == "algo-2"
    assert training["is_master"] is True
    assert training["distribution_hosts"] == ["algo-2", "algo-3"]


def test_training_env_is_compact_sorted_ascii_json() -> None:
    config = _config({"name": "résumé", "b": 1, "a": 2})
    env = training_env(layout=TrainingLayout(Path("/opt/ml")), config=config, host=HOST)
    assert env["SM_HPS"] == '{"a":2,"b":1,"name":"r\\u00e9sum\\u00e9"}'
    assert env["SM_HP_NAME"] == "résumé"
    raw = env["SM_TRAINING_ENV"]
    assert raw == json.dumps(json.loads(raw), sort_keys=True, separators=(",", ":"))
    assert set(json.loads(raw)) >= {"hyperparameters", "job_name", "module_name", "topology"}
