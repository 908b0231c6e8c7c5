"""A thin wrapper over the SageMaker and CloudWatch Logs APIs a training job needs.

Every botocore error is converted here (``sagelift.aws.map_client_error`` plus the SageMaker
specific ones); DescribeTrainingJob becomes a ``JobStatus`` through one explicit mapping.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sagelift.aws import AwsSettings, client, map_client_error
from sagelift.backends.base import JobState, JobStatus
from sagelift.errors import BackendError, JobNotFound, SageliftError

__all__ = ["LOG_GROUP", "LogEvent", "TrainingJobs", "in_region", "status_from_description"]

log = logging.getLogger(__name__)

LOG_GROUP = "/aws/sagemaker/TrainingJobs"
BACKEND = "sagemaker"


@dataclass(frozen=True, slots=True, kw_only=True)
class LogEvent:
    stream: str
    timestamp: int
    message: str


def _when(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    return datetime.fromtimestamp(float(value), tz=timezone.utc)


def status_from_description(description: dict[str, Any]) -> JobStatus:
    """The JobStatus of a DescribeTrainingJob answer.

    TrainingJobStatus → state; SecondaryStatus → secondary status; FailureReason → failure
    reason; SecondaryStatusTransitions → transitions; ModelArtifacts.S3ModelArtifacts → model
    (and ``output.tar.gz`` beside it → output); TrainingTimeInSeconds and
    BillableTimeInSeconds → notes.
    """
    created = _when(description.get("CreationTime")) or datetime.now(timezone.utc)
    model = description.get("ModelArtifacts", {}).get("S3ModelArtifacts")
    state = JobState(description["TrainingJobStatus"])
    notes = []
    if description.get("TrainingTimeInSeconds") is not None:
        notes.append(f"training time: {description['TrainingTimeInSeconds']} s")
    if description.get("BillableTimeInSeconds") is not None:
        notes.append(f"billable time: {description['BillableTimeInSeconds']} s")
    transitions = tuple(
        (str(t["Status"]), _when(t.get("StartTime")) or created)
        for t in description.get("SecondaryStatusTransitions", [])
    )
    output = None
    if model and state is not JobState.IN_PROGRESS and model.endswith("/model.tar.gz"):
        output = model[: -len("model.tar.gz")] + "output.tar.gz"
    return JobStatus(
        name=description["TrainingJobName"],
        backend=BACKEND,
        state=state,
        secondary_status=str(description.get("SecondaryStatus", state.value)),
        failure_reason=description.get("FailureReason"),
        created_at=created,
        started_at=_when(description.get("TrainingStartTime")),
        ended_at=_when(description.get("TrainingEndTime")),
        model_artifacts=model if state.is_terminal else None,
        output_artifacts=output,
        transitions=transitions,
        notes=tuple(notes),
        training_seconds=description.get("TrainingTimeInSeconds"),
        billable_seconds=description.get("BillableTimeInSeconds"),
    )


def _map(exc: BaseException, action: str, resource: str) -> SageliftError:
    code = str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))
    message = str(getattr(exc, "response", {}).get("Error", {}).get("Message", exc))
    if code == "ResourceLimitExceeded":
        return BackendError(
            f"{action} on {resource}: SageMaker quota reached ({message})",
            hint="request a quota increase in the Service Quotas console "
            "(SageMaker, '<instance type> for training job usage') or use another instance type",
        )
    # DescribeTrainingJob of an unknown name: SageMaker answers ValidationException
    # "Requested resource not found." (other tools: "Could not find ..."), or ResourceNotFound.
    if code in ("ResourceNotFound", "ResourceNotFoundException") or (
        code == "ValidationException"
        and ("Could not find" in message or "not found" in message.lower())
    ):
        return JobNotFound(
            f"SageMaker has no training job {resource!r} in this region",
            hint="check aws.region; the job may have been created in another region",
        )
    return map_client_error(exc, action=action, resource=resource)


def in_region(aws: AwsSettings, region: str) -> AwsSettings:
    """``aws`` (profile, endpoint, attempts) pointed at ``region``."""
    return AwsSettings(
        profile=aws.profile,
        region=region,
        endpoint_url=aws.endpoint_url,
        max_attempts=aws.max_attempts,
    )


class TrainingJobs:
    """CreateTrainingJob / DescribeTrainingJob / StopTrainingJob and the job's log streams."""

    def __init__(self, aws: AwsSettings, *, sagemaker: Any = None, logs: Any = None) -> None:
        self._aws = aws
        self._sagemaker = sagemaker
        self._logs = logs

    @property
    def sagemaker(self) -> Any:
        if self._sagemaker is None:
            self._sagemaker = client("sagemaker", self._aws)
        return self._sagemaker

    @property
    def logs_client(self) -> Any:
        if self._logs is None:
            self._logs = client("logs", self._aws)
        return self._logs

    def create(self, request: dict[str, Any]) -> str:
        """Create the job; returns its ARN."""
        name = request["TrainingJobName"]
        try:
            answer = self.sagemaker.create_training_job(**request)
        except Exception as exc:
            raise _map(exc, "sagemaker:CreateTrainingJob", name) from exc
        arn: str = answer["TrainingJobArn"]
        return arn

    def describe_raw(self, name: str) -> dict[str, Any]:
        try:
            answer: dict[str, Any] = self.sagemaker.describe_training_job(TrainingJobName=name)
        except Exception as exc:
            raise _map(exc, "sagemaker:DescribeTrainingJob", name) from exc
        return answer

    def describe(self, name: str) -> JobStatus:
        return status_from_description(self.describe_raw(name))

    def stop(self, name: str) -> None:
        try:
            self.sagemaker.stop_training_job(TrainingJobName=name)
        except Exception as exc:
            raise _map(exc, "sagemaker:StopTrainingJob", name) from exc

    def log_streams(self, name: str) -> list[str]:
        """The job's log stream names (``<job>/algo-N-<epoch>``), sorted; [] before any exist."""
        streams: list[str] = []
        kwargs: dict[str, Any] = {"logGroupName": LOG_GROUP, "logStreamNamePrefix": f"{name}/"}
        try:
            while True:
                answer = self.logs_client.describe_log_streams(**kwargs)
                streams += [s["logStreamName"] for s in answer.get("logStreams", [])]
                token = answer.get("nextToken")
                if not token:
                    break
                kwargs["nextToken"] = token
        except Exception as exc:
            code = getattr(exc, "response", {}).get("Error", {}).get("Code")
            if code == "ResourceNotFoundException":
                return []
            raise _map(exc, "logs:DescribeLogStreams", name) from exc
        return sorted(streams)

    def log_events(self, stream: str, token: str | None) -> tuple[list[LogEvent], str | None]:
        """New events of ``stream`` after ``token``; returns them and the token to go on from."""
        kwargs: dict[str, Any] = {
            "logGroupName": LOG_GROUP,
            "logStreamName": stream,
            "startFromHead": True,
        }
        events: list[LogEvent] = []
        while True:
            if token is not None:
                kwargs["nextToken"] = token
            try:
                answer = self.logs_client.get_log_events(**kwargs)
            except Exception as exc:
                raise _map(exc, "logs:GetLogEvents", stream) from exc
            batch = answer.get("events", [])
            events += [
                LogEvent(stream=stream, timestamp=int(e["timestamp"]), message=e["message"])
                for e in batch
            ]
            following = answer.get("nextForwardToken")
            # The API returns the same token once the end of the stream is reached.
            if not batch or following == token:
                return events, following or token
            token = following

    def tail(self, name: str, tokens: dict[str, str | None]) -> Iterator[LogEvent]:
        """Events written since ``tokens`` (updated in place) across all the job's streams."""
        for stream in self.log_streams(name):
            events, tokens[stream] = self.log_events(stream, tokens.get(stream))
            yield from events
