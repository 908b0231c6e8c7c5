"""The oldest Python the launcher runs on, and the refusal an older one gets.

The launcher runs inside whatever image the job uses: sagelift's own, a prebuilt framework image
(the SageMaker scikit-learn 1.2-1 image and the PyTorch ``py39`` images have Python 3.9) or the
user's ``image.uri``. Every module of the launcher bundle (``runtime/``, ``contract/``,
``errors``, ``package``, ``archives``, ``checkpoints``) therefore imports and runs on
:data:`PYTHON_FLOOR`.

An older interpreter would fail with a ``SyntaxError`` or ``ImportError`` deep inside an import,
and SageMaker would show a generic ``FailureReason``. :data:`REFUSAL_SOURCE` runs first instead
(the bundle's ``__main__`` and the container backend's bootstrap embed it): it writes a sentence
naming the floor to ``<root>/output/failure`` (what SageMaker shows as ``FailureReason``), and to
the ``--status-file`` when one is given, then exits 2. It is written in the Python that every
``python3`` since 3.0 parses: no f-strings, no annotations.
"""

from __future__ import annotations

__all__ = ["PYTHON_FLOOR", "REFUSAL_SOURCE", "refusal_message"]

PYTHON_FLOOR = (3, 8)


def refusal_message(version: tuple[int, int]) -> str:
    """The sentence an interpreter of ``version`` (older than the floor) gets."""
    floor = ".".join(str(part) for part in PYTHON_FLOOR)
    return (
        f"sagelift: the job's image has Python {version[0]}.{version[1]}; the sagelift launcher "
        f"needs {floor} or newer (hint: use an image whose python3 is {floor} or newer)"
    )


# Kept free of anything newer than Python 3.0 syntax; exercised by the tests under 3.7.
_REFUSAL_TEMPLATE = """\
import sys
if sys.version_info[:2] < @FLOOR@:
    def _sagelift_refuse(argv, environ):
        import json, os, time
        text = (
            "sagelift: the job's image has Python %d.%d; the sagelift launcher needs "
            "%d.%d or newer (hint: use an image whose python3 is %d.%d or newer)"
            % (sys.version_info[:2] + @FLOOR@ + @FLOOR@)
        )
        sys.stderr.write(text + "\\n")

        def option(name):
            for i, arg in enumerate(argv):
                if arg == "--command":
                    return None
                if arg == name and i + 1 < len(argv):
                    return argv[i + 1]
                if arg.startswith(name + "="):
                    return arg[len(name) + 1:]
            return None

        root = option("--root") or environ.get("SAGEMAKER_BASE_DIR") or "/opt/ml"
        output = os.path.join(root, "output")
        if os.path.isdir(output):
            try:
                with open(os.path.join(output, "failure"), "w") as handle:
                    handle.write(text + "\\n")
            except OSError:
                pass
        status_file = option("--status-file")
        if status_file:
            now = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())
            status = {
                "state": "Failed", "exit_code": 2, "signal": None,
                "failure_reason": text + "\\n", "started_at": now, "ended_at": now,
                "opt_ml": "unavailable: not started",
            }
            try:
                with open(status_file, "w") as handle:
                    handle.write(json.dumps(status, indent=2, sort_keys=True) + "\\n")
            except OSError:
                pass
        sys.exit(2)
    _sagelift_refuse(sys.argv[1:], __import__("os").environ)
"""
REFUSAL_SOURCE = _REFUSAL_TEMPLATE.replace("@FLOOR@", repr(PYTHON_FLOOR))
