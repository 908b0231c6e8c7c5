"""A real MLflow tracking server (SQLite backend) on 127.0.0.1 for tests.

The server needs the full ``mlflow`` package, kept out of the project's environment: it lives in
``~/.cache/sagelift-test/mlflow-venv``, created on first use. With CI=true a failed install is an
error; elsewhere the tests that need the server are skipped.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

VENV = Path.home() / ".cache" / "sagelift-test" / "mlflow-venv"


def _mlflow_bin() -> Path:
    binary = VENV / "bin" / "mlflow"
    if binary.exists():
        return binary
    try:
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(VENV / "bin" / "pip"), "install", "-q", "mlflow"], check=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        message = f"cannot install the MLflow server into {VENV}: {exc}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return binary


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class MlflowServer:
    url: str
    data: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        port = self.url.rsplit(":", 1)[1]
        env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
        log = open(self.data / "server.log", "ab")  # noqa: SIM115 - owned by the child
        self.process = subprocess.Popen(
            [
                str(_mlflow_bin()),
                "server",
                "--backend-store-uri",
                f"sqlite:///{self.data / 'mlflow.db'}",
                "--artifacts-destination",
                str(self.data / "artifacts"),
                "--host",
                "127.0.0.1",
                "--port",
                port,
                "--workers",
                "1",
            ],
            stdout=log,
            stderr=log,
            env=env,
            start_new_session=True,
        )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError((self.data / "server.log").read_text()[-2000:])
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2):
                    return
            except OSError:
                time.sleep(0.3)
        self.stop()
        raise RuntimeError("MLflow server did not become healthy in 90 s")

    def stop(self) -> None:
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=20)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.process = None


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    data = tmp_path_factory.mktemp("mlflow")
    server = MlflowServer(url=f"http://127.0.0.1:{free_port()}", data=data)
    server.start()
    try:
        yield server
    finally:
        server.stop()
