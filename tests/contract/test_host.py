from __future__ import annotations

import os
from pathlib import Path

import pytest

from sagelift.contract.host import HostFacts, detect_host_facts


def _tool(bin_dir: Path, name: str, body: str) -> None:
    path = bin_dir / name
    path.write_text(f"#!/bin/sh\n{body}\n", encoding="utf-8")
    path.chmod(0o755)


@pytest.fixture
def bin_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A PATH holding only our fake device tools (plus /bin for sh itself)."""
    directory = tmp_path / "bin"
    directory.mkdir()
    monkeypatch.setenv("PATH", f"{directory}{os.pathsep}/bin")
    return directory


def test_no_device_tools_means_no_devices(bin_dir: Path) -> None:
    facts = detect_host_facts()
    assert facts == HostFacts(num_cpus=os.cpu_count() or 1, num_gpus=0, num_neurons=0)


def test_gpus_are_the_gpu_lines_of_nvidia_smi(bin_dir: Path) -> None:
    _tool(
        bin_dir,
        "nvidia-smi",
        '[ "$1" = "--list-gpus" ] || exit 9\n'
        "echo 'GPU 0: NVIDIA A10G (UUID: GPU-1)'\n"
        "echo 'GPU 1: NVIDIA A10G (UUID: GPU-2)'\n"
        "echo 'MIG 1g.5gb Device 0: (UUID: MIG-1)'",
    )
    assert detect_host_facts().num_gpus == 2


def test_failing_nvidia_smi_counts_as_no_gpu(bin_dir: Path) -> None:
    _tool(bin_dir, "nvidia-smi", "echo 'GPU 0: broken'; exit 9")
    assert detect_host_facts().num_gpus == 0


def test_neuron_cores_are_summed_from_neuron_ls(bin_dir: Path) -> None:
    _tool(
        bin_dir,
        "neuron-ls",
        '[ "$1" = "-j" ] || exit 9\necho \'[{"nc_count": 2}, {"nc_count": 2}, {}]\'',
    )
    assert detect_host_facts().num_neurons == 4


def test_unreadable_neuron_ls_output_counts_as_none(bin_dir: Path) -> None:
    _tool(bin_dir, "neuron-ls", "echo 'not json'")
    assert detect_host_facts().num_neurons == 0


def test_smddp_launchers_are_found_on_path(bin_dir: Path) -> None:
    _tool(bin_dir, "smddprun", "exit 0")
    facts = detect_host_facts()
    assert facts.smddprun_installed
    assert not facts.smddpmprun_installed
