from __future__ import annotations

import http.server
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from sagelift import doctor
from sagelift.aws import AwsSettings
from sagelift.cli import main
from sagelift.images.base import BaseImage
from sagelift.images.builder import PodmanCLI
from sagelift.settings import ImageSettings
from tests.container_infra import cpu_base_image, podman_cli

__all__ = ["cpu_base_image", "podman_cli"]


def _results(project: Path) -> dict[str, doctor.CheckResult]:
    return {r.name: r for r in doctor.run_checks(project, environ=os.environ)}


@pytest.fixture
def empty_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A PATH without podman or docker."""
    bin_dir = tmp_path / "empty-bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", str(bin_dir))
    return bin_dir


def test_broken_setup_names_each_problem_and_its_fix(
    aws_env: AwsSettings,
    project: Path,
    empty_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    s3 = boto3.client("s3", region_name="eu-west-1", endpoint_url=aws_env.endpoint_url)
    s3.create_bucket(
        Bucket="far-away", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    (project / "sagelift.toml").write_text(
        'entry_point = "train.py"\n\n[aws]\nrole = "missing-role"\nbucket = "far-away"\n',
        encoding="utf-8",
    )
    assert main(["-C", str(project), "doctor"]) == 1
    out = capsys.readouterr().out
    assert "PASS config:" in out
    assert "PASS credentials:" in out
    assert "FAIL role: role missing-role does not exist" in out
    assert "FAIL bucket: bucket far-away is in eu-west-1, jobs run in us-east-1" in out
    assert "FAIL container: no container CLI found on PATH (podman or docker)" in out
    assert "WARN ecr:" in out
    lines = out.splitlines()
    for name in ("role", "bucket", "container"):
        index = next(i for i, line in enumerate(lines) if line.startswith(f"FAIL {name}:"))
        assert lines[index + 1].strip().startswith("fix: "), name
    assert "SKIP tracking" in out
    assert "SKIP dvc" in out


def test_role_that_does_not_trust_sagemaker_fails(aws_env: AwsSettings, project: Path) -> None:
    iam = boto3.client("iam", region_name="us-east-1", endpoint_url=aws_env.endpoint_url)
    iam.create_role(
        RoleName="lambda-role",
        AssumeRolePolicyDocument='{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", '
        '"Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}',
    )
    (project / "sagelift.toml").write_text(
        'entry_point = "train.py"\n[aws]\nrole = "lambda-role"\n', encoding="utf-8"
    )
    role = _results(project)["role"]
    assert role.outcome == "fail"
    assert "does not trust sagemaker" in role.detail
    assert role.fix


def test_after_setup_everything_passes(
    aws_env: AwsSettings, project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (project / "sagelift.toml").write_text('entry_point = "train.py"\n', encoding="utf-8")
    assert main(["-C", str(project), "aws", "setup"]) == 0
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    podman = bin_dir / "podman"
    podman.write_text(
        '#!/bin/sh\ncase "$1" in info) echo "host: ok" ;; images) ;; *) exit 1 ;; esac\n',
        encoding="utf-8",
    )
    podman.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}/usr/bin:/bin")
    results = _results(project)
    assert {r.name: r.outcome for r in results.values()} == {
        "config": "pass",
        "credentials": "pass",
        "region": "pass",
        "role": "pass",
        "bucket": "pass",
        "ecr": "pass",
        "container": "pass",
        "tracking": "skip",
        "dvc": "skip",
    }
    assert doctor.exit_code(results.values()) == 0


def test_failing_container_cli_is_reported(project: Path, tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    docker = bin_dir / "docker"
    docker.write_text("#!/bin/sh\necho 'Cannot connect to the Docker daemon' >&2\nexit 1\n")
    docker.chmod(0o755)
    result = doctor.check_container_cli(
        doctor.Settings(aws=AwsSettings()),
        {"PATH": str(bin_dir)},
        doctor.subprocess_runner,
        project,
    )
    assert result.outcome == "fail"
    assert "Cannot connect to the Docker daemon" in result.detail
    assert result.fix
    assert "docker daemon" in result.fix


STAND_IN_PODMAN = """#!/bin/sh
case "$1" in
  info) echo "host: ok" ;;
  images) echo "docker.io/library/other:1"; echo "localhost/sagelift/base:bookworm-0123" ;;
  run) echo "Error: OCI runtime error: runc: container_linux.go:380: starting container \
process caused: permission denied" >&2; exit 126 ;;
  *) exit 1 ;;
