"""Running one external command: the injectable seam every image operation goes through.

Commands are argument lists, never shell strings. ``run_command`` is the real runner; tests
may pass any callable with the ``CommandRunner`` signature to observe the argv.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

from sagelift.errors import ImageError

__all__ = ["INSTALL_HINT", "CommandRunner", "run_command"]

INSTALL_HINT = "install podman (scripts/container-infra.sh install) or start a docker engine"


class CommandRunner(Protocol):
    """Runs one argv to completion, capturing text output; never raises on a non-zero exit."""

    def __call__(
        self,
        argv: Sequence[str],
        *,
        stdin_text: str | None = None,
        env: Mapping[str, str] | None = None,
        timeout: float | None = None,
        cwd: Path | None = None,
    ) -> subprocess.CompletedProcess[str]: ...


def run_command(
    argv: Sequence[str],
    *,
    stdin_text: str | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float | None = None,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """The real ``CommandRunner``: ``subprocess.run`` with captured text output.

    ``env`` entries are added to this process's environment. A missing executable raises
    ImageError; a timeout raises ImageError.
    """
    merged = {**os.environ, **env} if env else None
    try:
        return subprocess.run(
            list(argv),
            input=stdin_text,
            capture_output=True,
            text=True,
            env=merged,
            timeout=timeout,
            cwd=cwd,
            check=False,
            stdin=None if stdin_text is not None else subprocess.DEVNULL,
        )
    except FileNotFoundError as exc:
        raise ImageError(f"{argv[0]}: command not found", hint=INSTALL_HINT) from exc
    except subprocess.TimeoutExpired as exc:
        raise ImageError(
            f"{' '.join(argv[:3])} timed out after {timeout} s",
            hint="check that the container engine is responsive",
        ) from exc
