"""``sagelift doctor``: check that the project, AWS and the tools it needs are ready.

Each check gives a ``CheckResult`` (pass, fail, warn or skip) with the fix; ``render_results``
and ``exit_code`` are pure. Checks that need AWS are skipped, with the reason, when the
credentials check fails.

``report`` holds the result and its rendering; the checks are grouped by what they check:
``project`` (sagelift.toml, tracking store), ``account`` (AWS) and ``tools`` (container engine,
DVC, run through a ``Runner``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from sagelift.doctor.account import (
    NO_CREDENTIALS,
    check_bucket,
    check_credentials,
    check_region,
    check_repository,
    check_role,
)
from sagelift.doctor.project import check_config, check_tracking
from sagelift.doctor.report import CheckResult, Outcome, _skip, exit_code, render_results
from sagelift.doctor.tools import Runner, check_container_cli, check_dvc, subprocess_runner
from sagelift.settings import Settings, TrackingSettings

__all__ = [
    "CheckResult",
    "Outcome",
    "Runner",
    "Settings",
    "TrackingSettings",
    "check_bucket",
    "check_config",
    "check_container_cli",
    "check_credentials",
    "check_dvc",
    "check_region",
    "check_repository",
    "check_role",
    "check_tracking",
    "exit_code",
    "render_results",
    "run_checks",
    "subprocess_runner",
]


def run_checks(
    project_dir: Path, *, environ: Mapping[str, str], runner: Runner = subprocess_runner
) -> list[CheckResult]:
    """Every check, in order: config, credentials, region, role, bucket, ecr, container,
    tracking, dvc."""
    config, settings = check_config(project_dir, environ)
    credentials, ok = check_credentials(settings)
    region_result, region = check_region(settings)
    results = [config, credentials, region_result]
    aws_checks: Iterable[tuple[str, Callable[[], CheckResult]]] = (
        ("role", lambda: check_role(settings, region)),
        ("bucket", lambda: check_bucket(settings, region)),
        ("ecr", lambda: check_repository(settings, region)),
    )
    for check_name, check in aws_checks:
        results.append(check() if ok else _skip(check_name, NO_CREDENTIALS))
    results.append(check_container_cli(settings, environ, runner, project_dir))
    results.append(check_tracking(settings))
    results.append(
        check_dvc(project_dir, settings, region, credentials=ok, environ=environ, runner=runner)
    )
    return results
