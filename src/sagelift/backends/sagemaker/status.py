"""A recorded SageMaker job as SageMaker reports it: the client for its account and region,
its description (found by name when a submission cut short left no ARN), and its status
written back to the record.

Every call reaches SageMaker with the AWS settings and region recorded when the job was
submitted, not the current ones.
"""

from __future__ import annotations

from dataclasses import replace

from sagelift import records
from sagelift.backends.base import JobHandle, JobState, JobStatus
from sagelift.backends.lifecycle import SUBMITTER_PID, read_holder
from sagelift.backends.sagemaker.client import TrainingJobs, in_region, status_from_description
from sagelift.backends.sagemaker.costs import with_bill
from sagelift.errors import BackendError, EndpointUnreachable, JobNotFound, JobVanished
from sagelift.records import DamagedRecord

__all__ = ["describe_job", "recorded_jobs"]


def recorded_jobs(handle: JobHandle) -> TrainingJobs:
    """The client for the job's account and region, as recorded when it was submitted.
    Raises DamagedRecord when the record names no SageMaker job."""
    record = records.read_record(handle.record_dir)
    if record.cloud is None:
        raise DamagedRecord(
            f"job {handle.name} has no record of its SageMaker job",
            hint="it was not created; run it again",
        )
    return TrainingJobs(in_region(record.cloud.aws, record.cloud.region))


def describe_job(handle: JobHandle) -> JobStatus:
    """The job as SageMaker reports it now; the record's status.json is refreshed.

    A record without an ARN is of a submission cut short around CreateTrainingJob: the
    job is looked up by its name (and its ARN recorded); when SageMaker has none and the
    submitting process is gone, the job is Failed. Raises DamagedRecord (no cloud job
    recorded), JobVanished (SageMaker does not know a job recorded with its ARN),
    EndpointUnreachable (the API cannot be reached); the record's status is then left as
    it was.
    """
    record = records.read_record(handle.record_dir)
    cloud = record.cloud
    if cloud is None:
        raise DamagedRecord(
            f"job {handle.name} has no record of its SageMaker job",
            hint="it was not created; run it again",
        )
    jobs = TrainingJobs(in_region(cloud.aws, cloud.region))
    try:
        if cloud.arn is None:
            try:
                description = jobs.describe_raw(handle.name)
            except JobNotFound:
                return _never_created(handle)
            cloud = replace(cloud, arn=description.get("TrainingJobArn"))
            records.update_record(handle.record_dir, cloud=cloud)
            described = status_from_description(description)
        else:
            described = jobs.describe(handle.name)
    except JobNotFound as exc:
        raise JobVanished(
            f"job {handle.name} is recorded here but SageMaker has no training job of that "
            f"name in {cloud.region} (account {cloud.account or 'unknown'})"
            f"{_last_recorded(handle)}",
            hint="check that the AWS credentials and region (and endpoint_url) are those it "
            f"was created with; if it is gone, {records.aside_hint(handle.record_dir)}",
        ) from exc
    except BackendError as exc:
        if not _unreachable(exc):
            raise
        raise EndpointUnreachable(
            f"job {handle.name}: the SageMaker API at "
            f"{cloud.aws.endpoint_url or cloud.region} cannot be reached",
            hint=exc.hint or "check network access, the region and endpoint_url",
        ) from exc
    status = with_bill(described, cloud)
    records.write_status(handle.record_dir, status)
    return status


def _never_created(handle: JobHandle) -> JobStatus:
    status = records.read_status(handle.record_dir)
    submitter = read_holder(handle.record_dir / SUBMITTER_PID)
    if status.state.is_terminal or (submitter is not None and submitter.alive):
        return status
    status = records.advance(
        status,
        "Failed",
        state=JobState.FAILED,
        failure_reason="submission interrupted before CreateTrainingJob: SageMaker has no "
        f"job {handle.name}; nothing ran",
        ended_at=records.now(),
    )
    records.write_status(handle.record_dir, status)
    return status


def _last_recorded(handle: JobHandle) -> str:
    try:
        status = records.read_status(handle.record_dir)
    except (FileNotFoundError, DamagedRecord):
        return ""
    return f"; last recorded status: {status.state.value} ({status.secondary_status})"


def _unreachable(exc: BaseException) -> bool:
    """Whether ``exc`` (a converted client error) comes from failing to reach the endpoint."""
    from botocore import exceptions as bx

    cause = exc.__cause__
    return isinstance(
        cause, bx.EndpointConnectionError | bx.ConnectTimeoutError | bx.ConnectionClosedError
    )
