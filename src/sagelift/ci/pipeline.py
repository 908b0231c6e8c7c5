"""A project's pipeline file, as a pure function of its settings.

The pipeline installs sagelift, makes sure the dependency image is in ECR (built and pushed
only when no image for the same dependency inputs is there: ``sagelift image push
--if-missing``), and submits the job with ``sagelift run``. It signs in to AWS through the CI
system's OIDC token and the CI role that ``sagelift aws setup --ci`` creates: no stored keys.

The settings the pipeline depends on sit in one place at its top, as ``SAGELIFT_*``
variables (they are sagelift's own environment layer, so the pipeline runs with exactly
them); ``sagelift doctor --ci`` reads them back (``PINNED``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sagelift.errors import UsageError

__all__ = [
    "PATHS",
    "PINNED",
    "ROLE_PLACEHOLDER",
    "PipelineSettings",
    "Provider",
    "render_pipeline",
]

Provider = Literal["github", "gitlab", "circleci"]

#: Where each CI system reads its pipeline, relative to the repository root.
PATHS: dict[Provider, str] = {
    "github": ".github/workflows/sagelift.yml",
    "gitlab": ".gitlab-ci.yml",
    "circleci": ".circleci/config.yml",
}

#: The variables a pipeline pins, and the setting each one stands for.
PINNED: dict[str, str] = {
    "AWS_REGION": "aws.region",
    "SAGELIFT_AWS_CI_ROLE": "aws.ci_role",
    "SAGELIFT_AWS_ECR_REPOSITORY": "aws.ecr_repository",
    "SAGELIFT_INSTANCE_TYPE": "instance_type",
}

ROLE_PLACEHOLDER = "arn:aws:iam::ACCOUNT:role/sagelift/SET-ME"


@dataclass(frozen=True, slots=True, kw_only=True)
class PipelineSettings:
    """What a generated pipeline pins.

    ``role_arn``: the CI role (None writes a placeholder to fill in); ``wait``: follow the job
    to its end (the pipeline fails with the job) instead of returning once it is created;
    ``package``: the pip requirement that installs sagelift; ``branch``: pushes to it run the
    pipeline (None: every branch); ``project_dir``: the project, relative to the repository
    root; ``repository``: the ECR repository (None: sagelift's default for the project).
    """

    provider: Provider
    instance_type: str
    region: str
    role_arn: str | None
    wait: bool
    package: str
    branch: str | None = "main"
    python_version: str = "3.12"
    project_dir: str = "."
    repository: str | None = None

    def __post_init__(self) -> None:
        if not self.instance_type.startswith("ml."):
            raise UsageError(
                f"CI runs jobs on SageMaker; instance type {self.instance_type!r} is not one",
                hint="pass --instance-type ml.m5.large (or set instance_type in sagelift.toml)",
            )
        if not self.region:
            raise UsageError("CI needs an AWS region", hint="set aws.region or pass --region")


def pinned_values(settings: PipelineSettings) -> dict[str, str]:
    """The ``PINNED`` variables of the pipeline, in order (absent ones left out)."""
    values = {
        "AWS_REGION": settings.region,
        "SAGELIFT_AWS_CI_ROLE": settings.role_arn or ROLE_PLACEHOLDER,
        "SAGELIFT_AWS_ECR_REPOSITORY": settings.repository or "",
        "SAGELIFT_INSTANCE_TYPE": settings.instance_type,
    }
    return {k: v for k, v in values.items() if v}


def render_pipeline(settings: PipelineSettings) -> str:
    """The pipeline file's text for ``settings.provider``."""
    from sagelift.ci import templates

    render = {
        "github": templates.github_workflow,
        "gitlab": templates.gitlab_pipeline,
        "circleci": templates.circleci_config,
    }[settings.provider]
    return render(settings, pinned_values(settings))
