"""One tracked run per job, around any backend: begin → live metrics → finish.

``sagelift.jobs`` calls these. Nothing here fails or loses the training run: ``begin``,
``MetricSink`` and ``finish`` log a warning naming what was not recorded and the command that
records it later (``sagelift track JOB``), and keep the job's state in ``tracking.json`` beside
the job record so that the replay knows what is left.

Metric rule (no duplicates): a key belongs to whoever logs it first. The script's own MLflow
logging goes into the job's run (MLFLOW_RUN_ID is passed); a metric line parsed from the output
is held ``HOLD_SECONDS`` and logged only if, then, the run has no metric of that key that sagelift
did not log. At finish the whole log is parsed again and only points not logged yet are sent.
"""

from __future__ import annotations

import getpass
import json
import logging
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sagelift import records
from sagelift.contract.hyperparameters import JSONValue
from sagelift.job import JobHandle, JobRecord, JobState, JobStatus, PreparedJob
from sagelift.package import VERSION
from sagelift.provenance import channel_version, git_state
from sagelift.redaction import mask_values
from sagelift.settings import Settings
from sagelift.spec import JobSpec
from sagelift.tracking import outcome
from sagelift.tracking.base import RunInfo, RunOutcome, Tracker, TrackingError
from sagelift.tracking.metrics import MetricParser, MetricPoint, parse_metrics

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

TRACKING_FILE = "tracking.json"
LOCAL_STORE = ".sagelift/mlflow.db"
HOLD_SECONDS = 2.0
#: ``tracking.uri`` values that mean "on, with the project's own SQLite store".
LOCAL_SHORTHANDS = frozenset({"sqlite", "local", "on", "true", "1", "yes"})
OUTCOMES: dict[JobState, RunOutcome] = {
    JobState.COMPLETED: "FINISHED",
    JobState.FAILED: "FAILED",
    JobState.STOPPED: "KILLED",
}
NA = outcome.NA


def resolve_uri(uri: str | None, project_dir: Path) -> str | None:
    """The tracking URI, ``None`` when tracking is off; shorthands mean the project's store."""
    if uri is None or uri.strip().lower() in ("", "off", "false", "0", "no"):
        return None
    if uri.strip().lower() in LOCAL_SHORTHANDS:
        return f"sqlite:///{(project_dir / LOCAL_STORE).absolute()}"
    return uri


def tracker_for(uri: str) -> Tracker:
    from sagelift.tracking.mlflow import MlflowTracker

    return MlflowTracker(uri=uri)


def job_environment(run: RunInfo, *, local: bool) -> dict[str, str]:
    """What lets the script's own ``mlflow`` calls land in the job's run.

    Only when the job can reach the store: any URI for a job on this machine; for a cloud job
    only an http(s) server that is not on loopback.
    """
    reachable = local or (
        run.uri.startswith(("http://", "https://"))
        and not any(h in run.uri for h in ("://127.", "://localhost", "://[::1]"))
    )
    if not reachable:
        return {}
    return {
        "MLFLOW_TRACKING_URI": run.uri,
        "MLFLOW_RUN_ID": run.run_id,
        "MLFLOW_EXPERIMENT_ID": run.experiment_id,
    }


def run_params(hyperparameters: Mapping[str, JSONValue]) -> dict[str, str]:
    """The MLflow params of a job: its hyperparameters as text, secret-looking ones as ``***``
    (``sagelift.redaction``); the job itself still gets the real values."""
    return {k: _param(v) for k, v in mask_values(hyperparameters).items()}


def _param(value: JSONValue) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers)
        return NA


def _tags(job: PreparedJob, record: JobRecord) -> dict[str, str]:
    spec = job.spec
    git = git_state(spec.project_dir)
    tags = {
        "sagelift.version": VERSION,
        "sagelift.backend": "emulator" if record.emulates else record.backend,
        "sagelift.job_name": job.name,
        "sagelift.instance_type": spec.instance_type,
        "sagelift.instance_count": str(spec.instance_count),
        "sagelift.spot": "on" if record.spot else "off",
        **outcome.record_tags(record),
        # What MLflow's UI shows as "Source" and "Created by".
        "mlflow.source.name": spec.entry_point.describe(),
        "mlflow.source.type": "JOB",
        "mlflow.user": _user(),
        "sagelift.entry_point": spec.entry_point.describe(),
        "sagelift.git.commit": git.commit if git else NA,
        "sagelift.git.dirty": str(git.dirty).lower() if git else NA,
        "sagelift.git.diff_sha256": (git.diff_sha256 or NA) if git else NA,
    }
    if git:
        tags["mlflow.source.git.commit"] = git.commit
    for channel in spec.channels:
        version = channel_version(channel, record.data_versions.get(channel.name))
        tags[f"sagelift.channel.{channel.name}.source"] = version.source
        tags[f"sagelift.channel.{channel.name}.{version.kind}"] = version.version
    return tags


