"""Fidelity against SDK v3's own drivers: what ``contract = "v3"`` gives a script must be what
``ModelTrainer``'s ``sm_train.sh`` gives it.

The drivers (``sagemaker/train/container_drivers`` in the ``sagemaker-train`` wheel, the package
behind ``sagemaker>=3``) are stdlib-only scripts. ``RUN_DRIVERS`` runs their own functions on a
fixture job: ``ModelTrainer``'s hyperparameter encoding (``safe_serialize``), ``set_env`` (its
``sm_training.env``) and the basic script driver's ``hyperparameters_to_cli_args`` over
``SM_HPS``; only the host probes (CPU, GPU, Neuron counts) and the ``sourcecode.json`` read are
replaced by the fixture's values.

``tests/golden/v3/driver.json`` is that output for sagemaker-train 1.27.0, so the comparison
runs offline; the ``toolkit`` tier runs the drivers of a wheel placed in the test cache and
compares live as well (see ``v3_drivers``).
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import pytest

from sagelift.contract.config_files import ConfigFiles
from sagelift.contract.environment import v3_training_env
from sagelift.contract.host import HostFacts
from sagelift.contract.hyperparameters import encode_v3_hyperparameters, to_v3_cmd_args
from sagelift.contract.layout import TrainingLayout

SDK_TRAIN_VERSION = "1.27.0"
GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "v3" / "driver.json"
DRIVERS_IN_WHEEL = "sagemaker/train/container_drivers/"

CASE: dict[str, Any] = {
    "job_name": "v3-fidelity-1",
    "cpus": 4,
    "hyperparameters": {
        "epochs": 3,
        "lr": 0.001,
        "use_amp": True,
        "layers": [64, 32],
        "opts": {"a": 1, "b": True},
        "name": "resnet",
        "dropout-rate": 0.5,
        "note": None,
    },
    "input_data": {
        "train": {
            "TrainingInputMode": "File",
            "S3DistributionType": "FullyReplicated",
            "RecordWrapperType": "None",
        },
    },
    "resource": {
        "current_host": "algo-1",
        "current_instance_type": "ml.m5.xlarge",
        "current_group_name": "homogeneousCluster",
        "hosts": ["algo-1"],
        "instance_groups": [
            {
                "instance_group_name": "homogeneousCluster",
                "instance_type": "ml.m5.xlarge",
                "hosts": ["algo-1"],
            }
        ],
        "network_interface_name": "eth0",
    },
    "entry_script": "train.py",
}

# Run by a plain interpreter: argv = drivers dir, case file, output file.
RUN_DRIVERS = r"""
import importlib.util, json, os, re, sys
drivers, case_path, out_path = sys.argv[1:4]
sys.path.insert(0, drivers)
from common import utils
spec = importlib.util.spec_from_file_location("v3_environment", drivers + "/scripts/environment.py")
environment = importlib.util.module_from_spec(spec)
spec.loader.exec_module(environment)
case = json.load(open(case_path))
environment.num_cpus = lambda: case["cpus"]
environment.num_gpus = lambda: 0
environment.num_neurons = lambda: 0
environment.read_source_code_json = lambda: {"entry_script": case["entry_script"]}
environment.read_distributed_json = lambda: {}
# ModelTrainer: string_hyper_parameters[k] = safe_serialize(v)
hps = {k: utils.safe_serialize(v) for k, v in case["hyperparameters"].items()}
input_data = dict(case["input_data"])
for channel in ("code", "sm_drivers"):  # the channels ModelTrainer appends
    input_data[channel] = {"TrainingInputMode": "File", "S3DistributionType": "FullyReplicated",
                           "RecordWrapperType": "None"}
env_file = out_path + ".env"
environment.set_env(case["resource"], input_data, hps, output_file=env_file)
env = {}
for line in open(env_file).read().splitlines():
    key, value = re.fullmatch(r"export (\w+)='(.*)'", line, re.S).groups()
    env[key] = value
argv = utils.hyperparameters_to_cli_args(json.loads(env["SM_HPS"]))
json.dump({"hyperparameters": hps, "env": env, "argv": argv}, open(out_path, "w"), indent=1,
          sort_keys=True)
