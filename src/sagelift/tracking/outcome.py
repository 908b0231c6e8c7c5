"""What a job contributes to its run besides metric lines: where it ran (from the job record),
how long and at what cost, how it ended, and its files (model, output data, log, failure reason).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sagelift.backends.base import JobStatus
from sagelift.settings import Settings
from sagelift.tracking.base import Artifact
from sagelift.tracking.metrics import MetricPoint

__all__ = ["NA", "artifacts", "end_tags", "record_tags", "timing_metrics"]

NA = "-"
#: MLflow tag values are limited to 5000 characters (8000 on newer servers).
TAG_LIMIT = 4900


def record_tags(record: Mapping[str, Any]) -> dict[str, str]:
    """Tags a backend learns only when it submits: ARN, code digest, image URI and digest,
    and the content digest of each channel snapshot it shipped (``inputs``).

    Read from the job record (``job.json``); ``-`` for what the backend did not record.
    """
    tags = {
        "sagelift.job_arn": str(record.get("arn") or NA),
        "sagelift.code_digest": str(record.get("code_digest") or NA),
        "sagelift.image_uri": str(record.get("image_uri") or record.get("image") or NA),
        "sagelift.image_digest": str(record.get("image_digest") or NA),
    }
    for name, shipped in (record.get("inputs") or {}).items():
        if shipped.get("digest"):
            tags[f"sagelift.channel.{name}.digest"] = str(shipped["digest"])
    return tags


def timing_metrics(status: JobStatus, record: Mapping[str, Any]) -> list[MetricPoint]:
    """Duration, training and billable seconds and cost, each only where known.

    The status (as DescribeTrainingJob reports it) wins over values kept in the record.
    """
    values = {
        "sagelift.duration_s": status.duration,
        "sagelift.training_s": _first(status.training_seconds, record.get("training_seconds")),
        "sagelift.billable_s": _first(status.billable_seconds, record.get("billable_seconds")),
        "sagelift.cost_usd": _first(status.cost_usd, record.get("cost_usd")),
    }
    return [
        MetricPoint(key=k, value=float(v), step=0, index=0)
        for k, v in values.items()
        if v is not None
    ]


def _first(*values: Any) -> Any:
    return next((v for v in values if v is not None), None)


def end_tags(status: JobStatus) -> dict[str, str]:
    tags = {
        "sagelift.status": status.state.value,
        "sagelift.secondary_status": status.secondary_status,
        "sagelift.exit_code": NA if status.exit_code is None else str(status.exit_code),
    }
    if status.failure_reason:
        tags["sagelift.failure_reason"] = status.failure_reason[:TAG_LIMIT]
    return tags


def _aws(record: Mapping[str, Any], settings: Settings | None, project_dir: Path | None) -> Any:
    from sagelift.backends.artifacts import aws_from_dict

    recorded = (record.get("run") or {}).get("aws")
    if recorded:
        return aws_from_dict(recorded)
    if settings is not None:
        return settings.aws
    if project_dir is not None:
        import os

        from sagelift.config import load_config
        from sagelift.settings import settings_from_config

        return settings_from_config(load_config(project_dir, environ=os.environ)).aws
    return aws_from_dict(None)


def _local_copy(uri: str, dest: Path, aws: Any) -> Path:
    if "://" not in uri:
        return Path(uri)
    from sagelift.storage import open_storage

    open_storage(uri, aws=aws).download_file(uri, dest)
    return dest


def artifacts(
    record: Mapping[str, Any],
    status: JobStatus,
    lines: Sequence[str],
    tmp: Path,
    *,
    settings: Settings | None = None,
    project_dir: Path | None = None,
) -> list[Artifact]:
    """The run's artifacts, staged under ``tmp``: ``model/`` and ``output/`` (extracted from
    the job's tarballs, downloaded when remote) and ``logs/`` (output log, failure reason).

    Remote tarballs are read with the AWS settings the job itself used (``run.aws`` in the
    record), else ``settings``, else the project's.
    """
    from sagelift.packaging import safe_extract

    found: list[Artifact] = []
    aws: Any = None
    for uri, name in ((status.model_artifacts, "model"), (status.output_artifacts, "output")):
        if not uri:
            continue
        if "://" in uri and aws is None:
            aws = _aws(record, settings, project_dir)
        tarball = _local_copy(uri, tmp / f"{name}.tar.gz", aws)
        if tarball.is_file():
            safe_extract(tarball, tmp / name)
            found.append(Artifact(path=tmp / name, artifact_path=name))
    log_file = tmp / "logs" / "output.log"
    log_file.parent.mkdir()
    log_file.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    if status.failure_reason:
        (log_file.parent / "failure_reason.txt").write_text(status.failure_reason, "utf-8")
    found.append(Artifact(path=log_file.parent, artifact_path="logs"))
    return found
