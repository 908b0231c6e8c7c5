"""PyTorch DDP on CPU (gloo) through torchrun across 2 hosts x 2 processes ends with the weights
of one process over the same global batch. Slow: torch is installed once, offline, into a
cached isolated environment (``dependencies = 'isolated'`` with ``torch==2.13.0``, the cache
under ``~/.cache/sagelift-test``); the test skips when that install cannot be done."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest

from sagelift import jobs
from sagelift.backends.base import JobState
from sagelift.backends.environments import ensure_environment
from sagelift.errors import InfrastructureError
from sagelift.runtime.hosts import namespaces_obstacle
from tests.conftest import MakeProject

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        namespaces_obstacle() is not None, reason=f"no host namespaces: {namespaces_obstacle()}"
    ),
]

CACHE = Path.home() / ".cache" / "sagelift-test" / "torch-xdg"
TOLERANCE = 1e-5
ENVIRONMENT = {"OMP_NUM_THREADS": "1"}


@pytest.fixture
def torch_project(
    make_project: MakeProject, clean_environ: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> MakeProject:
    """``ddp_gloo`` projects whose isolated environment (torch) is built once and cached;
    skips when torch cannot be installed (no wheel reachable offline)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(CACHE))
    monkeypatch.setenv("PIP_RETRIES", "0")
    monkeypatch.setenv("PIP_TIMEOUT", "15")
    probe = make_project("ddp_gloo", name="probe", dependencies="isolated")
    try:
        ensure_environment(jobs.load_spec(probe, environ=clean_environ))
    except InfrastructureError as exc:
        pytest.skip(f"torch==2.13.0 cannot be installed here: {exc.message}")

    def make(name: str, **config: object) -> Path:
        return make_project(
            "ddp_gloo", name=name, dependencies="isolated", environment=ENVIRONMENT, **config
        )

    return make  # type: ignore[return-value]


def _weights(path: str | None) -> dict[str, list[float]]:
    assert path is not None
    with tarfile.open(path) as tar:
        member = tar.extractfile("weights.json")
        assert member is not None
        raw = json.load(member)
    return {key: _flat(value) for key, value in raw.items()}


def _flat(value: object) -> list[float]:
    if isinstance(value, list):
        return [x for item in value for x in _flat(item)]
    assert isinstance(value, float)
    return [value]


def test_ddp_over_two_hosts_of_two_processes_ends_with_the_single_process_weights(
    torch_project: MakeProject, clean_environ: dict[str, str]
) -> None:
    single = jobs.run(jobs.load_spec(torch_project("single"), environ=clean_environ))
    assert single.status.state is JobState.COMPLETED, single.status.failure_reason

    lines: list[str] = []
    ddp = jobs.run(
        jobs.load_spec(
            torch_project(
                "ddp",
                instance_count=2,
                distribution={"torch_distributed": {"enabled": True, "processes_per_host": 2}},
            ),
            environ=clean_environ,
        ),
        on_line=lines.append,
    )
    assert ddp.status.state is JobState.COMPLETED, (ddp.status.failure_reason, lines[-40:])
    # Four ranks, two per host, all in one world.
    for rank, host in ((0, "algo-1"), (1, "algo-1"), (2, "algo-2"), (3, "algo-2")):
        assert any(
            line.startswith(f"[{host}] ") and f"rank {rank}/4 on {host} step=5" in line
            for line in lines
        ), (rank, host, lines[-20:])
    expected, got = _weights(single.status.model_artifacts), _weights(ddp.status.model_artifacts)
    assert expected.keys() == got.keys() == {"weight", "bias"}
    for key in expected:
        assert got[key] == pytest.approx(expected[key], abs=TOLERANCE), key
    # Not trivially equal: the ranks trained (rank 0's loss fell over the steps).
    losses = [float(line.rsplit("loss=", 1)[1]) for line in lines if "rank 0/4" in line]
    assert len(losses) == 6
    assert losses[-1] < losses[0] / 2
