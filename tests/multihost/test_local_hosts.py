"""A job of several instances run as that many hosts on this machine (the local backend)."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest

from sagelift import jobs
from sagelift.backends.base import JobState
from sagelift.contract.cluster import LOCAL_MASTER_PORTS
from sagelift.errors import SpecError, UnsupportedFeature
from sagelift.runtime.hosts import namespaces_obstacle

needs_hosts = pytest.mark.skipif(
    namespaces_obstacle() is not None, reason=f"no host namespaces: {namespaces_obstacle()}"
)
SHARDED = {"train": {"path": "data", "distribution": "ShardedByS3Key"}}
REPLICATED = {"train": "data"}


def _model(status_model: str | None) -> dict[str, str]:
    assert status_model is not None
    with tarfile.open(status_model) as tar:
        return {
            m.name.removeprefix("./"): tar.extractfile(m).read().decode()  # type: ignore[union-attr]
            for m in tar.getmembers()
            if m.isfile()
        }


@needs_hosts
def test_two_hosts_find_each_other_by_name_and_complete_with_the_total(
    make_project, clean_environ
) -> None:
    project = make_project("two_hosts", instance_count=2, channels=SHARDED)
    lines: list[str] = []
    result = jobs.run(jobs.load_spec(project, environ=clean_environ), on_line=lines.append)
    assert result.status.state is JobState.COMPLETED, result.status.failure_reason
    # Sharded round-robin by sorted key: algo-1 part-1,3,5 (90), algo-2 part-2,4,6 (120).
    assert any(line.startswith("[algo-1] algo-1 holds") and "partial 90" in line for line in lines)
    assert any(line.startswith("[algo-2] algo-2 holds") and "partial 120" in line for line in lines)
    assert "[algo-1] total 210" in lines
    model = _model(result.status.model_artifacts)
    assert model == {"total.txt": "210", "algo-1.txt": "90", "algo-2.txt": "120"}
    assert any(n.startswith("algo-2: Completed") for n in result.status.notes)


@needs_hosts
def test_two_multi_host_jobs_at_once_each_get_their_own_addresses(
    make_project, clean_environ
) -> None:
    handles = [
        jobs.submit(
            jobs.load_spec(
                make_project(
                    "two_hosts",
                    name=name,
                    instance_count=2,
                    channels=channels,
                    environment={"LISTEN_WAIT": "3"},
                ),
                environ=clean_environ,
            )
        )
        for name, channels in (("first", SHARDED), ("second", REPLICATED))
    ]
    statuses = [jobs.wait(handle, timeout=120) for handle in handles]
    for status in statuses:
        assert status.state is JobState.COMPLETED, status.failure_reason
    # Both algo-1s listened on the same port at once, each at its own job's address.
    assert [_model(s.model_artifacts)["total.txt"] for s in statuses] == ["210", "420"]
    addresses = [
        {line.split("\t")[1]: line.split("\t")[0] for line in text.splitlines()[2:]}
        for text in (
            next(handle.record_dir.parent.parent.rglob("algo-1.etc-hosts")).read_text()
            for handle in handles
        )
    ]
    assert addresses[0]["algo-1"] != addresses[1]["algo-1"]
    assert not any(a.startswith("127.0.0.") for hosts in addresses for a in hosts.values())


@needs_hosts
def test_fully_replicated_gives_every_host_all_files(make_project, clean_environ) -> None:
    project = make_project("two_hosts", instance_count=2, channels=REPLICATED)
    result = jobs.run(jobs.load_spec(project, environ=clean_environ))
    assert result.status.state is JobState.COMPLETED, result.status.failure_reason
    assert _model(result.status.model_artifacts)["total.txt"] == "420"


@needs_hosts
def test_one_host_failing_fails_the_job_with_its_reason_and_stops_the_others(
    make_project, clean_environ
) -> None:
    project = make_project(
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


@needs_hosts
def test_max_runtime_reaches_every_host(make_project, clean_environ) -> None:
    project = make_project(
        "two_hosts",
        instance_count=2,
        channels=SHARDED,
        environment={"HANG_ON": "algo-2"},
        max_runtime=3,
        stop_grace=1,
    )
    result = jobs.run(jobs.load_spec(project, environ=clean_environ))
    assert result.status.state is JobState.STOPPED
    assert result.status.secondary_status == "MaxRuntimeExceeded"


def test_sharded_channel_with_fewer_files_than_hosts_is_refused(
    make_project, clean_environ, tmp_path: Path
) -> None:
    project = make_project("two_hosts", instance_count=8, channels=SHARDED)
    with pytest.raises(SpecError, match="ShardedByS3Key over 6 files for 8 instances"):
        jobs.submit(jobs.load_spec(project, environ=clean_environ))
    assert not (project / ".sagelift" / "jobs").exists() or not any(
        (project / ".sagelift" / "jobs").iterdir()
    )


def test_more_hosts_than_a_machine_holds_is_refused(make_project, clean_environ) -> None:
    project = make_project("two_hosts", instance_count=9, channels=REPLICATED)
    with pytest.raises(UnsupportedFeature, match="at most 8 hosts"):
        jobs.submit(jobs.load_spec(project, environ=clean_environ))


def test_mpi_is_refused_locally(make_project, clean_environ) -> None:
    project = make_project(
        "two_hosts", instance_count=2, channels=REPLICATED, distribution={"mpi": {"enabled": True}}
    )
    with pytest.raises(UnsupportedFeature, match="mpi"):
        jobs.submit(jobs.load_spec(project, environ=clean_environ))


@needs_hosts
def test_torch_distributed_runs_torchrun_on_every_host_as_the_toolkit_does(
    make_project, clean_environ
) -> None:
    project = make_project(
        "torchrun_argv",
        instance_count=2,
        hyperparameters={"lr": 0.5},
        distribution={"torch_distributed": {"enabled": True, "processes_per_host": 2}},
    )
    result = jobs.run(jobs.load_spec(project, environ=clean_environ))
    assert result.status.state is JobState.COMPLETED, result.status.failure_reason
    model = _model(result.status.model_artifacts)
    # The toolkit's argv, but the master port is this job's own (7777 clashes between jobs).
    port = json.loads(model["torchrun-algo-1.json"])[7]
    assert int(port) in LOCAL_MASTER_PORTS
    for rank, host in enumerate(("algo-1", "algo-2")):
        assert json.loads(model[f"torchrun-{host}.json"]) == [
            "--nnodes", "2", "--nproc_per_node", "2",
            "--master_addr", "algo-1", "--master_port", port, "--node_rank", str(rank),
            "train.py", "--lr", "0.5",
        ]  # fmt: skip


@needs_hosts
def test_an_interruption_restarts_every_host_from_the_shared_checkpoints(
    make_project, clean_environ
) -> None:
    hyperparameters = {"seconds_per_epoch": 0.15}
    plain = jobs.run(
        jobs.load_spec(
            make_project(
                "resumes_hosts", name="plain", instance_count=2, hyperparameters=hyperparameters
            ),
            environ=clean_environ,
        )
    )
    assert plain.status.state is JobState.COMPLETED, plain.status.failure_reason
    project = make_project(
        "resumes_hosts",
        name="interrupted",
        instance_count=2,
        hyperparameters=hyperparameters,
        checkpoint_path="ckpt",
        simulate_interruptions=1,
        interrupt_at="1.5",
    )
    lines: list[str] = []
    result = jobs.run(jobs.load_spec(project, environ=clean_environ), on_line=lines.append)
    status = result.status
    assert status.state is JobState.COMPLETED, status.failure_reason
    model = _model(status.model_artifacts)
    assert model == _model(plain.status.model_artifacts)
    assert model["weights-algo-1.json"] == model["weights-algo-2.json"]
    # Both hosts were interrupted and both resumed from algo-1's checkpoints.
    assert any(line.startswith("[algo-1] resuming after epoch") for line in lines)
    assert any(line.startswith("[algo-2] resuming after epoch") for line in lines)
    reports = json.loads((result.handle.record_dir / "interruptions.json").read_text())
    assert [r["verdict"] for r in reports] == ["resumed"]
    history = [name for name, _ in status.transitions]
    assert history[history.index("Interrupted") :][:4] == [
        "Interrupted",
        "Starting",
        "Downloading",
        "Training",
    ]
