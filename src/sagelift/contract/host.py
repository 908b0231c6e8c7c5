"""Facts about the machine the job runs on, detected the way sagemaker-training 5.1.4 does.

This is the only module of the contract that probes the host (``environment.num_cpus``,
``num_gpus``, ``num_neurons``, ``validate_smddprun`` in the toolkit); the SM_* environment
itself is computed purely from a :class:`HostFacts`.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
from dataclasses import dataclass

__all__ = ["HostFacts", "detect_host_facts"]

logger = logging.getLogger(__name__)

_PROBE_TIMEOUT_S = 60


@dataclass(frozen=True)
class HostFacts:
    """What the toolkit detects at start-up; the SM_NUM_* variables come from here.

    ``smddprun_installed`` / ``smddpmprun_installed`` feed ``SM_TRAINING_ENV``'s
    ``is_smddprun_installed`` / ``is_smddpmprun_installed``; they are only true inside
    images that ship SageMaker's data-parallel launchers.
    """

    num_cpus: int
    num_gpus: int
    num_neurons: int
    smddprun_installed: bool = False
    smddpmprun_installed: bool = False


def _probe(argv: list[str]) -> str | None:
    """stdout of ``argv``, or None if it is absent, fails or hangs."""
    try:
        completed = subprocess.run(argv, capture_output=True, check=True, timeout=_PROBE_TIMEOUT_S)
    except (OSError, subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        logger.debug("%s: %s", argv[0], exc)
        return None
    return completed.stdout.decode("utf-8", errors="replace")


def _count_gpus() -> int:
    # toolkit: lines of `nvidia-smi --list-gpus` that start with "GPU ".
    output = _probe(["nvidia-smi", "--list-gpus"])
    if output is None:
        return 0
    return sum(1 for line in output.split("\n") if line.startswith("GPU "))


def _count_neuron_cores() -> int:
    # toolkit: the sum of "nc_count" over the devices `neuron-ls -j` lists.
    output = _probe(["neuron-ls", "-j"])
    if output is None:
        return 0
    try:
        devices = json.loads(output)
        return sum(int(device.get("nc_count", 0)) for device in devices)
    except (ValueError, TypeError, AttributeError) as exc:
        logger.warning("could not read neuron-ls output: %s", exc)
        return 0


def detect_host_facts() -> HostFacts:
    """Probe this machine: CPUs, NVIDIA GPUs, Neuron cores, SMDDP launchers.

    CPUs are ``os.cpu_count()`` (what the toolkit's ``multiprocessing.cpu_count()`` returns;
    CPU affinity is not applied). A missing or failing ``nvidia-smi`` / ``neuron-ls`` counts
    as zero devices. Never raises.
    """
    return HostFacts(
        num_cpus=os.cpu_count() or 1,
        num_gpus=_count_gpus(),
        num_neurons=_count_neuron_cores(),
        smddprun_installed=shutil.which("smddprun") is not None,
        smddpmprun_installed=shutil.which("smddpmprun") is not None,
    )