"""


def run_drivers(drivers: Path, tmp_path: Path) -> dict[str, Any]:
    """The v3 drivers' own output for ``CASE``."""
    case = tmp_path / "case.json"
    case.write_text(json.dumps(CASE), encoding="utf-8")
    out = tmp_path / "driver.json"
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "TRAINING_JOB_NAME": CASE["job_name"],
    }
    subprocess.run(
        [sys.executable, "-c", RUN_DRIVERS, str(drivers), str(case), str(out)],
        check=True,
        env=env,
        capture_output=True,
        timeout=60,
    )
    result: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    return result


def sagelift_side() -> dict[str, Any]:
    """What sagelift's v3 contract computes for ``CASE``."""
    hps = encode_v3_hyperparameters(CASE["hyperparameters"])
    env = v3_training_env(
        layout=TrainingLayout(Path("/opt/ml")),
        config=ConfigFiles(
            hyperparameters=hps,
            input_data_config=CASE["input_data"],
            resource_config=CASE["resource"],
        ),
        host=HostFacts(num_cpus=CASE["cpus"], num_gpus=0, num_neurons=0),
        entry_script=CASE["entry_script"],
        job_name=CASE["job_name"],
    )
    return {"hyperparameters": hps, "env": env, "argv": to_v3_cmd_args(hps)}


def assert_same_as_driver(theirs: dict[str, Any]) -> None:
    ours = sagelift_side()
    assert ours["hyperparameters"] == theirs["hyperparameters"]
    assert ours["argv"] == theirs["argv"]
    assert ours["env"].pop("TRAINING_JOB_NAME") == CASE["job_name"]
    expected = dict(theirs["env"])
    # The one stated difference: v3 unpacks the code into the code channel, sagelift keeps
    # it at /opt/ml/code, and says so where the code is.
    for key in ("SM_SOURCE_DIR", "SM_CHANNEL_CODE"):
        assert expected[key] == "/opt/ml/input/data/code"
        expected[key] = "/opt/ml/code"
    training = json.loads(expected["SM_TRAINING_ENV"])
    training["channel_input_dirs"]["code"] = "/opt/ml/code"
    assert json.loads(ours["env"].pop("SM_TRAINING_ENV")) == training
    expected.pop("SM_TRAINING_ENV")
    assert sorted(ours["env"]) == sorted(expected)
    assert ours["env"] == expected


def test_v3_contract_matches_the_drivers_recorded_output() -> None:
    theirs = json.loads(GOLDEN.read_text(encoding="utf-8"))
    assert theirs["argv"][:6] == ["--epochs", "3", "--lr", "0.001", "--use_amp", "true"]
    assert "--opts" in theirs["argv"]
    assert theirs["argv"][theirs["argv"].index("--opts") + 1] == '{"a": 1, "b": true}'
    assert_same_as_driver(theirs)


@pytest.fixture(scope="session")
def v3_drivers() -> Path:
    """``container_drivers`` of a sagemaker-train wheel placed in the cache beforehand (tests
    reach no index): ``pip download --no-deps sagemaker-train==1.27.0 -d
    ~/.cache/sagelift-test/sagemaker-train-1.27.0``; skipped without one."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    root = Path(base) / "sagelift-test" / f"sagemaker-train-{SDK_TRAIN_VERSION}"
    drivers = root / DRIVERS_IN_WHEEL
    wheels = sorted(root.glob(f"sagemaker_train-{SDK_TRAIN_VERSION}-*.whl"))
    if not wheels:
        pytest.skip(f"no sagemaker-train {SDK_TRAIN_VERSION} wheel in {root}")
    with (root / "extract.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (drivers / "common" / "utils.py").is_file():
            with zipfile.ZipFile(wheels[0]) as archive:
                for name in archive.namelist():
                    if name.startswith(DRIVERS_IN_WHEEL) and name.endswith(".py"):
                        archive.extract(name, root)
    return drivers


@pytest.mark.toolkit
@pytest.mark.slow
def test_v3_contract_matches_the_drivers_live(v3_drivers: Path, tmp_path: Path) -> None:
    theirs = run_drivers(v3_drivers, tmp_path)
    assert theirs == json.loads(GOLDEN.read_text(encoding="utf-8"))
    assert_same_as_driver(theirs)


V3_SCRIPT = """
import argparse, json, os, sys
parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int)
parser.add_argument("--lr", type=float)
parser.add_argument("--use_amp", type=lambda s: {"true": True, "false": False}[s])
parser.add_argument("--layers", type=json.loads)
parser.add_argument("--opts", type=json.loads)
parser.add_argument("--name")
parser.add_argument("--dropout-rate", type=float)
parser.add_argument("--note", type=json.loads)
args = parser.parse_args()
assert args.use_amp is True and args.layers == [64, 32], args
assert args.opts == {"a": 1, "b": True} and args.note is None, args
seen = {"argv": sys.argv[1:], "env": {k: v for k, v in os.environ.items() if k.startswith("SM_")}}
drivers = os.environ["SM_CHANNEL_SM_DRIVERS"]
for name in ("sourcecode.json", "distributed.json"):
    with open(os.path.join(drivers, name)) as f:
        seen[name] = json.load(f)
