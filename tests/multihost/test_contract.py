"""The N-host contract: host names, per-host resourceconfig.json, /etc/hosts, shards, and the
distribution hyperparameters SDK v2 sends."""

from __future__ import annotations

import json

import pytest

from sagelift.contract.cluster import (
    LOCAL_MASTER_PORTS,
    host_address,
    host_names,
    local_master_port,
    loopback_block,
    render_etc_hosts,
    shard,
)
from sagelift.contract.config_files import render_resource_config
from sagelift.contract.distribution import (
    TORCHRUN_MASTER_PORT,
    Distribution,
    distribution_hyperparameters,
    torchrun_argv,
)
from sagelift.contract.hyperparameters import encode_hyperparameters


def test_every_host_sees_all_hosts_and_itself_as_current() -> None:
    configs = [
        render_resource_config(instance_type="local", instance_count=3, current_host=h)
        for h in host_names(3)
    ]
    assert [c["current_host"] for c in configs] == ["algo-1", "algo-2", "algo-3"]
    for config in configs:
        assert config["hosts"] == ["algo-1", "algo-2", "algo-3"]
        assert config["current_group_name"] == "homogeneousCluster"
        assert config["instance_groups"] == [
            {
                "instance_group_name": "homogeneousCluster",
                "instance_type": "local",
                "hosts": ["algo-1", "algo-2", "algo-3"],
            }
        ]
        assert list(config) == [
            "current_host",
            "current_instance_type",
            "current_group_name",
            "hosts",
            "instance_groups",
            "network_interface_name",
        ]


def test_hosts_resolve_to_distinct_loopback_addresses_in_the_jobs_block() -> None:
    job = "wine-20260101-000000-abcd"
    block = loopback_block(job)
    assert [host_address(h, job=job) for h in host_names(3)] == [
        f"{block}.11",
        f"{block}.12",
        f"{block}.13",
    ]
    text = render_etc_hosts(2, job=job, current="algo-2")
    assert f"{block}.11\talgo-1\n" in text
    assert f"{block}.12\talgo-2\n" in text
    assert text.startswith("127.0.0.1\tlocalhost\n")
    with pytest.raises(ValueError):
        render_etc_hosts(2, job=job, current="algo-3")
    with pytest.raises(ValueError):
        host_address("worker-1", job=job)


def test_each_job_gets_its_own_loopback_block_and_master_port_never_127_0_0() -> None:
    names = [f"wine-20260101-0000{i:02d}-abcd" for i in range(200)]
    blocks = [loopback_block(n) for n in names]
    assert loopback_block(names[0]) == blocks[0]  # the same name, the same block
    assert len(set(blocks)) >= 199  # a clash is a hash collision, about 1 in 65,000
    for block in blocks:
        first, a, b = (int(part) for part in block.split("."))
        assert first == 127
        assert 1 <= a <= 254
        assert 0 <= b <= 255
    ports = {local_master_port(n) for n in names}
    assert len(ports) >= 190
    assert all(p in LOCAL_MASTER_PORTS and p != int(TORCHRUN_MASTER_PORT) for p in ports)


def test_sharded_by_key_deals_sorted_keys_round_robin_each_key_once() -> None:
    keys = [f"part-{i:02d}" for i in (4, 0, 3, 1, 2)]
    shares = [shard(keys, h, 2) for h in host_names(2)]
    assert shares == [["part-00", "part-02", "part-04"], ["part-01", "part-03"]]
    assert sorted(shares[0] + shares[1]) == sorted(keys)
    assert shard(["a"], "algo-2", 2) == []


def _encoded(distribution: Distribution, instance_type: str = "ml.g5.12xlarge") -> dict[str, str]:
    return encode_hyperparameters(
        distribution_hyperparameters(distribution, instance_type=instance_type)
    )


def test_distribution_hyperparameters_as_sdk_v2_encodes_them() -> None:
    assert _encoded(Distribution(kind="torch_distributed")) == {
        "sagemaker_torch_distributed_enabled": "true",
        "sagemaker_instance_type": '"ml.g5.12xlarge"',
    }
    assert _encoded(Distribution(kind="pytorchddp")) == {
        "sagemaker_pytorch_ddp_enabled": "true",
        "sagemaker_instance_type": '"ml.g5.12xlarge"',
    }
    assert _encoded(Distribution(kind="mpi")) == {
        "sagemaker_mpi_enabled": "true",
        "sagemaker_mpi_custom_mpi_options": '""',
    }
    mpi = Distribution(kind="mpi", processes_per_host=4, custom_mpi_options="-x NCCL_DEBUG=INFO")
    assert _encoded(mpi) == {
        "sagemaker_mpi_enabled": "true",
        "sagemaker_mpi_num_of_processes_per_host": "4",
        "sagemaker_mpi_custom_mpi_options": json.dumps("-x NCCL_DEBUG=INFO"),
    }
    assert distribution_hyperparameters(None, instance_type="ml.m5.large") == {}


def test_torchrun_command_as_the_toolkit_builds_it() -> None:
    argv = torchrun_argv(
        torchrun=["torchrun"],
        hosts=host_names(2),
        current_host="algo-2",
        processes_per_host=2,
        program=["train.py", "--lr", "0.1"],
    )
    assert argv == [
        "torchrun", "--nnodes", "2", "--nproc_per_node", "2",
        "--master_addr", "algo-1", "--master_port", "7777", "--node_rank", "1",
        "train.py", "--lr", "0.1",
    ]  # fmt: skip
    single = torchrun_argv(
        torchrun=["torchrun"], hosts=["algo-1"], current_host="algo-1",
        processes_per_host=1, program=["t.py"],
    )  # fmt: skip
    assert single == ["torchrun", "--nnodes", "1", "--nproc_per_node", "1", "t.py"]
