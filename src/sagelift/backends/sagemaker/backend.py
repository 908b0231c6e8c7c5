"""The SageMaker backend: check, ship, build, validate and create a training job; watch it.

Order of a submission (bad input: exit 2, nothing uploaded, no job created): the
spec, the image, the role, the bucket and a provisional request are all checked before the
first upload; only then is the bucket created (the default one, if missing), the code and data
shipped and the job created.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any, ClassVar, Protocol

from sagelift import records
from sagelift.algorithms import algorithm_image_uri
from sagelift.aws import AwsSettings, check_profile
from sagelift.backends.base import (
    Capability,
    JobHandle,
    JobState,
    JobStatus,
    PreparedJob,
    check_byo_image,
)
from sagelift.backends.lifecycle import SUBMITTER_PID, read_holder, write_holder
from sagelift.backends.sagemaker.client import TrainingJobs, status_from_description
from sagelift.backends.sagemaker.images import (
    planned_image_uri,
    publish_image,
    resolve_image_uri,
)
from sagelift.backends.sagemaker.request import (
    build_create_training_job_request,
    default_tags,
)
from sagelift.backends.sagemaker.resources import (
    Resources,
    check_buckets,
    ensure_bucket,
    resolve_resources,
)
from sagelift.backends.sagemaker.validation import (
    check_region,
    instance_types,
    validate_request,
)
from sagelift.backends.sagemaker.watch import Backoff, follow_lines, watch
from sagelift.errors import (
    BackendError,
    ConfigError,
    EndpointUnreachable,
    JobNotFound,
    JobVanished,
    SpecError,
    UnsupportedFeature,
)
from sagelift.job import ChannelInput, CloudJob
from sagelift.pricing import (
    CostEstimate,
    bill,
    check_max_cost,
    describe_estimate,
    estimate,
    format_usd,
    load_prices,
)
from sagelift.provenance import git_state
from sagelift.records import DamagedRecord
from sagelift.spec import JobSpec, is_remote_uri

__all__ = ["CODE_CHANNEL", "SageMakerBackend", "Shipper"]

log = logging.getLogger(__name__)

CODE_CHANNEL = "sagelift-code"
DEFAULT_BACKOFF = Backoff()


class _Code(Protocol):
    @property
    def digest(self) -> str: ...
    @property
    def prefix_uri(self) -> str: ...
    @property
    def channel_name(self) -> str: ...
    @property
    def container_entrypoint(self) -> tuple[str, ...]: ...
    @property
    def container_arguments(self) -> tuple[str, ...]: ...


class _Channel(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def uri(self) -> str: ...


class Shipper(Protocol):
    """Uploads code and local channels (``sagelift.uploads`` is the real one)."""

    def ship_code(self, spec: JobSpec, *, storage: Any, root_uri: str) -> Any: ...

    def ship_channels(self, spec: JobSpec, *, storage: Any, root_uri: str) -> Sequence[Any]: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class _PlannedCode:
    """Where the code will go, for validating the request before anything is uploaded."""

    digest: str
    prefix_uri: str
    channel_name: str = CODE_CHANNEL
    container_entrypoint: tuple[str, ...] = ("python3",)
    container_arguments: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class _PlannedChannel:
    name: str
    uri: str


def _s3_locations(spec: JobSpec) -> dict[str, str]:
    """``field -> s3:// URI`` for every location of the spec already in S3."""
    found = {f"channels.{c.name}": c.uri for c in spec.channels if c.uri.startswith("s3://")}
    for field, uri in (
        ("output_path", spec.output_path),
        ("checkpoint_path", spec.checkpoint_path),
    ):
        if uri is not None and uri.startswith("s3://"):
            found[field] = uri
    return found


def _digest_of(image_uri: str) -> str | None:
    """The ``sha256:…`` an image URI is pinned to, or None for a tag."""
    return image_uri.rpartition("@")[2] if "@" in image_uri else None


