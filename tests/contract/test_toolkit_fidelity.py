"""Fidelity against the official toolkit: sagemaker-training must see what sagelift computes.

A side venv with ``sagemaker-training`` (built from its sdist, so it needs gcc and the Python
headers) is cached under ``~/.cache/sagelift-test/toolkit-venv``. For every fixture job the
toolkit reads the same ``/opt/ml`` tree (``SAGEMAKER_BASE_DIR``) and its
``Environment().to_env_vars()`` must equal ``training_env(...)`` string for string: every JSON
value the toolkit renders is compact with sorted keys, so no key-order allowance is needed.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from sagelift.contract.config_files import read_config_files
from sagelift.contract.environment import entry_point_name, training_env, user_args
from sagelift.contract.host import HostFacts, detect_host_facts
from sagelift.contract.layout import TrainingLayout

from .jobs import JOBS, JOBS_BY_NAME, FixtureJob

pytestmark = [pytest.mark.toolkit, pytest.mark.slow]

TOOLKIT_VERSION = "5.1.4"
PLAIN_VARIABLES = ("CURRENT_HOST", "SAGEMAKER_JOB_NAME", "SAGEMAKER_REGION", "TRAINING_JOB_NAME")

# Run by the toolkit's interpreter: SAGEMAKER_BASE_DIR must be set before the import.
DUMP_ENVIRONMENT = """
import json, os, sys
from sagemaker_training import environment
env = environment.Environment()
plain = {name: os.environ.get(name) for name in json.loads(sys.argv[2])}
with open(sys.argv[1], "w") as f:
    json.dump({"sm": env.to_env_vars(), "plain": plain, "args": env.to_cmd_args(),
               "entry_point": env.user_entry_point}, f)
"""

# The user script the toolkit's `train` runs: records what it was given.
RECORDING_SCRIPT = """
import json, os, sys
with open(os.path.join(os.environ["SM_MODEL_DIR"], "seen.json"), "w") as f:
    json.dump({"argv": sys.argv[1:], "env": dict(os.environ)}, f)
