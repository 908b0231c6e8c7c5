"""Pre-flight checks: what the file system says about a spec, before any job record exists.

Each check is a function of the spec and a few file-system facts (a stat, ``os.access``, the free
space of a file system, a ``PATH`` lookup); none writes anything that outlives it. They raise a
UsageError (exit 2) when the spec asks for something that cannot work, or an
InfrastructureError (exit 3) when this machine cannot do it (not enough disk), each with a hint.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from pathlib import Path

from sagelift.errors import InfrastructureError, SpecError
from sagelift.spec import Channel, JobSpec, is_remote_uri

__all__ = [
    "check_channels_leave_code_alone",
    "check_checkpoint_location",
    "check_command_found",
    "check_free_space",
    "check_local_inputs",
    "check_output_creatable",
    "nearest_existing",
]

#: Where job records live, relative to the project (``sagelift.records.jobs_root``).
STATE_DIR = ".sagelift"


def nearest_existing(path: Path) -> Path:
    """``path`` itself when it exists, else its closest existing ancestor."""
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path(path.anchor or "/")


def check_channels_leave_code_alone(spec: JobSpec) -> None:
    """Refuse a local channel that is, or contains, the source dir or the job records.

    Such a channel would ship the code (and every earlier job) as data, and stage the job into
    its own input.
    """
    source = spec.source_dir.resolve()
    state = (spec.project_dir / STATE_DIR).resolve()
    for channel in spec.channels:
        if is_remote_uri(channel.uri):
            continue
        path = Path(channel.uri).resolve()
        covered = "the source dir" if source.is_relative_to(path) else None
        if covered is None and state.is_relative_to(path):
            covered = f"the job records ({STATE_DIR})"
        if covered is not None:
            raise SpecError(
                f"channels.{channel.name}: '{channel.uri}' contains {covered}",
                hint="point the channel at a data directory (e.g. data/train), not the project",
                field=f"channels.{channel.name}",
            )


def check_output_creatable(spec: JobSpec) -> None:
    """Refuse a local output_path that cannot be created or written by this user.

    The closest existing ancestor must be a directory this user may write to, on a file system
    that is neither mounted read-only nor virtual (/proc, /sys: no blocks), since permission
    bits alone miss those and do not bind root.
    """
    value = spec.output_path
    if is_remote_uri(value):
        return
    path = Path(value)
    base = nearest_existing(path)
    if not base.is_dir():
        raise SpecError(
            f"output_path: '{base}' is a file, so '{value}' cannot be a directory",
            hint="point output_path at a directory, or remove the file",
            field="output_path",
        )
    problem = None
    try:
        info = os.statvfs(base)
    except OSError as exc:
        problem = exc.strerror or str(exc)
    else:
        if info.f_flag & os.ST_RDONLY:
            problem = "a read-only file system"
        elif info.f_blocks == 0:
            problem = "a virtual file system"
        elif not os.access(base, os.W_OK | os.X_OK):
            problem = "not writable by this user"
    if problem is not None:
        raise SpecError(
            f"output_path: cannot create '{value}': '{base}' is {problem}"
            if problem.startswith(("a ", "not"))
            else f"output_path: cannot create '{value}' ({problem})",
            hint="pick a directory you can write to, e.g. output_path = '.sagelift/jobs'",
            field="output_path",
        )


def check_command_found(spec: JobSpec, *, path: str | None) -> None:
    """Refuse a command entry point whose program is neither on ``path`` (the job's PATH) nor an
    executable file under the source dir (a name with a '/', relative to it)."""
    if spec.entry_point.kind != "command":
        return
    program = spec.entry_point.argv[0]
    if "/" in program:
        candidate = spec.source_dir / program
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return
        where = f"an executable file under '{spec.source_dir}'"
    elif shutil.which(program, path=path) is not None:
        return
    else:
        where = "on PATH"
    raise SpecError(
        f"entry_point: command {program!r} is not {where}",
        hint="install it, fix the name, or give a path relative to the source dir (./run.sh)",
        field="entry_point",
    )


def check_free_space(spec: JobSpec, *, skip: Iterable[Path] = ()) -> None:
    """Refuse a job whose code and local channels (roughly, what staging may copy) are larger
    than the free space of the file system that holds the job records.

    ``skip`` names channel directories that are shown without a copy (overlays). The sizes are
    summed only until they pass the free space, so a large data set costs one partial walk.
    """
    from sagelift.codefiles import iter_source_files

    state = spec.project_dir / STATE_DIR
    free = shutil.disk_usage(nearest_existing(state)).free
    skipped = {p.resolve() for p in skip}
    local = [Path(c.uri) for c in spec.channels if not is_remote_uri(c.uri)]
    need = 0
    inside = [p for p in local if p.resolve().is_relative_to(spec.source_dir.resolve())]
    for _, file in iter_source_files(spec.source_dir, exclude=spec.exclude, skip=inside):
        need += _size(file)
        if need > free:
            break
    for channel in local:
        if need > free:
            break
        if channel.resolve() not in skipped:
            need += _tree_bytes(channel, limit=free - need)
    if need > free:
        raise InfrastructureError(
            f"not enough disk space to stage the job: the code and local channels take more "
            f"than the {_gib(free)} free under '{nearest_existing(state)}'",
            hint="free some space, or put large channels on s3:// so they are not copied",
        )


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _tree_bytes(root: Path, *, limit: int) -> int:
    """Bytes of the files under ``root`` (or of ``root`` itself), summed until past ``limit``."""
    if not root.is_dir():
        return _size(root)
    total = 0
    for folder, _, files in os.walk(root):
        for name in files:
            total += _size(Path(folder) / name)
            if total > limit:
                return total
    return total


def _gib(size: int) -> str:
    return f"{size / 2**30:.1f} GiB" if size >= 2**30 else f"{size / 2**20:.1f} MiB"


def check_local_inputs(spec: JobSpec) -> None:
    """File-system checks before anything is created: entry point, source dir, channels,
    checkpoint location.

    Raises SpecError with a hint; never writes anything.
    """
    if not spec.source_dir.is_dir():
        raise SpecError(
            f"source_dir: '{spec.source_dir}' is not a directory",
            hint="point source_dir at your project's code directory",
            field="source_dir",
        )
    if spec.entry_point.kind == "script":
        program = spec.entry_point.argv[0]
        path = (spec.source_dir / program).resolve()
        if not path.is_relative_to(spec.source_dir.resolve()):
            raise SpecError(
                f"entry_point: '{program}' is outside the source dir '{spec.source_dir}'",
                hint="move the script into the source dir or set source_dir to a parent of it",
                field="entry_point",
            )
        if not path.is_file():
            raise SpecError(
                f"entry_point: '{program}' not found in '{spec.source_dir}'",
                hint="give the script's path relative to source_dir (e.g. train.py)",
                field="entry_point",
            )
        if not os.access(path, os.R_OK):
            raise SpecError(
                f"entry_point: '{path}' is not readable",
                hint=f"chmod u+r {path}",
                field="entry_point",
            )
        if not program.endswith((".py", ".sh")) and not os.access(path, os.X_OK):
            raise SpecError(
                f"entry_point: '{program}' is neither .py nor .sh and is not executable",
                hint=f"chmod +x {program}, or name it .py or .sh",
                field="entry_point",
            )
    for channel in spec.channels:
        if is_remote_uri(channel.uri):
            continue
        if not Path(channel.uri).exists():
            raise SpecError(
                f"channels.{channel.name}: '{channel.uri}' does not exist",
                hint="create it, fix the path, or pass s3://bucket/prefix",
                field=f"channels.{channel.name}",
            )
        _check_shards(spec, channel)
    if spec.requirements is not None and not spec.requirements.is_file():
        raise SpecError(
            f"requirements: '{spec.requirements}' does not exist",
            hint="point requirements at your requirements.txt",
            field="requirements",
        )
    check_checkpoint_location(spec)
    if spec.algorithm is not None:
        from sagelift.algorithms import algorithm, check_algorithm_channels

        found, _ = algorithm(spec.algorithm, spec.algorithm_version)
        check_algorithm_channels(found, {c.name: (c.uri, c.content_type) for c in spec.channels})


def _check_shards(spec: JobSpec, channel: Channel) -> None:
    # SageMaker starts a sharded job with fewer objects than instances and leaves the extra
    # instances without data, billed all the same (S3DataSource.S3DataDistributionType).
    if channel.distribution != "ShardedByS3Key" or spec.instance_count == 1:
        return
    path = Path(channel.uri)
    files = 1 if path.is_file() else sum(1 for p in path.rglob("*") if p.is_file())
    if files < spec.instance_count:
        raise SpecError(
            f"channels.{channel.name}: ShardedByS3Key over {files} files for "
            f"{spec.instance_count} instances leaves some instances without data "
            "(SageMaker starts them anyway, and bills them)",
            hint="split the data into at least one file per instance, lower instance_count, "
            "or use distribution = 'FullyReplicated'",
            field=f"channels.{channel.name}.distribution",
        )


def check_checkpoint_location(spec: JobSpec) -> None:
    """A local ``checkpoint_path`` must be a directory of its own, because sagelift restores
    everything in it and writes into it.

    Refused (SpecError): an existing non-directory; a path that is or contains the project or
    source dir (a subdirectory of them is fine); a path that is, contains or is inside
    ``.sagelift``, a local channel or a local output path. Symlinks are resolved first.
    Never writes anything.
    """
    if spec.checkpoint_path is None or is_remote_uri(spec.checkpoint_path):
        return
    where = Path(spec.checkpoint_path).resolve()
    if where.exists() and not where.is_dir():
        raise SpecError(
            f"checkpoint_path: '{spec.checkpoint_path}' is a file, not a directory",
            hint="point checkpoint_path at a directory of its own, e.g. checkpoints",
            field="checkpoint_path",
        )
    # (what, path, whether checkpoint_path may lie inside it)
    guarded: list[tuple[str, Path, bool]] = [
        ("the project directory", spec.project_dir, True),
        ("the source directory", spec.source_dir, True),
        ("sagelift's job records", spec.project_dir / ".sagelift", False),
    ]
    guarded += [
        (f"channel '{c.name}'", Path(c.uri), False)
        for c in spec.channels
        if not is_remote_uri(c.uri)
    ]
    if not is_remote_uri(spec.output_path):
        guarded.append(("output_path", Path(spec.output_path), False))
    for what, path, inside_ok in guarded:
        other = path.resolve()
        if other.is_relative_to(where) or (not inside_ok and where.is_relative_to(other)):
            raise SpecError(
                f"checkpoint_path: '{spec.checkpoint_path}' overlaps {what} ('{path}'); "
                "checkpoints need a directory of their own",
                hint="use a dedicated directory such as checkpoint_path = 'checkpoints', "
                "or s3://bucket/prefix",
                field="checkpoint_path",
            )
