"""The shared backend suite, bound to the container backend (podman, the offline base image).

The backend and image are chosen through ``SAGELIFT_*`` variables, so they reach both the
library calls and the ``sagelift run`` subprocess of the Ctrl-C test.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sagelift import jobs, records
from sagelift.backends.base import JobHandle, JobState
from sagelift.images.base import BaseImage
from sagelift.images.builder import PodmanCLI
from sagelift.tracking.state import run_info
from tests.suites.backend_suite import BackendSuite, pid_alive, read_member, wait_for

# Files the script writes are in the container: the tests read them through the job layout
# (/opt/ml/output itself: output/data is packed into output.tar.gz and emptied at the end).
IN_CONTAINER = "/opt/ml/output"

pytestmark = pytest.mark.slow


class TestContainerBackend(BackendSuite):
    expected_backend = "container"

    @pytest.fixture(autouse=True)
    def _in_container(
        self,
        container_environ: dict[str, str],
        cpu_base_image: BaseImage,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setenv("SAGELIFT_BACKEND", "container")
        monkeypatch.setenv("SAGELIFT_IMAGE_URI", cpu_base_image.ref)

    @pytest.fixture
    def backend_overrides(self) -> dict[str, Any]:
        return {"instance_type": "local"}

    def _start_signals_job(
        self, project: Path, environ, overrides, mode: str, **more: Any
    ) -> tuple[JobHandle, Path]:
        spec = self.spec(
            project,
            environ,
            overrides,
            environment={"MARKER_FILE": f"{IN_CONTAINER}/marker.txt", "SIGTERM_MODE": mode},
            **more,
        )
        handle = jobs.submit(spec)
        wait_for(lambda: any("ready" in line for line in jobs.stream(handle)))
        return handle, handle.record_dir / "opt-ml" / "output" / "marker.txt"

    def test_ctrl_c_stops_the_job_and_leaves_no_orphan(
        self, make_project, clean_environ, backend_overrides, podman_cli: PodmanCLI
    ):
        project = make_project("grandchild")
        cli = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "sagelift",
                "-C",
                str(project),
                "run",
                *[f"--{k.replace('_', '-')}={v}" for k, v in backend_overrides.items()],
                "--env",
                f"PID_FILE={IN_CONTAINER}/grandchild.pid",
                "--stop-grace",
                "2",
            ],
            env={**os.environ, **clean_environ},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        jobs_dir = project / ".sagelift" / "jobs"
        wait_for(lambda: any(jobs_dir.glob("*/opt-ml/output/grandchild.pid")))
        record = next(jobs_dir.glob("*/opt-ml/output/grandchild.pid")).parents[2]
        container = f"sagelift-{record.name}"
        top = podman(podman_cli, "top", container, "hpid,args").stdout.splitlines()
        grandchild = next(int(line.split()[0]) for line in top if "sleep 300" in line)
        assert pid_alive(grandchild)
        cli.send_signal(signal.SIGINT)
        out, _ = cli.communicate(timeout=60)
        assert cli.returncode == 130, out.decode()
        assert b"stopping" in out
        wait_for(lambda: not pid_alive(grandchild), timeout=10)
        assert jobs.describe(project, "last").state is JobState.STOPPED
        assert container not in podman(podman_cli, "ps", "--all", "--format", "{{.Names}}").stdout

    def test_job_ran_in_the_image_and_its_container_is_gone(
        self, make_project, clean_environ, backend_overrides, podman_cli: PodmanCLI
    ):
        project = make_project("ok", hyperparameters={"epochs": 1})
        result = self.run(project, clean_environ, backend_overrides)
        assert result.status.state is JobState.COMPLETED, result.status.failure_reason
        seen = json.loads(read_member(result.status.model_artifacts or "", "env.json"))
        assert seen["env"]["SAGELIFT_BACKEND"] == "container"
        assert seen["env"]["SM_MODEL_DIR"] == "/opt/ml/model"
        listing = podman(podman_cli, "ps", "--all", "--format", "{{.Names}}")
        assert f"sagelift-{result.handle.name}" not in listing.stdout.split()
        record = records.read_record(result.handle.record_dir)
        assert record.container is not None
        assert record.container.ref == os.environ["SAGELIFT_IMAGE_URI"]

    def test_tracked_container_job_has_well_formed_image_and_code_tags(
        self, make_project, clean_environ, backend_overrides
    ):
        pytest.importorskip("mlflow")
        import mlflow

        from tests.tracking.test_local_and_cloud import assert_well_formed_tags

        project = make_project("ok", hyperparameters={"epochs": 1}, tracking={"uri": "sqlite"})
        spec = self.spec(project, clean_environ, backend_overrides)
        environ = {**clean_environ, **{k: v for k, v in os.environ.items() if "SAGELIFT" in k}}
        result = jobs.run(spec, settings=jobs.load_settings(project, environ=environ))
        assert result.status.state is JobState.COMPLETED, result.status.failure_reason
        run = run_info(result.handle.record_dir)
        assert run is not None
        tags = mlflow.tracking.MlflowClient(tracking_uri=run.uri).get_run(run.run_id).data.tags
        record = records.read_record(result.handle.record_dir)
        assert record.container is not None
        assert tags["sagelift.backend"] == "container"
        assert tags["sagelift.image_uri"] == record.container.ref
        assert record.container.ref == os.environ["SAGELIFT_IMAGE_URI"]
        assert tags["sagelift.image_digest"] == record.container.image_id
        assert tags["sagelift.image_digest"] not in ("", "-")
        assert_well_formed_tags(tags)


def podman(cli: PodmanCLI, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["podman", *args],
        env={**os.environ, **cli.env},
        capture_output=True,
        text=True,
        check=True,
    )
