"""How a supervised job ends: its final state and reason, its notes, and its packed artifacts.

``finish`` turns the launcher's report (or its silence), the exit code, a stop and the max
runtime into the job's end state (``Stopped``, ``MaxRuntimeExceeded``, ``Completed`` or
``Failed``, as SageMaker's secondary statuses), packs ``model.tar.gz`` and ``output.tar.gz``
(uploaded to the output URI when there is one), releases the staged inputs, and writes the
final status once. A failure of the packing or the upload fails the job as an
``InfrastructureError``, not as the script's failure.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from sagelift import records
from sagelift.backends import artifacts
from sagelift.backends.failure_reasons import failure_reason
from sagelift.backends.instances import host_dirs, host_notes
from sagelift.backends.interruptions import Attempt, analyse, unfired
from sagelift.backends.lifecycle import remove_partial_artifacts
from sagelift.backends.supervised_job import SupervisedJob
from sagelift.contract.layout import TrainingLayout
from sagelift.errors import SageliftError
from sagelift.job import JobState
from sagelift.runtime.status import read_status as read_launch_status

__all__ = ["finish", "interruption_notes", "pack"]


def finish(
    job: SupervisedJob,
    returncode: int,
    *,
    stopped: bool,
    max_runtime_exceeded: bool,
    attempts: Sequence[Attempt],
    checkpoint_notes: Sequence[str],
) -> None:
    """End ``job`` after its last attempt exited with ``returncode``: ``stopped`` when a stop
    was asked for, ``max_runtime_exceeded`` when the supervisor stopped it at its max runtime.
    ``attempts`` (more than one: it was interrupted) and ``checkpoint_notes`` become notes."""
    launcher = read_launch_status(job.run.launcher_status)
    state_name = None if launcher is None else launcher.state
    if max_runtime_exceeded:
        state_name = "MaxRuntimeExceeded"
    if stopped or state_name == "Stopped":
        state, secondary = JobState.STOPPED, "Stopped"
    elif state_name == "MaxRuntimeExceeded":
        state, secondary = JobState.STOPPED, "MaxRuntimeExceeded"
    elif returncode == 0:
        state, secondary = JobState.COMPLETED, "Completed"
    else:
        state, secondary = JobState.FAILED, "Failed"
    reason = None
    if state is JobState.FAILED:
        reason = failure_reason(job.layout, returncode, launched=launcher is not None)
    elif secondary == "MaxRuntimeExceeded":
        reason = f"Training job exceeded MaxRuntimeInSeconds ({job.run.max_runtime} s)"
    notes = list(job.status.notes)
    if launcher is not None and launcher.opt_ml.startswith("unavailable"):
        notes.append(f"/opt/ml {launcher.opt_ml}")
    if len(attempts) > 1:
        notes += interruption_notes(job.record_dir, attempts)
    notes += unfired(job.run.interruptions, attempts)
    notes += host_notes(job.run.launcher_status, job.layout.root)
    notes += checkpoint_notes

    status = records.advance(job.status, "Uploading")
    job.save(status)
    model: Path | str | None = None
    output: Path | str | None = None
    if state is not JobState.FAILED:
        try:
            model, output = pack(job)
        except OSError as exc:
            model = output = None
            state, secondary = JobState.FAILED, "Failed"
            reason = job.os_failure(exc)
        if job.run.output_uri and model is not None and output is not None:
            job.doing = f"uploading the job's artifacts to {job.run.output_uri}"
            try:
                model, output = artifacts.upload_outputs(
                    (model, output),
                    job.run.output_uri,
                    job.run.aws,
                )
            except SageliftError as exc:
                model = output = None
                state, secondary = JobState.FAILED, "Failed"
                reason = f"InfrastructureError: {job.doing} failed: {exc.message}"
            except OSError as exc:
                model = output = None
                state, secondary = JobState.FAILED, "Failed"
                reason = job.os_failure(exc)
    artifacts.release_inputs(job.layout)
    for host in host_dirs(job.layout.root):
        artifacts.release_inputs(TrainingLayout(host))
    job.save(
        records.advance(
            status,
            secondary,
            state=state,
            failure_reason=reason,
            ended_at=records.now(),
            exit_code=returncode,
            model_artifacts=None if model is None else str(model),
            output_artifacts=None if output is None else str(output),
            notes=tuple(notes),
        )
    )


def pack(job: SupervisedJob) -> tuple[Path, Path]:
    """Pack model and output data; a failure leaves no partial archive behind."""
    target = job.run.artifacts_dir
    job.doing = f"packing model.tar.gz at {target}"
    try:
        return artifacts.pack_outputs(job.layout, target, emit=job.log_line)
    except OSError:
        if (target / "model.tar.gz").is_file():
            job.doing = f"packing output.tar.gz at {target}"
        remove_partial_artifacts(target)
        raise


def interruption_notes(record_dir: Path, attempts: Sequence[Attempt]) -> list[str]:
    """What each interruption cost, as notes; the same reports are written to the record's
    ``interruptions.json``."""
    reports = analyse(attempts)
    records.write_json_atomic(
        record_dir / "interruptions.json",
        [
            {
                "interruption": r.index,
                "verdict": r.verdict,
                "detail": r.detail,
                "lost_seconds": r.lost_seconds,
                "redone": r.redone,
            }
            for r in reports
        ],
    )
    return [
        f"interruption {r.index}: {r.verdict}: {r.detail}"
        + ("" if r.lost_seconds is None else f"; {r.lost_seconds:.1f} s of work lost")
        for r in reports
    ]
