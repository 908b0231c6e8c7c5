"""The failure reason: what ``output/failure`` says when the training code fails.

SageMaker reports the first 1024 characters of ``/opt/ml/output/failure`` as ``FailureReason``
(docs ``your-algorithms-training-algo-output.html``), so the useful part comes first: the
exception line, then the exit code, then the traceback tail. The toolkit writes only
``ExecuteUserScriptError`` with an empty message (SDK issues #1225, #1722); this fixes that.
"""

from __future__ import annotations

import signal as signals
from pathlib import Path

from sagelift.private_files import write_private_text

__all__ = ["FAILURE_REASON_LIMIT", "failure_reason", "last_exception_line", "write_failure_file"]

FAILURE_REASON_LIMIT = 1024
HEADLINE_LIMIT = 600
TAIL_LINES = 40
TAIL_CHARS = 6000

_TRACEBACK_HEADER = "Traceback (most recent call last):"


def failure_reason(stderr_tail: str, exit_code: int | None, signal: int | None) -> str:
    """The failure file text for a process that exited with ``exit_code`` or died by ``signal``.

    The first line is ``AlgorithmError: <headline>``; the headline is the exception line of the
    last Python traceback in ``stderr_tail`` when there is one, else its last meaningful line,
    else a description of the exit. At most ``HEADLINE_LIMIT`` characters of it are kept, so the
    exit code always falls within the first ``FAILURE_REASON_LIMIT`` characters. Then come
    ``ExitCode N``, the signal if any, and the traceback (or stderr) tail.
    """
    lines = stderr_tail.splitlines()
    traceback = _last_traceback(lines)
    described = _describe_exit(exit_code, signal)
    headline = last_exception_line(stderr_tail) or _last_meaningful(lines) or described
    if len(headline) > HEADLINE_LIMIT:
        headline = headline[: HEADLINE_LIMIT - 3] + "..."
    parts = [f"AlgorithmError: {headline}", ""]
    if exit_code is not None:
        parts.append(f"ExitCode {exit_code}")
    if signal is not None and headline != described:
        parts.append(described)
    if traceback:
        parts += ["Traceback tail:", _tail(traceback[1:])]
    elif any(line.strip() for line in lines):
        parts += ["Stderr tail:", _tail([line for line in lines if line.strip()])]
    return "\n".join(parts).rstrip() + "\n"


def last_exception_line(stderr_tail: str) -> str | None:
    """The exception line (``ValueError: bad lr``) of the last Python traceback, if any.

    It is the first unindented line after the traceback's last indented (frame) line, so a
    multi-line message or a note added with ``add_note`` does not replace it.
    """
    traceback = _last_traceback(stderr_tail.splitlines())
    if not traceback:
        return None
    frames = [i for i, line in enumerate(traceback) if line[:1].isspace() and line.strip()]
    start = frames[-1] + 1 if frames else 1
    return next((line.strip() for line in traceback[start:] if line.strip()), None)


def write_failure_file(path: Path, text: str) -> bool:
    """Write ``text`` to ``path`` unless the training code already wrote a reason there.

    A file holding only whitespace counts as absent; a written one is 0600 (it quotes the
    job's output). Returns whether it was written.
    """
    try:
        existing = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        existing = ""
    if existing.strip():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    write_private_text(path, text)
    return True


def _last_traceback(lines: list[str]) -> list[str]:
    for index in range(len(lines) - 1, -1, -1):
        if lines[index].strip() == _TRACEBACK_HEADER:
            return lines[index:]
    return []


def _last_meaningful(lines: list[str]) -> str | None:
    for line in reversed(lines):
        # Exception-group tracebacks draw boxes with "|", "+" and "-" (Python 3.11+).
        text = line.strip().lstrip("|+- ").strip()
        if text:
            return text
    return None


def _describe_exit(exit_code: int | None, signal: int | None) -> str:
    if signal is not None:
        try:
            name = signals.Signals(signal).name
        except ValueError:
            name = f"signal {signal}"
        text = f"the training process was killed by {name} (signal {signal})"
        if signal == signals.SIGKILL:
            text += "; when nothing stopped the job this is usually the out-of-memory killer"
        return text
    if exit_code is None:
        return "the training process ended without an exit code"
    return f"the training process exited with code {exit_code}"


def _tail(lines: list[str]) -> str:
    text = "\n".join(lines[-TAIL_LINES:])
    return text[-TAIL_CHARS:]
