"""SageMaker jobs in the project's deps image: built and pushed before the job is created,
once, and pinned by digest in the request.

ECR's API is the moto server; a real registry with htpasswd auth (moto's ECR token decodes to
``AWS:<its password>``) stands in for ECR's registry; real podman builds and pushes.
"""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path
from typing import Any

import pytest

from sagelift import jobs, records
from sagelift.aws import AwsSettings, client
from sagelift.errors import ImageError
from sagelift.images import service
from sagelift.images.base import BaseImage
from sagelift.images.builder import PodmanCLI
from sagelift.images.registry import RegistryLogin, remote_digest
from tests.aws_server import REGION
from tests.conftest import MakeProject
from tests.container_infra import (
    LocalRegistry,
    auth_registry,
    cpu_base_image,
    image_namespace,
    local_registry,
    podman_cli,
)

__all__ = ["auth_registry", "cpu_base_image", "image_namespace", "local_registry", "podman_cli"]

pytestmark = pytest.mark.slow

BUCKET = "sagelift-jobs"


class CountingCLI:
    """The test's podman, counting the builds and pushes that go through it."""

    def __init__(self, inner: PodmanCLI) -> None:
        self.inner = inner
        self.builds: list[str] = []
        self.pushes: list[str] = []

    def build(self, context: Path, dockerfile: Path, tag: str, **kwargs: Any) -> None:
        self.builds.append(tag)
        self.inner.build(context, dockerfile, tag, **kwargs)

    def push(self, ref: str, **kwargs: Any) -> str:
        self.pushes.append(ref)
        return self.inner.push(ref, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@pytest.fixture
def engine(podman_cli: PodmanCLI, monkeypatch: pytest.MonkeyPatch) -> CountingCLI:
    counting = CountingCLI(podman_cli)
    for key, value in podman_cli.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(service, "container_cli_for", lambda image, **_: counting)
    return counting


def _project(
    make_project: MakeProject,
    endpoint: str,
    *,
    repository: str,
    registry: str,
    base: str,
) -> Path:
    return make_project(
        "ok",
        instance_type="ml.m5.xlarge",
        aws={
            "endpoint_url": endpoint,
            "region": REGION,
            "role": "sagelift-test",
            "bucket": BUCKET,
            "ecr_repository": repository,
            "registry": registry,
        },
        image={"container_cli": "podman", "base": base},
    )


def _stored(aws: AwsSettings, name: str) -> dict[str, Any]:
    answer: dict[str, Any] = client("sagemaker", aws).describe_training_job(TrainingJobName=name)
    return answer


def _login(aws: AwsSettings, registry: LocalRegistry) -> RegistryLogin:
    token = client("ecr", aws).get_authorization_token()["authorizationData"][0]
    user, _, password = base64.b64decode(token["authorizationToken"]).decode().partition(":")
    return RegistryLogin(registry=registry.host, username=user, password=password, account="")


@pytest.mark.usefixtures("fresh_shared_deps")
def test_deps_image_is_built_and_pushed_once_and_pinned_in_the_request(
    make_project: MakeProject,
    moto_endpoint: str,
    aws_settings: AwsSettings,
    role_arn: str,
    engine: CountingCLI,
    cpu_base_image: BaseImage,
    auth_registry: LocalRegistry,
    image_namespace: str,
    clean_environ: dict[str, str],
) -> None:
    client("s3", aws_settings).create_bucket(Bucket=BUCKET)
    repository = f"{image_namespace}/sm-deps"
    project = _project(
        make_project,
        moto_endpoint,
        repository=repository,
        registry=auth_registry.host,
        base=cpu_base_image.ref,
    )

    first = jobs.submit(
        jobs.load_spec(project, environ=clean_environ),
        settings=jobs.load_settings(project, environ=clean_environ),
    )
    assert len(engine.builds) == 1
    assert len(engine.pushes) == 1
    algorithm = _stored(aws_settings, first.name)["AlgorithmSpecification"]
    image = algorithm["TrainingImage"]
    tagged, _, digest = image.partition("@")
    assert tagged.startswith(f"{auth_registry.host}/{repository}:deps-")
    assert digest.startswith("sha256:")
    record = records.read_record(first.record_dir)
    assert record.cloud is not None
    assert (record.image_uri, record.image_digest) == (image, digest)
    assert record.cloud.request["AlgorithmSpecification"]["TrainingImage"] == image

    # The registry serves that very manifest, and ECR's repository was created for it.
    tag = tagged.rpartition(":")[2]
    assert remote_digest(_login(aws_settings, auth_registry), repository, tag) == digest
    repo = client("ecr", aws_settings).describe_repositories(repositoryNames=[repository])
    assert repo["repositories"][0]["imageScanningConfiguration"] == {"scanOnPush": True}

    # The request's entry point runs in the image: the launcher ships as code, only
    # python3 must be there.
    entrypoint = algorithm["ContainerEntrypoint"]
    assert entrypoint[0] == "python3"
    probe = engine.inner.run(
        tagged,
        entrypoint=entrypoint[0],
        args=["-c", "import sys; assert sys.version_info >= (3, 10), sys.version"],
        remove=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    _, err = probe.communicate(timeout=120)
    assert probe.returncode == 0, err.decode()

    # Nothing changed, then a code edit: no build, no push, the same pinned image.
    for edit in (None, "print('edited')\n"):
        if edit is not None:
            (project / "train.py").write_text(edit, encoding="utf-8")
        again = jobs.submit(
            jobs.load_spec(project, environ=clean_environ),
            settings=jobs.load_settings(project, environ=clean_environ),
        )
        assert (len(engine.builds), len(engine.pushes)) == (1, 1)
        assert _stored(aws_settings, again.name)["AlgorithmSpecification"]["TrainingImage"] == image
        rerecord = records.read_record(again.record_dir)
        assert rerecord.image_digest == digest


def test_a_failed_build_creates_no_job_and_uploads_nothing(
    make_project: MakeProject,
    moto_endpoint: str,
    aws_settings: AwsSettings,
    role_arn: str,
    engine: CountingCLI,
    local_registry: LocalRegistry,
    image_namespace: str,
    clean_environ: dict[str, str],
) -> None:
    client("s3", aws_settings).create_bucket(Bucket=BUCKET)
    project = _project(
        make_project,
        moto_endpoint,
        repository=f"{image_namespace}/sm-broken",
        registry=local_registry.host,
        base=f"{local_registry.host}/{image_namespace}/no-such-base:1",
    )
    with pytest.raises(ImageError):
        jobs.submit(
            jobs.load_spec(project, environ=clean_environ),
            settings=jobs.load_settings(project, environ=clean_environ),
        )
    assert engine.pushes == []
    assert client("sagemaker", aws_settings).list_training_jobs()["TrainingJobSummaries"] == []
    assert "Contents" not in client("s3", aws_settings).list_objects_v2(Bucket=BUCKET)
    assert not (project / ".sagelift" / "jobs").exists()
