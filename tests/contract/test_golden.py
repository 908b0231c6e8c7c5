"""Golden files: the /opt/ml/input/config files and the SM_* environment, byte for byte.

Regenerate after an intended change with ``SAGELIFT_UPDATE_GOLDEN=1 pytest tests/contract``
and review the diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from sagelift.contract.config_files import read_config_files
from sagelift.contract.environment import training_env
from sagelift.contract.host import HostFacts
from sagelift.contract.layout import CONTAINER_ROOT, TrainingLayout

from .jobs import JOBS, FixtureJob

GOLDEN = Path(__file__).parent.parent / "golden"

# vCPUs and GPUs of the fixture instance types, so environment.json is machine-independent.
HOSTS = {
    "ml.m5.large": HostFacts(num_cpus=2, num_gpus=0, num_neurons=0),
    "ml.m5.xlarge": HostFacts(num_cpus=4, num_gpus=0, num_neurons=0),
    "ml.g5.xlarge": HostFacts(num_cpus=4, num_gpus=1, num_neurons=0),
}


def _updating() -> bool:
    return os.environ.get("SAGELIFT_UPDATE_GOLDEN") == "1"


def _check(golden: Path, actual: bytes) -> None:
    if _updating():
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_bytes(actual)
    assert golden.exists(), f"{golden} is missing; run with SAGELIFT_UPDATE_GOLDEN=1"
    assert actual == golden.read_bytes(), (
        f"{golden.relative_to(GOLDEN.parent)} differs; if the change is intended, "
        "regenerate with SAGELIFT_UPDATE_GOLDEN=1 and review the diff"
    )


def _expected_files(job: FixtureJob) -> set[str]:
    return {f"{stem}.json" for stem in job.rendered()} | {"environment.json"}


@pytest.mark.parametrize("job", JOBS, ids=lambda job: job.name)
def test_config_files_match_golden(job: FixtureJob, tmp_path: Path) -> None:
    layout = job.materialize(tmp_path / "opt" / "ml")
    written = sorted(p.name for p in layout.config_dir.iterdir())
    assert written == sorted(f"{stem}.json" for stem in job.rendered())
    for name in written:
        _check(GOLDEN / job.name / name, (layout.config_dir / name).read_bytes())


@pytest.mark.parametrize("job", JOBS, ids=lambda job: job.name)
def test_container_environment_matches_golden(job: FixtureJob, tmp_path: Path) -> None:
    config = read_config_files(job.materialize(tmp_path / "opt" / "ml"))
    env = training_env(
        layout=TrainingLayout(CONTAINER_ROOT), config=config, host=HOSTS[job.instance_type]
    )
    rendered = json.dumps(env, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    _check(GOLDEN / job.name / "environment.json", rendered.encode("utf-8"))


def test_golden_tree_has_no_stale_files() -> None:
    expected = {job.name: _expected_files(job) for job in JOBS}
    # tests/golden/requests/ belongs to the SageMaker request tests, v3/ to the SDK v3 ones,
    # sdk/ to the requests captured from SDK v2 (tests/sagemaker/test_sdk_kinds.py).
    actual = {
        d.name: {f.name for f in d.iterdir()}
        for d in GOLDEN.iterdir()
        if d.is_dir() and d.name not in ("requests", "v3", "sdk")
    }
    assert actual == expected