esac
"""


def test_container_that_cannot_start_fails_with_the_engines_error(
    project: Path, tmp_path: Path
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    podman = bin_dir / "podman"
    podman.write_text(STAND_IN_PODMAN, encoding="utf-8")
    podman.chmod(0o755)
    settings = doctor.Settings(aws=AwsSettings(), image=ImageSettings(container_cli="podman"))
    result = doctor.check_container_cli(
        settings, {"PATH": str(bin_dir)}, doctor.subprocess_runner, project
    )
    assert result.outcome == "fail"
    assert "exited 126" in result.detail
    assert "localhost/sagelift/base:bookworm-0123" in result.detail
    assert result.detail.endswith(
        "Error: OCI runtime error: runc: container_linux.go:380: starting container "
        "process caused: permission denied"
    )
    assert result.fix is not None
    assert "OCI runtime" in result.fix


def test_container_check_without_a_local_image_says_so(project: Path, tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    podman = bin_dir / "podman"
    podman.write_text(
        STAND_IN_PODMAN.replace('echo "localhost/sagelift/base:bookworm-0123"', "true"),
        encoding="utf-8",
    )
    podman.chmod(0o755)
    result = doctor.check_container_cli(
        doctor.Settings(aws=AwsSettings()),
        {"PATH": str(bin_dir)},
        doctor.subprocess_runner,
        project,
    )
    assert result.outcome == "pass"
    assert "no local image to test a container start" in result.detail
    assert "'sagelift image build' makes one" in result.detail


def test_real_podman_starts_a_container_from_the_base_image(
    project: Path, podman_cli: PodmanCLI, cpu_base_image: BaseImage
) -> None:
    environ = {**os.environ, **podman_cli.env}
    settings = doctor.Settings(aws=AwsSettings(), image=ImageSettings(container_cli="podman"))
    result = doctor.check_container_cli(settings, environ, doctor.subprocess_runner, project)
    assert result.outcome == "pass", result
    assert "started a container from localhost/sagelift" in result.detail


def test_missing_credentials_skip_the_aws_checks(
    project: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("SAGELIFT_AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("SAGELIFT_AWS_REGION", "us-east-1")
    results = _results(project)
    assert results["credentials"].outcome == "fail"
    assert results["credentials"].fix
    for name in ("role", "bucket", "ecr"):
        assert results[name].outcome == "skip"
        assert "credentials" in results[name].detail


class _Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        ok = self.path == "/health"
        self.send_response(200 if ok else 404)
        self.end_headers()
        self.wfile.write(b"OK" if ok else b"")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def health_server() -> Iterator[str]:
    server = http.server.HTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def test_tracking_reachable_and_unreachable(health_server: str) -> None:
    def check(uri: str) -> doctor.CheckResult:
        settings = doctor.Settings(aws=AwsSettings(), tracking=doctor.TrackingSettings(uri=uri))
        return doctor.check_tracking(settings)

    assert check(health_server).outcome == "pass"
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    unreachable = check(closed)
    assert unreachable.outcome == "fail"
    assert "unreachable" in unreachable.detail


def test_dvc_remote_checked(project: Path, tmp_path: Path) -> None:
    (project / ".dvc").mkdir()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    dvc = bin_dir / "dvc"
    store = tmp_path / "store"
    dvc.write_text(f"#!/bin/sh\necho 'local\t{store}'\n", encoding="utf-8")
    dvc.chmod(0o755)
    settings = doctor.Settings(aws=AwsSettings())
    env = {"PATH": str(bin_dir)}

    def check() -> doctor.CheckResult:
        return doctor.check_dvc(
            project,
            settings,
            None,
            credentials=False,
            environ=env,
            runner=doctor.subprocess_runner,
        )

    missing = check()
    assert missing.outcome == "fail"
    assert str(store) in missing.detail
    store.mkdir()
    assert check().outcome == "pass"
