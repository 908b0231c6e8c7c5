"""Layered settings: defaults < user file < project file < SAGELIFT_* < flags, with profiles."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sagelift.config import load_config
from sagelift.errors import ConfigError


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    root.mkdir()
    (root / "train.py").write_text("print('hi')\n")
    return root


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_precedence_and_sources(project, tmp_path):
    home = tmp_path / "home"
    write(home / ".config/sagelift/config.toml", 'max_runtime = 100\nbase_job_name = "user"\n')
    write(
        project / "sagelift.toml",
        'entry_point = "train.py"\nbase_job_name = "proj"\nstop_grace = 5\n'
        "[hyperparameters]\nepochs = 3\nlr = 0.1\n",
    )
    environ = {"HOME": str(home), "SAGELIFT_STOP_GRACE": "7"}
    config = load_config(
        project, environ=environ, cli={"hyperparameters.epochs": 5, "job_name": "x-1"}
    )
    assert config.get("max_runtime") == 100
    assert config.source("max_runtime").endswith("config.toml")
    assert config.get("base_job_name") == "proj"
    assert config.source("base_job_name") == "sagelift.toml"
    assert config.get("stop_grace") == 7
    assert config.source("stop_grace") == "environment (SAGELIFT_*)"
    assert config.table("hyperparameters") == {"epochs": 5, "lr": 0.1}
    assert config.source("hyperparameters.epochs") == "command line"
    assert config.source("hyperparameters.lr") == "sagelift.toml"
    assert config.get("instance_type") == "local"
    assert config.source("instance_type") == "default"


def test_profile_overrides_its_file(project, tmp_path):
    write(
        project / "sagelift.toml",
        'entry_point = "train.py"\ninstance_type = "local"\n'
        '[profile.gpu]\ninstance_type = "local_gpu"\n[profile.gpu.hyperparameters]\nbatch = 64\n',
    )
    environ = {"HOME": str(tmp_path)}
    plain = load_config(project, environ=environ)
    assert plain.get("instance_type") == "local"
    gpu = load_config(project, environ=environ, profile="gpu")
    assert gpu.get("instance_type") == "local_gpu"
    assert gpu.source("instance_type") == "sagelift.toml [profile.gpu]"
    assert gpu.table("hyperparameters") == {"batch": 64}
    via_env = load_config(project, environ={**environ, "SAGELIFT_PROFILE": "gpu"})
    assert via_env.get("instance_type") == "local_gpu"


def test_pyproject_tool_table(project, tmp_path):
    write(project / "pyproject.toml", '[tool.sagelift]\nentry_point = "train.py"\n')
    config = load_config(project, environ={"HOME": str(tmp_path)})
    assert config.get("entry_point") == "train.py"
    assert config.source("entry_point") == "pyproject.toml"


def test_sagelift_toml_wins_over_pyproject(project, tmp_path):
    write(project / "pyproject.toml", '[tool.sagelift]\nentry_point = "a.py"\n')
    write(project / "sagelift.toml", 'entry_point = "train.py"\n')
    assert load_config(project, environ={"HOME": str(tmp_path)}).get("entry_point") == "train.py"


def test_missing_sagelift_config_file_is_an_error(project, tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(project, environ={"SAGELIFT_CONFIG": str(tmp_path / "nope.toml")})


def test_config_command_shows_value_and_source(project, tmp_path):
    write(project / "sagelift.toml", 'entry_point = "train.py"\n[hyperparameters]\nlr = 0.1\n')
    result = subprocess.run(
        [sys.executable, "-m", "sagelift", "-C", str(project), "config", "--json", "--hp", "x=1"],
        capture_output=True,
        text=True,
        env={**os.environ, "HOME": str(tmp_path)},
        check=True,
    )
    shown = json.loads(result.stdout)
    assert shown["hyperparameters.lr"] == {"value": 0.1, "source": "sagelift.toml"}
    assert shown["hyperparameters.x"] == {"value": 1, "source": "command line"}
    assert shown["instance_type"] == {"value": "local", "source": "default"}
    table = subprocess.run(
        [sys.executable, "-m", "sagelift", "-C", str(project), "config"],
        capture_output=True,
        text=True,
        env={**os.environ, "HOME": str(tmp_path)},
        check=True,
    ).stdout
    assert "entry_point" in table
    assert "sagelift.toml" in table
