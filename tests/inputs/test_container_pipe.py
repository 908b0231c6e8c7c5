"""Pipe mode on the container backend: the supervisor feeds FIFOs in the host's layout, which
the container reads through its /opt/ml bind mount."""

from __future__ import annotations

from pathlib import Path

import pytest

from sagelift import jobs
from sagelift.backends.base import JobState
from sagelift.images.base import BaseImage
from tests.conftest import MakeProject
from tests.container.conftest import container_environ
from tests.container_infra import cpu_base_image, podman_cli

from .conftest import FILES, IN_KEY_ORDER, read_inputs, write_files

__all__ = ["container_environ", "cpu_base_image", "podman_cli"]

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("wrapped", [False, True], ids=["plain", "gzip-recordio"])
def test_a_pipe_mode_script_reads_two_epochs_in_a_container(
    wrapped: bool,
    container_environ: dict[str, str],
    cpu_base_image: BaseImage,
    make_project: MakeProject,
    clean_environ: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SAGELIFT_BACKEND", "container")
    monkeypatch.setenv("SAGELIFT_IMAGE_URI", cpu_base_image.ref)
    channel = {"path": "data", "input_mode": "Pipe"}
    if wrapped:
        channel.update(compression="Gzip", record_wrapper="RecordIO")
    project: Path = make_project("reads_inputs", channels={"train": channel})
    write_files(project / "data", FILES, gzipped=wrapped)
    spec = jobs.load_spec(project)
    result = jobs.run(spec)
    assert result.status.state is JobState.COMPLETED, (
        result.status.failure_reason,
        "".join(jobs.logs(project, result.handle.name)),
    )
    seen = read_inputs(result.model_artifacts)
    expected = IN_KEY_ORDER if wrapped else "".join(IN_KEY_ORDER)
    assert seen["channels"]["train"]["epochs"] == [expected, expected]
    assert seen["job_arn"].endswith(f":000000000000:training-job/{result.handle.name}")
