"""``sagelift doctor``: check that the project, AWS and the tools it needs are ready.

Each check gives a ``CheckResult`` (pass, fail, warn or skip) with the fix; ``render_results``
and ``exit_code`` are pure. Checks that need AWS are skipped, with the reason, when the
credentials check fails.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from sagelift.aws import (
    AwsSettings,
    bucket_region,
    client,
    map_client_error,
    resolve_region,
    session,
)
from sagelift.config import load_config
from sagelift.errors import SageliftError
from sagelift.settings import Settings, TrackingSettings, settings_from_config
from sagelift.spec import parse_job_spec

__all__ = [
    "CheckResult",
    "Runner",
    "Settings",
    "TrackingSettings",
    "exit_code",
    "render_results",
    "run_checks",
]

Outcome = Literal["pass", "fail", "warn", "skip"]

#: Runs argv in a directory with an environment; returns (exit status, combined output).
Runner = Callable[[list[str], Path, Mapping[str, str]], tuple[int, str]]

SETUP_FIX = "run 'sagelift aws setup' (it writes aws.* into sagelift.toml)"
NO_CREDENTIALS = "needs AWS credentials (see 'credentials')"
HTTP_TIMEOUT = 5.0
CLI_TIMEOUT = 60.0


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckResult:
    name: str
    outcome: Outcome
    detail: str
    fix: str | None = None


def _pass(name: str, detail: str) -> CheckResult:
    return CheckResult(name=name, outcome="pass", detail=detail)


def _fail(name: str, detail: str, fix: str | None) -> CheckResult:
    return CheckResult(name=name, outcome="fail", detail=detail, fix=fix)


def _skip(name: str, detail: str) -> CheckResult:
    return CheckResult(name=name, outcome="skip", detail=detail)


def _from_error(name: str, exc: SageliftError) -> CheckResult:
    return _fail(name, exc.message, exc.hint)


def subprocess_runner(argv: list[str], cwd: Path, env: Mapping[str, str]) -> tuple[int, str]:
    try:
        done = subprocess.run(
            argv,
            cwd=cwd,
            env=dict(env),
            capture_output=True,
            text=True,
            timeout=CLI_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return 124, f"timed out after {CLI_TIMEOUT:.0f}s"
    except OSError as exc:
        return 127, str(exc)
    return done.returncode, (done.stdout or "") + (done.stderr or "")


def check_config(project_dir: Path, environ: Mapping[str, str]) -> tuple[CheckResult, Settings]:
    name = "config"
    try:
        config = load_config(project_dir, environ=environ)
        settings = settings_from_config(config)
    except SageliftError as exc:
        return _from_error(name, exc), Settings(aws=AwsSettings())
    if config.project_file is None:
        return (
            CheckResult(
                name=name,
                outcome="warn",
                detail=f"no sagelift.toml in {project_dir}",
                fix="run 'sagelift init' to create one",
            ),
            settings,
        )
    try:
        parse_job_spec(config, project_dir)
    except SageliftError as exc:
        return _from_error(name, exc), settings
    return _pass(name, f"{config.project_file.name} is valid"), settings


def _aws_settings(settings: Settings, region: str | None) -> AwsSettings:
    return AwsSettings(
        profile=settings.aws.profile,
        region=region,
        endpoint_url=settings.aws.endpoint_url,
        max_attempts=2,
    )


def check_credentials(settings: Settings) -> tuple[CheckResult, bool]:
    name = "credentials"
    try:
        region = resolve_region(settings.aws) or "us-east-1"
        sts = client("sts", _aws_settings(settings, region))
        identity = sts.get_caller_identity()
    except SageliftError as exc:
        return _from_error(name, exc), False
    except Exception as exc:  # botocore's errors: converted right here
        error = map_client_error(exc, action="sts:GetCallerIdentity")
        return _from_error(name, error), False
    return _pass(name, f"{identity.get('Arn')} (account {identity.get('Account')})"), True


def check_region(settings: Settings) -> tuple[CheckResult, str | None]:
    name = "region"
    region = settings.aws.region
    source = "aws.region"
    if region is None:
        try:
            region = session(settings.aws).region_name
        except SageliftError as exc:
            return _from_error(name, exc), None
        source = "AWS configuration"
    if not region:
        return (
            _fail(
                name,
                "no AWS region set",
                'set aws.region in sagelift.toml (e.g. aws.region = "eu-west-1") or AWS_REGION',
            ),
            None,
        )
    return _pass(name, f"{region} (from {source})"), str(region)


def _trusts_sagemaker(document: Any) -> bool:
    if isinstance(document, str):
        document = json.loads(urllib.parse.unquote(document))
    statements = document.get("Statement", []) if isinstance(document, Mapping) else []
    if isinstance(statements, Mapping):
        statements = [statements]
    for statement in statements:
        principal = statement.get("Principal", {})
        services = principal.get("Service", []) if isinstance(principal, Mapping) else []
        services = [services] if isinstance(services, str) else services
        actions = statement.get("Action", [])
        actions = [actions] if isinstance(actions, str) else actions
        if (
            statement.get("Effect") == "Allow"
            and "sagemaker.amazonaws.com" in services
            and ("sts:AssumeRole" in actions or "sts:*" in actions)
        ):
            return True
    return False


def _call(action: str, resource: str, call: Callable[[], Any]) -> Any:
    try:
        return call()
    except SageliftError:
        raise
    except Exception as exc:
        raise map_client_error(exc, action=action, resource=resource) from exc


def _error_code(exc: BaseException) -> str:
    cause: BaseException | None = exc
    while cause is not None:
        response = getattr(cause, "response", None)
        if isinstance(response, Mapping):
            return str(response.get("Error", {}).get("Code", ""))
        cause = cause.__cause__
    return ""


def check_role(settings: Settings, region: str | None) -> CheckResult:
    name = "role"
    if not settings.role:
        return _fail(name, "aws.role is not set", SETUP_FIX)
    role_name = (
        settings.role.rsplit("/", 1)[-1] if settings.role.startswith("arn:") else settings.role
    )
    iam = client("iam", _aws_settings(settings, region))
    try:
        role = _call("iam:GetRole", role_name, lambda: iam.get_role(RoleName=role_name))["Role"]
    except SageliftError as exc:
        if _error_code(exc) == "NoSuchEntity":
            return _fail(name, f"role {role_name} does not exist", SETUP_FIX)
        return _from_error(name, exc)
    if not _trusts_sagemaker(role.get("AssumeRolePolicyDocument", {})):
        return _fail(
            name,
            f"role {role_name} does not trust sagemaker.amazonaws.com",
            "add sagemaker.amazonaws.com (sts:AssumeRole) to its trust policy, or "
            "run 'sagelift aws setup' with aws.role unset to create a role",
        )
    return _pass(name, f"{role['Arn']} trusts SageMaker")


def check_bucket(settings: Settings, region: str | None) -> CheckResult:
    name = "bucket"
    bucket = settings.bucket
    if not bucket:
        return _fail(name, "aws.bucket is not set", SETUP_FIX)
    s3 = client("s3", _aws_settings(settings, region))
    try:
        location = _call(
            "s3:GetBucketLocation", bucket, lambda: s3.get_bucket_location(Bucket=bucket)
        )
    except SageliftError as exc:
        if _error_code(exc) in {"NoSuchBucket", "404"}:
            return _fail(name, f"bucket {bucket} does not exist", SETUP_FIX)
        return _from_error(name, exc)
    constraint = location.get("LocationConstraint")
    where = bucket_region(constraint)
    if region is not None and where != region:
        return _fail(
            name,
            f"bucket {bucket} is in {where}, jobs run in {region}",
            f'SageMaker needs them in one region: set aws.region = "{where}", or point '
            f"aws.bucket at a bucket in {region} ('sagelift aws setup' creates one)",
        )
    return _pass(name, f"s3://{bucket} in {where}")


def check_repository(settings: Settings, region: str | None) -> CheckResult:
    name = "ecr"
    repository = settings.ecr_repository
    if not repository:
        if settings.image.uri:
            return _skip(name, "image.uri is set; no repository needed")
        return CheckResult(
            name=name,
            outcome="warn",
            detail="aws.ecr_repository is not set; cloud jobs cannot push built images",
            fix=SETUP_FIX,
        )
    ecr = client("ecr", _aws_settings(settings, region))
    try:
        _call(
            "ecr:DescribeRepositories",
            repository,
            lambda: ecr.describe_repositories(repositoryNames=[repository]),
        )
        _call("ecr:GetAuthorizationToken", repository, ecr.get_authorization_token)
    except SageliftError as exc:
        if _error_code(exc) == "RepositoryNotFoundException":
            return _fail(name, f"repository {repository} does not exist", SETUP_FIX)
        return _from_error(name, exc)
    return _pass(name, f"repository {repository} reachable, registry login allowed")


def check_container_cli(
    settings: Settings, environ: Mapping[str, str], runner: Runner, project_dir: Path
) -> CheckResult:
    name = "container"
    wanted = (
        [settings.image.container_cli] if settings.image.container_cli else ["podman", "docker"]
    )
    path = environ.get("PATH", "")
    found = [(cli, shutil.which(cli, path=path)) for cli in wanted]
    present = [(cli, exe) for cli, exe in found if exe]
    if not present:
        return _fail(
            name,
            f"no container CLI found on PATH ({' or '.join(wanted)})",
            "install podman ('apt install podman') or docker; cloud jobs build their image "
            "with it (local jobs do not need one)",
        )
    cli, exe = present[0]
    assert exe is not None
    status, output = runner([exe, "info"], project_dir, environ)
    if status != 0:
        return _fail(
            name,
            f"'{cli} info' failed ({status}): {_last_line(output)}",
            "start the docker daemon (or join the docker group)"
            if cli == "docker"
            else "run 'podman system migrate' and check 'podman info' by hand",
        )
    return _container_start(cli, exe, environ, runner, project_dir)


#: Images sagelift tagged locally; the offline base first (the smallest, and what builds use).
_SAGELIFT_IMAGE = re.compile(r"localhost/sagelift[^\s:]*:[^\s<>]+")
_BASE_IMAGE = re.compile(r"localhost/sagelift[^\s:]*/base:[^\s<>]+")


def _local_image(listing: str) -> str | None:
    """The image to start a test container from: a ``localhost/sagelift*/base`` image when
    one is listed, else any other ``localhost/sagelift*`` image, else None. Pure."""
    refs = [line.strip() for line in listing.splitlines()]
    for pattern in (_BASE_IMAGE, _SAGELIFT_IMAGE):
        for ref in refs:
            if pattern.fullmatch(ref):
                return ref
    return None


def _container_start(
    cli: str, exe: str, environ: Mapping[str, str], runner: Runner, project_dir: Path
) -> CheckResult:
    """Start ``true`` in a local sagelift image, offline, with the environment jobs get (the
    engine reads its runtime from ``CONTAINERS_CONF`` there): ``info`` alone passes on an
    engine whose OCI runtime cannot start a container."""
    name = "container"
    status, output = runner(
        [exe, "images", "--format", "{{.Repository}}:{{.Tag}}"], project_dir, environ
    )
    if status != 0:
        return CheckResult(
            name=name,
            outcome="warn",
            detail=f"{cli} works ({exe}) but '{cli} images' failed ({status}): "
            f"{_last_line(output)}",
            fix=f"check '{cli} images' by hand",
        )
    image = _local_image(output)
    if image is None:
        return _pass(
            name,
            f"{cli} works ({exe}) (no local image to test a container start; "
            "'sagelift image build' makes one)",
        )
    argv = [exe, "run", "--rm", "--network", "none", "--entrypoint", "true", image]
    status, output = runner(argv, project_dir, environ)
    if status != 0:
        return _fail(
            name,
            f"{cli} cannot start a container ('{cli} run --rm {image} true' exited {status}): "
            f"{_error_line(output)}",
            "start the docker engine and check its runtime with 'docker run --rm IMAGE true'"
            if cli == "docker"
            else "check the OCI runtime (crun or runc installed, [engine] runtime in "
            "containers.conf / CONTAINERS_CONF); 'podman system migrate' after an upgrade; "
            "then try 'podman run --rm IMAGE true' by hand",
        )
    return _pass(name, f"{cli} works ({exe}); started a container from {image}")


def _last_line(output: str) -> str:
    return (output.strip().splitlines() or ["no output"])[-1]


def _error_line(output: str) -> str:
    """The engine's last line that names an error, else its last line."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    return next((line for line in reversed(lines) if "error" in line.lower()), _last_line(output))


