"""Images made ready for jobs: built once by content tag, pushed once, pulled back and run.

Real podman, a real registry with htpasswd auth standing in for ECR's, ECR's API on moto.
"""

from __future__ import annotations

import base64
import os
import shutil
from pathlib import Path

import pytest

import sagelift
from sagelift import jobs, records
from sagelift.aws import AwsSettings, client
from sagelift.backends.base import JobState
from sagelift.images.base import BaseImage
from sagelift.images.builder import PodmanCLI
from sagelift.images.registry import RegistryLogin, remote_digest
from sagelift.images.service import local_image, push_for_spec
from sagelift.settings import ImageSettings, Settings
from tests.container_infra import LocalRegistry

pytestmark = pytest.mark.slow


def project(root: Path, requirements: str | None) -> Path:
    root.mkdir(parents=True)
    shutil.copy(Path(__file__).parents[1] / "fixtures" / "jobs" / "ok" / "train.py", root)
    if requirements is not None:
        (root / "requirements.txt").write_text(requirements, encoding="utf-8")
    (root / "sagelift.toml").write_text('entry_point = "train.py"\n', encoding="utf-8")
    return root


def settings(
    namespace: str, *, base: str, aws: AwsSettings | None = None, registry: str | None = None
) -> Settings:
    return Settings(
        aws=aws or AwsSettings(),
        ecr_repository=f"{namespace}/proj",
        registry=registry,
        image=ImageSettings(container_cli="podman", base=base),
    )


def test_deps_image_is_built_once_and_only_requirements_rebuild_it(
    podman_cli: PodmanCLI,
    cpu_base_image: BaseImage,
    image_namespace: str,
    tmp_path: Path,
    clean_environ: dict[str, str],
) -> None:
    root = project(tmp_path / "proj", "six\n")
    chosen = settings(image_namespace, base=cpu_base_image.ref)
    cache = tmp_path / "cache"
    package = tmp_path / "sagelift"
    shutil.copytree(Path(sagelift.__file__).parent, package)

    first = local_image(
        jobs.load_spec(root, environ=clean_environ),
        chosen,
        podman_cli,
        cache_dir=cache,
        package_dir=package,
    )
    assert first.built
    assert first.mode == "deps"
    assert first.ref.startswith(f"localhost/{image_namespace}/proj:deps-")

    again = local_image(
        jobs.load_spec(root, environ=clean_environ),
        chosen,
        podman_cli,
        cache_dir=cache,
        package_dir=package,
    )
    assert (again.ref, again.built) == (first.ref, False)

    (root / "train.py").write_text("print('a code edit')\n", encoding="utf-8")
    after_code_edit = local_image(
        jobs.load_spec(root, environ=clean_environ),
        chosen,
        podman_cli,
        cache_dir=cache,
        package_dir=package,
    )
    assert (after_code_edit.ref, after_code_edit.built) == (first.ref, False)

    (root / "requirements.txt").write_text("six\nsix\n", encoding="utf-8")
    after_requirements_edit = local_image(
        jobs.load_spec(root, environ=clean_environ),
        chosen,
        podman_cli,
        cache_dir=cache,
        package_dir=package,
    )
    assert after_requirements_edit.built
    assert after_requirements_edit.ref != first.ref


def test_push_creates_the_repository_skips_a_present_tag_and_the_image_runs_back(
    podman_cli: PodmanCLI,
    cpu_base_image: BaseImage,
    auth_registry: LocalRegistry,
    aws_settings: AwsSettings,
    container_environ: dict[str, str],
    image_namespace: str,
    tmp_path: Path,
    clean_environ: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root = project(tmp_path / "proj", None)
    chosen = settings(
        image_namespace,
        base=cpu_base_image.ref,
        aws=aws_settings,
        registry=auth_registry.host,
    )
    spec = jobs.load_spec(root, environ=clean_environ)
    region = aws_settings.region or "us-east-1"

    # A snapshot of the shipped package: the deps tag covers its bytes, so it must hold still.
    package = tmp_path / "sagelift"
    shutil.copytree(Path(sagelift.__file__).parent, package)
    pushed = push_for_spec(spec, chosen, region=region, cli=podman_cli, package_dir=package)
    assert pushed.pushed
    assert pushed.uri.startswith(f"{auth_registry.host}/{image_namespace}/proj:deps-")
    assert pushed.uri.endswith(f"@{pushed.digest}")
    repo = client("ecr", aws_settings).describe_repositories(
        repositoryNames=[f"{image_namespace}/proj"]
    )["repositories"][0]
    assert repo["imageScanningConfiguration"] == {"scanOnPush": True}
    token = base64.b64decode(
        client("ecr", aws_settings).get_authorization_token()["authorizationData"][0][
            "authorizationToken"
        ]
    ).decode()
    login = RegistryLogin(
        registry=auth_registry.host,
        username="AWS",
        password=token.partition(":")[2],
        account="123456789012",
    )
    tag = pushed.uri.split("@")[0].rsplit(":", 1)[1]
    assert remote_digest(login, f"{image_namespace}/proj", tag) == pushed.digest
    assert remote_digest(login, f"{image_namespace}/proj", "deps-absent") is None

    again = push_for_spec(spec, chosen, region=region, cli=podman_cli, package_dir=package)
    assert (again.pushed, again.uri) == (False, pushed.uri)

    # Gone locally: the job pulls it back from the registry and runs in it.
    local = pushed.uri.split("@")[0]
    podman_cli.remove_image(local)
    podman_cli.remove_image(f"localhost/{image_namespace}/proj:{tag}")
    monkeypatch.setenv("SAGELIFT_BACKEND", "container")
    monkeypatch.setenv("SAGELIFT_IMAGE_URI", pushed.uri)
    monkeypatch.setenv("SAGELIFT_AWS_REGISTRY", auth_registry.host)
    monkeypatch.setenv("SAGELIFT_AWS_ENDPOINT_URL", aws_settings.endpoint_url or "")
    monkeypatch.setenv("SAGELIFT_AWS_REGION", region)
    result = jobs.run(jobs.load_spec(root, environ=clean_environ))
    assert result.status.state is JobState.COMPLETED, result.status.failure_reason
    record = records.read_record(result.handle.record_dir)
    assert record.container is not None
    assert record.container.ref == pushed.uri
    assert podman_cli.image_exists(pushed.uri)
    assert os.environ["SAGELIFT_IMAGE_URI"] == pushed.uri
