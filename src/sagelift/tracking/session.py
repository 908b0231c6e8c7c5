"""One tracked run per job, around any backend: begin → live metrics → finish.

``sagelift.jobs`` calls these. Nothing here fails or loses the training run: ``begin``,
``MetricSink`` and ``finish`` log a warning naming what was not recorded and the command that
records it later (``sagelift track JOB``), and keep the job's state in ``tracking.json`` beside
the job record so that the replay knows what is left.

Metrics follow the no-duplicates rule of ``sagelift.tracking.sink``; the store and the tracker
on it come from ``sagelift.tracking.store``, the run's params and tags from
``sagelift.tracking.run_data``.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from sagelift import records
from sagelift.job import JobHandle, JobState, JobStatus, PreparedJob
from sagelift.settings import Settings
from sagelift.spec import JobSpec
from sagelift.tracking import outcome
from sagelift.tracking.base import RunInfo, RunOutcome, Tracker, TrackingError
from sagelift.tracking.metrics import parse_metrics
from sagelift.tracking.run_data import _tags, run_params
from sagelift.tracking.sink import MetricSink, _log_parsed
from sagelift.tracking.state import TRACKING_FILE, _info, _later, _read, _write, run_info
from sagelift.tracking.store import LOCAL_STORE, job_environment, resolve_uri, tracker_for

__all__ = [
    "LOCAL_STORE",
    "TRACKING_FILE",
    "MetricSink",
    "begin",
    "finish",
    "job_environment",
    "resolve_uri",
    "run_info",
    "run_params",
    "submitted",
    "tracker_for",
]

log = logging.getLogger(__name__)

OUTCOMES: dict[JobState, RunOutcome] = {
    JobState.COMPLETED: "FINISHED",
    JobState.FAILED: "FAILED",
    JobState.STOPPED: "KILLED",
}


def _start(tracker: Tracker, state: dict[str, Any]) -> RunInfo:
    run = tracker.start(
        experiment=state["experiment"],
        run_name=state["run_name"],
        params=state["params"],
        tags=state["tags"],
    )
    state["run"] = {"experiment_id": run.experiment_id, "run_id": run.run_id, "link": run.link}
    return run


def begin(job: PreparedJob) -> dict[str, str]:
    """Create the job's run when tracking is on; return the environment the job should get.

    Never raises: when the store cannot be reached the job runs untracked and a warning says how
    to record it later.
    """
    uri = resolve_uri(job.settings.tracking.uri, job.spec.project_dir)
    if uri is None:
        return {}
    state: dict[str, Any] = {
        "uri": uri,
        "experiment": job.settings.tracking.experiment or job.spec.base_job_name,
        "run_name": job.name,
        "params": run_params(job.spec.hyperparameters),
        "tags": {},
        "run": None,
        "finished": False,
        "logged": {},
        "problems": [],
    }
    try:
        state["tags"] = _tags(job, records.read_record(job.record_dir))
        if uri.startswith("sqlite:///"):
            Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        run = _start(tracker_for(uri), state)
    except Exception as exc:
        state["problems"].append(f"run not created: {exc}")
        _write(job.record_dir, state)
        log.warning(
            "MLflow: no run recorded for job %s (%s); the job runs untracked, %s",
            job.name,
            exc,
            _later(job.name),
        )
        return {}
    _write(job.record_dir, state)
    log.info("MLflow run %s for job %s at %s", run.run_id, job.name, run.link or uri)
    return job_environment(run, local=job.spec.is_local)


def submitted(record_dir: Path) -> None:
    """Tag the job's run with what the backend recorded on submission (ARN, code digest,
    image). Never raises: a failure is a warning, and ``finish`` sets these tags again."""
    state = _read(record_dir)
    run = None if state is None else _info(state)
    if state is None or run is None:
        return
    try:
        tags = outcome.record_tags(records.read_record(record_dir))
        if any(state["tags"].get(k) != v for k, v in tags.items()):
            tracker_for(run.uri).set_tags(run, tags)
    except Exception as exc:
        log.warning("MLflow: submission tags of job %s not recorded yet (%s)", record_dir.name, exc)


def finish(
    handle: JobHandle,
    status: JobStatus,
    *,
    spec: JobSpec,
    lines: Sequence[str] | Callable[[], Iterable[str]],
    settings: Settings | None = None,
    replay: bool = False,
) -> RunInfo | None:
    """Record the ended job in its run: metrics, duration, artifacts, final status.

    ``lines`` is the job's output, or a callable giving it afresh on each call: it is read
    twice (metrics, then the log artifact), a line at a time, never held whole.

    Idempotent (a finished run is left alone). Without ``replay`` it never raises and a failure
    is a warning; with ``replay`` (``sagelift track``) it creates a missing run and raises
    TrackingError.
    """
    state = _read(handle.record_dir)
    if state is None or state.get("finished") or not status.state.is_terminal:
        return None if state is None else _info(state)
    read: Callable[[], Iterable[str]] = lines if callable(lines) else lambda: lines
    step = "run"
    try:
        tracker = tracker_for(state["uri"])
        run = _info(state)
        if run is None:
            if not replay:
                return None
            run = _start(tracker, state)
            _write(handle.record_dir, state)
        step = "metrics"
        _log_parsed(tracker, run, state, parse_metrics(read(), spec.metric_definitions))
        record = records.read_record(handle.record_dir)
        tracker.log_metrics(run, outcome.timing_metrics(status))
        step = "tags"
        tracker.set_tags(run, {**outcome.record_tags(record), **outcome.end_tags(status)})
        step = "artifacts"
        with tempfile.TemporaryDirectory(prefix="sagelift-track-") as tmp:
            found = outcome.artifacts(
                record, status, read(), Path(tmp), settings=settings, project_dir=spec.project_dir
            )
            tracker.log_artifacts(run, found)
        step = "status"
        end_ms = None if status.ended_at is None else int(status.ended_at.timestamp() * 1000)
        tracker.finish(run, OUTCOMES[status.state], end_time_ms=end_ms)
    except Exception as exc:
        state.setdefault("problems", []).append(f"{step} not recorded: {exc}")
        _write(handle.record_dir, state)
        if replay:
            if isinstance(exc, TrackingError):
                raise
            raise TrackingError(
                f"recording job {handle.name} in MLflow failed at {step}: {exc}",
                hint="check the tracking server, then run the same command again",
            ) from exc
        log.warning(
            "MLflow: the %s of job %s were not recorded (%s); the job itself is unaffected, %s",
            step,
            handle.name,
            exc,
            _later(handle.name),
        )
        return run if step != "run" else None
    state["finished"] = True
    _write(handle.record_dir, state)
    return run


def _recorded_spec(handle: JobHandle) -> JobSpec:
    from sagelift.errors import UsageError

    spec = records.read_record(handle.record_dir).spec
    if spec is None:
        raise UsageError(
            f"job {handle.name} has no recorded spec to track it by",
            hint="pass spec= to sagelift.backends.emulator.submit_request for emulated jobs",
        )
    return spec


def sink_for(handle: JobHandle) -> MetricSink:
    """A MetricSink for the recorded job (a no-op when it is untracked). Never raises."""
    try:
        if _read(handle.record_dir) is None:
            return MetricSink(handle=handle, spec=_recorded_spec(handle))
        return MetricSink.for_job(handle, _recorded_spec(handle))
    except Exception as exc:
        log.warning("MLflow: live metrics off for job %s (%s)", handle.name, exc)
        return MetricSink(handle=handle, spec=_recorded_spec(handle))


def finish_job(
    handle: JobHandle,
    status: JobStatus,
    *,
    lines: Callable[[], Iterable[str]],
    settings: Settings | None = None,
    replay: bool = False,
) -> RunInfo | None:
    """``finish`` with the spec from the job's record and the log from ``lines()`` (called
    only when the run still needs it, once: its lines are spooled to a temporary file and
    read from there a line at a time, so the log is never held whole)."""
    if not replay:
        state = _read(handle.record_dir)
        if state is None or state.get("finished") or not status.state.is_terminal:
            return None if state is None else _info(state)
    with tempfile.TemporaryDirectory(prefix="sagelift-log-") as tmp:
        spool = Path(tmp) / "output.log"
        try:
            spec = _recorded_spec(handle)
            with spool.open("w", encoding="utf-8", newline="\n") as stream:
                for line in lines():
                    stream.write(f"{line}\n")
        except Exception as exc:
            if replay:
                raise
            log.warning(
                "MLflow: job %s not recorded: its log could not be read (%s); %s",
                handle.name,
                exc,
                _later(handle.name),
            )
            return None
        return finish(
            handle,
            status,
            spec=spec,
            lines=lambda: _spooled_lines(spool),
            settings=settings,
            replay=replay,
        )


def _spooled_lines(spool: Path) -> Iterator[str]:
    """The lines ``finish_job`` wrote to ``spool``, one at a time."""
    with spool.open(encoding="utf-8", newline="\n") as stream:
        for line in stream:
            yield line.removesuffix("\n")


def replay(
    handle: JobHandle,
    status: JobStatus,
    *,
    lines: Callable[[], Iterable[str]],
    uri: str,
    experiment: str | None,
) -> RunInfo:
    """Record a finished job now (``sagelift track``): creates the run if it is missing.

    Raises UsageError when the job has not ended, TrackingError when the store fails.
    """
    from sagelift.errors import UsageError

    if not status.state.is_terminal:
        raise UsageError(
            f"job {handle.name} has not ended ({status.state.value})",
            hint=f"wait for it (sagelift logs -f {handle.name}) and track it afterwards",
        )
    state = _read(handle.record_dir)
    if state is None:
        spec = _recorded_spec(handle)
        record = records.read_record(handle.record_dir)
        job = PreparedJob(
            spec=spec,
            name=handle.name,
            record_dir=handle.record_dir,
            created_at=status.created_at,
            region="",
            settings=Settings(aws=_no_aws()),
        )
        state = {
            "uri": uri,
            "experiment": experiment or spec.base_job_name,
            "run_name": handle.name,
            "params": run_params(spec.hyperparameters),
            "tags": _tags(job, record),
            "run": None,
            "finished": False,
            "logged": {},
            "problems": [],
        }
        _write(handle.record_dir, state)
    elif state.get("finished"):
        run = _info(state)
        if run is not None:
            return run
    elif state.get("run") is None and state.get("uri") != uri:
        state["uri"] = uri
        _write(handle.record_dir, state)
    run = finish_job(handle, status, lines=lines, replay=True)
    if run is None:
        raise TrackingError(
            f"job {handle.name} could not be recorded", hint="run with --debug to see why"
        )
    return run


def _no_aws() -> Any:
    from sagelift.aws import AwsSettings

    return AwsSettings()
