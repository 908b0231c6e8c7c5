"""Materialise a job's ``/opt/ml`` layout on this machine: code, channels, checkpoints and the
three config files.

Channels reach the script as private copies, because SageMaker gives the script a private copy:
a script that writes into, truncates or deletes files of its channel must never touch the user's
data. Local directories are usually not copied at all: the launcher shows them as copy-on-write
overlays (``sagelift.runtime.mounts``); what is copied here is the rest. Hard links would share
inodes (an in-place write would reach the user's file), so each file is cloned: a copy-on-write
reflink where the file system supports it (btrfs, xfs), else an in-kernel copy
(``copy_file_range``/``sendfile``), many files at once on a thread pool. Symbolic links in a
channel are decided by ``sagelift.runtime.channel_view``: one that stays inside the channel stays
a (relative) link, one that leads outside becomes a private copy of what it names.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import shutil
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from sagelift.aws import AwsSettings
from sagelift.backends import artifacts
from sagelift.backends.base import PreparedJob
from sagelift.codefiles import CodeSelection, data_dirs, report_selection, select_code
from sagelift.contract.cluster import host_names, shard
from sagelift.contract.config_files import (
    ChannelConfig,
    render_byo_hyperparameters,
    render_checkpoint_config,
    render_hyperparameters,
    render_input_data_config,
    render_resource_config,
    write_config_files,
)
from sagelift.contract.distribution import distribution_hyperparameters
from sagelift.contract.estimators import estimator_hyperparameters
from sagelift.contract.hyperparameters import encode_v3_hyperparameters
from sagelift.contract.layout import TrainingLayout
from sagelift.data.channel_inputs import stage_manifest
from sagelift.errors import InfrastructureError
from sagelift.helper_files import helper_files
from sagelift.runtime import channel_view
from sagelift.spec import JobSpec, is_remote_uri

__all__ = [
    "StageReport",
    "channel_dir_names",
    "channel_keys",
    "copy_tree",
    "keep_share",
    "stage_channel",
    "stage_hosts",
    "stage_inputs",
    "stage_layout",
]

log = logging.getLogger(__name__)

# linux/fs.h: _IOW(0x94, 9, int)
FICLONE = 0x40049409
WORKERS = 8

Progress = Callable[[int, int], None]


@dataclass(frozen=True, slots=True, kw_only=True)
class StageReport:
    files: int
    bytes: int
    seconds: float
    method: str


def stage_channel(src: Path, dest: Path, *, progress: Progress | None = None) -> StageReport:
    """Copy the channel ``src`` (a directory or a single file) into the empty dir ``dest``.

    A single file lands as ``dest/<name>``, as an S3 object under a prefix would. Links are
    kept, copied or left out as ``sagelift.runtime.channel_view`` decides. Raises
    InfrastructureError when the copy fails (disk full, permissions), SpecError when a link
    names a directory that holds the channel.
    """
    src = src.resolve()
    if src.is_file():
        return copy_files([(src, dest / src.name)], dest, progress=progress)
    pairs: list[tuple[Path, Path]] = []
    links: list[tuple[str, Path]] = []
    try:
        dest.mkdir(parents=True, exist_ok=True)
        for entry in channel_view.entries(src):
            if entry.kind == "file":
                assert entry.source is not None
                pairs.append((entry.source, dest / entry.path))
            elif entry.kind == "dir":
                (dest / entry.path).mkdir(exist_ok=True)
            elif entry.kind == "link":
                links.append((entry.text, dest / entry.path))
            else:
                log.warning("channel entry %s is left out: %s", src / entry.path, entry.text)
        report = copy_files(pairs, dest, progress=progress)
        for text, link in links:
            link.symlink_to(text)
    except OSError as exc:
        raise _staging_failed(src, exc) from exc
    return report


def _staging_failed(src: Path, exc: OSError) -> InfrastructureError:
    return InfrastructureError(
        f"staging the channel {src} failed: {exc.strerror or exc} ({exc.filename})",
        hint="check that sagelift can read the channel and write the job directory",
    )


def copy_tree(pairs: Iterable[tuple[Path, Path]], root: Path) -> StageReport:
    """Copy (source, destination) file pairs under ``root``; see ``stage_channel``."""
    return copy_files(list(pairs), root)


def copy_files(
    pairs: list[tuple[Path, Path]], root: Path, *, progress: Progress | None = None
) -> StageReport:
    started = time.perf_counter()
    root.mkdir(parents=True, exist_ok=True)
    for parent in sorted({dst.parent for _, dst in pairs}):
        parent.mkdir(parents=True, exist_ok=True)
    total = sum(src.stat().st_size for src, _ in pairs) if progress else 0
    done = 0
    methods: set[str] = set()
    try:
        with ThreadPoolExecutor(max_workers=WORKERS) as pool:
            for size, method in pool.map(lambda pair: _clone(*pair), pairs):
                methods.add(method)
                done += size
                if progress:
                    progress(done, total)
    except OSError as exc:
        raise InfrastructureError(
            f"staging into {root} failed: {exc.strerror or exc} ({exc.filename})",
            hint="free disk space or check permissions of the job directory",
        ) from exc
    method = "+".join(sorted(methods)) or "empty"
    return StageReport(
        files=len(pairs), bytes=done, seconds=time.perf_counter() - started, method=method
    )


_reflink_ok: bool | None = None


def _clone(src: Path, dst: Path) -> tuple[int, str]:
    """Clone one file; returns its size and how it was copied."""
    global _reflink_ok
    size = src.stat().st_size
    if _reflink_ok is not False:
        try:
            with open(src, "rb") as fin, open(dst, "wb") as fout:
                fcntl.ioctl(fout.fileno(), FICLONE, fin.fileno())
            _reflink_ok = True
            shutil.copystat(src, dst)
            return size, "reflink"
        except OSError as exc:
            if exc.errno not in (errno.EOPNOTSUPP, errno.EXDEV, errno.EINVAL, errno.ENOTTY):
                raise
            _reflink_ok = False
    shutil.copy2(src, dst)
    return size, "copy"


def channel_dir_names(spec: JobSpec) -> tuple[str, ...]:
    """The channels that are directories under ``input/data``: all but the Pipe-mode ones,
    which SageMaker shows as FIFOs ``<name>_<epoch>`` only."""
    return tuple(c.name for c in spec.channels if not c.is_pipe)


def stage_layout(
    spec: JobSpec,
    job: PreparedJob,
    layout: TrainingLayout,
    view: TrainingLayout,
    *,
    skip: set[str],
    host: str = "algo-1",
    restore_checkpoints: bool = True,
) -> None:
    """Create ``layout`` for ``job``: directories, code, channels (but ``skip``, which the
    launcher overlays), checkpoints (unless not ``restore_checkpoints``) and the
    three config files (naming ``view`` paths) as host ``host`` of ``spec.instance_count``
    sees them: ``ShardedByS3Key`` channels hold that host's share only. A framework job's
    hyperparameters carry what its estimator adds (``contract.estimators``), with the
    container's paths: TensorFlow's ``model_dir`` is ``/opt/ml/model``.
    Logs what was left out of the code that the user should hear about (secrets)."""
    for directory in layout.directories(channel_dir_names(spec)):
        directory.mkdir(parents=True, exist_ok=True)
    selection = stage_inputs(
        spec,
        layout,
        job.settings.aws,
        checkpoint_path=spec.checkpoint_path if restore_checkpoints else None,
        skip_channels=skip,
        host=host,
    )
    if host == "algo-1":
        report_selection(selection)
    write_config_files(
        layout,
        hyperparameters=render_byo_hyperparameters(spec.hyperparameters)
        if spec.is_byo
        else encode_v3_hyperparameters(spec.hyperparameters)
        if spec.contract == "v3"
        else render_hyperparameters(
            dict(spec.hyperparameters),
            program=spec.entry_point.program,
            submit_directory=str(view.code_dir),
            job_name=job.name,
            region=job.region,
            framework_params=distribution_hyperparameters(
                spec.distribution, instance_type=spec.instance_type
            ),
            # No S3 output to name here: TensorFlow's model_dir is the container's model dir.
            defaults=estimator_hyperparameters(
                job.settings.image.framework if spec.is_framework else None,
                output_path=None,
                job_name=job.name,
                distribution=spec.distribution,
            ),
        ),
        input_data_config=render_input_data_config(
            {
                c.name: ChannelConfig(
                    content_type=c.content_type,
                    input_mode=c.input_mode,
                    record_wrapper_type=c.record_wrapper,
                    s3_distribution_type=c.distribution,
                )
                for c in spec.channels
            }
        ),
        resource_config=render_resource_config(
            instance_type=spec.instance_type,
            instance_count=spec.instance_count,
            current_host=host,
        ),
        checkpoint_config=(
            render_checkpoint_config(str(view.checkpoint_dir)) if spec.checkpoint_path else None
        ),
    )


def stage_hosts(
    spec: JobSpec,
    job: PreparedJob,
    layout: TrainingLayout,
    view: TrainingLayout,
    *,
    skip: set[str],
) -> None:
    """Stage a job of ``spec.instance_count`` hosts: one layout per host under
    ``layout.root/algo-i`` (``sagelift.runtime.hosts`` runs them), and at ``layout`` itself
    the job's model and output directories (the hosts' are merged there at the end) and its
    checkpoints. All hosts share those: SageMaker syncs every instance's
    ``/opt/ml/checkpoints`` with the one ``CheckpointConfig.S3Uri`` and restores all of it
    to each; here each host's checkpoint directory is a link to the job's, so a host also
    sees what another writes while they run."""
    for directory in (layout.model_dir, layout.output_data_dir, layout.checkpoint_dir):
        directory.mkdir(parents=True, exist_ok=True)
    if spec.checkpoint_path is not None and is_remote_uri(spec.checkpoint_path):
        artifacts.restore_checkpoints_remote(
            spec.checkpoint_path, layout.checkpoint_dir, job.settings.aws
        )
    elif spec.checkpoint_path is not None:
        artifacts.restore_checkpoints(Path(spec.checkpoint_path), layout.checkpoint_dir)
    for host in host_names(spec.instance_count):
        host_layout = TrainingLayout(layout.root / host)
        stage_layout(spec, job, host_layout, view, skip=skip, host=host, restore_checkpoints=False)
        host_layout.checkpoint_dir.rmdir()
        host_layout.checkpoint_dir.symlink_to(layout.checkpoint_dir)


def channel_keys(directory: Path) -> list[str]:
    """The files of a staged (or local) channel as S3 keys relative to it, sorted."""
    return sorted(
        p.relative_to(directory).as_posix()
        for p in directory.rglob("*")
        if p.is_file() or p.is_symlink()
    )


def keep_share(directory: Path, host: str, count: int) -> None:
    """Leave in the staged channel ``directory`` only host ``host``'s ``ShardedByS3Key`` share
    (SageMaker copies 1/n of the objects to each instance)."""
    keys = channel_keys(directory)
    kept = set(shard(keys, host, count))
    for key in keys:
        if key not in kept:
            (directory / key).unlink()


def stage_inputs(
    spec: JobSpec,
    layout: TrainingLayout,
    aws: AwsSettings,
    *,
    checkpoint_path: str | None,
    skip_channels: set[str] | frozenset[str] = frozenset(),
    host: str = "algo-1",
) -> CodeSelection:
    """Copy the code, stage every channel and restore the checkpoints into ``layout``.

    The code is the same selection of files as the code tarball (``codefiles.select_code``:
    no secrets, caches or virtualenvs), plus the checkpoint helper a framework job that
    imports it gets (``helper_files``); returns the selection. Also what a restart after a
    (simulated) spot interruption does, as SageMaker does on the new instance: fresh code and
    data, checkpoints restored from their location. A ``ShardedByS3Key`` channel of a job with
    several instances holds host ``host``'s share of the files (``contract.cluster.shard``).

    Raises:
        SpecError: a channel (staged or skipped) links to a directory that holds it.
        InfrastructureError: a copy failed.
    """
    from sagelift.storage import open_storage  # boto3 and friends only for s3:// inputs

    selection = select_code(spec.source_dir, exclude=spec.exclude, skip=data_dirs(spec))
    copy_tree(((path, layout.code_dir / rel) for rel, path in selection.files), layout.code_dir)
    for rel, content in helper_files(spec, selection.files).items():
        target = layout.code_dir / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    for channel in spec.channels:
        if channel.is_pipe:
            continue  # no directory: the supervisor feeds its FIFOs (sagelift.runtime.pipes)
        if channel.input_mode == "FastFile":
            log.info("channel %s: FastFile is File mode on this machine", channel.name)
        if channel.name in skip_channels:
            # The launcher shows it; a link it would refuse is refused here, before the start.
            if not is_remote_uri(channel.uri):
                try:
                    channel_view.check_channel(Path(channel.uri))
                except OSError as exc:
                    raise _staging_failed(Path(channel.uri), exc) from exc
            continue
        if channel.s3_data_type == "ManifestFile":
            stage_manifest(channel, layout.channel_dir(channel.name), aws)
        elif is_remote_uri(channel.uri):
            storage = open_storage(channel.uri, aws=aws)
            storage.sync_down(channel.uri, layout.channel_dir(channel.name))
        else:
            stage_channel(Path(channel.uri), layout.channel_dir(channel.name))
        if channel.distribution == "ShardedByS3Key" and spec.instance_count > 1:
            keep_share(layout.channel_dir(channel.name), host, spec.instance_count)
    if checkpoint_path is not None and is_remote_uri(checkpoint_path):
        artifacts.restore_checkpoints_remote(checkpoint_path, layout.checkpoint_dir, aws)
    elif checkpoint_path is not None:
        artifacts.restore_checkpoints(Path(checkpoint_path), layout.checkpoint_dir)
    return selection
