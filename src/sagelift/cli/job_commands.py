"""One function per command: parse flags → call ``sagelift.jobs`` → render."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import Any

from sagelift import jobs, records
from sagelift.backends.base import Capability
from sagelift.cli import ci_commands, image_commands, price_commands, render, setup_commands
from sagelift.config import KEYS, TABLES, Resolved, parse_assignment, parse_scalar
from sagelift.errors import InfrastructureError, Interrupted, UsageError
from sagelift.job import JobHandle, JobState, JobStatus
from sagelift.redaction import MASK, is_secret_name
from sagelift.settings import settings_from_config
from sagelift.sourcedir import parse_size
from sagelift.spec import JobSpec, parse_job_spec

__all__ = ["dispatch"]

EXIT_STOPPED = 130
#: A job that failed for want of infrastructure (disk, launcher, container engine) rather than
#: through its script: its failure reason starts with one of these, and the CLI exits 3.
INFRASTRUCTURE_REASONS = ("InfrastructureError:", "InternalError:")
#: Signals that stop a foreground ``run`` as Ctrl-C does; it then exits 128 + the signal.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

SCALAR_FLAGS = {
    "source_dir": "source_dir",
    "output_path": "output_path",
    "checkpoint_path": "checkpoint_path",
    "max_runtime": "max_runtime",
    "stop_grace": "stop_grace",
    "base_job_name": "base_job_name",
    "job_name": "job_name",
    "instance_type": "instance_type",
    "instance_count": "instance_count",
    "dependencies": "dependencies",
    "requirements": "requirements",
    "opt_ml": "opt_ml",
    "backend": "backend",
    "spot": "spot",
    "max_wait": "max_wait",
    "max_cost": "max_cost",
    "input_mode": "input_mode",
}


def dispatch(args: argparse.Namespace) -> int:
    handler: Callable[[argparse.Namespace, Path], int] = COMMANDS[args.command_name]
    project = Path(args.project)
    if not project.is_dir():
        problem = "is not a directory" if project.exists() else "does not exist"
        raise UsageError(
            f"-C {args.project}: the project directory {problem}",
            hint="give the directory that holds your project (default: the current one)",
        )
    return handler(args, project)


def cli_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The spec keys set by flags, as a config layer."""
    entries = [e for e in (args.script, args.module, args.command) if e]
    if len(entries) > 1:
        raise UsageError(
            "give one entry point: a script, --module or --command",
            hint="e.g. 'sagelift run train.py' or 'sagelift run -m pkg.train'",
        )
    values: dict[str, Any] = {}
    if args.script:
        values["entry_point"] = args.script
    elif args.module:
        values["entry_point"] = f"-m {args.module}"
    elif args.command:
        values["entry_point"] = args.command if " " in args.command.strip() else [args.command]
    if args.isolated:
        if args.dependencies == "current":
            raise UsageError(
                "--isolated conflicts with --dependencies current", hint="pass only one of them"
            )
        values["dependencies"] = "isolated"
    for dest in ("simulate_interruptions", "interrupt_at"):
        if getattr(args, dest, None) is not None:
            values[dest] = getattr(args, dest)
    for dest, key in SCALAR_FLAGS.items():
        value = getattr(args, dest)
        if value is not None:
            values[key] = value
    for key, raw in _assignments(args.hp, "--hp"):
        values[f"hyperparameters.{key}"] = parse_scalar(raw)
    for key, raw in _assignments(args.channel, "--channel"):
        values[f"channels.{key}"] = raw
    for key, raw in _assignments(args.env, "--env"):
        values[f"environment.{key}"] = raw
    return values


def _assignments(texts: list[str], flag: str) -> list[tuple[str, str]]:
    """``KEY=VALUE`` pairs of a repeated flag; a key given twice is refused, not last-wins."""
    pairs = [parse_assignment(text, flag=flag) for text in texts]
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            raise UsageError(
                f"{flag} {key} is given more than once",
                hint=f"give each {flag} name once",
            )
        seen.add(key)
    return pairs


def _config(args: argparse.Namespace, project: Path) -> Resolved:
    return jobs.load_config_for(project, cli=cli_overrides(args), profile=args.profile)


