"""Job records are readable by their owner only, and sagelift never repeats a secret.

A record holds the job's hyperparameters (``job.json``, ``hyperparameters.json``) and its
output; whatever the umask, sagelift creates its directories 0700 and its files 0600. The
files the script itself writes (model, output data, checkpoints) and the copies of the user's
code and data keep their own modes: the 0700 record directory is what guards them.

Hyperparameters named like secrets still reach the script as given, but sagelift's own output
(the submit warning aside, which names them) shows ``***``.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import sagelift as sagelift_package
from sagelift import jobs
from sagelift.backends.base import JobState
from sagelift.redaction import (
    MASK,
    is_secret_name,
    mask_arguments,
    secret_names,
    secrets_notice,
)
from sagelift.tracking.run_data import run_params
from tests.suites.backend_suite import read_member

SECRET = "s3cr3t-value-1234"
HYPERPARAMETERS = {"api_token": SECRET, "dbPassword": "pw-5678", "epochs": 2, "max_tokens": 9}

# Under the layout, what the script writes and the copies of the user's files keep their modes.
SCRIPT_AREAS = ("opt-ml/code", "opt-ml/model", "opt-ml/output/data", "opt-ml/checkpoints")


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The loosest umask: every mode sagelift gets must be one it asked for."""
    old = os.umask(0)
    yield
    os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def loose_files(record: Path) -> dict[str, str]:
    """Files in ``record`` that sagelift wrote and that its group or others could read."""
    found = {}
    for path in sorted(record.rglob("*")):
        rel = path.relative_to(record).as_posix()
        if any(rel == area or rel.startswith(area + "/") for area in SCRIPT_AREAS):
            continue
        if path.is_file() and not path.is_symlink() and mode(path) & 0o077:
            found[rel] = oct(mode(path))
    return found


# -- permissions ---------------------------------------------------------------------------


@pytest.mark.parametrize("fixture", ["ok", "crash"])
def test_a_finished_jobs_record_is_private(make_project, clean_environ, open_umask, fixture):
    project = make_project(fixture, hyperparameters=HYPERPARAMETERS)
    spec = jobs.load_spec(project, environ=clean_environ, instance_type="local")
    result = jobs.run(spec)
    record = result.handle.record_dir
    assert result.status.state in (JobState.COMPLETED, JobState.FAILED)
    for directory in (project / ".sagelift", project / ".sagelift" / "jobs", record):
        assert mode(directory) == 0o700, directory
    written = {p.relative_to(record).as_posix() for p in record.rglob("*") if p.is_file()}
    expected = {
        "job.json",
        "status.json",
        "output.log",
        "supervisor.log",
        "supervisor.pid",
        "launcher-status.json",
        "opt-ml/input/config/hyperparameters.json",
        "opt-ml/input/config/inputdataconfig.json",
        "opt-ml/input/config/resourceconfig.json",
    }
    expected.add("opt-ml/output/success" if fixture == "ok" else "opt-ml/output/failure")
    assert expected <= written
    assert loose_files(record) == {}
    assert mode(record / "opt-ml" / "input" / "config") == 0o700
    hps = json.loads((record / "opt-ml/input/config/hyperparameters.json").read_text())
    assert json.loads(hps["api_token"]) == SECRET  # SageMaker JSON-encodes each value


def test_an_existing_sagelift_dir_is_tightened(make_project, clean_environ):
    project = make_project("ok")
    (project / ".sagelift" / "jobs").mkdir(parents=True, mode=0o755)
    os.chmod(project / ".sagelift", 0o755)
    spec = jobs.load_spec(project, environ=clean_environ, instance_type="local")
    jobs.run(spec)
    assert mode(project / ".sagelift") == 0o700
    assert mode(project / ".sagelift" / "jobs") == 0o700


# -- secret-looking hyperparameters ---------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "api_token",
        "hf_token",
        "authToken",
        "password",
        "db_password",
        "dbPassword",
        "PASSWD",
        "client_secret",
        "api_key",
        "apiKey",
        "apikey",
        "AWS_ACCESS_KEY_ID",
        "private-key",
        "credentials",
        "gcp.credential",
    ],
)
def test_secret_looking_names(name):
    assert is_secret_name(name)


