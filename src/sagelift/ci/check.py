"""``sagelift doctor --ci``: does the pipeline file still match the project's settings?

A pipeline pins the region, CI role, ECR repository and instance type (``pipeline.PINNED``);
they go stale when sagelift.toml changes after ``sagelift ci init``. Each pipeline file found
is read back (YAML) and compared; the CI role must be filled in and exist.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from sagelift.ci.pipeline import PATHS, PINNED, ROLE_PLACEHOLDER, Provider
from sagelift.doctor import CheckResult
from sagelift.errors import SageliftError

__all__ = ["Expected", "check_pipelines", "pinned_in"]

#: Setting key → the value the project has now (None: not set).
Expected = Mapping[str, Any]
#: Whether a role (ARN) exists: True, False, or a reason it could not be told.
RoleProbe = Callable[[str], "bool | str"]

INIT_FIX = "run 'sagelift ci init --github' (or --gitlab, --circleci)"


def pinned_in(provider: Provider, document: Any) -> dict[str, str]:
    """The ``PINNED`` variables a parsed pipeline sets, wherever its CI system keeps them."""
    block: Any = None
    if isinstance(document, Mapping):
        if provider == "github":
            block = document.get("env")
        elif provider == "gitlab":
            block = document.get("variables")
        else:
            job = (document.get("jobs") or {}).get("train") or {}
            block = job.get("environment") if isinstance(job, Mapping) else None
    if not isinstance(block, Mapping):
        return {}
    return {k: str(v) for k, v in block.items() if k in PINNED and v is not None}


def _compare(
    provider: Provider, path: str, pinned: Mapping[str, str], expected: Expected
) -> list[CheckResult]:
    results: list[CheckResult] = []
    name = f"ci {provider}"
    for variable, key in PINNED.items():
        have = pinned.get(variable)
        want = expected.get(key)
        if key == "aws.ci_role":
            continue
        if want is None or have is None:
            continue
        if str(want) != have:
            results.append(
                CheckResult(
                    name=name,
                    outcome="fail",
                    detail=f"{path}: {variable} is {have!r}, but {key} is now {want!r}",
                    fix=f"set {variable}: {want!r} in {path} (or change {key} back)",
                )
            )
    return results


def _role(
    provider: Provider, path: str, pinned: Mapping[str, str], expected: Expected, probe: RoleProbe
) -> CheckResult:
    name = f"ci {provider} role"
    role = pinned.get("SAGELIFT_AWS_CI_ROLE")
    setup = f"run 'sagelift aws setup --ci {provider} --repo ...' and put the ARN it prints"
    if not role or role == ROLE_PLACEHOLDER:
        return CheckResult(
            name=name, outcome="fail", detail=f"{path}: no CI role ARN", fix=f"{setup} in {path}"
        )
    recorded = expected.get("aws.ci_role")
    if recorded and recorded != role:
        return CheckResult(
            name=name,
            outcome="fail",
            detail=f"{path}: role {role}, but aws.ci_role is {recorded}",
            fix=f"set SAGELIFT_AWS_CI_ROLE to {recorded} in {path}",
        )
    found = probe(role)
    if found is True:
        return CheckResult(name=name, outcome="pass", detail=f"{role} exists")
    if found is False:
        return CheckResult(
            name=name, outcome="fail", detail=f"role {role} does not exist", fix=setup
        )
    return CheckResult(name=name, outcome="skip", detail=f"{role}: {found}")


def check_pipelines(project: Path, expected: Expected, *, probe: RoleProbe) -> list[CheckResult]:
    """One or more results per pipeline file of ``project``; a failure when there is none."""
    present = [(p, rel) for p, rel in PATHS.items() if (project / rel).is_file()]
    if not present:
        return [
            CheckResult(
                name="ci", outcome="fail", detail="no pipeline file in the project", fix=INIT_FIX
            )
        ]
    try:
        import yaml  # type: ignore[import-untyped]
    except ImportError:
        return [CheckResult(name="ci", outcome="skip", detail="PyYAML is not installed")]
    results: list[CheckResult] = []
    for provider, rel in present:
        try:
            document = yaml.safe_load((project / rel).read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            results.append(
                CheckResult(
                    name=f"ci {provider}",
                    outcome="fail",
                    detail=f"{rel} cannot be read: {exc}".splitlines()[0],
                    fix=f"fix the YAML, or regenerate it: sagelift ci init --{provider} --force",
                )
            )
            continue
        pinned = pinned_in(provider, document)
        stale = _compare(provider, rel, pinned, expected)
        results.extend(stale)
        if not stale:
            shown = ", ".join(f"{k}={v}" for k, v in pinned.items() if k != "SAGELIFT_AWS_CI_ROLE")
            results.append(
                CheckResult(name=f"ci {provider}", outcome="pass", detail=f"{rel}: {shown}")
            )
        results.append(_role(provider, rel, pinned, expected, probe))
    return results


def aws_role_probe(aws: Any) -> RoleProbe:
    """A ``RoleProbe`` asking IAM (GetRole) with ``aws`` settings."""

    def probe(arn: str) -> bool | str:
        from sagelift.aws import client

        name = arn.rsplit("/", 1)[-1]
        try:
            client("iam", aws).get_role(RoleName=name)
        except SageliftError as exc:
            return exc.message
        except Exception as exc:
            code = str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))
            if code == "NoSuchEntity":
                return False
            return f"could not ask IAM ({code or type(exc).__name__})"
        return True

    return probe