def cmd_run(args: argparse.Namespace, project: Path) -> int:
    config = _config(args, project)
    spec = parse_job_spec(config, project)
    ci = ci_commands.RunReport.for_run(args, os.environ)
    with _signals_interrupt():
        try:
            handle = jobs.submit(
                spec, settings=settings_from_config(config), allow_dirty_data=args.allow_dirty_data
            )
        except KeyboardInterrupt as exc:
            _ignore_stop_signals()
            code = _signum(exc)
            render.line(
                f"\nsagelift: {signal.Signals(code).name}: submission interrupted; the job did "
                "not start (it is recorded as Stopped)"
            )
            return 128 + code
        if args.detach:
            if ci is not None:
                ci.summary(handle, None)
            render.line(f"sagelift: job {handle.name} started (detached)")
            render.line(f"  follow: sagelift logs -f {handle.name}")
            render.line(f"  stop:   sagelift stop {handle.name}")
            render.out(handle.name)
            return 0
        remote = Capability.OUTLIVES_CLIENT in jobs.capabilities_of(handle)
        if ci is not None:
            ci.begin_logs(handle.name)
        try:
            status, signum = _follow(
                handle,
                started=None if args.quiet else spec.entry_point.describe(),
                show_status=remote and not args.quiet,
                keep_running=remote and not args.stop_on_interrupt,
            )
        finally:
            if ci is not None:
                ci.end_logs()
    if ci is not None:
        ci.summary(handle, status)
    if signum is not None and status.state is JobState.STOPPED:
        if not args.quiet and signum != signal.SIGHUP:
            render.status_summary(status)
        return 128 + signum
    if not args.quiet or status.state is not JobState.COMPLETED:
        render.status_summary(status)
    return _exit_code(status)


@contextlib.contextmanager
def _signals_interrupt() -> Iterator[None]:
    """SIGTERM and SIGHUP (``timeout``, a CI cancel, a closed terminal) raise Interrupted
    where Ctrl-C raises KeyboardInterrupt, so they stop a foreground job the same way."""

    def interrupt(signum: int, _frame: FrameType | None) -> None:
        raise Interrupted(signum, signal.Signals(signum).name)

    previous = {signum: signal.signal(signum, interrupt) for signum in STOP_SIGNALS[1:]}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _signum(exc: KeyboardInterrupt) -> int:
    return exc.signum if isinstance(exc, Interrupted) else int(signal.SIGINT)


def _ignore_stop_signals() -> None:
    # Further signals are ignored while the job winds down.
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)


def _follow(
    handle: JobHandle, *, started: str | None, show_status: bool, keep_running: bool
) -> tuple[JobStatus, int | None]:
    """Stream the job to its end; returns its status and the stop signal, if one came.
    Ctrl-C, SIGTERM or SIGHUP stop it cleanly and keep streaming until it ends; with
    ``keep_running`` (a job that outlives this process), they leave it running."""

    def on_status(status: JobStatus) -> None:
        render.line(f"sagelift: {status.state.value} - {status.secondary_status}")

    shown = 0
    skip = 0

    def on_line(text: str) -> None:
        nonlocal shown, skip
        if skip:  # after an interrupt the log is read again from its start
            skip -= 1
            return
        render.out(text)
        shown += 1

    try:
        if started is not None:
            render.line(f"sagelift: job {handle.name} started ({started})")
        status = jobs.wait(handle, on_line=on_line, on_status=on_status if show_status else None)
        return status, None
    except KeyboardInterrupt as exc:
        _ignore_stop_signals()
        signum = _signum(exc)
        # After SIGHUP the terminal is gone: nothing more is written to it.
        quiet = signum == signal.SIGHUP
        if keep_running:
            if not quiet:
                render.line(f"\nsagelift: job {handle.name} keeps running")
                render.line(f"  follow: sagelift logs -f {handle.name}")
                render.line(f"  stop:   sagelift stop {handle.name}")
            raise SystemExit(128 + signum) from None
        if not quiet:
            render.line(
                f"\nsagelift: {signal.Signals(signum).name}: stopping {handle.name}: SIGTERM to "
                "the script, SIGKILL after its grace period"
            )
        jobs.stop(handle)
        skip = shown
        return jobs.wait(handle, on_line=None if quiet else on_line), signum


def _exit_code(status: JobStatus) -> int:
    if status.state is JobState.COMPLETED:
        return 0
    if status.state is JobState.STOPPED and status.secondary_status == "Stopped":
        return EXIT_STOPPED
    if status.state is JobState.FAILED and (status.failure_reason or "").startswith(
        INFRASTRUCTURE_REASONS
    ):
        return InfrastructureError.exit_code
    return 1


def cmd_config(args: argparse.Namespace, project: Path) -> int:
    if args.keys:
        rows = [[k, d] for k, d in KEYS.items()] + [[f"{t}.<name>", d] for t, d in TABLES.items()]
        render.table(rows, ["key", "meaning"])
        return 0
    config = _config(args, project)
    # Parse too, so an invalid value is reported here rather than at run time.
    spec = parse_job_spec(config, project)
    values = {k: (_shown(k, v.value), v.source) for k, v in config.values.items()}
    values.update(_derived(config, spec))
    if args.json:
        render.as_json({k: {"value": v, "source": source} for k, (v, source) in values.items()})
        return 0
    if config.project_file is not None:
        render.out(f"# project file: {config.project_file}")
    if config.profile:
        render.out(f"# profile: {config.profile}")
    rows = [[key, _show(value), source] for key, (value, source) in sorted(values.items())]
    render.table(rows, ["key", "value", "source"])
    return 0


