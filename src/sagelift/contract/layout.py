"""Where each file of the ``/opt/ml`` contract lives under a given root."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["CONTAINER_ROOT", "TrainingLayout"]

CONTAINER_ROOT = Path("/opt/ml")


@dataclass(frozen=True)
class TrainingLayout:
    """The SageMaker directory layout rooted at ``root`` (``/opt/ml`` inside a container).

    Source: docs ``your-algorithms-training-algo-running-container.html`` and
    ``model-train-storage.html``.
    """

    root: Path

    @property
    def input_dir(self) -> Path:
        return self.root / "input"

    @property
    def config_dir(self) -> Path:
        return self.root / "input" / "config"

    @property
    def hyperparameters_file(self) -> Path:
        return self.config_dir / "hyperparameters.json"

    @property
    def input_data_config_file(self) -> Path:
        return self.config_dir / "inputdataconfig.json"

    @property
    def resource_config_file(self) -> Path:
        return self.config_dir / "resourceconfig.json"

    @property
    def checkpoint_config_file(self) -> Path:
        return self.config_dir / "checkpointconfig.json"

    @property
    def data_dir(self) -> Path:
        return self.root / "input" / "data"

    def channel_dir(self, name: str) -> Path:
        return self.data_dir / name

    @property
    def model_dir(self) -> Path:
        return self.root / "model"

    @property
    def output_dir(self) -> Path:
        return self.root / "output"

    @property
    def output_data_dir(self) -> Path:
        return self.root / "output" / "data"

    @property
    def output_intermediate_dir(self) -> Path:
        return self.root / "output" / "intermediate"

    @property
    def failure_file(self) -> Path:
        return self.root / "output" / "failure"

    @property
    def success_file(self) -> Path:
        return self.root / "output" / "success"

    @property
    def checkpoint_dir(self) -> Path:
        return self.root / "checkpoints"

    @property
    def code_dir(self) -> Path:
        return self.root / "code"

    def directories(self, channels: tuple[str, ...] = ()) -> tuple[Path, ...]:
        """Every directory a fresh layout must have, channels included."""
        return (
            self.config_dir,
            self.data_dir,
            *(self.channel_dir(c) for c in channels),
            self.model_dir,
            self.output_data_dir,
            self.output_intermediate_dir,
            self.checkpoint_dir,
            self.code_dir,
        )
