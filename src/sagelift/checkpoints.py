"""A tiny helper for training scripts that want to survive interruptions. Stdlib only.

It ships inside every job (the launcher puts it on ``PYTHONPATH``), and works unchanged on a
laptop::

    from sagelift.checkpoints import Checkpoints

    ckpt = Checkpoints()                       # /opt/ml/checkpoints, or the job's, or ./checkpoints
    start = 0
    latest = ckpt.latest()                     # Path of the newest complete checkpoint, or None
    if latest is not None:
        state = torch.load(latest); start = ckpt.step_of(latest) + 1
    for epoch in range(start, epochs):
        ...
        ckpt.save(epoch, lambda path: torch.save(state, path))   # atomic: never half-written

A checkpoint is written to a temporary name and renamed into place, so an interruption (SIGTERM,
SIGKILL, a spot reclaim) never leaves a truncated file where ``latest()`` would find it. SageMaker
syncs the checkpoint directory to S3 while the job runs and restores it into the next attempt
(docs ``model-checkpoints.html``); sagelift does the same locally.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path

__all__ = ["Checkpoints", "default_checkpoint_dir"]

CONTAINER_CHECKPOINTS = Path("/opt/ml/checkpoints")
_STEP = re.compile(r"-(\d+)(?:\.[^.]*)?$")


def default_checkpoint_dir() -> Path:
    """``/opt/ml/checkpoints`` if it exists, else beside ``$SM_MODEL_DIR``, else ``checkpoints``."""
    if CONTAINER_CHECKPOINTS.is_dir():
        return CONTAINER_CHECKPOINTS
    model_dir = os.environ.get("SM_MODEL_DIR")
    if model_dir:
        return Path(model_dir).parent / "checkpoints"
    return Path("checkpoints")


class Checkpoints:
    """Numbered checkpoints ``<prefix>-<step><suffix>`` in one directory, newest kept."""

    def __init__(
        self,
        directory: str | os.PathLike[str] | None = None,
        *,
        prefix: str = "checkpoint",
        suffix: str = ".ckpt",
        keep: int = 2,
    ) -> None:
        if keep < 1:
            raise ValueError("keep must be at least 1")
        self.directory = Path(directory) if directory is not None else default_checkpoint_dir()
        self.prefix = prefix
        self.suffix = suffix
        self.keep = keep

    def path_for(self, step: int) -> Path:
        return self.directory / f"{self.prefix}-{step:08d}{self.suffix}"

    def step_of(self, path: Path) -> int:
        match = _STEP.search(path.name)
        if match is None:
            raise ValueError(f"{path.name} is not a numbered checkpoint")
        return int(match.group(1))

    def all(self) -> list[Path]:
        """Complete checkpoints, oldest first."""
        if not self.directory.is_dir():
            return []
        found = [
            p
            for p in self.directory.glob(f"{self.prefix}-*{self.suffix}")
            if p.is_file() and _STEP.search(p.name)
        ]
        return sorted(found, key=self.step_of)

    def latest(self) -> Path | None:
        found = self.all()
        return found[-1] if found else None

    def latest_step(self) -> int | None:
        latest = self.latest()
        return None if latest is None else self.step_of(latest)

    def save(self, step: int, write: Callable[[Path], object] | bytes) -> Path:
        """Write checkpoint ``step`` atomically and prune old ones.

        ``write`` is raw bytes, or a function that writes the file at the path it is given
        (``lambda p: torch.save(state, p)``, ``lambda p: joblib.dump(model, p)``).
        """
        self.directory.mkdir(parents=True, exist_ok=True)
        target = self.path_for(step)
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=f".{target.name}.", suffix=".tmp")
        os.close(fd)
        try:
            if isinstance(write, bytes):
                Path(tmp).write_bytes(write)
            else:
                write(Path(tmp))
            with open(tmp, "rb") as handle:
                os.fsync(handle.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        for old in self.all()[: -self.keep]:
            old.unlink(missing_ok=True)
        return target
