"""``sagelift init``, ``sagelift aws setup|teardown`` and ``sagelift doctor``: flags and views.

``register(subparsers)`` adds the commands to the main parser; ``COMMANDS`` maps their names to
handlers taking ``(args, project_dir)`` and returning the exit code.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sagelift.cli import ci_commands, render
from sagelift.config import parse_assignment, parse_scalar
from sagelift.errors import UsageError

if TYPE_CHECKING:
    from sagelift import init

__all__ = ["COMMANDS", "interactive", "register"]

Ask = Callable[[str, str], str]
NEXT_CLOUD = "sagelift run --instance-type ml.m5.large"


def register(subparsers: Any) -> None:
    """Add ``init``, ``aws`` and ``doctor`` to ``subparsers`` (from ``add_subparsers``)."""
    p = subparsers.add_parser(
        "init",
        help="propose a sagelift.toml for this project",
        description="Detect the entry point, requirements, data and DVC; write sagelift.toml "
        "and add .sagelift/ to .gitignore. Asks when run in a terminal; otherwise uses the "
        "detected values and the flags.",
    )
    p.add_argument("--entry-point", help="script, '-m package.module', or a command")
    p.add_argument("--source-dir", help="code directory shipped as /opt/ml/code")
    p.add_argument(
        "--channel", action="append", default=[], metavar="NAME=PATH", help="input channel"
    )
    p.add_argument("--instance-type", help="'local' (default) or an ml.* type")
    p.add_argument("--requirements", help="requirements file")
    p.add_argument("--base-job-name", help="prefix of job names (default: project name)")
    p.add_argument("-y", "--yes", action="store_true", help="accept the proposal; ask nothing")
    p.add_argument("--force", action="store_true", help="replace an existing sagelift.toml")

    aws = subparsers.add_parser("aws", help="create or remove the AWS resources jobs need")
    actions = aws.add_subparsers(dest="aws_command", metavar="ACTION", required=True)
    setup = actions.add_parser(
        "setup",
        help="create the bucket, ECR repository and execution role (idempotent)",
        description="Create (or bring up to date) an encrypted private S3 bucket, an ECR "
        "repository and a least-privilege SageMaker execution role, then record them in "
        "sagelift.toml. Shows the plan first.",
    )
    setup.add_argument("--dry-run", action="store_true", help="show the plan; change nothing")
    setup.add_argument("-y", "--yes", action="store_true", help="do not ask before applying")
    setup.add_argument(
        "--terraform", metavar="DIR", help="write the equivalent Terraform to DIR instead"
    )
    setup.add_argument(
        "--code-expiry-days", type=int, default=30, help="days before code tarballs expire"
    )
    setup.add_argument("--keep-images", type=int, default=10, help="images the repository keeps")
    setup.add_argument("--profile", help="use [profile.NAME] from the config files")
    ci_commands.add_setup_flags(setup)
    teardown = actions.add_parser(
        "teardown",
        help="delete what 'aws setup' created for this project",
        description="Delete what 'aws setup' made for this project: its prefix in the shared "
        "bucket, its repository and role. A bucket, repository or role another project still "
        "uses, or a bucket holding objects outside this project's prefix, is kept; the plan "
        "says why. Resources without sagelift's tags are never touched.",
    )
    teardown.add_argument("--dry-run", action="store_true", help="show the plan; change nothing")
    teardown.add_argument("-y", "--yes", action="store_true", help="do not ask before deleting")
    teardown.add_argument(
        "--force",
        action="store_true",
        help="also delete the objects under this project's prefix and a repository's images",
    )
    teardown.add_argument("--profile", help="use [profile.NAME] from the config files")

    doctor = subparsers.add_parser(
        "doctor",
        help="check config, AWS access, container CLI, tracking and DVC",
        description="Run every check and print PASS/FAIL/WARN/SKIP with the fix. "
        "Exit 0 when nothing fails.",
    )
    doctor.add_argument(
        "--ci",
        action="store_true",
        help="also check the pipeline files against the settings and that the CI role exists",
    )


def interactive(args: argparse.Namespace, environ: Mapping[str, str]) -> bool:
    """Ask questions only in a terminal, outside CI, and without --yes."""
    ci = environ.get("CI", "").strip().lower() in ("1", "true", "yes")
    return not args.yes and not ci and sys.stdin.isatty()


def _ask(question: str, default: str) -> str:
    answer = input(f"{question} [{default}]: ").strip()
    return answer or default


def _confirm(question: str, ask: Ask, *, default: bool) -> bool:
    answer = ask(question + (" (Y/n)" if default else " (y/N)"), "y" if default else "n")
    return answer.strip().lower() in ("y", "yes")


def _channels(values: list[str]) -> dict[str, str]:
    channels: dict[str, str] = {}
    for text in values:
        name, path = parse_assignment(text, flag="--channel")
        channels[name] = path
    return channels


def _entry_value(text: str) -> str | list[str]:
    value = parse_scalar(text) if text.strip().startswith("[") else text
    return [str(v) for v in value] if isinstance(value, list) else str(value)


def _show_entry(value: str | list[str]) -> str:
    return value if isinstance(value, str) else " ".join(value)


def cmd_init(args: argparse.Namespace, project: Path, *, ask: Ask = _ask) -> int:
    from sagelift import init

    scan = init.scan_project(project)
    asking = interactive(args, os.environ)
    overwrite = args.force
    if scan.existing_config is not None and not overwrite:
        if not asking:
            raise UsageError(
                f"{scan.existing_config} already holds sagelift settings; not overwriting",
                hint="run 'sagelift init --force' to replace them, or edit the file",
            )
        if not _confirm(
            f"{scan.existing_config.name} has sagelift settings; replace?", ask, default=False
        ):
            render.line("sagelift: nothing written")
            return 0
        overwrite = True
    choices = init.InitChoices(
        entry_point=None if args.entry_point is None else _entry_value(args.entry_point),
        source_dir=args.source_dir,
        channels=_channels(args.channel) if args.channel else None,
        instance_type=args.instance_type,
        requirements=args.requirements,
        base_job_name=args.base_job_name,
    )
    if asking:
        choices = _ask_choices(scan, choices, ask)
    proposal = init.propose(scan, choices)
    text = init.render_project_file(proposal)
    if asking:
        render.line(text)
        if not _confirm("write sagelift.toml?", ask, default=True):
            render.line("sagelift: nothing written")
            return 0
    path = init.write_project_file(project, text, overwrite=overwrite)
    render.line(f"sagelift: wrote {path}")
    render.line(f"  entry point: {_show_entry(proposal.entry_point)}")
    for why in proposal.entry_reasons:
        render.line(f"    {why}")
    for note in proposal.notes:
        render.line(f"  note: {note}")
    if init.ensure_gitignore(project):
        render.line(f"sagelift: added {init.GITIGNORE_ENTRY} to {project / '.gitignore'}")
    render.line("  next: sagelift run            (on this machine)")
    render.line(f"        sagelift aws setup, then {NEXT_CLOUD}")
    return 0


def _ask_entry(scan: init.ProjectScan, given: init.InitChoices, ask: Ask) -> tuple[Any, Any]:
    """The entry point and source dir: a candidate's number from the list shown, or a value."""
    if given.entry_point is not None or not scan.entry_points:
        default = _show_entry(given.entry_point) if given.entry_point is not None else ""
        answer = ask("entry point", default)
        if answer == default:
            return given.entry_point, given.source_dir
        return _entry_value(answer), given.source_dir
    shown = scan.entry_points[:9]
    render.line("sagelift: entry-point candidates, best first:")
    for number, candidate in enumerate(shown, start=1):
        render.line(f"  {number}. {candidate.shown}  ({'; '.join(candidate.reasons)})")
    answer = ask("entry point (a number above, or a script, '-m module' or command)", "1")
    if answer.strip().isdigit() and 1 <= int(answer) <= len(shown):
        chosen = shown[int(answer) - 1]
        return chosen.entry_point, chosen.source_dir
    return _entry_value(answer), given.source_dir


