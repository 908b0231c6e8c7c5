"""``sagelift ci init``, the CI parts of ``aws setup|teardown`` and ``doctor``, and the CI
output of ``sagelift run``: flags and views over ``sagelift.ci`` and ``provision.ci_setup``."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sagelift.cli import render
from sagelift.errors import UsageError

if TYPE_CHECKING:
    from sagelift.ci.report import CiOutput
    from sagelift.job import JobHandle, JobStatus
    from sagelift.provision import Prepared
    from sagelift.provision.ci_setup import CiPlan

__all__ = ["COMMANDS", "RunReport", "register"]

DEFAULT_PACKAGE = "sagelift[aws]=={version}"


def register(subparsers: Any) -> None:
    """Add ``ci init`` to ``subparsers`` (from ``add_subparsers``)."""
    ci = subparsers.add_parser("ci", help="run training from CI (GitHub, GitLab, CircleCI)")
    actions = ci.add_subparsers(dest="ci_action", metavar="ACTION", required=True)
    init = actions.add_parser(
        "init",
        help="write a pipeline that builds the image when dependencies change and runs the job",
        description="Write .github/workflows/sagelift.yml (--github), .gitlab-ci.yml "
        "(--gitlab) or .circleci/config.yml (--circleci). The file is yours afterwards: an "
        "existing one is never replaced without --force.",
    )
    which = init.add_mutually_exclusive_group(required=True)
    for provider in ("github", "gitlab", "circleci"):
        which.add_argument(f"--{provider}", dest="provider", action="store_const", const=provider)
    init.add_argument("--instance-type", help="ml.* type (default: instance_type)")
    init.add_argument("--role-arn", help="the CI role (default: aws.ci_role)")
    init.add_argument("--region", help="AWS region (default: aws.region)")
    init.add_argument(
        "--wait",
        action="store_true",
        help="follow the job to its end, failing the pipeline with it (default: --detach)",
    )
    init.add_argument(
        "--branch", default="main", help="pushes to this branch run it ('' for every branch)"
    )
    init.add_argument("--package", help="pip requirement installing sagelift")
    init.add_argument("--python", default="3.12", help="Python version of the runner")
    init.add_argument("--force", action="store_true", help="replace an existing pipeline file")
    init.add_argument("--profile", help="use [profile.NAME] from the config files")


def add_setup_flags(setup: argparse.ArgumentParser) -> None:
    """``aws setup --ci PROVIDER --repo ... [--branch ...]``."""
    setup.add_argument(
        "--ci",
        choices=("github", "gitlab"),
        help="also create a CI role assumable through that CI system's OIDC tokens",
    )
    setup.add_argument("--repo", help="--ci: the repository (OWNER/NAME, or group/project)")
    setup.add_argument("--branch", help="--ci: only this branch may assume the role")


def cmd_ci(args: argparse.Namespace, project: Path) -> int:
    from sagelift import jobs
    from sagelift.ci.pipeline import PATHS, PipelineSettings, render_pipeline
    from sagelift.package import VERSION

    config = jobs.load_config_for(project, profile=args.profile)
    target = project / PATHS[args.provider]
    if target.exists() and not args.force:
        raise UsageError(
            f"{target} exists already; it is yours, so sagelift leaves it as it is",
            hint=f"edit it, or pass --force to replace it: sagelift ci init --{args.provider} "
            "--force",
        )
    instance_type = args.instance_type or str(config.get("instance_type") or "")
    settings = PipelineSettings(
        provider=args.provider,
        instance_type=instance_type,
        region=args.region or str(config.get("aws.region") or os.environ.get("AWS_REGION", "")),
        role_arn=args.role_arn or config.get("aws.ci_role"),
        wait=args.wait,
        package=args.package or DEFAULT_PACKAGE.format(version=VERSION),
        branch=args.branch or None,
        python_version=args.python,
        repository=config.get("aws.ecr_repository"),
    )
    text = render_pipeline(settings)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    render.line(f"sagelift: wrote {target}")
    if settings.role_arn is None:
        render.line(
            f"  next: sagelift aws setup --ci {args.provider} --repo ... , then set "
            "SAGELIFT_AWS_CI_ROLE in the file"
        )
    render.line("  check it any time with: sagelift doctor --ci")
    render.out(str(target))
    return 0


def _job_prefix(name: str) -> str:
    # Job names are '<base_job_name>-<timestamp>-<hex>', the base cut to 42 characters.
    return name[:42].rstrip("-") + "-"


def ci_setup_plan(
    args: argparse.Namespace, prepared: Prepared, name: str
) -> tuple[CiPlan, str] | None:
    """The CI part of ``aws setup`` and the CI role's ARN, or None without ``--ci``."""
    from sagelift.provision.ci_policies import make_ci_role
    from sagelift.provision.ci_setup import observe_ci, plan_ci_setup

    if not args.ci:
        if args.repo or args.branch:
            raise UsageError(
                "--repo and --branch go with --ci", hint="e.g. --ci github --repo acme/wine"
            )
        return None
    if not args.repo:
        raise UsageError("--ci needs --repo", hint="e.g. --ci github --repo acme/wine")
    names = prepared.plan.names
    role = make_ci_role(
        names,
        provider=args.ci,
        repository=args.repo,
        branch=args.branch,
        job_prefix=_job_prefix(name),
    )
    observed = observe_ci(names, role, prepared.clients.iam)
    plan = plan_ci_setup(names, role, observed, execution_role_arn=prepared.role_arn)
    arn = observed.role.arn if observed.role is not None else role.arn(names)
    return plan, arn


