"""What a job's run is created with (MLflow's ``run.data``): its params and its tags.

Params are the hyperparameters as text, secret-looking ones masked; tags say where the job came
from (sagelift, backend, instances, entry point, git state, channel versions) and where it ran.
"""

from __future__ import annotations

import getpass
import json
from collections.abc import Mapping

from sagelift.contract.hyperparameters import JSONValue
from sagelift.job import JobRecord, PreparedJob
from sagelift.package import VERSION
from sagelift.provenance import channel_version, git_state
from sagelift.redaction import mask_values
from sagelift.tracking import outcome

__all__ = ["run_params"]

NA = outcome.NA


def run_params(hyperparameters: Mapping[str, JSONValue]) -> dict[str, str]:
    """The MLflow params of a job: its hyperparameters as text, secret-looking ones as ``***``
    (``sagelift.redaction``); the job itself still gets the real values."""
    return {k: _param(v) for k, v in mask_values(hyperparameters).items()}


def _param(value: JSONValue) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers)
        return NA


def _tags(job: PreparedJob, record: JobRecord) -> dict[str, str]:
    """The tags a job's run starts with; ``-`` for what is not known (no git, no user)."""
    spec = job.spec
    git = git_state(spec.project_dir)
    tags = {
        "sagelift.version": VERSION,
        "sagelift.backend": "emulator" if record.emulates else record.backend,
        "sagelift.job_name": job.name,
        "sagelift.instance_type": spec.instance_type,
        "sagelift.instance_count": str(spec.instance_count),
        "sagelift.spot": "on" if record.spot else "off",
        **outcome.record_tags(record),
        # What MLflow's UI shows as "Source" and "Created by".
        "mlflow.source.name": spec.entry_point.describe(),
        "mlflow.source.type": "JOB",
        "mlflow.user": _user(),
        "sagelift.entry_point": spec.entry_point.describe(),
        "sagelift.git.commit": git.commit if git else NA,
        "sagelift.git.dirty": str(git.dirty).lower() if git else NA,
        "sagelift.git.diff_sha256": (git.diff_sha256 or NA) if git else NA,
    }
    if git:
        tags["mlflow.source.git.commit"] = git.commit
    for channel in spec.channels:
        version = channel_version(channel, record.data_versions.get(channel.name))
        tags[f"sagelift.channel.{channel.name}.source"] = version.source
        tags[f"sagelift.channel.{channel.name}.{version.kind}"] = version.version
    return tags