def _read(record_dir: Path) -> dict[str, Any] | None:
    path = record_dir / TRACKING_FILE
    if not path.is_file():
        return None
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def _write(record_dir: Path, data: Mapping[str, Any]) -> None:
    records.write_json_atomic(record_dir / TRACKING_FILE, data)


def _info(state: Mapping[str, Any]) -> RunInfo | None:
    run = state.get("run")
    if not run:
        return None
    return RunInfo(
        uri=state["uri"],
        experiment_id=run["experiment_id"],
        run_id=run["run_id"],
        link=run.get("link"),
    )


def run_info(record_dir: Path) -> RunInfo | None:
    """The job's run, when one was created."""
    state = _read(record_dir)
    return None if state is None else _info(state)


def _later(name: str) -> str:
    return f"record it later with: sagelift track {name}"


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


@dataclass(slots=True, kw_only=True)
class MetricSink:
    """Feed it the job's output lines: metric lines reach the run, live, without duplicates."""

    handle: JobHandle
    spec: JobSpec
    tracker: Tracker | None = None
    run: RunInfo | None = None
    hold: float = HOLD_SECONDS
    _parser: MetricParser | None = None
    _held: list[tuple[float, MetricPoint]] = field(default_factory=list)
    _owned: dict[str, bool] = field(default_factory=dict)
    _logged: dict[str, int] = field(default_factory=dict)
    _broken: bool = False

    @classmethod
    def for_job(cls, handle: JobHandle, spec: JobSpec) -> MetricSink:
        sink = cls(handle=handle, spec=spec)
        try:
            state = _read(handle.record_dir)
            run = None if state is None else _info(state)
            if run is not None and spec.metric_definitions:
                sink.run = run
                sink.tracker = tracker_for(run.uri)
                sink._parser = MetricParser(definitions=spec.metric_definitions)
        except Exception as exc:
            log.warning("MLflow: live metrics off for job %s (%s)", handle.name, exc)
        return sink

    def __call__(self, line: str) -> None:
        if self._parser is None or self._broken:
            return
        try:
            now = time.monotonic()
            self._held += [(now, p) for p in self._parser.feed(line)]
            self._flush(now - self.hold)
        except Exception as exc:
            self._broken = True
            log.warning(
                "MLflow: live metrics for job %s stopped (%s); they are logged at the end of "
                "the job, or %s",
                self.handle.name,
                exc,
                _later(self.handle.name),
            )

    def _flush(self, before: float) -> None:
        ready = [p for t, p in self._held if t <= before]
        if not ready or self.tracker is None or self.run is None:
            return
        self._held = [(t, p) for t, p in self._held if t > before]
        undecided = {p.key for p in ready if p.key not in self._owned}
        if undecided:
            present = self.tracker.logged_keys(self.run)
            for key in undecided:
                self._owned[key] = key not in present
        points = [p for p in ready if self._owned[p.key]]
        self.tracker.log_metrics(self.run, points)
        for point in points:
            self._logged[point.key] = max(self._logged.get(point.key, 0), point.index + 1)
        self._save()

    def _save(self) -> None:
        state = _read(self.handle.record_dir)
        if state is None:
            return
        state["logged"] = dict(self._logged)
        state["script_keys"] = sorted(k for k, mine in self._owned.items() if not mine)
        _write(self.handle.record_dir, state)


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


def _log_parsed(
    tracker: Tracker, run: RunInfo, state: dict[str, Any], points: Sequence[MetricPoint]
) -> None:
    logged: dict[str, int] = state.get("logged", {})
    script_keys = set(state.get("script_keys", []))
    fresh = {p.key for p in points} - set(logged) - script_keys
    if fresh:
        script_keys |= fresh & tracker.logged_keys(run)
    todo = [p for p in points if p.key not in script_keys and p.index >= logged.get(p.key, 0)]
    tracker.log_metrics(run, todo)
    for point in todo:
        logged[point.key] = max(logged.get(point.key, 0), point.index + 1)
    state["logged"] = logged
    state["script_keys"] = sorted(script_keys)


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
