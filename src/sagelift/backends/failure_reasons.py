"""The failure reason a supervised job ends with: the script's, or an infrastructure failure.

The job's failure file is the reason when it has one; otherwise the reason tells the script's
exit code from a launcher or container engine that ended without saying how the job ended, and
an OS error met by the supervisor itself (a full disk while packing) from the script's failure.
Like SageMaker's FailureReason, every reason is cut to ``FAILURE_REASON_LIMIT`` characters.
"""

from __future__ import annotations

import errno
import shutil
import signal
from pathlib import Path

from sagelift.backends import artifacts
from sagelift.backends.lifecycle import describe_os_error
from sagelift.contract.layout import TrainingLayout

__all__ = ["ENGINE_START_CODES", "FAILURE_REASON_LIMIT", "failure_reason", "os_failure_reason"]

# SageMaker reports the first 1024 characters of output/failure as FailureReason.
FAILURE_REASON_LIMIT = 1024

#: ``podman run``/``docker run``: 125 the engine failed, 126 the command cannot be invoked,
#: 127 the command was not found (docker-run(1) "Exit Status").
ENGINE_START_CODES = (125, 126, 127)


def failure_reason(layout: TrainingLayout, returncode: int, *, launched: bool = True) -> str:
    """The job's failure file; else, when the launcher reported how the job ended
    (``launched``), the script's exit code; else the launcher (or the container engine that
    was to run it) failed: an infrastructure failure, not the script's."""
    try:
        with open(layout.failure_file, "rb") as stream:  # only what FailureReason can hold
            text = stream.read(4 * FAILURE_REASON_LIMIT).decode("utf-8", errors="replace")
    except OSError:
        text = ""
    text = text.strip()
    if not text and launched:
        text = f"AlgorithmError: the training process exited with code {returncode}"
    elif not text and returncode < 0:
        name = signal.Signals(-returncode).name
        text = (
            f"InfrastructureError: the job's launcher was killed by {name} before the job "
            "ended; its training processes were ended too"
        )
    elif not text and returncode in ENGINE_START_CODES:
        text = (
            f"InfrastructureError: the container could not be started (the container engine "
            f"exited with code {returncode} before the launcher ran); its error is at the end "
            "of the job's log"
        )
    elif not text:
        text = (
            f"InfrastructureError: the job's launcher ended with code {returncode} without "
            "saying how the job ended; see the end of the job's log"
        )
    return text[:FAILURE_REASON_LIMIT]


def os_failure_reason(exc: OSError, doing: str, *, layout: TrainingLayout, record_dir: Path) -> str:
    """The failure reason of an OS error met while ``doing`` something: what it was, where,
    and where the trained model was kept. Frees what it can first (staged data, the record's
    tmp dir), so that the status can still be written on a full disk."""
    artifacts.release_inputs(layout)
    shutil.rmtree(record_dir / "tmp", ignore_errors=True)
    reason = f"InfrastructureError: {describe_os_error(exc, doing)}"
    if artifacts.count_files(layout.model_dir):
        reason += f"; the model directory is kept at {layout.model_dir}"
    if exc.errno == errno.ENOSPC:
        reason += "; free space there and run the job again"
    return reason[:FAILURE_REASON_LIMIT]
