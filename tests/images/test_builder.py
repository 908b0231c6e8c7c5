from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from sagelift.errors import ImageError
from sagelift.images.builder import DockerCLI, PodmanCLI, detect_container_cli
from sagelift.images.runner import run_command


class Recorder:
    """A CommandRunner that records each call and answers with a fixed result."""

    def __init__(self, *, returncode: int = 0, stdout: str = "", stderr: str = "") -> None:
        self.calls: list[tuple[list[str], str | None]] = []
        self.result = (returncode, stdout, stderr)

    def __call__(
        self,
        argv: Sequence[str],
        *,
        stdin_text: str | None = None,
        env: Mapping[str, str] | None = None,
        timeout: float | None = None,
        cwd: Path | None = None,
    ) -> subprocess.CompletedProcess[str]:
        self.calls.append((list(argv), stdin_text))
        code, out, err = self.result
        return subprocess.CompletedProcess(list(argv), code, out, err)


def test_podman_gets_runc_and_tls_switch() -> None:
    recorder = Recorder(stdout="sha256:" + "a" * 64)
    cli = PodmanCLI(runtime="runc", runner=recorder)
    cli.pull("127.0.0.1:5000/x:1", tls_verify=False)
    cli.build(Path("/ctx"), Path("/ctx/Containerfile"), "localhost/x:1", labels={"k": "v"})
    pull, _ = recorder.calls[0]
    build, _ = recorder.calls[1]
    assert pull == [
        "podman",
        "--runtime",
        "runc",
        "pull",
        "--tls-verify=false",
        "127.0.0.1:5000/x:1",
    ]
    assert build[:3] == ["podman", "--runtime", "runc"]
    assert build[-1] == "/ctx"
    assert build[build.index("-f") : build.index("-f") + 2] == ["-f", "/ctx/Containerfile"]
    assert "--label" in build
    assert "k=v" in build


def test_docker_has_no_tls_flag_and_no_runtime() -> None:
    recorder = Recorder()
    DockerCLI(runner=recorder).pull("127.0.0.1:5000/x:1", tls_verify=False)
    assert recorder.calls[0][0] == ["docker", "pull", "127.0.0.1:5000/x:1"]


@pytest.mark.parametrize("cli_type", [PodmanCLI, DockerCLI])
def test_login_password_goes_to_stdin_never_argv(
    cli_type: type[PodmanCLI] | type[DockerCLI],
) -> None:
    recorder = Recorder()
    cli_type(runner=recorder).login("127.0.0.1:5000", username="AWS", password="s3cr3t-token")
    argv, stdin = recorder.calls[0]
    assert all("s3cr3t-token" not in arg for arg in argv)
    assert "--password-stdin" in argv
    assert stdin == "s3cr3t-token\n"


def test_failures_become_image_errors_with_a_matching_hint() -> None:
    recorder = Recorder(returncode=125, stderr="Error: unauthorized: authentication required\n")
    with pytest.raises(ImageError) as caught:
        PodmanCLI(runner=recorder).push("127.0.0.1:5000/x:1")
    assert "pushing 127.0.0.1:5000/x:1 failed" in str(caught.value)
    assert "log in" in (caught.value.hint or "")


def test_missing_executable_is_an_image_error() -> None:
    cli = PodmanCLI(executable="sagelift-no-such-podman")
    with pytest.raises(ImageError) as caught:
        cli.image_exists("x")
    assert "scripts/container-infra.sh" in (caught.value.hint or "")


def test_run_command_passes_stdin_and_env(tmp_path: Path) -> None:
    result = run_command(
        ["sh", "-c", 'read line; echo "$line-$SAGELIFT_T" > out; pwd'],
        stdin_text="in\n",
        env={"SAGELIFT_T": "env"},
        cwd=tmp_path,
    )
    assert result.returncode == 0
    assert (tmp_path / "out").read_text() == "in-env\n"
    assert result.stdout.strip() == str(tmp_path)


def test_auto_detection_prefers_podman_when_docker_has_no_engine() -> None:
    no_engine = Recorder(returncode=1, stderr="Cannot connect to the Docker daemon")
    if shutil.which("podman") is None:
        pytest.skip("podman is not installed (scripts/container-infra.sh install)")
    cli = detect_container_cli("auto", podman_runtime="runc", runner=no_engine)
    assert cli.name == "podman"
    assert isinstance(cli, PodmanCLI)
    assert cli.runtime == "runc"


def test_explicit_choice_wins_over_detection() -> None:
    if shutil.which("docker") is None:
        pytest.skip("no docker CLI on this machine")
    engine = Recorder(stdout="28.2.2\n")
    assert detect_container_cli("docker", runner=engine).name == "docker"
    assert engine.calls == [], "an explicit choice probes nothing"
    assert detect_container_cli("auto", runner=engine).name == "docker"
