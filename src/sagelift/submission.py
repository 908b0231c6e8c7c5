"""Starting a job: a project's spec and settings from their layers, then :func:`submit`.

Every check runs before the first side effect, so a refused submission leaves nothing behind; a
job whose submission fails or is interrupted before it has a status leaves no record either.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from sagelift import preflight, records
from sagelift.aws import DEFAULT_REGION, resolve_region
from sagelift.backends import get_backend
from sagelift.backends.base import Backend, check_capabilities
from sagelift.config import Resolved, load_config
from sagelift.errors import SageliftError, SpecError, UnsupportedFeature
from sagelift.job import JobHandle, JobRecord, PreparedJob
from sagelift.redaction import secret_names, secrets_notice
from sagelift.settings import Settings, settings_from_config
from sagelift.spec import JobSpec, parse_job_spec, validate_job_name

__all__ = [
    "DEFAULT_REGION",
    "TRACKING_FILE",
    "backend_for",
    "load_config_for",
    "load_settings",
    "load_spec",
    "new_job_name",
    "submit",
    "warn_secret_hyperparameters",
]

log = logging.getLogger(__name__)

#: The region of a job when neither the settings, the environment nor an AWS profile name one
#: (a local job's ``sagemaker_region``).
#: Written by sagelift.tracking.session for tracked jobs (kept here so untracked runs never
#: import the tracking stack).
TRACKING_FILE = "tracking.json"


def load_config_for(
    project_dir: Path,
    *,
    environ: Mapping[str, str] | None = None,
    cli: Mapping[str, Any] | None = None,
    profile: str | None = None,
) -> Resolved:
    return load_config(
        project_dir, environ=os.environ if environ is None else environ, cli=cli, profile=profile
    )


def load_spec(
    project_dir: Path | str = ".",
    *,
    environ: Mapping[str, str] | None = None,
    profile: str | None = None,
    **overrides: Any,
) -> JobSpec:
    """The job spec of ``project_dir`` with its layers; ``overrides`` act as CLI flags.

    Table overrides are mappings: ``hyperparameters={"epochs": 3}``.
    """
    cli: dict[str, Any] = {}
    for key, value in overrides.items():
        if isinstance(value, Mapping):
            cli.update({f"{key}.{sub}": v for sub, v in value.items()})
        else:
            cli[key] = value
    project = Path(project_dir)
    config = load_config_for(project, environ=environ, cli=cli, profile=profile)
    return parse_job_spec(config, project)


def backend_for(spec: JobSpec, settings: Settings | None = None) -> Backend:
    """``ml.*`` instance types run on SageMaker (or, with ``backend = "rehearsal"``, their
    SageMaker request runs here in its image); ``local``/``local_gpu`` on this machine, as a
    process (default) or in a container image (``backend = "container"``)."""
    chosen = settings.backend if settings is not None else None
    if spec.instance_type.startswith("ml."):
        return get_backend("rehearsal" if chosen == "rehearsal" else "sagemaker")
    if chosen == "rehearsal":
        raise UnsupportedFeature(
            "a rehearsal runs the SageMaker request of an ml.* instance type; "
            f"'{spec.instance_type}' is not one",
            hint="pass --instance-type ml.m5.large (or another ml.* type) with --rehearse",
        )
    return get_backend(chosen if chosen in ("local", "container") else "local")


def new_job_name(base: str, when: datetime) -> str:
    """``<base>-YYYYMMDD-HHMMSS-<4 hex>``: unique, sortable, SageMaker-valid."""
    suffix = f"-{when:%Y%m%d-%H%M%S}-{os.urandom(2).hex()}"
    return base[: 63 - len(suffix)].rstrip("-") + suffix


def load_settings(
    project_dir: Path | str = ".",
    *,
    environ: Mapping[str, str] | None = None,
    profile: str | None = None,
) -> Settings:
    """The settings (AWS, images, tracking) of ``project_dir``, from the same layers as the spec."""
    return settings_from_config(
        load_config_for(Path(project_dir), environ=environ, profile=profile)
    )


def submit(
    spec: JobSpec, *, settings: Settings | None = None, allow_dirty_data: bool = False
) -> JobHandle:
    """Validate ``spec`` and start it; returns at once.

    Every check happens before the first side effect: a UsageError leaves nothing behind.
    A DVC-tracked channel that differs from its DVC record is refused (DirtyData) unless
    ``allow_dirty_data``. With tracking on, the job's MLflow run is created here and the job
    gets MLFLOW_TRACKING_URI / MLFLOW_RUN_ID / MLFLOW_EXPERIMENT_ID when it can reach the store.
    """
    if settings is None:
        settings = load_settings(spec.project_dir)
    backend = backend_for(spec, settings)
    check_capabilities(backend, spec)
    backend.check(spec)
    preflight.check_local_inputs(spec)
    preflight.check_channels_leave_code_alone(spec)
    from sagelift.data.channels import dvc_versions

    data_versions = dvc_versions(spec, allow_dirty=allow_dirty_data)
    warn_secret_hyperparameters(spec)
    created = records.now()
    name = spec.job_name or new_job_name(spec.base_job_name, created)
    validate_job_name(name)
    record_dir = records.jobs_root(spec.project_dir) / name
    if record_dir.exists():
        raise SpecError(
            f"job_name: a job named '{name}' already exists",
            hint="job names are unique: drop job_name to get a generated one",
            field="job_name",
        )
    job = PreparedJob(
        spec=spec,
        name=name,
        record_dir=record_dir,
        created_at=created,
        region=resolve_region(settings.aws) or DEFAULT_REGION,
        settings=settings,
    )
    backend.preflight(job)
    records.create_record_dir(record_dir)
    try:
        records.write_record(
            record_dir,
            JobRecord(
                name=name,
                backend=backend.name,
                created_at=created,
                spec=spec,
                data_versions=data_versions,
            ),
        )
        if settings.tracking.uri:
            from sagelift.tracking import session

            tracking_env = session.begin(job)
            if tracking_env:
                environment = {**tracking_env, **spec.environment}
                job = replace(job, spec=replace(spec, environment=environment))
        handle = backend.submit(job)
    except BaseException as exc:
        # A backend raises a SageliftError only before the job has started: leave nothing
        # behind. Interrupted, it has recorded how the job ended once the job had a status;
        # before that the record was never visible, and goes.
        if isinstance(exc, SageliftError) or not records.has_status(record_dir):
            _remove_record(record_dir)
        raise
    if (record_dir / TRACKING_FILE).exists():
        from sagelift.tracking import session

        session.submitted(record_dir)
    return handle


def warn_secret_hyperparameters(spec: JobSpec) -> tuple[str, ...]:
    """Log one warning naming the hyperparameters that look like secrets; returns their names.

    Their values are masked in sagelift's own output (``sagelift.redaction``), but the job and,
    on SageMaker, the job's description carry them in the clear.
    """
    names = secret_names(spec.hyperparameters)
    if names:
        log.warning("%s", secrets_notice(names, remote=not spec.is_local))
    return names


def _remove_record(record_dir: Path) -> None:
    shutil.rmtree(record_dir, ignore_errors=True)
    for parent in (record_dir.parent, record_dir.parent.parent):
        with contextlib.suppress(OSError):
            parent.rmdir()  # only when empty: .sagelift/jobs, then .sagelift