with open(os.path.join(os.environ["SM_MODEL_DIR"], "seen.json"), "w") as f:
    json.dump(seen, f)
"""


def _v3_project(root: Path, contract: str) -> Path:
    root.mkdir()
    (root / "data" / "train").mkdir(parents=True)
    (root / "data" / "train" / "x.csv").write_text("1\n", encoding="utf-8")
    (root / "train.py").write_text(V3_SCRIPT, encoding="utf-8")
    hps = "\n".join(
        f"{json.dumps(k)} = {json.dumps(v)}"
        for k, v in CASE["hyperparameters"].items()
        if v is not None
    ).replace('{"a": 1, "b": true}', "{a = 1, b = true}")
    (root / "sagelift.toml").write_text(
        f'entry_point = "train.py"\ncontract = "{contract}"\n\n[hyperparameters]\n{hps}\n'
        '\n[channels]\ntrain = "data/train"\n',
        encoding="utf-8",
    )
    return root


def test_v3_script_completes_locally_and_sees_the_drivers_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sagelift import jobs
    from sagelift.cli import main
    from sagelift.job import JobState

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    CASE["hyperparameters"]["note"] = None  # TOML has no null: the script defaults it
    project = _v3_project(tmp_path / "v3", "v3")
    assert main(["-C", str(project), "run", "--quiet"]) == 0
    (status,) = jobs.list_jobs(project)
    assert status.state == JobState.COMPLETED, status.failure_reason
    opt_ml = project / ".sagelift" / "jobs" / status.name / "opt-ml"
    assert status.model_artifacts is not None
    with tarfile.open(status.model_artifacts) as archive:
        member = archive.extractfile("seen.json")
        assert member is not None
        seen = json.loads(member.read())
    theirs = json.loads(GOLDEN.read_text(encoding="utf-8"))
    assert seen["argv"] == theirs["argv"][:-2]  # all but --note null, absent here
    expected_keys = set(theirs["env"]) - {"SM_HP_NOTE"}
    assert set(seen["env"]) - {"SM_LOG_LEVEL"} == expected_keys - {"SM_LOG_LEVEL"}
    hps = json.loads(seen["env"]["SM_HPS"])
    assert hps == {k: v for k, v in CASE["hyperparameters"].items() if v is not None}
    assert seen["env"]["SM_ENTRY_SCRIPT"] == "train.py"
    assert seen["sourcecode.json"]["entry_script"] == "train.py"
    assert seen["distributed.json"] == {}
    assert "export SM_HPS=" in (opt_ml / "input" / "sm_training.env").read_text()


def test_the_same_script_fails_under_the_v2_contract(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sagelift import jobs
    from sagelift.cli import main
    from sagelift.job import JobState

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    project = _v3_project(tmp_path / "v2", "v2")
    assert main(["-C", str(project), "run", "--quiet"]) == 1
    (status,) = jobs.list_jobs(project)
    assert status.state == JobState.FAILED
    # v2 renders a dict as k=v pairs and True as "True", which the typed parser refuses.
    assert "invalid loads value: 'a=1,b=True'" in (status.failure_reason or "")