def check_tracking(settings: Settings) -> CheckResult:
    import urllib.error  # lazily: only this check talks HTTP
    import urllib.request

    name = "tracking"
    uri = settings.tracking.uri
    if not uri:
        return _skip(name, "tracking.uri not set")
    parsed = urllib.parse.urlparse(uri)
    if parsed.scheme in ("http", "https"):
        base = uri.rstrip("/")
        for suffix in ("/health", "/api/2.0/mlflow/experiments/search?max_results=1"):
            try:
                with urllib.request.urlopen(base + suffix, timeout=HTTP_TIMEOUT) as response:  # noqa: S310
                    response.read(1024)
                return _pass(name, f"MLflow at {uri} answers ({suffix.split('?')[0]})")
            except urllib.error.HTTPError as exc:
                if exc.code != 404:
                    return _fail(
                        name, f"MLflow at {uri} answered HTTP {exc.code}", "check tracking.uri"
                    )
            except (urllib.error.URLError, OSError) as exc:
                reason = getattr(exc, "reason", exc)
                return _fail(
                    name,
                    f"MLflow at {uri} is unreachable ({reason})",
                    "start the tracking server or fix tracking.uri",
                )
        return _fail(name, f"{uri} does not look like an MLflow server", "check tracking.uri")
    if parsed.scheme in ("", "file"):
        path = Path(parsed.path if parsed.scheme else uri)
        if path.exists() or path.parent.is_dir():
            return _pass(name, f"local MLflow store {path}")
        return _fail(name, f"local MLflow store {path}: parent missing", "create the directory")
    return CheckResult(
        name=name, outcome="warn", detail=f"cannot check a '{parsed.scheme}' tracking URI"
    )


