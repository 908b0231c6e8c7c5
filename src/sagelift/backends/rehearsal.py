"""Rehearsal of a SageMaker job: the real request, executed here in its image.

``RehearsalBackend`` is the SageMaker backend up to its very last step: the same checks, cost
guard, role and buckets, the image resolved (or built and pushed), code and data shipped to
S3 and the CreateTrainingJob request built and validated. Then, instead of sending it, the
request runs on this machine the way SageMaker would run it (``emulator.rehearse_request``):
its ``TrainingImage`` (found locally, else pulled, after an ECR login for an ECR image), its
entry point and arguments (none: the image's own, with ``train``), ``hyperparameters.json``
and ``Environment`` from the request, channels downloaded from their ``S3Uri`` as File mode
does, ``model.tar.gz`` uploaded to the output path, FailureReason from
``/opt/ml/output/failure``. No SageMaker job is created and nothing is billed. The job is
recorded with backend ``rehearsal`` (and the request it would have sent), so ``describe``,
``logs``, ``wait`` and ``fetch`` work on it. A request of several instances runs as one
container per instance (``algo-1`` … ``algo-N``, on a network of the job's own).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any, ClassVar

from sagelift.backends.base import (
    Capability,
    JobHandle,
    PreparedJob,
)
from sagelift.backends.host import HostJobs, HostSupervised
from sagelift.backends.sagemaker.backend import SageMakerBackend
from sagelift.contract.cluster import MAX_LOCAL_HOSTS
from sagelift.errors import UnsupportedFeature
from sagelift.job import CloudJob
from sagelift.spec import JobSpec

__all__ = ["CREDENTIAL_VARIABLES", "RehearsalBackend", "role_environment"]

log = logging.getLogger(__name__)

#: Passed on to the job's container from sagelift's own environment (never written down):
#: they stand in for the execution role SageMaker would give the job.
CREDENTIAL_VARIABLES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")


def role_environment(cloud: CloudJob) -> dict[str, str]:
    """What the container needs to reach the job's AWS as SageMaker's role would: the region,
    and the endpoint when one is set (``AWS_ENDPOINT_URL`` for boto3, ``S3_ENDPOINT_URL`` for
    the sagemaker-training toolkit, which reads it to fetch ``sagemaker_submit_directory``)."""
    env = {"AWS_REGION": cloud.region, "AWS_DEFAULT_REGION": cloud.region}
    if cloud.aws.endpoint_url:
        env["AWS_ENDPOINT_URL"] = cloud.aws.endpoint_url
        env["S3_ENDPOINT_URL"] = cloud.aws.endpoint_url
    return env


class RehearsalBackend(HostSupervised, SageMakerBackend):
    """A SageMaker submission whose request runs here, in a container, instead of on AWS."""

    name: ClassVar[str] = "rehearsal"
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        SageMakerBackend.capabilities - {Capability.SPOT}
    )

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.host = HostJobs(self.name)

    def check(self, spec: JobSpec) -> None:
        """As SageMaker's, and at most ``MAX_LOCAL_HOSTS`` instances: each is a container
        here."""
        super().check(spec)
        if spec.instance_count > MAX_LOCAL_HOSTS:
            raise UnsupportedFeature(
                f"instance_count={spec.instance_count}: a rehearsal runs at most "
                f"{MAX_LOCAL_HOSTS} instances (one container each) on this machine",
                hint=f"rehearse with instance_count <= {MAX_LOCAL_HOSTS}, or submit without "
                "--rehearse",
            )

    def create(self, job: PreparedJob, request: dict[str, Any], cloud: CloudJob) -> JobHandle:
        """Run ``request`` here in its image (made ready first: present locally or pulled)."""
        from sagelift.backends import emulator
        from sagelift.images.service import container_cli_for, pull_image

        cli = container_cli_for(job.settings.image)
        image = str(request["AlgorithmSpecification"]["TrainingImage"])
        if not cli.image_exists(image):
            # From ECR (the official images' registries too) after a login with a token.
            pull_image(cli, image, replace(job.settings, aws=cloud.aws))
        log.info("rehearsing %s in %s (no SageMaker job is created)", job.name, image)
        emulator.rehearse_request(
            request,
            record=job.record_dir,
            aws=cloud.aws,
            cli=cli.name,
            aws_env=role_environment(cloud),
            inherit=CREDENTIAL_VARIABLES,
        )
        return JobHandle(backend=self.name, name=job.name, record_dir=job.record_dir)
