"""Shipping a job's code and data to storage, where a cloud job can read them.

Code is content-addressed: ``sourcedir.tar.gz`` (built by :mod:`sagelift.sourcedir`) and the
launcher bundle (:mod:`sagelift.runtime.bundle`) go under ``<root>/code/<digest>/``, uploaded
only when absent, so an unchanged re-run sends nothing. SageMaker downloads that prefix as one
more input channel (``sagelift-code``) and the container's entry point runs the launcher from
it, which extracts the tarball into ``/opt/ml/code`` and hides the channel from the script.

Data is snapshotted (:mod:`sagelift.storage.snapshot`): a local directory (or single file)
channel goes to an immutable, content-addressed prefix
``<root>/data/<base_job_name>/<channel>/<digest>/``, where ``digest`` covers every relative
path and file content. A later submission with other data writes another prefix and never
touches this one, so a queued, retried or spot-restarted job always reads what it was submitted
with. Files unchanged since the previous snapshot are copied inside S3 (CopyObject), not sent
again; an unchanged channel is verified against S3 (its manifest and one listing) and reused,
0 bytes sent. Old snapshots are never deleted here (a queued job may read one);
``sagelift aws teardown --force`` empties and removes the bucket sagelift made.
``s3://`` channels pass through untouched.
"""

from __future__ import annotations

import hashlib
import logging
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sagelift.codefiles import data_dirs, report_selection, select_code
from sagelift.contract.layout import CONTAINER_ROOT, TrainingLayout
from sagelift.errors import SpecError
from sagelift.helper_files import helper_files
from sagelift.runtime.bundle import BUNDLE_NAME, build_bundle
from sagelift.runtime.main import launcher_args
from sagelift.sourcedir import build_source_tarball
from sagelift.spec import JobSpec, is_remote_uri
from sagelift.storage import Progress, Storage, StorageURI, as_uri
from sagelift.storage.snapshot import ShippedTree, ship_tree
from sagelift.storage.sync import LocalFile, scan_dir

__all__ = [
    "CODE_CHANNEL",
    "TARBALL_NAME",
    "ShippedChannel",
    "ShippedCode",
    "channel_skip_patterns",
    "code_digest",
    "launcher_arguments",
    "mirror_up",
    "ship_channels",
    "ship_code",
]

log = logging.getLogger(__name__)

CODE_CHANNEL = "sagelift-code"
TARBALL_NAME = "sourcedir.tar.gz"
CONTAINER_PYTHON = "python3"
_GLOB_SPECIAL = re.compile(r"([*?\[\]\\!#])")


@dataclass(frozen=True, slots=True, kw_only=True)
class ShippedCode:
    """The job's code in storage and how the container runs it.

    ``prefix_uri`` (ending in ``/``) holds ``sourcedir.tar.gz`` and ``sagelift_runtime.pyz``;
    ``digest`` is the sha256 over both. ``container_entrypoint`` and ``container_arguments``
    are ``AlgorithmSpecification.ContainerEntrypoint``/``ContainerArguments`` for a job that
    has ``prefix_uri`` as its ``channel_name`` input channel.
    """

    digest: str
    prefix_uri: str
    channel_name: str
    container_entrypoint: tuple[str, ...]
    container_arguments: tuple[str, ...]
    bytes_uploaded: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ShippedChannel:
    """One input channel where the job reads it: ``uri`` is an ``s3://`` prefix.

    ``digest`` is the content digest of a local channel's snapshot (``uri`` ends in it), None
    for an ``s3://`` channel passed through. ``files_copied``/``bytes_copied`` were copied inside
    the store from an earlier snapshot, not sent from this machine.
    """

    name: str
    uri: str
    bytes_uploaded: int
    files_uploaded: int
    digest: str | None = None
    files_copied: int = 0
    bytes_copied: int = 0


def code_digest(tarball_digest: str, bundle_digest: str) -> str:
    """The content address of a code upload: sha256 over both files' names and digests."""
    text = f"{TARBALL_NAME}\0{tarball_digest}\n{BUNDLE_NAME}\0{bundle_digest}\n"
    return hashlib.sha256(text.encode()).hexdigest()


