"""``python -m sagelift.runtime``: the launcher's command line, the only part that prints."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import NoReturn

from sagelift.contract.layout import CONTAINER_ROOT, TrainingLayout
from sagelift.errors import ConfigError, SageliftError
from sagelift.runtime.failure import write_failure_file
from sagelift.runtime.launcher import DEFAULT_GRACE_SECONDS, LaunchRequest, launch
from sagelift.runtime.processes import become_subreaper
from sagelift.runtime.status import LaunchStatus, now_iso, write_status

__all__ = [
    "installed_sagelift",
    "launcher_args",
    "main",
    "parse_args",
    "with_import_root",
]

BASE_DIR_ENV = "SAGEMAKER_BASE_DIR"
_COMMAND_FLAG = "--command"
_TRAIN_ARG = "train"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise ConfigError(message, hint=f"see {self.prog} --help")


def _parser() -> _Parser:
    parser = _Parser(
        prog="python -m sagelift.runtime",
        description="Run training code under the SageMaker /opt/ml contract: SM_* environment, "
        "hyperparameters as arguments, SIGTERM forwarding, output/success or output/failure.",
        epilog=f"{_COMMAND_FLAG} ARG [ARG ...] takes the rest of the command line.",
    )
    parser.add_argument(
        "--root", type=Path, help=f"layout root (default: ${BASE_DIR_ENV}, else {CONTAINER_ROOT})"
    )
    entry = parser.add_mutually_exclusive_group()
    entry.add_argument("--program", help="script relative to the code dir (.py, .sh, executable)")
    entry.add_argument("--module", help="Python module to run with -m")
    parser.add_argument("--python", default=sys.executable, help="interpreter for .py and -m")
    parser.add_argument("--max-runtime", type=_seconds(positive=True), metavar="SECONDS")
    parser.add_argument(
        "--grace",
        type=_seconds(positive=False),
        default=DEFAULT_GRACE_SECONDS,
        metavar="SECONDS",
        help="SIGTERM to SIGKILL delay when stopping (default %(default)g, as SageMaker)",
    )
    parser.add_argument("--bind-opt-ml", choices=("auto", "require", "off"), default="off")
    parser.add_argument("--status-file", type=Path, metavar="PATH")
    parser.add_argument(
        "--code-tarball",
        type=Path,
        metavar="PATH",
        help="sourcedir.tar.gz to extract into the code dir first, when that dir is empty",
    )
    parser.add_argument(
        "--byo",
        action="store_true",
        help="run as SageMaker runs a bring-your-own image: no hyperparameters as arguments, "
        "no SM_* variables",
    )
    parser.add_argument(
        "--hosts",
        type=int,
        default=1,
        metavar="N",
        help="run the layouts <root>/algo-1 … algo-N as N hosts (Linux, root)",
    )
    parser.add_argument(
        "--processes-per-host",
        type=int,
        metavar="N",
        help="torchrun --nproc_per_node for torch_distributed (default: one per GPU, or 1)",
    )
    parser.add_argument(
        "--code-on-path",
        action="store_true",
        help="put the code dir first on PYTHONPATH, as the sagemaker-training toolkit of a "
        "framework image does",
    )
    parser.add_argument(
        "--contract",
        choices=("v2", "v3"),
        default="v2",
        help="the in-container contract: v2 (SDK v2 script mode, the sagemaker-training "
        "toolkit) or v3 (SDK v3 ModelTrainer's drivers: JSON arguments, their SM_* variables)",
    )
    parser.add_argument(
        "--job-name",
        help="TRAINING_JOB_NAME under the v3 contract; with --hosts, what picks the hosts' "
        "loopback addresses",
    )
    parser.add_argument(
        "--hide-channel",
        action="append",
        default=[],
        metavar="NAME",
        help="a channel the training code must not see in SM_* (repeatable)",
    )
    parser.add_argument(
        "--overlay-channel",
        action="append",
        default=[],
        metavar="NAME=DIR",
        help="show DIR at input/data/NAME as a copy-on-write overlay (copied where that is not "
        "possible); the directory itself is never written (repeatable)",
    )
    return parser


def launcher_args(
    entry: Sequence[str],
    *,
    root: Path | str | None = None,
    max_runtime: float | None = None,
    grace: float | None = None,
    bind_opt_ml: str | None = None,
    status_file: Path | str | None = None,
    python: str | None = None,
    code_tarball: Path | str | None = None,
    hide_channels: Sequence[str] = (),
    overlays: Mapping[str, Path] | None = None,
    byo: bool = False,
    hosts: int = 1,
    processes_per_host: int | None = None,
    code_on_path: bool = False,
    contract: str = "v2",
    job_name: str | None = None,
) -> list[str]:
    """The launcher's argv (without the program) that ``parse_args`` reads back.

    ``entry`` is the entry point's own arguments (``EntryPoint.launcher_arguments()``), last
    because ``--command`` takes the rest of the line. Options left ``None`` are not passed.
    """
    argv: list[str] = ["--byo"] if byo else []
    if hosts > 1:
        argv += ["--hosts", str(hosts)]
    if processes_per_host is not None:
        argv += ["--processes-per-host", str(processes_per_host)]
    if code_on_path:
        argv.append("--code-on-path")
    if contract != "v2":
        argv += ["--contract", contract]
    if job_name is not None and (contract == "v3" or hosts > 1):
        argv += ["--job-name", job_name]
    if code_tarball is not None:
        argv += ["--code-tarball", str(code_tarball)]
    for name in hide_channels:
        argv += ["--hide-channel", name]
    for flag, value in (
        ("--root", root),
        ("--max-runtime", max_runtime),
        ("--grace", grace),
        ("--bind-opt-ml", bind_opt_ml),
        ("--status-file", status_file),
        ("--python", python),
    ):
        if value is not None:
            argv += [flag, str(value)]
    for name, directory in sorted((overlays or {}).items()):
        argv += ["--overlay-channel", f"{name}={directory}"]
    return [*argv, *entry]


def _overlay(text: str) -> tuple[str, Path]:
    name, sep, directory = text.partition("=")
    if not sep or not name or not directory:
        raise ConfigError(
            f"--overlay-channel {text!r}: expected NAME=DIR", hint="--overlay-channel train=/data"
        )
    return name, Path(directory)


def _seconds(*, positive: bool) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
        if value < 0 or (positive and value == 0) or value != value:
            raise argparse.ArgumentTypeError(f"out of range: {text!r}")
        return value

    return parse


def parse_args(argv: Sequence[str], environ: Mapping[str, str]) -> LaunchRequest:
    """The launch request for ``argv`` (without the program name).

    Raises:
        ConfigError: unknown or invalid options, or more than one entry point.
    """
    args = list(argv)
    if args[:1] == [_TRAIN_ARG]:
        # SageMaker starts a training image as `docker run IMAGE train`.
        args = args[1:]
    command: tuple[str, ...] | None = None
    if _COMMAND_FLAG in args:
        at = args.index(_COMMAND_FLAG)
        command = tuple(args[at + 1 :])
        args = args[:at]
        if not command:
            raise ConfigError(f"{_COMMAND_FLAG} needs a command", hint="--command python x.py")
    ns = _parser().parse_args(args)
    if command is not None and (ns.program is not None or ns.module is not None):
        raise ConfigError(
            "choose one of --program, --module and --command", hint="pass one entry point"
        )
    root = ns.root if ns.root is not None else Path(environ.get(BASE_DIR_ENV) or CONTAINER_ROOT)
    return LaunchRequest(
        root=root,
        program=ns.program,
        module=ns.module,
        command=command,
        python=ns.python,
        max_runtime=ns.max_runtime,
        grace=ns.grace,
        bind_opt_ml=ns.bind_opt_ml,
        status_file=ns.status_file,
        code_tarball=ns.code_tarball,
        hide_channels=tuple(ns.hide_channel),
        overlays=tuple(_overlay(text) for text in ns.overlay_channel),
        byo=ns.byo,
        hosts=ns.hosts,
        processes_per_host=ns.processes_per_host,
        code_on_path=ns.code_on_path,
        contract=ns.contract,
        job_name=ns.job_name,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the launcher; returns the exit code (the job's, or 2 for a usage error)."""
    logging.basicConfig(level=logging.INFO, format="sagelift: %(message)s", stream=sys.stderr)
    request: LaunchRequest | None = None
    started_at = now_iso()
    try:
        request = parse_args(sys.argv[1:] if argv is None else argv, os.environ)
        environ = with_import_root(os.environ, python=request.python)
        if request.hosts > 1:
            from sagelift.runtime.hosts import run_hosts

            status = run_hosts(request, request.hosts, environ=environ)
        else:
            request = replace(request, adopt_orphans=become_subreaper())
            status = launch(request, environ=environ)
    except SageliftError as exc:
        line = f"sagelift: {exc.headline}: {exc.message}"
        if exc.hint:
            line += f" (hint: {exc.hint})"
        print(line, file=sys.stderr)
        if request is not None:
            _record_refusal(request, exc, started_at)
        return exc.exit_code
    return status.exit_code if status.exit_code is not None else 1