@pytest.mark.parametrize(
    "name", ["epochs", "max_tokens", "tokenizer", "num_tokens", "keyframe", "key", "monkey"]
)
def test_ordinary_names(name):
    assert not is_secret_name(name)


def test_masking_helpers():
    assert secret_names(HYPERPARAMETERS) == ("api_token", "dbPassword")
    argv = ["python", "train.py", "--api_token", SECRET, "--epochs", "2", "--dbPassword=pw"]
    assert mask_arguments(argv, ["api_token", "dbPassword"]) == [
        "python",
        "train.py",
        "--api_token",
        MASK,
        "--epochs",
        "2",
        f"--dbPassword={MASK}",
    ]
    notice = secrets_notice(("api_token", "dbPassword"), remote=True)
    assert "api_token, dbPassword" in notice
    assert "secrets manager" in notice
    assert "SageMaker" in notice
    assert "\n" not in notice


def test_mlflow_params_are_masked():
    assert run_params(HYPERPARAMETERS) == {
        "api_token": MASK,
        "dbPassword": MASK,
        "epochs": "2",
        "max_tokens": "9",
    }


def sagelift(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"HOME": str(project.parent / "home"), "PATH": os.environ.get("PATH", "")}
    env["PYTHONPATH"] = str(Path(sagelift_package.__file__).resolve().parents[1])
    return subprocess.run(
        [sys.executable, "-m", "sagelift", *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_warns_masks_its_own_output_and_the_script_gets_the_values(make_project):
    project = make_project("ok", hyperparameters=HYPERPARAMETERS, instance_type="local")
    (project.parent / "home").mkdir(exist_ok=True)
    run = sagelift(project, "run")
    assert run.returncode == 0, run.stderr
    shown = run.stdout + run.stderr
    warnings = [line for line in shown.splitlines() if "look like secrets" in line]
    assert len(warnings) == 1
    assert "api_token, dbPassword" in warnings[0]
    starting = next(line for line in shown.splitlines() if "starting" in line)
    assert f"--api_token {MASK}" in starting
    assert f"--dbPassword {MASK}" in starting
    assert "--max_tokens 9" in starting
    assert SECRET not in shown
    assert "pw-5678" not in shown

    (record,) = (project / ".sagelift" / "jobs").iterdir()
    for name in ("output.log", "supervisor.log", "status.json"):
        assert SECRET not in (record / name).read_text(), name
    model = next(record.rglob("model.tar.gz"))
    seen = json.loads(read_member(model, "env.json"))
    assert seen["argv"][seen["argv"].index("--api_token") + 1] == SECRET
    assert json.loads(seen["env"]["SM_HPS"])["api_token"] == SECRET

    config = sagelift(project, "config")
    assert config.returncode == 0, config.stderr
    line = next(row for row in config.stdout.splitlines() if "hyperparameters.api_token" in row)
    assert MASK in line
    assert SECRET not in config.stdout
    as_json = json.loads(sagelift(project, "config", "--json").stdout)
    assert as_json["hyperparameters.api_token"]["value"] == MASK
    assert as_json["hyperparameters.epochs"]["value"] == 2


def test_a_real_mlflow_run_logs_masked_params(make_project, clean_environ):
    pytest.importorskip("mlflow")
    import mlflow

    from sagelift.tracking.state import run_info

    project = make_project(
        "ok", hyperparameters=HYPERPARAMETERS, tracking={"uri": "local", "experiment": "e"}
    )
    spec = jobs.load_spec(project, environ=clean_environ, instance_type="local")
    settings = jobs.load_settings(project, environ=clean_environ)
    result = jobs.run(spec, settings=settings)
    assert result.ok, result.status.failure_reason
    run = run_info(result.handle.record_dir)
    assert run is not None
    params = mlflow.tracking.MlflowClient(tracking_uri=run.uri).get_run(run.run_id).data.params
    assert params == {"api_token": MASK, "dbPassword": MASK, "epochs": "2", "max_tokens": "9"}
    seen = json.loads(read_member(result.status.model_artifacts or "", "env.json"))
    assert json.loads(seen["env"]["SM_HPS"])["api_token"] == SECRET
