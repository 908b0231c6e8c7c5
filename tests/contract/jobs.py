"""Fixture job descriptions shared by the golden and the toolkit-fidelity tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sagelift.contract.config_files import (
    ChannelConfig,
    render_checkpoint_config,
    render_hyperparameters,
    render_input_data_config,
    render_resource_config,
    write_config_files,
)
from sagelift.contract.hyperparameters import JSONValue
from sagelift.contract.layout import TrainingLayout


@dataclass(frozen=True, kw_only=True)
class FixtureJob:
    name: str
    user_hps: dict[str, JSONValue] = field(default_factory=dict)
    program: str | None = "train.py"
    submit_directory: str | None = "/opt/ml/code"
    job_name: str
    region: str = "us-east-1"
    log_level: int = 20
    channels: dict[str, ChannelConfig] = field(default_factory=dict)
    instance_type: str = "ml.m5.large"
    instance_count: int = 1
    current_host: str = "algo-1"
    network_interface_name: str = "eth0"
    checkpoint_local_path: str | None = None

    def rendered(self) -> dict[str, Any]:
        """The config files as dicts, keyed by their file stem."""
        files: dict[str, Any] = {
            "hyperparameters": render_hyperparameters(
                self.user_hps,
                program=self.program,
                submit_directory=self.submit_directory,
                job_name=self.job_name,
                region=self.region,
                log_level=self.log_level,
            ),
            "inputdataconfig": render_input_data_config(self.channels),
            "resourceconfig": render_resource_config(
                instance_type=self.instance_type,
                instance_count=self.instance_count,
                current_host=self.current_host,
                network_interface_name=self.network_interface_name,
            ),
        }
        if self.checkpoint_local_path is not None:
            files["checkpointconfig"] = render_checkpoint_config(self.checkpoint_local_path)
        return files

    def materialize(self, root: Path) -> TrainingLayout:
        """Create the layout under ``root`` with its directories and config files."""
        layout = TrainingLayout(root)
        for directory in layout.directories(tuple(self.channels)):
            directory.mkdir(parents=True, exist_ok=True)
        files = self.rendered()
        write_config_files(
            layout,
            hyperparameters=files["hyperparameters"],
            input_data_config=files["inputdataconfig"],
            resource_config=files["resourceconfig"],
            checkpoint_config=files.get("checkpointconfig"),
        )
        return layout


JOBS: tuple[FixtureJob, ...] = (
    FixtureJob(
        name="minimal",
        job_name="minimal-2026-01-02-03-04-05-678",
        channels={"train": ChannelConfig()},
    ),
    FixtureJob(
        name="typed",
        job_name="typed-job",
        region="eu-west-1",
        log_level=10,
        submit_directory="s3://sagelift-test-bucket/typed-job/source/sourcedir.tar.gz",
        user_hps={
            "epochs": 10,
            "learning-rate": 0.001,
            "e": 1e-08,
            "optimizer": "adam",
            "use_amp": True,
            "resume": False,
            "dropout": None,
            "layers": [64, 32, "relu"],
            "schedule": {"warmup": 5, "kind": "cosine", "nested": {"a": [1, 2]}},
            "numeric_string": "3",
            "quoted": '"already quoted"',
            "name": "résumé run",
            "empty": "",
        },
        channels={
            "validation": ChannelConfig(
                content_type="application/x-parquet", s3_distribution_type="ShardedByS3Key"
            ),
            "training": ChannelConfig(content_type="text/csv"),
        },
        instance_type="ml.m5.xlarge",
        checkpoint_local_path="/opt/ml/checkpoints",
    ),
    FixtureJob(
        name="gpu",
        job_name="gpu-module-job",
        program=None,
        submit_directory=None,
        user_hps={"batch-size": 64, "sagemaker_torch_distributed_enabled": True},
        channels={"data": ChannelConfig(input_mode="FastFile")},
        instance_type="ml.g5.xlarge",
    ),
    FixtureJob(
        name="multihost",
        job_name="multihost-job",
        program="pkg/entry.py",
        user_hps={"x": "1", "sagemaker_mpi_enabled": True, "_tuning_objective_metric": "loss"},
        instance_count=2,
        current_host="algo-2",
        network_interface_name="ethwe",
    ),
)

JOBS_BY_NAME = {job.name: job for job in JOBS}
