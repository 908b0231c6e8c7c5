"""GPU jobs in containers: the flags passed, and a clear refusal on a machine without GPUs."""

from __future__ import annotations

import json
import stat
import sys
from pathlib import Path

import pytest

from sagelift import jobs
from sagelift.backends.container import ContainerBackend, gpu_obstacle
from sagelift.contract.host import detect_host_facts
from sagelift.errors import UnsupportedFeature
from sagelift.images.builder import PodmanCLI


def test_a_gpu_job_on_a_machine_without_gpus_fails_before_anything_starts(
    make_project, clean_environ
) -> None:
    if detect_host_facts().num_gpus:
        pytest.skip("this machine has a GPU")
    project = make_project("ok")
    spec = jobs.load_spec(project, environ=clean_environ, instance_type="local_gpu")
    with pytest.raises(UnsupportedFeature) as caught:
        ContainerBackend().check(spec)
    assert "no NVIDIA GPU" in caught.value.message
    assert "local" in (caught.value.hint or "")
    assert not (project / ".sagelift").exists()


def test_gpu_obstacles(tmp_path: Path) -> None:
    assert gpu_obstacle("podman", num_gpus=0) is not None
    assert "CDI" in (gpu_obstacle("podman", num_gpus=1, cdi_dirs=(tmp_path,)) or "")
    (tmp_path / "nvidia.yaml").write_text("cdiVersion: 0.5.0\n")
    assert gpu_obstacle("podman", num_gpus=1, cdi_dirs=(tmp_path,)) is None
    assert gpu_obstacle("docker", num_gpus=1, cdi_dirs=()) is None


def test_podman_passes_every_gpu_to_a_gpu_job(tmp_path: Path) -> None:
    # A stand-in podman that records its argv: the flags are what a GPU machine would get.
    fake = tmp_path / "podman"
    fake.write_text(
        f"#!{sys.executable}\nimport json, sys\n"
        f"open({str(tmp_path / 'argv.json')!r}, 'w').write(json.dumps(sys.argv[1:]))\n"
    )
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    cli = PodmanCLI(executable=str(fake))
    assert cli.run("img", args=["x"], gpus=True, name="sagelift-j").wait() == 0
    argv = json.loads((tmp_path / "argv.json").read_text())
    assert argv[argv.index("--device") + 1] == "nvidia.com/gpu=all"
    assert cli.run("img", args=["x"], gpus=False).wait() == 0
    assert "--device" not in json.loads((tmp_path / "argv.json").read_text())
