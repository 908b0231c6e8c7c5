"""Job outputs on the host: ``model.tar.gz``/``output.tar.gz`` and checkpoint sync.

Follows SageMaker: ``/opt/ml/model`` is tarred to ``<output path>/<job>/output/model.tar.gz`` and
``/opt/ml/output/data`` to ``.../output.tar.gz`` (docs ``your-algorithms-training-algo-output``);
checkpoints are plain files, restored at start and synced out during and after the job, and a
checkpoint deleted locally is deleted at the checkpoint location (``model-checkpoints.html``).
Remote (``s3://``) locations go through :mod:`sagelift.storage` with the job's AWS settings,
which travel in the job record as a plain dict (``aws_to_dict``/``aws_from_dict``).
"""

from __future__ import annotations

import os
import shutil
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from sagelift.aws import AwsSettings
from sagelift.contract.layout import TrainingLayout

__all__ = [
    "aws_from_dict",
    "aws_to_dict",
    "pack_directory",
    "pack_outputs",
    "release_inputs",
    "restore_checkpoints",
    "sync_checkpoints_out",
    "sync_checkpoints_remote",
    "upload_outputs",
]


def aws_to_dict(aws: AwsSettings) -> dict[str, Any]:
    """The JSON form of ``aws`` kept in a job record (no secrets: boto3 resolves those)."""
    return {
        "profile": aws.profile,
        "region": aws.region,
        "endpoint_url": aws.endpoint_url,
        "max_attempts": aws.max_attempts,
    }


def aws_from_dict(data: dict[str, Any] | None) -> AwsSettings:
    """Inverse of ``aws_to_dict``; a record without AWS settings gives boto3's defaults."""
    if not data:
        return AwsSettings()
    return AwsSettings(
        profile=data.get("profile"),
        region=data.get("region"),
        endpoint_url=data.get("endpoint_url"),
        max_attempts=int(data.get("max_attempts") or 5),
    )


def upload_outputs(paths: tuple[Path, ...], output_uri: str, aws: AwsSettings) -> tuple[str, ...]:
    """Upload each packed file to ``<output_uri>/<name>``; returns their URIs in order.

    Raises StorageError or CredentialsError when an upload fails.
    """
    from sagelift.storage import open_storage

    storage = open_storage(output_uri, aws=aws)
    uris = []
    for path in paths:
        uri = f"{output_uri.rstrip('/')}/{path.name}"
        storage.upload_file(path, uri)
        uris.append(uri)
    return tuple(uris)


def sync_checkpoints_remote(checkpoint_dir: Path, location: str, aws: AwsSettings) -> int:
    """Mirror ``checkpoint_dir`` to the ``s3://`` prefix ``location``; returns files sent."""
    from sagelift.shipping import mirror_up
    from sagelift.storage import open_storage

    if not checkpoint_dir.is_dir():
        return 0
    files, _ = mirror_up(open_storage(location, aws=aws), checkpoint_dir, location)
    return files


def pack_directory(src: Path, dest: Path) -> Path:
    """Write ``dest`` (a .tar.gz) holding the contents of ``src`` at the archive root."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
    os.close(fd)
    try:
        with tarfile.open(tmp, "w:gz") as archive:
            for path in sorted(src.rglob("*")):
                archive.add(path, arcname=str(path.relative_to(src)), recursive=False)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return dest


def pack_outputs(layout: TrainingLayout, artifacts_dir: Path) -> tuple[Path, Path]:
    """Pack model and output data under ``artifacts_dir`` (``<output path>/<job>/output``)."""
    model = pack_directory(layout.model_dir, artifacts_dir / "model.tar.gz")
    output = pack_directory(layout.output_data_dir, artifacts_dir / "output.tar.gz")
    return model, output


def release_inputs(layout: TrainingLayout) -> None:
    """Delete the staged channel copies (and the writable layers of channel overlays) once the
    job is over; they are the bulk of its disk."""
    from sagelift.runtime.mounts import overlay_scratch

    shutil.rmtree(layout.data_dir, ignore_errors=True)
    shutil.rmtree(overlay_scratch(layout.root), ignore_errors=True)


def restore_checkpoints(location: Path, checkpoint_dir: Path) -> int:
    """Copy every file under ``location`` into ``checkpoint_dir``; returns the file count."""
    if not location.is_dir():
        return 0
    count = 0
    for path in sorted(location.rglob("*")):
        if path.is_file() and not path.is_symlink():
            target = checkpoint_dir / path.relative_to(location)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
            count += 1
    return count


def sync_checkpoints_out(checkpoint_dir: Path, location: Path) -> int:
    """Mirror ``checkpoint_dir`` to ``location``: new and changed files copied, deleted ones
    removed. A file is copied to a temporary name and renamed, so ``location`` never holds half
    a checkpoint. Returns the number of files copied.
    """
    location.mkdir(parents=True, exist_ok=True)
    local = {
        p.relative_to(checkpoint_dir): p
        for p in checkpoint_dir.rglob("*")
        if p.is_file() and not p.is_symlink()
    }
    copied = 0
    for rel, path in local.items():
        target = location / rel
        stat = path.stat()
        try:
            seen = target.stat()
            if seen.st_size == stat.st_size and seen.st_mtime_ns == stat.st_mtime_ns:
                continue
        except FileNotFoundError:
            pass
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.sagelift-tmp")
        shutil.copy2(path, tmp)
        os.replace(tmp, target)
        copied += 1
    for path in sorted(location.rglob("*"), reverse=True):
        rel = path.relative_to(location)
        if path.is_file() and rel not in local and not path.name.endswith(".sagelift-tmp"):
            path.unlink()
        elif path.is_dir() and not any(path.iterdir()):
            path.rmdir()
    return copied
