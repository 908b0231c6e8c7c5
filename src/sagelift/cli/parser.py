"""The argument parser: flags only, no logic."""

from __future__ import annotations

import argparse
import difflib
import sys
from typing import NoReturn

from sagelift.cli import ci_commands, image_commands, price_commands, setup_commands
from sagelift.errors import UsageError
from sagelift.package import VERSION

__all__ = ["build_parser"]


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors that carry a hint, raised as UsageError (exit 2)."""

    def error(self, message: str) -> NoReturn:
        hint = f"see '{self.prog} --help'"
        if message.startswith("unrecognized arguments:"):
            known = _all_options(self)
            for word in message.split(":", 1)[1].split():
                close = difflib.get_close_matches(word.split("=")[0], known, n=1)
                if close:
                    hint = f"did you mean {close[0]}? ({hint})"
                    break
        # "sagelift run: …" names the sub-command; the top parser needs no second "sagelift:".
        where = "" if self.prog == "sagelift" else f"{self.prog}: "
        raise UsageError(f"{where}{message}", hint=hint)


def _all_options(parser: argparse.ArgumentParser) -> list[str]:
    """Every option string of ``parser`` and its sub-commands (argparse reports a sub-command's
    unknown flags from the top parser)."""
    found: list[str] = []
    for action in parser._actions:
        found += action.option_strings
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):
                found += _all_options(sub)
    return list(dict.fromkeys(found))


def _spec_flags() -> Parser:
    """Flags that override spec keys; shared by ``run`` and ``config``."""
    flags = Parser(add_help=False)
    g = flags.add_argument_group("job spec (each overrides the same key of sagelift.toml)")
    g.add_argument("-m", "--module", help="run a module (python -m MODULE) as the entry point")
    g.add_argument("--command", help="run a command (quoted, split like a shell would)")
    g.add_argument("--source-dir", help="code directory shipped as /opt/ml/code")
    g.add_argument(
        "--hp",
        "--hyperparameter",
        dest="hp",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="hyperparameter; VALUE is JSON when it parses (3, 0.1, true), else a string",
    )
    g.add_argument(
        "--channel", action="append", default=[], metavar="NAME=PATH", help="input channel"
    )
    g.add_argument(
        "--input-mode",
        choices=("File", "FastFile", "Pipe"),
        help="TrainingInputMode of channels that set none (Pipe: FIFOs <channel>_<epoch>)",
    )
    g.add_argument(
        "--env", action="append", default=[], metavar="KEY=VALUE", help="environment variable"
    )
    g.add_argument("--output-path", help="where <job>/output/model.tar.gz goes")
    g.add_argument("--checkpoint-path", help="checkpoints restored and saved here")
    g.add_argument("--max-runtime", help="seconds or a duration (90m, 2h)")
    g.add_argument("--stop-grace", help="seconds between SIGTERM and SIGKILL")
    g.add_argument("--base-job-name", help="prefix of the generated job name")
    g.add_argument("--job-name", help="exact job name")
    g.add_argument("--instance-type", help="'local' (default), 'local_gpu', or ml.* for SageMaker")
    g.add_argument("--instance-count", type=int, help="number of instances")
    # One place says where the job runs: a --backend after --rehearse (or before it) must not
    # quietly turn a rehearsal into a real, billed SageMaker job.
    where = g.add_mutually_exclusive_group()
    where.add_argument(
        "--backend", choices=("local", "container"), help="local process or container image"
    )
    where.add_argument(
        "--rehearse",
        dest="backend",
        action="store_const",
        const="rehearsal",
        help="ml.* types: do everything a SageMaker submission does, then run that exact "
        "request here in its image instead of creating the job",
    )
    g.add_argument(
        "--dependencies",
        choices=("current", "isolated"),
        help="current Python environment, or an isolated venv from requirements (cached)",
    )
    g.add_argument("--isolated", action="store_true", help="same as --dependencies isolated")
    g.add_argument("--requirements", help="requirements file for --isolated")
    g.add_argument(
        "--opt-ml", choices=("auto", "require", "off"), help="bind the job on /opt/ml (Linux)"
    )
    g.add_argument(
        "--spot", action="store_true", default=None, help="managed spot training (SageMaker)"
    )
    g.add_argument("--max-wait", help="spot: capacity wait plus run, seconds or duration")
    g.add_argument(
        "--max-cost", type=float, metavar="USD", help="refuse launches whose worst case costs more"
    )
    g.add_argument("--profile", help="use [profile.NAME] from the config files")
    return flags


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="sagelift",
        description="Run a training project, unmodified, as a SageMaker training job.",
    )
    parser.add_argument("--version", action="version", version=f"sagelift {VERSION}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    parser.add_argument(
        "-C", "--project", default=".", metavar="DIR", help="project directory (default: .)"
    )
    sub = parser.add_subparsers(dest="command_name", metavar="COMMAND", parser_class=Parser)
    spec_flags = _spec_flags()

    run = sub.add_parser(
        "run",
        parents=[spec_flags],
        help="run the project as a training job",
        description=(
            "Run the project as a training job. The script sees the SageMaker contract: "
            "/opt/ml layout, SM_* variables, hyperparameters as arguments."
        ),
    )
    run.add_argument("script", nargs="?", help="entry point script (overrides entry_point)")
    run.add_argument(
        "--simulate-interruptions",
        type=int,
        metavar="N",
        help="rehearse N spot interruptions locally: SIGTERM, grace, restart with checkpoints",
    )
    run.add_argument(
        "--interrupt-at",
        metavar="SECONDS,…",
        help="when to interrupt, in seconds into each attempt (default: 10 s each)",
    )
    run.add_argument("--detach", "-d", action="store_true", help="return at once; job goes on")
    run.add_argument("--quiet", "-q", action="store_true", help="only the script's output")
    run.add_argument(
        "--allow-dirty-data",
        action="store_true",
        help="run on DVC-tracked channels even when they differ from what DVC recorded",
    )
    run.add_argument(
        "--ci-output",
        action="store_true",
        help="CI logs: fold the job log in a ::group:: and write a job summary "
        "(automatic when GITHUB_ACTIONS=true)",
    )
    run.add_argument(
        "--summary-file",
        metavar="PATH",
        help="append a Markdown job summary here (default in CI: $GITHUB_STEP_SUMMARY)",
    )
    run.add_argument(
        "--stop-on-interrupt",
        action="store_true",
        help="on Ctrl-C, stop a SageMaker job instead of leaving it running",
    )

    config = sub.add_parser(
        "config", parents=[spec_flags], help="show every resolved setting and its source"
    )
    config.add_argument("script", nargs="?", help=argparse.SUPPRESS)
    config.add_argument("--keys", action="store_true", help="list every known key")
    config.add_argument("--json", action="store_true", help="machine-readable output")

    ls = sub.add_parser("ls", help="list this project's jobs")
    ls.add_argument("--json", action="store_true", help="machine-readable output")

    describe = sub.add_parser("describe", help="show one job")
    describe.add_argument("job", help="job name, a unique prefix, or 'last'")
    describe.add_argument("--json", action="store_true", help="machine-readable output")

    logs = sub.add_parser("logs", help="print a job's output")
    logs.add_argument("job", help="job name, a unique prefix, or 'last'")
    logs.add_argument("-f", "--follow", action="store_true", help="keep printing until it ends")

    stop = sub.add_parser("stop", help="stop a running job (SIGTERM, grace period, SIGKILL)")
    stop.add_argument("job", help="job name, a unique prefix, or 'last'")
    stop.add_argument("--no-wait", action="store_true", help="return without waiting")

    fetch = sub.add_parser("fetch", help="extract a job's model into a directory")
    fetch.add_argument("job", help="job name, a unique prefix, or 'last'")
    fetch.add_argument("dest", nargs="?", help="destination (default: models/<job>)")
    fetch.add_argument(
        "--force",
        action="store_true",
        help="extract into a non-empty DEST (archive files overwrite theirs; nothing is removed)",
    )
    fetch.add_argument(
        "--max-size",
        metavar="SIZE",
        help="refuse archives that unpack to more than SIZE (default 10G; e.g. 50G)",
    )
    fetch.add_argument(
        "--dvc", action="store_true", help="track the fetched model with DVC (dvc add DEST)"
    )
    fetch.add_argument(
        "--from-mlflow", action="store_true", help="download the model from the job's MLflow run"
    )

    package = sub.add_parser(
        "package",
        parents=[spec_flags],
        help="show what the job's code holds: each file shipped, and what is left out and why",
    )
    package.add_argument("script", nargs="?", help=argparse.SUPPRESS)
    package.add_argument(
        "--list", action="store_true", help="list the files (the default and only action)"
    )
    package.add_argument("--json", action="store_true", help="machine-readable output")

    track = sub.add_parser(
        "track", help="record an ended job in MLflow (e.g. one the tracking server missed)"
    )
    track.add_argument("job", help="job name, a unique prefix, or 'last'")
    track.add_argument("--tracking-uri", help="MLflow tracking URI (default: tracking.uri)")
    track.add_argument("--experiment", help="MLflow experiment (default: tracking.experiment)")
    setup_commands.register(sub)
    price_commands.register(sub)
    image_commands.register(sub)
    ci_commands.register(sub)
    return parser


if __name__ == "__main__":  # pragma: no cover
    build_parser().print_help(sys.stdout)
