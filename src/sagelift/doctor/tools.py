"""The command-line tools jobs need, run through a ``Runner``: the container engine (podman or
docker) can start a container, and DVC is installed with reachable remotes."""

from __future__ import annotations

import re
import shutil
import subprocess
import urllib.parse
from collections.abc import Callable, Mapping
from pathlib import Path

from sagelift.aws import client
from sagelift.doctor.account import NO_CREDENTIALS, _aws_settings, _call
from sagelift.doctor.report import CheckResult, _fail, _pass, _skip
from sagelift.errors import SageliftError
from sagelift.settings import Settings

__all__ = ["CLI_TIMEOUT", "Runner", "check_container_cli", "check_dvc", "subprocess_runner"]

#: Runs argv in a directory with an environment; returns (exit status, combined output).
Runner = Callable[[list[str], Path, Mapping[str, str]], tuple[int, str]]

CLI_TIMEOUT = 60.0


def subprocess_runner(argv: list[str], cwd: Path, env: Mapping[str, str]) -> tuple[int, str]:
    try:
        done = subprocess.run(
            argv,
            cwd=cwd,
            env=dict(env),
            capture_output=True,
            text=True,
            timeout=CLI_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return 124, f"timed out after {CLI_TIMEOUT:.0f}s"
    except OSError as exc:
        return 127, str(exc)
    return done.returncode, (done.stdout or "") + (done.stderr or "")


def check_container_cli(
    settings: Settings, environ: Mapping[str, str], runner: Runner, project_dir: Path
) -> CheckResult:
    name = "container"
    wanted = (
        [settings.image.container_cli] if settings.image.container_cli else ["podman", "docker"]
    )
    path = environ.get("PATH", "")
    found = [(cli, shutil.which(cli, path=path)) for cli in wanted]
    present = [(cli, exe) for cli, exe in found if exe]
    if not present:
        return _fail(
            name,
            f"no container CLI found on PATH ({' or '.join(wanted)})",
            "install podman ('apt install podman') or docker; cloud jobs build their image "
            "with it (local jobs do not need one)",
        )
    cli, exe = present[0]
    assert exe is not None
    status, output = runner([exe, "info"], project_dir, environ)
    if status != 0:
        return _fail(
            name,
            f"'{cli} info' failed ({status}): {_last_line(output)}",
            "start the docker daemon (or join the docker group)"
            if cli == "docker"
            else "run 'podman system migrate' and check 'podman info' by hand",
        )
    return _container_start(cli, exe, environ, runner, project_dir)


#: Images sagelift tagged locally; the offline base first (the smallest, and what builds use).
_SAGELIFT_IMAGE = re.compile(r"localhost/sagelift[^\s:]*:[^\s<>]+")
_BASE_IMAGE = re.compile(r"localhost/sagelift[^\s:]*/base:[^\s<>]+")


def _local_image(listing: str) -> str | None:
    """The image to start a test container from: a ``localhost/sagelift*/base`` image when
    one is listed, else any other ``localhost/sagelift*`` image, else None. Pure."""
    refs = [line.strip() for line in listing.splitlines()]
    for pattern in (_BASE_IMAGE, _SAGELIFT_IMAGE):
        for ref in refs:
            if pattern.fullmatch(ref):
                return ref
    return None


def _container_start(
    cli: str, exe: str, environ: Mapping[str, str], runner: Runner, project_dir: Path
) -> CheckResult:
    """Start ``true`` in a local sagelift image, offline, with the environment jobs get (the
    engine reads its runtime from ``CONTAINERS_CONF`` there): ``info`` alone passes on an
    engine whose OCI runtime cannot start a container."""
    name = "container"
    status, output = runner(
        [exe, "images", "--format", "{{.Repository}}:{{.Tag}}"], project_dir, environ
    )
    if status != 0:
        return CheckResult(
            name=name,
            outcome="warn",
            detail=f"{cli} works ({exe}) but '{cli} images' failed ({status}): "
            f"{_last_line(output)}",
            fix=f"check '{cli} images' by hand",
        )
    image = _local_image(output)
    if image is None:
        return _pass(
            name,
            f"{cli} works ({exe}) (no local image to test a container start; "
            "'sagelift image build' makes one)",
        )
    argv = [exe, "run", "--rm", "--network", "none", "--entrypoint", "true", image]
    status, output = runner(argv, project_dir, environ)
    if status != 0:
        return _fail(
            name,
            f"{cli} cannot start a container ('{cli} run --rm {image} true' exited {status}): "
            f"{_error_line(output)}",
            "start the docker engine and check its runtime with 'docker run --rm IMAGE true'"
            if cli == "docker"
            else "check the OCI runtime (crun or runc installed, [engine] runtime in "
            "containers.conf / CONTAINERS_CONF); 'podman system migrate' after an upgrade; "
            "then try 'podman run --rm IMAGE true' by hand",
        )
    return _pass(name, f"{cli} works ({exe}); started a container from {image}")


def _last_line(output: str) -> str:
    return (output.strip().splitlines() or ["no output"])[-1]


def _error_line(output: str) -> str:
    """The engine's last line that names an error, else its last line."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    return next((line for line in reversed(lines) if "error" in line.lower()), _last_line(output))


def check_dvc(
    project_dir: Path,
    settings: Settings,
    region: str | None,
    *,
    credentials: bool,
    environ: Mapping[str, str],
    runner: Runner,
) -> CheckResult:
    name = "dvc"
    if not (project_dir / ".dvc").is_dir():
        return _skip(name, "the project does not use DVC")
    exe = shutil.which("dvc", path=environ.get("PATH", ""))
    if exe is None:
        return _fail(name, "the project uses DVC but dvc is not installed", "pip install 'dvc[s3]'")
    status, output = runner([exe, "remote", "list"], project_dir, environ)
    if status != 0:
        return _fail(name, f"'dvc remote list' failed: {output.strip()}", "check .dvc/config")
    remotes = [line.split() for line in output.splitlines() if len(line.split()) >= 2]
    if not remotes:
        return CheckResult(
            name=name,
            outcome="warn",
            detail="no DVC remote configured",
            fix="dvc remote add -d storage s3://BUCKET/dvc",
        )
    problems = [
        p
        for p in (
            _remote_problem(r[0], r[1], settings, region, credentials, project_dir) for r in remotes
        )
        if p
    ]
    if problems:
        return _fail(
            name, "; ".join(problems), "create the remote or fix it with 'dvc remote modify'"
        )
    return _pass(name, ", ".join(f"{r[0]} ({r[1]})" for r in remotes) + " reachable")


def _remote_problem(
    remote: str,
    url: str,
    settings: Settings,
    region: str | None,
    credentials: bool,
    project_dir: Path,
) -> str | None:
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme == "s3":
        if not credentials:
            return f"remote {remote}: {NO_CREDENTIALS}"
        s3 = client("s3", _aws_settings(settings, region))
        try:
            _call("s3:ListBucket", parsed.netloc, lambda: s3.head_bucket(Bucket=parsed.netloc))
        except SageliftError as exc:
            return f"remote {remote}: {exc.message}"
        return None
    if parsed.scheme in ("", "file"):
        path = Path(parsed.path if parsed.scheme else url)
        path = path if path.is_absolute() else project_dir / ".dvc" / path
        return None if path.is_dir() else f"remote {remote}: {path} does not exist"
    return None