def _derived(config: Resolved, spec: JobSpec) -> dict[str, tuple[Any, str]]:
    """Defaults that other settings change, as the job will have them: ``kind`` (framework
    when ``image.framework`` is set) and ``dependencies`` (``auto`` for framework jobs)."""
    derived: dict[str, tuple[Any, str]] = {}
    for key, value in (("kind", spec.kind), ("dependencies", spec.dependencies)):
        entry = config.values.get(key)
        if entry is not None and entry.source == "default" and entry.value != value:
            why = "image.framework is set" if key == "kind" else f"kind = {spec.kind}"
            derived[key] = (value, f"default ({why})")
    return derived


def _shown(key: str, value: Any) -> Any:
    """``value``, or ``***`` for a hyperparameter named like a secret (the spec refuses such
    environment variables)."""
    table, _, name = key.partition(".")
    if table == "hyperparameters" and is_secret_name(name):
        return MASK
    return value


def _show(value: Any) -> str:
    import json

    return value if isinstance(value, str) else json.dumps(value)


def cmd_ls(args: argparse.Namespace, project: Path) -> int:
    listing = jobs.scan_jobs(project)
    if args.json:
        render.as_json_rows([render.listing_dict(row) for row in listing])
        return 0
    if not listing:
        render.line("no jobs yet in this project; start one with 'sagelift run'")
        return 0
    render.job_table(listing, links=[_run_link(row.record_dir) for row in listing])
    render.listing_warnings(listing)
    return 0


def cmd_describe(args: argparse.Namespace, project: Path) -> int:
    status = jobs.describe(project, args.job)
    if args.json:
        render.as_json(render.status_dict(status))
    else:
        render.describe(status)
    return 0


def cmd_logs(args: argparse.Namespace, project: Path) -> int:
    for text in jobs.logs(project, args.job, follow=args.follow):
        render.out(text)
    return 0


def cmd_stop(args: argparse.Namespace, project: Path) -> int:
    handle = jobs.handle_for(project, args.job)
    status = jobs.stop(handle)
    if status.state.is_terminal:
        render.line(f"sagelift: job {handle.name} already ended ({status.state.value})")
        return 0
    if args.no_wait:
        render.line(f"sagelift: stopping {handle.name}")
        return 0
    render.line(f"sagelift: stopping {handle.name} (SIGTERM, then SIGKILL after the grace period)")
    status = jobs.wait(handle)
    render.status_summary(status)
    return 0


def _run_link(record_dir: Path) -> str:
    if not os.path.isfile(os.path.join(record_dir, jobs.TRACKING_FILE)):
        return "-"  # untracked: the tracking stack is not imported for it
    from sagelift.tracking.state import run_info

    try:
        run = run_info(record_dir)
    except (OSError, ValueError, KeyError, TypeError):
        return "?"  # an unreadable tracking.json does not hide the job
    if run is None:
        return "-"
    return run.link or f"{run.uri} run {run.run_id}"


def cmd_track(args: argparse.Namespace, project: Path) -> int:
    run = jobs.track(project, args.job, uri=args.tracking_uri, experiment=args.experiment)
    render.line(f"sagelift: job recorded in MLflow run {run.run_id}")
    render.out(run.link or f"{run.uri} run {run.run_id}")
    return 0


def cmd_package(args: argparse.Namespace, project: Path) -> int:
    from sagelift.codefiles import describe_package

    listing = describe_package(parse_job_spec(_config(args, project), project))
    if args.json:
        render.as_json(render.package_dict(listing))
    else:
        render.package_listing(listing)
    return 0


def cmd_fetch(args: argparse.Namespace, project: Path) -> int:
    dest = None if args.dest is None else Path(args.dest)
    max_bytes = None if args.max_size is None else parse_size(args.max_size)
    if args.from_mlflow:
        from sagelift.tracking.fetch import fetch_from_mlflow

        target = fetch_from_mlflow(project, args.job, dest, force=args.force, max_bytes=max_bytes)
    else:
        target = jobs.fetch(project, args.job, dest, force=args.force, max_bytes=max_bytes)
    if args.dvc:
        from sagelift.data.dvc import add

        render.line(f"sagelift: tracked with DVC: {add(target.absolute())}")
    render.line(f"sagelift: model of {records.find_record(project, args.job).name} in {target}")
    render.out(os.fspath(target))
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace, Path], int]] = {
    "run": cmd_run,
    "config": cmd_config,
    "ls": cmd_ls,
    "describe": cmd_describe,
    "logs": cmd_logs,
    "stop": cmd_stop,
    "fetch": cmd_fetch,
    "package": cmd_package,
    "track": cmd_track,
}
COMMANDS.update(setup_commands.COMMANDS)
COMMANDS.update(price_commands.COMMANDS)
COMMANDS.update(image_commands.COMMANDS)
COMMANDS.update(ci_commands.COMMANDS)