def _ask_choices(scan: init.ProjectScan, given: init.InitChoices, ask: Ask) -> init.InitChoices:
    from sagelift import init

    entry, source_dir = _ask_entry(scan, given, ask)
    channels = given.channels if given.channels is not None else scan.channels
    shown = ", ".join(f"{k}={v}" for k, v in channels.items()) or "none"
    answer = ask("channels (NAME=PATH, comma-separated, or 'none')", shown)
    if answer == shown:
        chosen: dict[str, str] | None = None if given.channels is None else dict(given.channels)
    elif answer.strip().lower() == "none":
        chosen = {}
    else:
        chosen = _channels([part.strip() for part in answer.split(",") if part.strip()])
    instance_type = ask("instance type", given.instance_type or "local")
    return init.InitChoices(
        entry_point=entry,
        source_dir=source_dir,
        channels=chosen,
        instance_type=instance_type,
        requirements=given.requirements,
        base_job_name=given.base_job_name,
    )


def _settings(args: argparse.Namespace, project: Path) -> tuple[Any, str, str | None]:
    """Settings, project name, and the configured key prefix (None: the per-project default)."""
    from sagelift import init, jobs
    from sagelift.settings import settings_from_config

    config = jobs.load_config_for(project, profile=args.profile)
    name = config.get("base_job_name") or init.project_name(project)
    settings = settings_from_config(config)
    prefix = None if config.source("aws.prefix") in (None, "default") else settings.prefix
    return settings, str(name), prefix


def cmd_aws(args: argparse.Namespace, project: Path, *, ask: Ask = _ask) -> int:
    if args.aws_command == "setup":
        return _aws_setup(args, project, ask)
    return _aws_teardown(args, project, ask)


