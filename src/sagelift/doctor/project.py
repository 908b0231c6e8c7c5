"""The project's own settings: ``sagelift.toml`` gives a valid job, and the tracking store
(``tracking.uri``) answers."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from sagelift.aws import AwsSettings
from sagelift.config import load_config
from sagelift.doctor.report import CheckResult, _fail, _from_error, _pass, _skip
from sagelift.errors import SageliftError
from sagelift.settings import Settings, settings_from_config
from sagelift.spec import parse_job_spec

__all__ = ["HTTP_TIMEOUT", "check_config", "check_tracking"]

HTTP_TIMEOUT = 5.0


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


def check_tracking(settings: Settings) -> CheckResult:
    import urllib.error  # lazily: only this check talks HTTP
    import urllib.parse
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
