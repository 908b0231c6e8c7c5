"""What a job contributes to its run besides metric lines: where it ran (from the job record),
how long and at what cost, how it ended, and its files (model, output data, log, failure reason).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sagelift.job import JobRecord, JobStatus
from sagelift.settings import Settings
from sagelift.tracking.base import Artifact
from sagelift.tracking.metrics import MetricPoint

__all__ = ["NA", "artifacts", "end_tags", "record_tags", "timing_metrics"]

NA = "-"
#: MLflow tag values are limited to 5000 characters (8000 on newer servers).
TAG_LIMIT = 4900


def record_tags(record: JobRecord) -> dict[str, str]:
    """Tags a backend learns only when it submits: ARN, code digest, image URI and digest, and
    the content digest of each channel snapshot it shipped; ``-`` for what it did not record."""
    arn = record.cloud.arn if record.cloud is not None else None
    tags = {
        "sagelift.job_arn": arn or NA,
        "sagelift.code_digest": record.code_digest or NA,
        "sagelift.image_uri": record.image_uri or NA,
        "sagelift.image_digest": record.image_digest or NA,
    }
    for name, shipped in record.inputs.items():
        if shipped.digest:
            tags[f"sagelift.channel.{name}.digest"] = shipped.digest
    return tags


def timing_metrics(status: JobStatus) -> list[MetricPoint]:
    """Duration, training and billable seconds and cost, each only where known."""
    values = {
        "sagelift.duration_s": status.duration,
        "sagelift.training_s": status.training_seconds,
        "sagelift.billable_s": status.billable_seconds,
        "sagelift.cost_usd": status.cost_usd,
    }
    return [
        MetricPoint(key=k, value=float(v), step=0, index=0)
        for k, v in values.items()
        if v is not None
    ]


def end_tags(status: JobStatus) -> dict[str, str]:
    tags = {
        "sagelift.status": status.state.value,
        "sagelift.secondary_status": status.secondary_status,
        "sagelift.exit_code": NA if status.exit_code is None else str(status.exit_code),
    }
    if status.failure_reason:
        tags["sagelift.failure_reason"] = status.failure_reason[:TAG_LIMIT]
    return tags


def _aws(record: JobRecord, settings: Settings | None, project_dir: Path | None) -> Any:
    if record.run is not None:
        return record.run.aws
    if record.cloud is not None:
        return record.cloud.aws
    if settings is not None:
        return settings.aws
    if project_dir is not None:
        import os

        from sagelift.config import load_config
        from sagelift.settings import settings_from_config

        return settings_from_config(load_config(project_dir, environ=os.environ)).aws
    from sagelift.aws import AwsSettings

    return AwsSettings()


def _local_copy(uri: str, dest: Path, aws: Any) -> Path:
    if "://" not in uri:
        return Path(uri)
    from sagelift.storage import open_storage

    open_storage(uri, aws=aws).download_file(uri, dest)
    return dest


def artifacts(
    record: JobRecord,
    status: JobStatus,
    lines: Iterable[str],
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
    from sagelift.archives import safe_extract

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
            if (tmp / name).is_dir() and any((tmp / name).iterdir()):  # skip an empty output/
                found.append(Artifact(path=tmp / name, artifact_path=name))
    log_file = tmp / "logs" / "output.log"
    log_file.parent.mkdir()
    with log_file.open("w", encoding="utf-8") as stream:
        for line in lines:
            stream.write(f"{line}\n")
    if status.failure_reason:
        (log_file.parent / "failure_reason.txt").write_text(status.failure_reason, "utf-8")
    found.append(Artifact(path=log_file.parent, artifact_path="logs"))
    return found