def _aws_setup(args: argparse.Namespace, project: Path, ask: Ask) -> int:
    from sagelift import provision
    from sagelift.provision.project_file import write_settings

    if args.code_expiry_days < 1 or args.keep_images < 1:
        raise UsageError(
            "--code-expiry-days and --keep-images must be at least 1", hint="e.g. 30 and 10"
        )
    settings, name, prefix = _settings(args, project)
    options = provision.SetupOptions(
        code_expiry_days=args.code_expiry_days, keep_images=args.keep_images
    )
    if args.terraform:
        return _terraform(Path(args.terraform), settings, name, prefix, options)
    if not args.ci and (args.repo or args.branch):
        raise UsageError("--repo and --branch go with --ci", hint="e.g. --ci github --repo o/n")
    prepared = provision.prepare_setup(settings, project=name, options=options, prefix=prefix)
    plan = prepared.plan
    ci = ci_commands.ci_setup_plan(args, prepared, name)
    render.line(
        f"sagelift: setup plan for project '{plan.names.project}' in account "
        f"{prepared.identity.account}, {plan.names.region}:"
    )
    for text in plan.lines():
        render.out(f"  {text}")
    if ci is not None:
        ci_commands.show_plan(ci[0])
    if args.dry_run:
        render.line("sagelift: dry run, nothing changed")
        return 0
    if not plan.empty or (ci is not None and not ci[0].empty):
        if interactive(args, os.environ) and not _confirm("apply?", ask, default=False):
            render.line("sagelift: nothing changed")
            return 0
        provision.apply_plan(plan, prepared.clients)
        if ci is not None:
            ci_commands.apply(ci[0], prepared)
    values = provision.settings_values(plan.names, prepared.role_arn)
    if ci is not None:
        values["ci_role"] = ci[1]
        render.line(f"sagelift: CI role {ci[1]}")
    path, changed = write_settings(project, values)
    if changed:
        render.line(
            "sagelift: recorded aws.region, aws.bucket, aws.prefix, aws.role, aws.ecr_repository "
            f"in {path}"
        )
    render.line(f"  next: {NEXT_CLOUD}")
    return 0


def _terraform(directory: Path, settings: Any, name: str, prefix: str | None, options: Any) -> int:
    from sagelift import provision
    from sagelift.provision.policies import default_names
    from sagelift.provision.terraform import render_terraform

    region = provision.job_region(settings.aws)
    names = default_names(
        project=name,
        account="ACCOUNT",
        region=region,
        prefix=prefix,
        bucket=settings.bucket,
        repository=settings.ecr_repository,
        role=settings.role,
    )
    files = render_terraform(names, options, default_bucket=settings.bucket is None)
    directory.mkdir(parents=True, exist_ok=True)
    for filename, text in files.items():
        (directory / filename).write_text(text, encoding="utf-8")
        render.out(str(directory / filename))
    render.line(f"sagelift: wrote Terraform to {directory}; nothing was created in AWS")
    render.line(
        f"  next: terraform -chdir={directory} init && terraform -chdir={directory} apply, "
        "then copy the 'sagelift_toml' output into sagelift.toml"
    )
    return 0


def _aws_teardown(args: argparse.Namespace, project: Path, ask: Ask) -> int:
    from sagelift import provision

    settings, name, prefix = _settings(args, project)
    prepared = provision.prepare_teardown(settings, project=name, prefix=prefix)
    plan = prepared.plan
    ci = ci_commands.ci_teardown_plan(prepared)
    render.line(
        f"sagelift: teardown plan for project '{plan.names.project}' in account "
        f"{prepared.identity.account}, {plan.names.region}:"
    )
    for text in plan.lines() if not plan.empty or ci.empty else []:
        render.out(f"  {text}")
    ci_commands.show_plan(ci)
    if args.dry_run:
        for reason in plan.needs_force if not args.force else ():
            render.line(f"sagelift: the real run needs --force: {reason}")
        render.line("sagelift: dry run, nothing changed")
        return 0
    if plan.empty and ci.empty:
        return 0
    provision.require_force(plan, force=args.force)
    if interactive(args, os.environ) and not _confirm("delete?", ask, default=False):
        render.line("sagelift: nothing changed")
        return 0
    ci_commands.apply(ci, prepared)
    provision.apply_plan(plan, prepared.clients)
    render.line("sagelift: done; the aws.* entries in sagelift.toml may now name deleted resources")
    return 0


def cmd_doctor(args: argparse.Namespace, project: Path) -> int:
    from sagelift import doctor

    results = doctor.run_checks(project, environ=os.environ)
    if args.ci:
        results = [*results, *ci_commands.doctor_results(project)]
    for text in doctor.render_results(results):
        render.out(text)
    return doctor.exit_code(results)


COMMANDS: dict[str, Callable[[argparse.Namespace, Path], int]] = {
    "init": cmd_init,
    "aws": cmd_aws,
    "doctor": cmd_doctor,
}
