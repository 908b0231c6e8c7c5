from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from sagelift.contract.config_files import (
    ChannelConfig,
    render_hyperparameters,
    render_input_data_config,
    render_resource_config,
    write_config_files,
)
from sagelift.contract.layout import TrainingLayout

SRC = Path(__file__).resolve().parents[2] / "src"


@dataclass(frozen=True)
class Job:
    layout: TrainingLayout
    python: tuple[str, ...] = (sys.executable,)

    @property
    def root(self) -> Path:
        return self.layout.root

    @property
    def status_file(self) -> Path:
        return self.root.parent / "launcher-status.json"

    def write(self, name: str, source: str, *, mode: int = 0o644) -> Path:
        path = self.layout.code_dir / name
        path.write_text(textwrap.dedent(source), encoding="utf-8")
        path.chmod(mode)
        return path

    def argv(self, *args: str) -> list[str]:
        return [
            *self.python,
            "-m",
            "sagelift.runtime",
            "--root",
            str(self.root),
            "--status-file",
            str(self.status_file),
            *args,
        ]

    def run(
        self, *args: str, timeout: float = 30, launcher: Sequence[str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        job = self if launcher is None else replace(self, python=tuple(launcher))
        return subprocess.run(
            job.argv(*args), capture_output=True, text=True, timeout=timeout, env=launcher_env()
        )

    def start(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self.argv(*args),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=launcher_env(),
        )

    def status(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.status_file.read_text(encoding="utf-8"))
        return data

    def failure(self) -> str:
        return self.layout.failure_file.read_text(encoding="utf-8")


def launcher_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SM_", "SAGEMAKER_"))}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(SRC), env.get("PYTHONPATH")) if p)
    env.update(extra or {})
    return env


MakeJob = Callable[..., Job]


@pytest.fixture
def make_job(tmp_path: Path) -> MakeJob:
    """A layout with the three config files written as the local backend writes them."""

    def make(
        hyperparameters: Mapping[str, Any] | None = None,
        *,
        program: str | None = "train.py",
        channels: Sequence[str] = ("train",),
        name: str = "job",
        base: Path | None = None,
    ) -> Job:
        layout = TrainingLayout((base or tmp_path) / name / "opt" / "ml")
        for directory in layout.directories(tuple(channels)):
            directory.mkdir(parents=True, exist_ok=True)
        write_config_files(
            layout,
            hyperparameters=render_hyperparameters(
                dict(hyperparameters or {}),
                program=program,
                submit_directory=None,
                job_name="sagelift-test-job",
                region="us-east-1",
            ),
            input_data_config=render_input_data_config({c: ChannelConfig() for c in channels}),
            resource_config=render_resource_config(instance_type="local"),
        )
        return Job(layout=layout)

    return make


def wait_for(predicate: Callable[[], bool], timeout: float = 15, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state != "Z"


def stop(process: subprocess.Popen[str], signum: int = signal.SIGTERM) -> tuple[str, str]:
    process.send_signal(signum)
    return process.communicate(timeout=30)
