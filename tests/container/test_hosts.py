"""A job of several instances on the container backend: one container per host on a network
of the job's own, each named algo-i and finding the others by name."""

from __future__ import annotations

import json
import subprocess
import tarfile

import pytest

from sagelift import jobs
from sagelift.backends.base import JobState
from sagelift.images.base import BaseImage
from tests.conftest import MakeProject

pytestmark = pytest.mark.slow

SHARDED = {"train": {"path": "data", "distribution": "ShardedByS3Key"}}


def _model(path: str | None) -> dict[str, str]:
    assert path is not None
    with tarfile.open(path) as tar:
        return {
            m.name.removeprefix("./"): tar.extractfile(m).read().decode()  # type: ignore[union-attr]
            for m in tar.getmembers()
            if m.isfile()
        }


def _leftovers(job: str, env: dict[str, str]) -> list[str]:
    """Containers and networks of ``job`` still present."""
    found = []
    listings = (["ps", "-a", "--format", "{{.Names}}"], ["network", "ls", "--format", "{{.Name}}"])
    for args in listings:
        out = subprocess.run(
            ["podman", *args], capture_output=True, text=True, env=env, check=True, timeout=60
        )
        found += [n for n in out.stdout.split() if job in n]
    return found


@pytest.fixture
def container_job(
    make_project: MakeProject,
    container_environ: dict[str, str],
    cpu_base_image: BaseImage,
    monkeypatch: pytest.MonkeyPatch,
) -> MakeProject:
    monkeypatch.setenv("SAGELIFT_IMAGE_URI", cpu_base_image.ref)

    def make(fixture: str, **config: object) -> object:
        return make_project(fixture, backend="container", **config)

    return make  # type: ignore[return-value]


def test_two_containers_find_each_other_by_name_and_complete_with_the_total(
    container_job: MakeProject, clean_environ: dict[str, str], container_environ: dict[str, str]
) -> None:
    project = container_job("two_hosts", instance_count=2, channels=SHARDED)
    lines: list[str] = []
    result = jobs.run(jobs.load_spec(project, environ=clean_environ), on_line=lines.append)
    assert result.status.state is JobState.COMPLETED, result.status.failure_reason
    assert any(line.startswith("[algo-1] algo-1 holds") and "partial 90" in line for line in lines)
    assert any(line.startswith("[algo-2] algo-2 holds") and "partial 120" in line for line in lines)
    assert "[algo-1] total 210" in lines
    assert _model(result.status.model_artifacts) == {
        "total.txt": "210",
        "algo-1.txt": "90",
        "algo-2.txt": "120",
    }
    assert any(n.startswith("algo-2: Completed") for n in result.status.notes)
    assert _leftovers(result.handle.name, container_environ) == []


def test_one_container_failing_fails_the_job_with_its_reason_and_stops_the_others(
    container_job: MakeProject, clean_environ: dict[str, str], container_environ: dict[str, str]
) -> None:
    project = container_job(
        "two_hosts",
        instance_count=2,
        channels=SHARDED,
        environment={"FAIL_ON": "algo-2"},
        stop_grace=2,
    )
    result = jobs.run(jobs.load_spec(project, environ=clean_environ))
    assert result.status.state is JobState.FAILED
    assert result.status.failure_reason is not None
    assert result.status.failure_reason.startswith("algo-2: ")
    assert "algo-2 was told to fail" in result.status.failure_reason
    assert any(n.startswith("algo-1: Stopped") for n in result.status.notes)
    assert _leftovers(result.handle.name, container_environ) == []


def test_max_runtime_and_stop_reach_every_container(
    container_job: MakeProject, clean_environ: dict[str, str]
) -> None:
    project = container_job(
        "two_hosts",
        instance_count=2,
        channels=SHARDED,
        environment={"HANG_ON": "algo-2"},
        max_runtime=4,
        stop_grace=1,
    )
    result = jobs.run(jobs.load_spec(project, environ=clean_environ))
    assert result.status.state is JobState.STOPPED
    assert result.status.secondary_status == "MaxRuntimeExceeded"
    notes = json.dumps(result.status.notes)
    assert "algo-2: MaxRuntimeExceeded" in notes or "algo-2: Stopped" in notes