def check_dvc(
    project_dir: Path,
    settings: Settings,
    region: str | None,
    *,
    credentials: bool,
    environ: Mapping[str, str],
    runner: Runner,
) -> CheckResult:
    name = "dvc"
    if not (project_dir / ".dvc").is_dir():
        return _skip(name, "the project does not use DVC")
    exe = shutil.which("dvc", path=environ.get("PATH", ""))
    if exe is None:
        return _fail(name, "the project uses DVC but dvc is not installed", "pip install 'dvc[s3]'")
    status, output = runner([exe, "remote", "list"], project_dir, environ)
    if status != 0:
        return _fail(name, f"'dvc remote list' failed: {output.strip()}", "check .dvc/config")
    remotes = [line.split() for line in output.splitlines() if len(line.split()) >= 2]
    if not remotes:
        return CheckResult(
            name=name,
            outcome="warn",
            detail="no DVC remote configured",
            fix="dvc remote add -d storage s3://BUCKET/dvc",
        )
    problems = [
        p
        for p in (
            _remote_problem(r[0], r[1], settings, region, credentials, project_dir) for r in remotes
        )
        if p
    ]
    if problems:
        return _fail(
            name, "; ".join(problems), "create the remote or fix it with 'dvc remote modify'"
        )
    return _pass(name, ", ".join(f"{r[0]} ({r[1]})" for r in remotes) + " reachable")


