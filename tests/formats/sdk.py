"""The official SageMaker Python SDK v2, in a side venv, for differential tests.

Built once under ``~/.cache/sagelift-test/sdk-venv`` (or taken from ``SAGELIFT_SDK_PYTHON``, an
interpreter that already has ``sagemaker`` 2.x and scipy). Tests needing it are marked ``sdk``.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

SDK_VERSION = "2.257.7"


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"SageMaker SDK unavailable: {reason}")
    pytest.skip(f"SageMaker SDK unavailable: {reason}")


def _build(venv: Path) -> str | None:
    shutil.rmtree(venv, ignore_errors=True)
    python = str(venv / "bin" / "python")
    steps = (
        [sys.executable, "-m", "venv", str(venv)],
        [
            python,
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "--quiet",
            f"sagemaker=={SDK_VERSION}",
            "scipy",
        ],
    )
    for argv in steps:
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=900)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"{argv[2:5]}: {exc}"
        if done.returncode != 0:
            return f"{' '.join(argv[2:])} exited {done.returncode}: {done.stderr[-2000:]}"
    return None


def sdk_python() -> Path:
    """An interpreter with the SageMaker SDK v2 installed (built once, then cached)."""
    given = os.environ.get("SAGELIFT_SDK_PYTHON")
    if given:
        return Path(given)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    root = Path(base) / "sagelift-test" / "sdk-venv"
    root.mkdir(parents=True, exist_ok=True)
    tag = f"sagemaker-{SDK_VERSION}-py{sys.version_info[0]}{sys.version_info[1]}"
    venv = root / tag
    marker = venv / ".sagelift-complete"
    with (root / f"{tag}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not marker.exists():
            failure = _build(venv)
            if failure is not None:
                shutil.rmtree(venv, ignore_errors=True)
                _unavailable(failure)
            marker.write_text(SDK_VERSION, encoding="utf-8")
    return venv / "bin" / "python"


#: The SDK's configuration for the tests: its telemetry (an HTTPS request to an AWS host on
#: every ``fit``) turned off, so no test reaches past loopback.
SDK_CONFIG = """\
SchemaVersion: '1.0'
SageMaker:
  PythonSDK:
    Modules:
      TelemetryOptOut: true
"""


def run_sdk(
    script: str, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``script`` with the SDK's interpreter (v2 deprecation notice silenced, telemetry
    off); ``env`` is added to this process's environment."""
    python = sdk_python()
    with tempfile.TemporaryDirectory(prefix="sagelift-sdk-") as tmp:
        config = Path(tmp) / "config.yaml"
        config.write_text(SDK_CONFIG, encoding="utf-8")
        environ = {
            **os.environ,
            "SAGEMAKER_SUPPRESS_V2_WARNING": "1",
            "PYTHONWARNINGS": "ignore",
            "SAGEMAKER_ADMIN_CONFIG_OVERRIDE": str(config),
            **(env or {}),
        }
        environ.pop("PYTHONPATH", None)
        return subprocess.run(
            [str(python), "-c", script, *args],
            capture_output=True,
            text=True,
            timeout=600,
            env=environ,
            check=True,
        )