"""


def _cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "sagelift-test" / "toolkit-venv"


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"sagemaker-training toolkit unavailable: {reason}")
    pytest.skip(f"sagemaker-training toolkit unavailable: {reason}")


def _build(venv: Path) -> str | None:
    """Create the venv and install the toolkit; None on success, else why not."""
    shutil.rmtree(venv, ignore_errors=True)
    steps = (
        [sys.executable, "-m", "venv", str(venv)],
        [
            str(venv / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "--quiet",
            f"sagemaker-training=={TOOLKIT_VERSION}",
        ],
    )
    for argv in steps:
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=900)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"{argv[2:5]}: {exc}"
        if done.returncode != 0:
            return f"{' '.join(argv[2:])} exited {done.returncode}: {done.stderr[-2000:]}"
    return None


@pytest.fixture(scope="session")
def toolkit_python() -> Path:
    """The interpreter of a venv with sagemaker-training installed (built once, then cached)."""
    tag = f"sagemaker-training-{TOOLKIT_VERSION}-py{sys.version_info[0]}{sys.version_info[1]}"
    root = _cache_root()
    root.mkdir(parents=True, exist_ok=True)
    venv = root / tag
    marker = venv / ".sagelift-complete"
    with (root / f"{tag}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not marker.exists():
            failure = _build(venv)
            if failure is not None:
                shutil.rmtree(venv, ignore_errors=True)
                _unavailable(failure)
            marker.write_text(TOOLKIT_VERSION, encoding="utf-8")
    return venv / "bin" / "python"


def _toolkit_env(layout: TrainingLayout, job_name: str, home: Path) -> dict[str, str]:
    """A clean environment: no AWS configuration, no SM_* leaking in from the test runner."""
    home.mkdir(parents=True, exist_ok=True)
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "SAGEMAKER_BASE_DIR": str(layout.root),
        # Skips the toolkit's DNS wait for algo-N host names.
        "SM_STUDIO_LOCAL_MODE": "true",
        # Set by the platform on SageMaker; sagelift derives it from sagemaker_job_name.
        "TRAINING_JOB_NAME": job_name,
        "AWS_CONFIG_FILE": str(home / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "no-aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }


def _assert_same(ours: dict[str, str], theirs: dict[str, str]) -> None:
    missing = sorted(set(theirs) - set(ours))
    assert not missing, f"sagelift lacks toolkit variables {missing}"
    extra = sorted(k for k in ours if k.startswith("SM_") and k not in theirs)
    assert not extra, f"sagelift sets SM_* variables the toolkit does not: {extra}"
    different = {k: (ours[k], theirs[k]) for k in theirs if ours[k] != theirs[k]}
    assert not different, f"(sagelift, toolkit) differ: {different}"


@pytest.mark.parametrize("job", JOBS, ids=lambda job: job.name)
def test_environment_matches_toolkit(job: FixtureJob, toolkit_python: Path, tmp_path: Path) -> None:
    layout = job.materialize(tmp_path / "opt" / "ml")
    out = tmp_path / "toolkit.json"
    done = subprocess.run(
        [str(toolkit_python), "-c", DUMP_ENVIRONMENT, str(out), json.dumps(PLAIN_VARIABLES)],
        env=_toolkit_env(layout, job.job_name, tmp_path / "home"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    toolkit = json.loads(out.read_text(encoding="utf-8"))

    config = read_config_files(layout)
    ours = training_env(layout=layout, config=config, host=detect_host_facts())

    _assert_same(ours, toolkit["sm"])
    assert {name: ours.get(name) for name in PLAIN_VARIABLES} == toolkit["plain"]
    assert user_args(config) == toolkit["args"]
    assert entry_point_name(config) == toolkit["entry_point"]


# Config files sagelift does not write itself but a job may still receive.
HAND_WRITTEN: dict[str, dict[str, Any]] = {
    "sdk-v3-raw-strings": {
        "hyperparameters": {"name": "abc", "epochs": "3", "flag": "true", "path": "/a b"},
        "inputdataconfig": {"train": {"TrainingInputMode": "File"}},
        "resourceconfig": {"current_host": "algo-1", "hosts": ["algo-1"]},
    },
    "heterogeneous-with-topology": {
        "hyperparameters": {
            "sagemaker_program": '"train.py"',
            "sagemaker_job_name": '"hetero"',
            "sagemaker_distribution_instance_groups": '["gpus"]',
            "lr": "0.1",
        },
        "inputdataconfig": {},
        "resourceconfig": {
            "current_host": "algo-3",
            "current_instance_type": "ml.p4d.24xlarge",
            "current_group_name": "gpus",
            "hosts": ["algo-1", "algo-2", "algo-3"],
            "instance_groups": [
                {
                    "instance_group_name": "cpus",
                    "instance_type": "ml.c5.xlarge",
                    "hosts": ["algo-1"],
                },
                {
                    "instance_group_name": "gpus",
                    "instance_type": "ml.p4d.24xlarge",
                    "hosts": ["algo-2", "algo-3"],
                },
            ],
            "network_interface_name": "eth0",
            "topology": [{"hostName": "algo-2", "capacityUnitId": "u1"}],
        },
    },
}


@pytest.mark.parametrize("name", sorted(HAND_WRITTEN))
def test_hand_written_config_matches_toolkit(
    name: str, toolkit_python: Path, tmp_path: Path
) -> None:
    layout = TrainingLayout(tmp_path / "opt" / "ml")
    for directory in layout.directories():
        directory.mkdir(parents=True, exist_ok=True)
    for stem, content in HAND_WRITTEN[name].items():
        (layout.config_dir / f"{stem}.json").write_text(json.dumps(content), encoding="utf-8")
    out = tmp_path / "toolkit.json"
    config = read_config_files(layout)
    ours = training_env(layout=layout, config=config, host=detect_host_facts())
    done = subprocess.run(
        [str(toolkit_python), "-c", DUMP_ENVIRONMENT, str(out), json.dumps(PLAIN_VARIABLES)],
        env=_toolkit_env(layout, ours.get("TRAINING_JOB_NAME", ""), tmp_path / "home"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    toolkit = json.loads(out.read_text(encoding="utf-8"))
    sm = toolkit["sm"]
    if "TRAINING_JOB_NAME" not in ours:
        # The platform always sets TRAINING_JOB_NAME; without sagemaker_job_name sagelift
        # cannot know it, so only job_name inside SM_TRAINING_ENV may differ ("" vs null).
        training = json.loads(sm["SM_TRAINING_ENV"])
        assert training["job_name"] == ""
        training["job_name"] = None
        sm["SM_TRAINING_ENV"] = json.dumps(training, sort_keys=True, separators=(",", ":"))
    _assert_same(ours, sm)
    plain = {k: v for k, v in toolkit["plain"].items() if k != "TRAINING_JOB_NAME"}
    assert {k: ours.get(k) for k in plain} == plain
    assert user_args(config) == toolkit["args"]


def test_framework_module_matches_toolkit(toolkit_python: Path, tmp_path: Path) -> None:
    job = JOBS_BY_NAME["minimal"]
    layout = job.materialize(tmp_path / "opt" / "ml")
    out = tmp_path / "toolkit.json"
    env = _toolkit_env(layout, job.job_name, tmp_path / "home")
    env["SAGEMAKER_TRAINING_MODULE"] = "sagemaker_pytorch_container.training:main"
    done = subprocess.run(
        [str(toolkit_python), "-c", DUMP_ENVIRONMENT, str(out), json.dumps(PLAIN_VARIABLES)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    ours = training_env(
        layout=layout,
        config=read_config_files(layout),
        host=detect_host_facts(),
        framework_module="sagemaker_pytorch_container.training:main",
    )
    _assert_same(ours, json.loads(out.read_text(encoding="utf-8"))["sm"])


def test_script_run_by_toolkit_sees_training_env(toolkit_python: Path, tmp_path: Path) -> None:
    """End to end: the toolkit's own `train` runs a script; its argv and SM_* env are ours."""
    source = tmp_path / "src"
    source.mkdir()
    (source / "train.py").write_text(RECORDING_SCRIPT, encoding="utf-8")
    job = replace(JOBS_BY_NAME["typed"], submit_directory=str(source))
    layout = job.materialize(tmp_path / "opt" / "ml")
    done = subprocess.run(
        [str(toolkit_python.parent / "train")],
        env=_toolkit_env(layout, job.job_name, tmp_path / "home"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    seen = json.loads((layout.model_dir / "seen.json").read_text(encoding="utf-8"))

    config = read_config_files(layout)
    ours = training_env(layout=layout, config=config, host=detect_host_facts())
    # SM_STUDIO_LOCAL_MODE is the test's own knob, passed through by the toolkit.
    theirs = {
        k: v for k, v in seen["env"].items() if k.startswith("SM_") and k != "SM_STUDIO_LOCAL_MODE"
    }
    _assert_same(ours, theirs)
    for name in PLAIN_VARIABLES:
        assert seen["env"].get(name) == ours[name], name
    assert seen["argv"] == user_args(config)


def test_host_facts_match_toolkit(toolkit_python: Path, tmp_path: Path) -> None:
    layout = JOBS_BY_NAME["minimal"].materialize(tmp_path / "opt" / "ml")
    probe = (
        "import json; from sagemaker_training import environment as e; "
        "print(json.dumps([e.num_cpus(), e.num_gpus(), e.num_neurons('ml.m5.large'), "
        "e.validate_smddprun(), e.validate_smddpmprun()]))"
    )
    env = _toolkit_env(layout, "host-facts", tmp_path / "home")
    done = subprocess.run(
        [str(toolkit_python), "-c", probe], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    cpus, gpus, neurons, smddprun, smddpmprun = json.loads(done.stdout.strip().splitlines()[-1])
    assert detect_host_facts() == HostFacts(
        num_cpus=cpus,
        num_gpus=gpus,
        num_neurons=neurons,
        smddprun_installed=smddprun,
        smddpmprun_installed=smddpmprun,
    )