def channel_skip_patterns(spec: JobSpec) -> tuple[str, ...]:
    """Anchored exclude patterns for the data directories (``codefiles.data_dirs``: channels,
    checkpoints, output) that live inside the source dir: their files belong to the job's
    data, not to the code tarball (the local code copy skips them too)."""
    source = spec.source_dir.resolve()
    patterns = []
    for data in data_dirs(spec):
        path = data.resolve()
        if path == source or not path.is_relative_to(source):
            continue
        rel = _GLOB_SPECIAL.sub(r"\\\1", path.relative_to(source).as_posix())
        patterns.append(f"/{rel}/" if path.is_dir() else f"/{rel}")
    return tuple(patterns)


def launcher_arguments(spec: JobSpec, *, root: Path = CONTAINER_ROOT) -> tuple[str, ...]:
    """The launcher's arguments inside the container for ``spec``'s entry point. The code
    dir goes first on ``PYTHONPATH``, as the sagemaker-training toolkit puts it, so a helper
    module beside the entry point imports from any process of the job."""
    return tuple(
        launcher_args(
            spec.entry_point.launcher_arguments(),
            code_tarball=TrainingLayout(root).channel_dir(CODE_CHANNEL) / TARBALL_NAME,
            hide_channels=(CODE_CHANNEL,),
            grace=spec.stop_grace,
            contract=spec.contract,
            code_on_path=True,
        )
    )


def _code_prefix(root_uri: str, digest: str) -> StorageURI:
    return as_uri(root_uri).child(f"code/{digest}")


def _prefix_text(uri: StorageURI) -> str:
    return str(uri).rstrip("/") + "/"


def ship_code(
    spec: JobSpec, *, storage: Storage, root_uri: str, progress: Progress | None = None
) -> ShippedCode:
    """Upload ``spec``'s code and the launcher bundle under ``<root_uri>/code/<digest>/``.

    A file already present there with the same size is not sent again (the prefix is
    content-addressed), so ``bytes_uploaded`` is 0 on an unchanged re-run. Raises SpecError
    for an oversize source tree (nothing uploaded), StorageError/CredentialsError when the
    upload fails.
    """
    bundle = build_bundle()
    exclude = (*spec.exclude, *channel_skip_patterns(spec))
    selection = select_code(spec.source_dir, exclude=exclude)
    with tempfile.TemporaryDirectory(prefix="sagelift-ship-") as tmp:
        tarball = build_source_tarball(
            spec.source_dir,
            Path(tmp) / TARBALL_NAME,
            exclude=exclude,
            extra_files=helper_files(spec, selection.files),
            selection=selection,
        )
        report_selection(tarball.selection)
        bundle_path = bundle.write(Path(tmp) / BUNDLE_NAME)
        digest = code_digest(tarball.digest, bundle.digest)
        prefix = _code_prefix(root_uri, digest)
        present = {info.relative: info.size for info in storage.list(prefix)}
        sent = 0
        if present.get(tarball.path.name) != tarball.size:
            storage.upload_file(tarball.path, prefix.child(tarball.path.name), progress=progress)
            sent += tarball.size
        if present.get(BUNDLE_NAME) != len(bundle.data):
            sent += _place_bundle(storage, root_uri, bundle_path, bundle.digest, prefix)
    if sent:
        log.info("uploaded code %s (%d bytes) to %s", digest[:12], sent, prefix)
    else:
        log.info("code %s is already at %s", digest[:12], prefix)
    code_dir = TrainingLayout(CONTAINER_ROOT).channel_dir(CODE_CHANNEL)
    return ShippedCode(
        digest=digest,
        prefix_uri=_prefix_text(prefix),
        channel_name=CODE_CHANNEL,
        container_entrypoint=(CONTAINER_PYTHON, str(code_dir / BUNDLE_NAME)),
        container_arguments=launcher_arguments(spec),
        bytes_uploaded=sent,
    )


