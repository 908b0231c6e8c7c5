"""Distributed training settings, as SageMaker Python SDK v2 encodes its ``distribution=``
argument for the training toolkit, and the launch the toolkit makes of them. Pure.

SDK v2 turns ``distribution`` into hyperparameters (``PyTorch._pytorch_distribution_configuration``
in ``sagemaker/pytorch/estimator.py`` and ``Framework._distribution_configuration`` in
``sagemaker/estimator.py``), each value ``json.dumps``-encoded like every other one:

* ``{"torch_distributed": {"enabled": True}}`` → ``sagemaker_torch_distributed_enabled=true``
  and ``sagemaker_instance_type="<type>"``;
* ``{"pytorchddp": {"enabled": True}}`` → ``sagemaker_pytorch_ddp_enabled=true`` and
  ``sagemaker_instance_type``;
* ``{"mpi": {"enabled": True, "processes_per_host": N, "custom_mpi_options": "..."}}`` →
  ``sagemaker_mpi_enabled``, ``sagemaker_mpi_num_of_processes_per_host`` (only when N is set)
  and ``sagemaker_mpi_custom_mpi_options`` (``""`` by default).

The toolkit's ``TorchDistributedRunner`` (``sagemaker_training/torch_distributed.py``) then runs
``torchrun --nnodes N --nproc_per_node P [--master_addr algo-1 --master_port 7777 --node_rank
R] script args`` (the multi-node options only with more than one host).
Heterogeneous instance groups (``instance_groups`` in ``distribution``) are not modelled.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from sagelift.contract.hyperparameters import JSONValue

__all__ = [
    "TORCHRUN_MASTER_PORT",
    "Distribution",
    "DistributionKind",
    "distribution_hyperparameters",
    "torchrun_argv",
]

DistributionKind = Literal["torch_distributed", "pytorchddp", "mpi"]
#: ``sagemaker_training.torch_distributed.MASTER_PORT``.
TORCHRUN_MASTER_PORT = "7777"


@dataclass(frozen=True)
class Distribution:
    """One enabled distribution strategy.

    ``processes_per_host`` is MPI's ``processes_per_host`` (sent to SageMaker); for
    ``torch_distributed`` it is torchrun's ``--nproc_per_node`` for the launches sagelift makes
    itself (on SageMaker the framework image decides: one per GPU).
    """

    kind: DistributionKind
    processes_per_host: int | None = None
    custom_mpi_options: str = ""


def distribution_hyperparameters(
    distribution: Distribution | None, *, instance_type: str | None
) -> dict[str, JSONValue]:
    """The reserved hyperparameters SDK v2 adds for ``distribution`` (decoded values; encode
    them with the rest). Empty for None."""
    if distribution is None:
        return {}
    if distribution.kind == "mpi":
        params: dict[str, JSONValue] = {"sagemaker_mpi_enabled": True}
        if distribution.processes_per_host:
            params["sagemaker_mpi_num_of_processes_per_host"] = distribution.processes_per_host
        params["sagemaker_mpi_custom_mpi_options"] = distribution.custom_mpi_options
        return params
    flag = (
        "sagemaker_torch_distributed_enabled"
        if distribution.kind == "torch_distributed"
        else "sagemaker_pytorch_ddp_enabled"
    )
    params = {flag: True}
    if instance_type is not None:
        params["sagemaker_instance_type"] = instance_type
    return params


def torchrun_argv(
    *,
    torchrun: Sequence[str],
    hosts: Sequence[str],
    current_host: str,
    processes_per_host: int,
    program: Sequence[str],
    master_port: str = TORCHRUN_MASTER_PORT,
) -> list[str]:
    """The toolkit's torchrun command for ``current_host``: ``torchrun`` is how torchrun is
    started (``["torchrun"]`` or ``[python, "-m", "torch.distributed.run"]``), ``program`` the
    script and its arguments; ``master_port`` the toolkit's 7777 unless the hosts share one
    machine with other jobs. Raises ValueError if ``current_host`` is not in ``hosts``."""
    argv = [*torchrun, "--nnodes", str(len(hosts)), "--nproc_per_node", str(processes_per_host)]
    if len(hosts) > 1:
        argv += [
            "--master_addr",
            hosts[0],
            "--master_port",
            master_port,
            "--node_rank",
            str(list(hosts).index(current_host)),
        ]
    return [*argv, *program]
