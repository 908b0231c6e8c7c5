"""The SageMaker backend: check, ship, build, validate and create a training job; watch it.

Order of a submission (bad input: exit 2, nothing uploaded, no job created): the
spec, the image, the role, the bucket and a provisional request are all checked before the
first upload; only then is the bucket created (the default one, if missing), the code and data
shipped and the job created.

This module orders the steps; their parts live beside it: the cost guard and bill
(``costs``), where things go and the request (``plan``), the recorded job's status
(``status``), the watch loop (``watch``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any, ClassVar

from sagelift import records
from sagelift.algorithms import algorithm_image_uri
from sagelift.aws import check_profile
from sagelift.backends.base import (
    Capability,
    JobHandle,
    JobState,
    JobStatus,
    PreparedJob,
    check_byo_image,
    check_framework_image,
)
from sagelift.backends.lifecycle import SUBMITTER_PID, write_holder
from sagelift.backends.sagemaker.client import TrainingJobs, in_region
from sagelift.backends.sagemaker.costs import cost_estimate, with_bill
from sagelift.backends.sagemaker.images import (
    planned_image_uri,
    publish_image,
    resolve_image_uri,
)
from sagelift.backends.sagemaker.plan import (
    CODE_CHANNEL,
    Shipper,
    input_record,
    planned_request,
    s3_locations,
    training_request,
)
from sagelift.backends.sagemaker.request import default_tags
from sagelift.backends.sagemaker.resources import (
    Resources,
    check_buckets,
    ensure_bucket,
    resolve_resources,
)
from sagelift.backends.sagemaker.status import describe_job, recorded_jobs
from sagelift.backends.sagemaker.validation import (
    check_region,
    instance_types,
    validate_request,
)
from sagelift.backends.sagemaker.watch import Backoff, follow_lines, watch
from sagelift.errors import SpecError, UnsupportedFeature
from sagelift.job import CloudJob
from sagelift.pricing import check_max_cost, describe_estimate
from sagelift.provenance import git_state
from sagelift.spec import JobSpec, is_remote_uri

__all__ = ["CODE_CHANNEL", "SageMakerBackend", "Shipper"]

log = logging.getLogger(__name__)

DEFAULT_BACKOFF = Backoff()


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

    def preflight(self, job: PreparedJob) -> None:
        """The cost guard, the role and every bucket the spec names (HeadBucket), before the
        record exists; the resolved resources are kept for ``submit``. A bring-your-own job
        names its image, a framework job a framework image."""
        self._resources = {}
        check_byo_image(job.spec, job.settings.image.uri)
        check_framework_image(job.spec, job.settings.image)
        check_profile(job.settings.aws)
        check_region(job.region)
        cost = cost_estimate(job.spec, job.region)
        check_max_cost(cost, job.spec.max_cost, region=job.region)
        resources = resolve_resources(job.settings, region=job.region)
        from sagelift.aws import client

        aws = in_region(job.settings.aws, job.region)
        check_buckets(s3_locations(job.spec), client("s3", aws))
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
        aws = in_region(job.settings.aws, job.region)
        image_uri = (
            algorithm_image_uri(spec.algorithm, spec.algorithm_version, region=job.region)
            if spec.algorithm is not None and spec.algorithm_version is not None
            else resolve_image_uri(
                job.settings.image, region=job.region, instance_type=spec.instance_type
            )
        )
        check_framework_image(spec, job.settings.image)
        resources = self._resources.pop(job.name, None)
        if resources is None:
            resources = resolve_resources(job.settings, region=job.region)
            from sagelift.aws import client

            check_buckets(s3_locations(spec), client("s3", aws))
        planned_image = image_uri or planned_image_uri(
            spec, job.settings, account=resources.account, region=resources.region
        )
        git = git_state(spec.project_dir)
        tags = default_tags(
            project=spec.project_dir.name,
            git_commit=None if git is None else git.commit,
            dirty=git is not None and git.dirty,
        )
        validate_request(planned_request(job, resources, planned_image, tags))
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
        request = training_request(job, resources, image_uri, code, channels, tags)
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

    def describe(self, handle: JobHandle) -> JobStatus:
        """The job as SageMaker reports it now; the record's status is refreshed (see
        ``status.describe_job``: a submission cut short, and what it raises)."""
        return describe_job(handle)

    def logs(self, handle: JobHandle, *, follow: bool = False) -> Iterator[str]:
        return follow_lines(
            recorded_jobs(handle),
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
            recorded_jobs(handle),
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
        recorded_jobs(handle).stop(handle.name)
