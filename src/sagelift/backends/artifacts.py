"""Job outputs on the host: ``model.tar.gz``/``output.tar.gz`` and checkpoint sync.

Follows SageMaker: ``/opt/ml/model`` is tarred to ``<output path>/<job>/output/model.tar.gz`` and
``/opt/ml/output/data`` to ``.../output.tar.gz`` (docs ``your-algorithms-training-algo-output``);
checkpoints are plain files, restored at start and synced out during and after the job
(``model-checkpoints.html``) by :mod:`sagelift.backends.checkpoint_location`, which deletes or
overwrites at a location only what sagelift wrote there. Remote (``s3://``) locations go through
:mod:`sagelift.storage` with the job's AWS settings, which travel in the typed job record.
"""

from __future__ import annotations

import os
import shutil
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

from sagelift.archives import Progress, ProgressLines
from sagelift.aws import AwsSettings
from sagelift.backends.checkpoint_location import (
    checkpoint_entries,
    restore_checkpoints,
    restore_checkpoints_remote,
    sync_checkpoints_out,
    sync_checkpoints_remote,
)
from sagelift.contract.layout import TrainingLayout

__all__ = [
    "checkpoint_entries",
    "count_files",
    "newest_mtime",
    "pack_directory",
    "pack_outputs",
    "release_inputs",
    "restore_checkpoints",
    "restore_checkpoints_remote",
    "sync_checkpoints_out",
    "sync_checkpoints_remote",
    "upload_outputs",
]


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


class _Reading:
    """A file read for the archive, reporting each chunk to ``progress``."""

    def __init__(self, handle: IO[bytes], add: Callable[[int], None]) -> None:
        self._handle = handle
        self._add = add

    def read(self, size: int = -1) -> bytes:
        data = self._handle.read(size)
        self._add(len(data))
        return data


def pack_directory(src: Path, dest: Path, *, progress: Progress | None = None) -> Path:
    """Write ``dest`` (a .tar.gz) holding the contents of ``src`` at the archive root.

    ``progress`` is told the bytes of file content packed so far out of the total.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
    os.close(fd)
    paths = sorted(src.rglob("*"))
    total = sum(p.stat().st_size for p in paths if p.is_file() and not p.is_symlink())
    done = 0

    def add(amount: int) -> None:
        nonlocal done
        done += amount
        if progress is not None and amount:
            progress(done, total)

    try:
        with tarfile.open(tmp, "w:gz") as archive:
            for path in paths:
                arcname = str(path.relative_to(src))
                info = archive.gettarinfo(str(path), arcname=arcname)
                if info.isfile():
                    with open(path, "rb") as handle:
                        archive.addfile(info, _Reading(handle, add))
                else:
                    archive.addfile(info)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return dest


def pack_outputs(
    layout: TrainingLayout,
    artifacts_dir: Path,
    *,
    emit: Callable[[str], None] | None = None,
) -> tuple[Path, Path]:
    """Pack model and output data under ``artifacts_dir`` (``<output path>/<job>/output``),
    then remove the packed directories from the layout: like SageMaker, a finished job keeps
    its model and output data once, as ``model.tar.gz`` and ``output.tar.gz``.

    ``emit`` gets progress lines for outputs larger than ``archives.PROGRESS_MIN_BYTES``.
    """
    packed = []
    for src, name in (
        (layout.model_dir, "model.tar.gz"),
        (layout.output_data_dir, "output.tar.gz"),
    ):
        progress = None if emit is None else ProgressLines(f"packing {name}", emit)
        packed.append(pack_directory(src, artifacts_dir / name, progress=progress))
    for src in (layout.model_dir, layout.output_data_dir):
        _empty(src)
    return packed[0], packed[1]


def _empty(directory: Path) -> None:
    """Remove what ``directory`` holds (the directory itself stays, as the contract has it)."""
    if not directory.is_dir():
        return
    for path in directory.iterdir():
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def release_inputs(layout: TrainingLayout) -> None:
    """Delete the staged channel copies (and the writable layers of channel overlays) once the
    job is over; they are the bulk of its disk."""
    from sagelift.runtime.mounts import overlay_scratch

    shutil.rmtree(layout.data_dir, ignore_errors=True)
    shutil.rmtree(overlay_scratch(layout.root), ignore_errors=True)


def count_files(directory: Path) -> int:
    """How many files ``directory`` holds, at any depth (0 when it does not exist)."""
    return sum(1 for p in directory.rglob("*") if p.is_file()) if directory.is_dir() else 0


def newest_mtime(directory: Path) -> float | None:
    """When the newest file in ``directory`` was last written; None when it holds none."""
    times = [p.stat().st_mtime for p in directory.rglob("*") if p.is_file()]
    return max(times) if times else None
