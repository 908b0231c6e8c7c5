"""The containers of a job of several hosts, as planned (pure): one per host, each on the job's
network under its host name, its own layout on /opt/ml, the job's checkpoints shared."""

from __future__ import annotations

import json

from sagelift.backends.container import STATE_DIR, ContainerRun
from sagelift.backends.container_hosts import host_plans, network_name, subnet_of


def _plan(count: int) -> ContainerRun:
    return ContainerRun(
        cli="podman",
        image="img",
        name="sagelift-job",
        args=("train",),
        mounts=(
            ("/rec/opt-ml", "/opt/ml", False),
            ("/pkg/sagelift", "/opt/sagelift/sagelift", True),
            ("/rec/container-state", STATE_DIR, False),
        ),
        status_file="/rec/launcher-status.json",
        host_state_dir="/rec/container-state",
        host_count=count,
    )


def test_each_host_is_a_container_with_its_name_address_and_layout() -> None:
    plan = _plan(2)
    first, second = host_plans(plan, network=network_name(plan), subnet="10.89.3.0/24")
    assert (first.name, second.name) == ("sagelift-job-algo-1", "sagelift-job-algo-2")
    assert (first.hostname, first.ip, second.ip) == ("algo-1", "10.89.3.11", "10.89.3.12")
    assert first.network == second.network == "sagelift-job-net"
    assert second.add_hosts == {"algo-1": "10.89.3.11", "algo-2": "10.89.3.12"}
    assert second.mounts == (
        ("/rec/opt-ml/algo-2", "/opt/ml", False),
        ("/pkg/sagelift", "/opt/sagelift/sagelift", True),
        ("/rec/container-state/algo-2", STATE_DIR, False),
        ("/rec/opt-ml/checkpoints", "/opt/ml/checkpoints", False),
    )
    assert second.status_file == "/rec/launcher-status.algo-2.json"
    assert second.host_count == 1
    # The plan survives its JSON round trip (the runner reads it from the record).
    assert ContainerRun.from_json(second.to_json()) == second


def test_without_a_subnet_hosts_are_found_by_alias_only() -> None:
    (only,) = host_plans(_plan(1), network="n", subnet=None)
    assert only.ip is None
    assert only.add_hosts == {}


def test_subnet_from_podman_and_docker_inspect_output() -> None:
    podman = [{"name": "n", "subnets": [{"subnet": "10.89.0.0/24", "gateway": "10.89.0.1"}]}]
    docker = [{"Name": "n", "IPAM": {"Config": [{"Subnet": "172.18.0.0/16"}]}}]
    assert subnet_of(json.dumps(podman)) == "10.89.0.0/24"
    assert subnet_of(json.dumps(docker)) == "172.18.0.0/16"
    assert subnet_of("[]") is None