class SageMakerBackend:
    """Jobs on SageMaker. Job state lives in SageMaker; the record keeps name, ARN and request."""

    name: ClassVar[str] = "sagemaker"
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {
            Capability.DETACH,
            Capability.CHECKPOINTS,
            Capability.GPU,
            Capability.REMOTE_CHANNELS,
            Capability.MULTI_INSTANCE,
            Capability.SPOT,
            Capability.OUTLIVES_CLIENT,
        }
    )

    def __init__(
        self,
        *,
        shipper: Shipper | None = None,
        backoff: Backoff = DEFAULT_BACKOFF,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._shipper = shipper
        self._resources: dict[str, Resources] = {}
        self._backoff = backoff
        self._sleep = sleep

    def _shipping(self) -> Shipper:
        if self._shipper is None:
            from sagelift import uploads

            self._shipper = uploads
        assert self._shipper is not None
        return self._shipper

    def check(self, spec: JobSpec) -> None:
        """Instance type and every s3:// URI; no side effects. (Reserved channel names are
        refused by the spec, for every backend.)"""
        from sagelift.storage import parse_uri

        if spec.instance_type not in instance_types():
            validate_request({"ResourceConfig": {"InstanceType": spec.instance_type}})
        for field, uri in (
            *((f"channels.{c.name}", c.uri) for c in spec.channels),
            ("output_path", spec.output_path),
            ("checkpoint_path", spec.checkpoint_path),
        ):
            if uri is not None and is_remote_uri(uri):
                try:
                    parsed = parse_uri(uri)
                except SpecError as exc:
                    raise SpecError(f"{field}: {exc.message}", hint=exc.hint, field=field) from exc
                if parsed.scheme != "s3":
                    raise UnsupportedFeature(
                        f"{field}: SageMaker reads and writes s3:// only, not {parsed.scheme}://",
                        hint="use a local path (uploaded for you) or s3://bucket/prefix",
                    )

    def _aws(self, settings_aws: AwsSettings, region: str) -> AwsSettings:
        return AwsSettings(
            profile=settings_aws.profile,
            region=region,
            endpoint_url=settings_aws.endpoint_url,
            max_attempts=settings_aws.max_attempts,
        )

    def _request(
        self,
        job: PreparedJob,
        resources: Resources,
        image_uri: str,
        code: _Code | None,
        channels: Sequence[_Channel],
        tags: dict[str, str],
    ) -> dict[str, Any]:
        spec = job.spec
        root = resources.root_uri
        output = spec.output_path if is_remote_uri(spec.output_path) else f"{root}/output"
        checkpoint = spec.checkpoint_path
        if (checkpoint is not None and not is_remote_uri(checkpoint)) or (
            checkpoint is None and spec.spot
        ):
            # Stable across re-runs of the same experiment, so a re-submitted job resumes too.
            checkpoint = f"{root}/checkpoints/{spec.base_job_name}"
        return build_create_training_job_request(
            spec,
            job_name=job.name,
            role_arn=resources.role_arn,
            image_uri=image_uri,
            code=code,  # type: ignore[arg-type]
            channels=channels,  # type: ignore[arg-type]
            output_path=output,
            checkpoint_s3_uri=checkpoint,
            region=resources.region,
            tags=tags,
            enable_spot=spec.spot,
            max_wait=spot_max_wait(spec) if spec.spot else None,
            framework=job.settings.image.framework,
        )

    def preflight(self, job: PreparedJob) -> None:
        """The cost guard, the role and every bucket the spec names (HeadBucket), before the
        record exists; the resolved resources are kept for ``submit``. A bring-your-own job
        names its image."""
        self._resources = {}
        check_byo_image(job.spec, job.settings.image.uri)
        check_profile(job.settings.aws)
        check_region(job.region)
        cost = cost_estimate(job.spec, job.region)
        check_max_cost(cost, job.spec.max_cost, region=job.region)
        resources = resolve_resources(job.settings, region=job.region)
        from sagelift.aws import client

        aws = self._aws(job.settings.aws, job.region)
        check_buckets(_s3_locations(job.spec), client("s3", aws))
        from sagelift.data.channel_inputs import check_channel_inputs

        check_channel_inputs(job.spec, aws)
        self._resources = {job.name: resources}

    def submit(self, job: PreparedJob) -> JobHandle:
        """Check everything, then ship code and data, create the job and record it."""
        from sagelift.storage import open_storage

        spec = job.spec
        cost = cost_estimate(spec, job.region)
        check_max_cost(cost, spec.max_cost, region=job.region)
        log.info("%s", describe_estimate(cost))
        aws = self._aws(job.settings.aws, job.region)
        image_uri = (
            algorithm_image_uri(spec.algorithm, spec.algorithm_version, region=job.region)
            if spec.algorithm is not None and spec.algorithm_version is not None
            else resolve_image_uri(
                job.settings.image, region=job.region, instance_type=spec.instance_type
            )
        )
        if spec.is_framework and image_uri is None:
            raise ConfigError(
                "kind = 'framework' runs a prebuilt framework image, and none is set",
                hint="set image.framework (e.g. 'sklearn') or image.uri, or set kind = 'script'",
            )
        resources = self._resources.pop(job.name, None)
        if resources is None:
            resources = resolve_resources(job.settings, region=job.region)
            from sagelift.aws import client

            check_buckets(_s3_locations(spec), client("s3", aws))
        planned_image = image_uri or planned_image_uri(
            spec, job.settings, account=resources.account, region=resources.region
        )
        git = git_state(spec.project_dir)
        tags = default_tags(
            project=spec.project_dir.name,
            git_commit=None if git is None else git.commit,
            dirty=git is not None and git.dirty,
        )
        planned_code = _PlannedCode(
            digest="0" * 64, prefix_uri=f"{resources.root_uri}/code/{'0' * 64}/"
        )
        planned_channels = [
            _PlannedChannel(
                name=c.name,
                uri=f"{resources.root_uri}/data/{spec.base_job_name}/{c.name}/{'0' * 64}/",
            )
            for c in spec.channels
            if not is_remote_uri(c.uri)
        ]
        validate_request(
            self._request(job, resources, planned_image, planned_code, planned_channels, tags)
        )
        image_digest = _digest_of(image_uri) if image_uri else None
        if image_uri is None:
            # Built and pushed before any upload: a failed build leaves nothing in S3.
            pushed = publish_image(spec, job.settings, region=resources.region)
            image_uri, image_digest = pushed.uri, pushed.digest
            log.info(
                "image %s (%s, %s)",
                image_uri,
                "built" if pushed.built else "build skipped",
                "pushed" if pushed.pushed else "push skipped",
            )

        storage = open_storage("s3", aws=aws)
        from sagelift.aws import client

        ensure_bucket(resources, client("s3", aws))
        shipper = self._shipping()
        # A bring-your-own image holds its own code: nothing to ship.
        code = (
            None
            if spec.is_byo
            else shipper.ship_code(spec, storage=storage, root_uri=resources.root_uri)
        )
        from sagelift.data.remote import feed_for_job

        # DVC channels already in the DVC remote are copied inside S3, not sent from here.
        feed = feed_for_job(spec, job.record_dir, s3=client("s3", aws), root_uri=resources.root_uri)
        channels = shipper.ship_channels(feed.spec, storage=storage, root_uri=resources.root_uri)
        request = self._request(job, resources, image_uri, code, channels, tags)
        validate_request(request)
        # The job is recorded (without its ARN) before it is created: a submission killed
        # between the two still leaves a record, and describe finds the job by its name.
        cloud = CloudJob(
            arn=None,
            region=resources.region,
            account=resources.account,
            aws=aws,
            request=request,
            hourly_price=cost.hourly,
            data_sources=feed.record(),
        )
        write_holder(job.record_dir / SUBMITTER_PID)
        records.update_record(
            job.record_dir,
            image_uri=image_uri,
            image_digest=image_digest,
            code_digest=None if code is None else code.digest,
            inputs=input_record(channels),
            cloud=cloud,
        )
        records.write_status(
            job.record_dir,
            JobStatus(
                name=job.name,
                backend=self.name,
                state=JobState.IN_PROGRESS,
                secondary_status="Starting",
                created_at=job.created_at,
            ),
        )
        return self.create(job, request, cloud)

    def create(self, job: PreparedJob, request: dict[str, Any], cloud: CloudJob) -> JobHandle:
        """The last step of ``submit``: send the checked request (CreateTrainingJob) and
        record the job's ARN. Everything before it is what any submission of the job does."""
        arn = TrainingJobs(cloud.aws).create(request)
        log.info("created training job %s", arn)
        records.update_record(job.record_dir, cloud=replace(cloud, arn=arn))
        return JobHandle(backend=self.name, name=job.name, record_dir=job.record_dir)

    def _jobs(self, handle: JobHandle) -> TrainingJobs:
        """The client for the job's account and region, as recorded when it was submitted."""
        record = records.read_record(handle.record_dir)
        if record.cloud is None:
            raise DamagedRecord(
                f"job {handle.name} has no record of its SageMaker job",
                hint="it was not created; run it again",
            )
        return TrainingJobs(self._aws(record.cloud.aws, record.cloud.region))

    def describe(self, handle: JobHandle) -> JobStatus:
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
        jobs = TrainingJobs(self._aws(cloud.aws, cloud.region))
        try:
            if cloud.arn is None:
                try:
                    description = jobs.describe_raw(handle.name)
                except JobNotFound:
                    return self._never_created(handle)
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

    def _never_created(self, handle: JobHandle) -> JobStatus:
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

    def logs(self, handle: JobHandle, *, follow: bool = False) -> Iterator[str]:
        return follow_lines(
            self._jobs(handle),
            handle.name,
            follow=follow,
            backoff=self._backoff,
            sleep=self._sleep,
        )

    def watch(
        self,
        handle: JobHandle,
        *,
        on_line: Callable[[str], None] | None = None,
        on_status: Callable[[JobStatus], None] | None = None,
    ) -> JobStatus:
        """Follow the job to its end (see ``watch.watch``); the record is refreshed at the end."""
        status = watch(
            self._jobs(handle),
            handle.name,
            on_line=on_line,
            on_status=on_status,
            backoff=self._backoff,
            sleep=self._sleep,
        )
        status = with_bill(status, records.read_record(handle.record_dir).cloud)
        records.write_status(handle.record_dir, status)
        return status

    def stop(self, handle: JobHandle) -> None:
        self._jobs(handle).stop(handle.name)


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


def input_record(channels: Sequence[Any]) -> dict[str, ChannelInput]:
    """Each channel's S3 URI as the job reads it and the content digest of its immutable
    snapshot (None for an ``s3://`` channel read where it is)."""
    return {c.name: ChannelInput(uri=c.uri, digest=getattr(c, "digest", None)) for c in channels}


def with_bill(status: JobStatus, cloud: CloudJob | None) -> JobStatus:
    """``status`` with its cost and spot savings, from the billable seconds SageMaker reports."""
    if status.billable_seconds is None or cloud is None:
        return status
    count = cloud.instance_count
    charge = bill(
        training_seconds=status.training_seconds,
        billable_seconds=status.billable_seconds,
        count=count,
        hourly=cloud.hourly_price,
    )
    notes = list(status.notes)
    if charge.savings_percent is not None and cloud.spot:
        notes.append(f"managed spot savings: {charge.savings_percent:.1f} %")
    if charge.cost is not None:
        notes.append(
            f"cost: {format_usd(charge.cost)} ({count} × billable {status.billable_seconds} s)"
        )
    return replace(status, cost_usd=charge.cost, notes=tuple(notes))


def spot_max_wait(spec: JobSpec) -> int:
    """MaxWaitTimeInSeconds: the spec's, else twice the max runtime (capped at 28 days) so the
    job may wait for spot capacity as long as it may run."""
    if spec.max_wait is not None:
        return spec.max_wait
    return max(spec.max_runtime, min(2 * spec.max_runtime, 28 * 24 * 3600))


def cost_estimate(spec: JobSpec, region: str) -> CostEstimate:
    """Price × expected runtime × count; the expected runtime is the last completed run of the
    same experiment (base job name) when there is one, else the max runtime. The estimate names
    which (``CostEstimate.basis``)."""
    previous = _previous_run(spec)
    return estimate(
        instance_type=spec.instance_type,
        count=spec.instance_count,
        region=region,
        max_runtime=spec.max_runtime,
        expected_seconds=None if previous is None else previous[1],
        spot=spec.spot,
        prices=load_prices(),
        base_job_name=spec.base_job_name,
        previous_job=None if previous is None else previous[0],
    )


def _previous_run(spec: JobSpec) -> tuple[str, int] | None:
    """The name and duration (s) of the newest completed run of the spec's base job name."""
    for record_dir in records.list_records(spec.project_dir):
        if not record_dir.name.startswith(spec.base_job_name + "-"):
            continue
        try:
            status = records.read_status(record_dir)
        except (OSError, ValueError, KeyError):
            continue
        if status.state is JobState.COMPLETED and status.duration:
            return record_dir.name, max(1, round(status.duration))
    return None