def _place_bundle(
    storage: Storage, root_uri: str, path: Path, digest: str, prefix: StorageURI
) -> int:
    """Put the launcher bundle beside the code; returns the bytes sent from this machine.

    The bundle is the same for every code version of one sagelift release, so it is uploaded
    once under ``<root>/runtime/<bundle digest>/`` and copied inside the store from there: a
    code edit sends only the new tarball.
    """
    source = as_uri(f"{root_uri.rstrip('/')}/runtime/{digest}/{BUNDLE_NAME}")
    sent = 0
    if not storage.exists(source):
        storage.upload_file(path, source)
        sent = path.stat().st_size
    storage.copy(source, prefix.child(BUNDLE_NAME))
    return sent


def mirror_up(
    storage: Storage,
    local_dir: Path,
    prefix: StorageURI | str,
    *,
    progress: Progress | None = None,
    keep: Sequence[str] = (),
) -> tuple[int, int]:
    """Make ``prefix`` hold exactly the files of ``local_dir``; returns (files, bytes) sent.

    For a location one writer owns and updates in place (checkpoints); job inputs never use it,
    they go to immutable snapshots (``ship_channels``).

    Unchanged files are not sent; objects under ``prefix`` with no local file (and not named
    in ``keep``) are deleted after the upload, so a reader never sees a half-updated set.
    """
    target = as_uri(prefix)
    report = storage.sync_up(local_dir, target, progress=progress)
    local = {found.rel for found in scan_dir(local_dir)}
    for info in list(storage.list(target)):
        if info.relative not in local and info.relative not in keep:
            log.info("deleting %s: no longer in %s", info.uri, local_dir)
            storage.delete(info.uri)
    return report.files_sent, report.bytes_sent


def ship_channels(
    spec: JobSpec, *, storage: Storage, root_uri: str, progress: Progress | None = None
) -> tuple[ShippedChannel, ...]:
    """Put every channel of ``spec`` where a cloud job can read it, in spec order.

    A local directory (or single file) becomes the immutable snapshot
    ``<root_uri>/data/<base_job_name>/<name>/<digest>/`` (see ``storage.snapshot.ship_tree``);
    an ``s3://`` channel is returned as it is, with nothing sent. Raises SpecError for a local
    channel that does not exist, StorageError/CredentialsError when the upload fails.
    """
    shipped = []
    for channel in spec.channels:
        if is_remote_uri(channel.uri):
            shipped.append(
                ShippedChannel(
                    name=channel.name, uri=channel.uri, bytes_uploaded=0, files_uploaded=0
                )
            )
            continue
        source = Path(channel.uri)
        base = as_uri(root_uri).child(f"data/{spec.base_job_name}/{channel.name}")
        if source.is_dir():
            files = scan_dir(source)
        elif source.is_file():
            # A single-file channel lands as <snapshot>/<name>, as the local backend stages it.
            files = [LocalFile(rel=source.name, path=source, size=source.stat().st_size)]
        else:
            raise SpecError(
                f"channels.{channel.name}: '{source}' does not exist",
                hint="create it or point the channel at s3://bucket/prefix",
                field=f"channels.{channel.name}",
            )
        tree = ship_tree(storage, files, base, progress=progress)
        _log_tree(channel.name, tree)
        shipped.append(
            ShippedChannel(
                name=channel.name,
                uri=tree.uri,
                bytes_uploaded=tree.bytes_sent,
                files_uploaded=tree.files_sent,
                digest=tree.digest,
                files_copied=tree.files_copied,
                bytes_copied=tree.bytes_copied,
            )
        )
    return tuple(shipped)


def _log_tree(name: str, tree: ShippedTree) -> None:
    if tree.reused:
        log.info("channel %s: snapshot %s is already at %s", name, tree.digest[:12], tree.uri)
        return
    log.info(
        "channel %s: %d files (%d bytes) sent, %d files (%d bytes) copied inside S3, to %s",
        name,
        tree.files_sent,
        tree.bytes_sent,
        tree.files_copied,
        tree.bytes_copied,
        tree.uri,
    )
