"""The shared backend suite, bound to the SageMaker backend.

Each job goes through the real backend against the moto server (checks, code and data shipped,
the request validated and created); the request as the SageMaker API stored it is then run on
this machine by the emulator (``backends.emulator``), the way SageMaker would run it: channels
downloaded from S3, the request's entry point and environment, ``model.tar.gz`` uploaded to the
output path. The suite follows that run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sagelift import jobs, records
from sagelift.aws import AwsSettings, client
from sagelift.backends.emulator import submit_request
from sagelift.job import JobHandle
from sagelift.storage import open_storage
from tests.aws_server import REGION
from tests.suites.backend_suite import BackendSuite

BUCKET = "sagelift-suite"
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"


class TestSageMakerBackend(BackendSuite):
    expected_backend = "emulator"

    @pytest.fixture(autouse=True)
    def _cloud(
        self,
        aws_settings: AwsSettings,
        role_arn: str,
        moto_endpoint: str,
        monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path,
    ) -> None:
        client("s3", aws_settings).create_bucket(Bucket=BUCKET)
        for key, value in {
            "SAGELIFT_AWS_ENDPOINT_URL": moto_endpoint,
            "SAGELIFT_AWS_REGION": REGION,
            "SAGELIFT_AWS_ROLE": role_arn,
            "SAGELIFT_AWS_BUCKET": BUCKET,
            "SAGELIFT_IMAGE_URI": IMAGE,
        }.items():
            monkeypatch.setenv(key, value)
        self.aws = aws_settings
        self.downloads = tmp_path / "downloads"
        self.emulated = tmp_path / "emulated"

    @pytest.fixture
    def backend_overrides(self) -> dict[str, Any]:
        return {"instance_type": "ml.m5.large"}

    def spec(self, project: Path, environ: dict[str, str], overrides: dict[str, Any], **more: Any):
        import os

        cloud = {k: v for k, v in os.environ.items() if k.startswith("SAGELIFT_")}
        return jobs.load_spec(project, environ={**environ, **cloud}, **overrides, **more)

    def submit(self, spec: Any) -> JobHandle:
        created = jobs.submit(spec)
        record = records.read_record(created.record_dir)
        assert record.backend == "sagemaker"
        assert record.cloud is not None
        assert record.cloud.arn is not None
        # The request as sent (moto's DescribeTrainingJob drops fields SageMaker returns, such
        # as Environment), with the ARN the API gave it.
        request = {**record.cloud.request, "TrainingJobArn": record.cloud.arn}
        # The emulated run is recorded apart from the cloud job, under the same name.
        return submit_request(request, project_dir=self.emulated, aws=self.aws, spec=spec)

    def artifact(self, uri: str | None) -> Path:
        assert uri is not None
        assert uri.startswith("s3://"), uri
        self.downloads.mkdir(exist_ok=True)
        path = self.downloads / uri.replace("/", "_")
        open_storage(uri, aws=self.aws).download_file(uri, path)
        return path

    def test_checkpoints_written_by_one_job_are_restored_in_the_next(
        self, make_project, clean_environ, backend_overrides
    ):
        # A local checkpoint_path becomes the project's stable S3 location on SageMaker.
        project = make_project("checkpoints", checkpoint_path="ckpt")
        first = self.run(project, clean_environ, backend_overrides)
        second = self.run(project, clean_environ, backend_overrides)
        assert first.status.state.value == second.status.state.value == "Completed"
        assert self.member(second.status.model_artifacts, "epoch.txt") == b"2"
        assert any("resumed from epoch 1" in line for line in jobs.stream(second.handle))

    @pytest.mark.skip(reason="SageMaker's SIGTERM-to-SIGKILL grace is a fixed 120 s")
    def test_stop_kills_a_script_that_ignores_sigterm_after_the_grace(self):  # type: ignore[override]
        raise AssertionError("not run")

    def test_max_runtime_sends_sigterm_then_stops(
        self, make_project, clean_environ, backend_overrides
    ):
        # The script leaves on SIGTERM: SageMaker's grace (120 s) is not the spec's to shorten.
        project = make_project("signals")
        handle, marker = self._start_signals_job(
            project, clean_environ, backend_overrides, "handle", max_runtime=2
        )
        status = jobs.wait(handle, timeout=60)
        assert status.state.value == "Stopped"
        assert status.secondary_status == "MaxRuntimeExceeded"
        assert marker.read_text().startswith("SIGTERM")

    @pytest.mark.skip(reason="Ctrl-C leaves a SageMaker job running by design (OUTLIVES_CLIENT)")
    def test_ctrl_c_stops_the_job_and_leaves_no_orphan(self):  # type: ignore[override]
        raise AssertionError("not run")