def show_plan(plan: CiPlan) -> None:
    lines = plan.lines()
    for text in lines:
        render.out(f"  {text}")


def ci_teardown_plan(prepared: Prepared) -> CiPlan:
    from sagelift.provision.ci_setup import observe_ci_roles, plan_ci_teardown

    roles, providers = observe_ci_roles(prepared.clients.iam)
    return plan_ci_teardown(prepared.plan.names, roles, providers)


def apply(plan: CiPlan, prepared: Prepared) -> None:
    from sagelift.provision.ci_setup import apply_ci_plan

    apply_ci_plan(plan, prepared.plan.names, prepared.clients.iam)


def doctor_results(project: Path, profile: str | None = None) -> list[Any]:
    """``doctor --ci``: the pipeline files against the current settings."""
    from sagelift import jobs
    from sagelift.ci.check import aws_role_probe, check_pipelines
    from sagelift.images.service import ecr_repository_name
    from sagelift.settings import settings_from_config

    config = jobs.load_config_for(project, profile=profile)
    settings = settings_from_config(config)
    expected: dict[str, Any] = {
        "aws.region": config.get("aws.region"),
        "aws.ci_role": config.get("aws.ci_role"),
        "instance_type": config.get("instance_type"),
        "aws.ecr_repository": None,
    }
    try:
        spec = jobs.load_spec(project, profile=profile)
        expected["aws.ecr_repository"] = ecr_repository_name(spec, settings)
    except Exception:  # noqa: S110 - a broken spec is reported by the config check
        pass
    return check_pipelines(project, expected, probe=aws_role_probe(settings.aws))


class RunReport:
    """The CI view of one ``sagelift run``: log groups and the summary file."""

    def __init__(self, output: CiOutput) -> None:
        self.output = output

    @classmethod
    def for_run(cls, args: argparse.Namespace, environ: Mapping[str, str]) -> RunReport | None:
        from sagelift.ci.report import ci_output

        output = ci_output(environ, flag=args.ci_output, summary_file=args.summary_file)
        return None if output is None else cls(output)

    def begin_logs(self, name: str) -> None:
        from sagelift.ci.report import group_start

        if self.output.groups:
            render.out(group_start(f"job {name}: log"))

    def end_logs(self) -> None:
        from sagelift.ci.report import group_end

        if self.output.groups:
            render.out(group_end())

    def summary(self, handle: JobHandle, status: JobStatus | None) -> None:
        """Append the job's summary to the summary file (when there is one)."""
        from sagelift import records
        from sagelift.ci.report import JobFacts, summary_markdown
        from sagelift.tracking.state import run_info

        if not self.output.summary_file:
            return
        record = records.read_record(handle.record_dir)
        run = run_info(handle.record_dir)
        facts = JobFacts(
            name=handle.name,
            backend=record.backend,
            state=status.state.value if status is not None else "created (detached)",
            detail=None
            if status is None or status.secondary_status == status.state.value
            else status.secondary_status,
            region=record.cloud.region if record.cloud is not None else None,
            mlflow_run=run.run_id if run is not None and run.run_id else None,
            mlflow_link=run.link if run is not None else None,
            image=record.image_uri,
        )
        with open(self.output.summary_file, "a", encoding="utf-8") as handle_file:
            handle_file.write(summary_markdown(facts))


COMMANDS: dict[str, Callable[[argparse.Namespace, Path], int]] = {"ci": cmd_ci}