def _remote_problem(
    remote: str,
    url: str,
    settings: Settings,
    region: str | None,
    credentials: bool,
    project_dir: Path,
) -> str | None:
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme == "s3":
        if not credentials:
            return f"remote {remote}: {NO_CREDENTIALS}"
        s3 = client("s3", _aws_settings(settings, region))
        try:
            _call("s3:ListBucket", parsed.netloc, lambda: s3.head_bucket(Bucket=parsed.netloc))
        except SageliftError as exc:
            return f"remote {remote}: {exc.message}"
        return None
    if parsed.scheme in ("", "file"):
        path = Path(parsed.path if parsed.scheme else url)
        path = path if path.is_absolute() else project_dir / ".dvc" / path
        return None if path.is_dir() else f"remote {remote}: {path} does not exist"
    return None


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


def render_results(results: Iterable[CheckResult]) -> list[str]:
    """One line per check (``PASS name: detail``), the fix indented under failures. Pure."""
    lines: list[str] = []
    for result in results:
        lines.append(f"{result.outcome.upper():<4} {result.name}: {result.detail}")
        if result.fix and result.outcome in ("fail", "warn"):
            lines.append(f"     fix: {result.fix}")
    return lines


def exit_code(results: Iterable[CheckResult]) -> int:
    """0 when nothing failed (warnings and skips included), else 1."""
    return 1 if any(r.outcome == "fail" for r in results) else 0
