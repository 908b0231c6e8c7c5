from __future__ import annotations

import json
from pathlib import Path

import pytest

from sagelift.contract.config_files import (
    ChannelConfig,
    ConfigFiles,
    read_config_files,
    render_checkpoint_config,
    render_hyperparameters,
    render_input_data_config,
    render_resource_config,
    write_config_files,
)
from sagelift.contract.layout import TrainingLayout


def test_render_hyperparameters_adds_script_mode_keys_encoded_and_sorted() -> None:
    rendered = render_hyperparameters(
        {"lr": 0.1, "name": "abc"},
        program="train.py",
        submit_directory="s3://b/k/sourcedir.tar.gz",
        job_name="job-1",
        region="us-east-1",
    )
    assert rendered == {
        "lr": "0.1",
        "name": '"abc"',
        "sagemaker_container_log_level": "20",
        "sagemaker_job_name": '"job-1"',
        "sagemaker_program": '"train.py"',
        "sagemaker_region": '"us-east-1"',
        "sagemaker_submit_directory": '"s3://b/k/sourcedir.tar.gz"',
    }
    assert list(rendered) == sorted(rendered)


def test_render_hyperparameters_omits_program_and_submit_directory_when_none() -> None:
    rendered = render_hyperparameters(
        {}, program=None, submit_directory=None, job_name="j", region="r", log_level=10
    )
    assert rendered == {
        "sagemaker_container_log_level": "10",
        "sagemaker_job_name": '"j"',
        "sagemaker_region": '"r"',
    }


def test_reserved_keys_win_over_user_keys() -> None:
    rendered = render_hyperparameters(
        {"sagemaker_program": "evil.py"},
        program="train.py",
        submit_directory=None,
        job_name="j",
        region="r",
    )
    assert rendered["sagemaker_program"] == '"train.py"'


def test_input_data_config_shape() -> None:
    rendered = render_input_data_config(
        {
            "train": ChannelConfig(content_type="text/csv"),
            "test": ChannelConfig(input_mode="FastFile", s3_distribution_type="ShardedByS3Key"),
        }
    )
    assert rendered == {
        "train": {
            "ContentType": "text/csv",
            "TrainingInputMode": "File",
            "S3DistributionType": "FullyReplicated",
            "RecordWrapperType": "None",
        },
        "test": {
            "TrainingInputMode": "FastFile",
            "S3DistributionType": "ShardedByS3Key",
            "RecordWrapperType": "None",
        },
    }
    assert list(rendered["train"]) == [
        "ContentType",
        "TrainingInputMode",
        "S3DistributionType",
        "RecordWrapperType",
    ]


def test_resource_config_shape_and_key_order() -> None:
    rendered = render_resource_config(
        instance_type="ml.p4d.24xlarge", instance_count=3, current_host="algo-2"
    )
    assert list(rendered) == [
        "current_host",
        "current_instance_type",
        "current_group_name",
        "hosts",
        "instance_groups",
        "network_interface_name",
    ]
    assert rendered["hosts"] == ["algo-1", "algo-2", "algo-3"]
    assert rendered["current_host"] == "algo-2"
    assert rendered["instance_groups"] == [
        {
            "instance_group_name": "homogeneousCluster",
            "instance_type": "ml.p4d.24xlarge",
            "hosts": ["algo-1", "algo-2", "algo-3"],
        }
    ]
    assert rendered["network_interface_name"] == "eth0"


@pytest.mark.parametrize(("count", "host"), [(0, "algo-1"), (1, "algo-2"), (2, "localhost")])
def test_resource_config_rejects_impossible_clusters(count: int, host: str) -> None:
    with pytest.raises(ValueError, match=r"instance_count|current_host"):
        render_resource_config(instance_type="ml.m5.large", instance_count=count, current_host=host)


def _write(layout: TrainingLayout, *, checkpoint: bool) -> None:
    write_config_files(
        layout,
        hyperparameters=render_hyperparameters(
            {"x": 1}, program="t.py", submit_directory=None, job_name="j", region="r"
        ),
        input_data_config=render_input_data_config({"train": ChannelConfig()}),
        resource_config=render_resource_config(instance_type="ml.m5.large"),
        checkpoint_config=render_checkpoint_config("/opt/ml/checkpoints") if checkpoint else None,
    )


def test_write_then_read_round_trips(tmp_path: Path) -> None:
    layout = TrainingLayout(tmp_path / "ml")
    _write(layout, checkpoint=True)
    files = read_config_files(layout)
    assert isinstance(files, ConfigFiles)
    assert files.hyperparameters["x"] == "1"
    assert files.input_data_config["train"]["TrainingInputMode"] == "File"
    assert files.resource_config["hosts"] == ["algo-1"]
    assert files.checkpoint_config == {"LocalPath": "/opt/ml/checkpoints"}
    assert sorted(p.name for p in layout.config_dir.iterdir()) == [
        "checkpointconfig.json",
        "hyperparameters.json",
        "inputdataconfig.json",
        "resourceconfig.json",
    ]


def test_write_is_byte_stable_and_drops_a_stale_checkpoint_file(tmp_path: Path) -> None:
    layout = TrainingLayout(tmp_path / "ml")
    _write(layout, checkpoint=True)
    first = layout.hyperparameters_file.read_bytes()
    _write(layout, checkpoint=False)
    assert layout.hyperparameters_file.read_bytes() == first
    assert not layout.checkpoint_config_file.exists()
    assert read_config_files(layout).checkpoint_config is None


def test_read_reports_missing_and_malformed_files(tmp_path: Path) -> None:
    layout = TrainingLayout(tmp_path / "ml")
    with pytest.raises(FileNotFoundError):
        read_config_files(layout)
    _write(layout, checkpoint=False)
    layout.hyperparameters_file.write_text(json.dumps({"epochs": 3}), encoding="utf-8")
    with pytest.raises(ValueError, match="always strings"):
        read_config_files(layout)
    layout.hyperparameters_file.write_text("[]", encoding="utf-8")
    with pytest.raises(ValueError, match="JSON object"):
        read_config_files(layout)


def test_read_accepts_files_written_by_sagemaker(tmp_path: Path) -> None:
    # Shape from the SageMaker developer guide, with a key sagelift does not write.
    layout = TrainingLayout(tmp_path / "ml")
    layout.config_dir.mkdir(parents=True)
    layout.hyperparameters_file.write_text('{"epochs": "3"}', encoding="utf-8")
    layout.input_data_config_file.write_text("{}", encoding="utf-8")
    layout.resource_config_file.write_text(
        '{"current_host": "algo-1", "hosts": ["algo-1"], "network_interface_name": "ethwe",'
        ' "topology": [{"hostName": "algo-1", "capacityUnitId": "u1"}]}',
        encoding="utf-8",
    )
    files = read_config_files(layout)
    assert files.resource_config["topology"][0]["hostName"] == "algo-1"
