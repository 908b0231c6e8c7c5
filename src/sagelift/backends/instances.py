"""The instances a supervised job runs on: its hosts, and new instances after an interruption.

A job run as several hosts has one layout per host under its layout root (``algo-1`` …
``algo-N``), each reporting how it ended in a status file of its own. After a simulated spot
interruption the job restarts on new instances, as SageMaker's lifecycle has it (``Starting →
Downloading → Training``, docs ``model-managed-spot-training.html``): every layout staged
afresh, the checkpoints restored from their location.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from sagelift import records
from sagelift.backends import artifacts
from sagelift.backends.supervised_job import SupervisedJob
from sagelift.contract.layout import TrainingLayout
from sagelift.runtime.hosts import host_status_file
from sagelift.runtime.status import read_status as read_launch_status
from sagelift.spec import is_remote_uri

__all__ = ["host_dirs", "host_notes", "restart", "restart_hosts"]


def host_dirs(root: Path) -> list[Path]:
    """The per-host layouts of a job run as several hosts, in host order."""
    hosts = [p for p in root.glob("algo-*") if p.is_dir() and p.name[5:].isdigit()]
    return sorted(hosts, key=lambda p: int(p.name[5:]))


def host_notes(status_file: Path, root: Path) -> list[str]:
    """``describe``'s line per host of a job run as several hosts: how each one ended."""
    notes = []
    for host in host_dirs(root):
        own = read_launch_status(host_status_file(status_file, host.name))
        if own is None:
            notes.append(f"{host.name}: did not report (it was not started or was killed)")
            continue
        note = f"{host.name}: {own.state}, exit code {own.exit_code}"
        if own.failure_reason:
            note += f": {own.failure_reason.strip().splitlines()[0]}"
        notes.append(note)
    return notes


def restart(job: SupervisedJob) -> None:
    """A new instance: fresh layout, code and data staged again, checkpoints restored.
    A job of several hosts gets new instances for all of them, as a spot reclaim of a
    multi-instance job restarts the whole job."""
    from sagelift.backends.opt_ml import channel_dir_names, stage_inputs

    job.save(records.advance(job.status, "Starting"))
    hosts = host_dirs(job.layout.root)
    if hosts:
        restart_hosts(job, hosts)
        return
    for directory in (
        job.layout.model_dir,
        job.layout.output_dir,
        job.layout.checkpoint_dir,
        job.layout.data_dir,
        job.layout.code_dir,
    ):
        shutil.rmtree(directory, ignore_errors=True)
    spec = job.record.spec
    assert spec is not None  # interruptions are rehearsed for project jobs only
    for directory in job.layout.directories(channel_dir_names(spec)):
        directory.mkdir(parents=True, exist_ok=True)
    job.save(records.advance(job.status, "Downloading"))
    stage_inputs(
        spec,
        job.layout,
        job.run.aws,
        checkpoint_path=job.run.checkpoint_path,
        # The launcher mounts these afresh, with an empty writable layer.
        skip_channels=set(job.run.overlay_channels),
    )
    job.save(records.advance(job.status, "Training"))


def restart_hosts(job: SupervisedJob, hosts: list[Path]) -> None:
    """``restart`` for several hosts: every host's layout staged afresh (its share of
    sharded channels), the job's shared checkpoint directory restored from its location
    and linked into every host's layout again."""
    from sagelift.backends.opt_ml import channel_dir_names, stage_inputs

    spec = job.record.spec
    assert spec is not None  # interruptions are rehearsed for project jobs only
    for directory in (job.layout.model_dir, job.layout.output_dir):
        shutil.rmtree(directory, ignore_errors=True)
    shutil.rmtree(job.layout.checkpoint_dir, ignore_errors=True)
    for directory in (
        job.layout.model_dir,
        job.layout.output_data_dir,
        job.layout.checkpoint_dir,
    ):
        directory.mkdir(parents=True, exist_ok=True)
    job.save(records.advance(job.status, "Downloading"))
    target = job.run.checkpoint_path
    if target and is_remote_uri(target):
        artifacts.restore_checkpoints_remote(target, job.layout.checkpoint_dir, job.run.aws)
    elif target:
        artifacts.restore_checkpoints(Path(target), job.layout.checkpoint_dir)
    for root in hosts:
        host = TrainingLayout(root)
        if host.checkpoint_dir.is_symlink():
            host.checkpoint_dir.unlink()
        for directory in (
            host.model_dir,
            host.output_dir,
            host.checkpoint_dir,
            host.data_dir,
            host.code_dir,
        ):
            shutil.rmtree(directory, ignore_errors=True)
        for directory in host.directories(channel_dir_names(spec)):
            directory.mkdir(parents=True, exist_ok=True)
        stage_inputs(
            spec,
            host,
            job.run.aws,
            checkpoint_path=None,
            skip_channels=set(job.run.overlay_channels),
            host=root.name,
        )
        host.checkpoint_dir.rmdir()
        host.checkpoint_dir.symlink_to(job.layout.checkpoint_dir)
    job.save(records.advance(job.status, "Training"))