#: Prints where ``import sagelift`` resolves in the job's interpreter, from its own paths only
#: (the current directory is dropped, as it is not the job's).
_PROBE = (
    "import sys\n"
    "sys.path[:] = [p for p in sys.path if p]\n"
    "import importlib.util\n"
    "spec = importlib.util.find_spec('sagelift')\n"
    "print(spec.origin if spec is not None and spec.origin else '')\n"
)
_PROBE_TIMEOUT = 60.0


def installed_sagelift(python: str, environ: Mapping[str, str]) -> str | None:
    """Where ``import sagelift`` resolves for ``python`` in ``environ`` (its ``__init__.py``),
    or None when it does not resolve or the interpreter cannot be asked."""
    try:
        done = subprocess.run(
            [python, "-c", _PROBE],
            env=dict(environ),
            capture_output=True,
            text=True,
            timeout=_PROBE_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    origin = done.stdout.strip()
    return origin if done.returncode == 0 and origin else None


def with_import_root(environ: Mapping[str, str], *, python: str) -> dict[str, str]:
    """``environ`` for the training code, so that it can ``from sagelift.checkpoints import
    Checkpoints`` in any image the launcher runs in.

    When ``import sagelift`` already resolves for the job's ``python`` (sagelift installed in
    the image or the venv), ``environ`` is returned unchanged: the directory sagelift is
    imported from here (the launcher bundle, which holds only the job-side modules) must not
    hide the installed package. Otherwise that directory is appended to ``PYTHONPATH``.
    """
    from sagelift.package import import_root

    env = dict(environ)
    if installed_sagelift(python, env) is not None:
        return env
    root = str(import_root())
    parts = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    if root not in parts:
        env["PYTHONPATH"] = os.pathsep.join([*parts, root])
    return env


def _record_refusal(request: LaunchRequest, exc: SageliftError, started_at: str) -> None:
    # SageMaker shows output/failure as FailureReason, so a job that could not start says why.
    text = f"{type(exc).__name__}: {exc.message}\n"
    if exc.hint:
        text += f"Hint: {exc.hint}\n"
    if request.root.is_dir():
        with contextlib.suppress(OSError):
            write_failure_file(TrainingLayout(request.root).failure_file, text)
    if request.status_file is not None:
        status = LaunchStatus(
            state="Failed",
            exit_code=exc.exit_code,
            signal=None,
            failure_reason=text,
            started_at=started_at,
            ended_at=now_iso(),
            opt_ml="off" if request.bind_opt_ml == "off" else "unavailable: not started",
        )
        with contextlib.suppress(OSError):
            write_status(request.status_file, status)
