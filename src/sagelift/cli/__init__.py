"""The command line: parse, call ``sagelift.jobs``, render. The only code that prints or exits."""

from __future__ import annotations

import logging
import sys
import traceback

from sagelift.errors import ISSUES_URL, SageliftError

__all__ = ["main"]

EXIT_INTERNAL = 70


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``sagelift`` console script; returns the exit code."""
    from sagelift.cli import job_commands, render
    from sagelift.cli.parser import build_parser

    debug = "--debug" in (sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser().parse_args(argv)
        _setup_logging(debug=args.debug, quiet=getattr(args, "quiet", False))
        if args.command_name is None:
            build_parser().print_help()
            return 0
        return job_commands.dispatch(args)
    except SageliftError as exc:
        if debug:
            traceback.print_exc()
        render.error(exc)
        return exc.exit_code
    except KeyboardInterrupt:
        render.line("interrupted")
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:
        if debug:
            traceback.print_exc()
        render.internal_error(exc, ISSUES_URL)
        return EXIT_INTERNAL


def _setup_logging(*, debug: bool, quiet: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("sagelift: %(message)s"))
    root = logging.getLogger("sagelift")
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if debug else logging.WARNING if quiet else logging.INFO)
    root.propagate = False
