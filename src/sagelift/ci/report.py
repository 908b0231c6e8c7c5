"""What ``sagelift run`` shows in a CI log and job summary. Pure.

sagelift prints no progress bars anywhere, and one line per status change; in CI it adds:
GitHub's ``::group::``/``::endgroup::`` workflow commands around the job's log stream (so the
log folds), and a Markdown summary — job name, state, console link, MLflow run — appended to
the summary file (``$GITHUB_STEP_SUMMARY`` on GitHub Actions, ``--summary-file`` elsewhere).

CI output is on with ``--ci-output``, and by itself when ``GITHUB_ACTIONS=true``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

__all__ = [
    "CiOutput",
    "JobFacts",
    "ci_output",
    "console_url",
    "group_end",
    "group_start",
    "summary_markdown",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class CiOutput:
    """``groups``: fold the log stream (GitHub workflow commands); ``summary_file``: where
    the Markdown summary is appended (None: nowhere)."""

    groups: bool
    summary_file: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class JobFacts:
    name: str
    state: str
    backend: str
    region: str | None = None
    mlflow_run: str | None = None
    mlflow_link: str | None = None
    image: str | None = None
    detail: str | None = None


def ci_output(
    environ: Mapping[str, str], *, flag: bool, summary_file: str | None
) -> CiOutput | None:
    """The CI output wanted, or None for plain output (not CI, no flag, no summary file)."""
    github = environ.get("GITHUB_ACTIONS", "").lower() == "true"
    if not (flag or github or summary_file):
        return None
    target = summary_file or environ.get("GITHUB_STEP_SUMMARY") or None
    return CiOutput(groups=flag or github, summary_file=target)


def _escape(text: str) -> str:
    # Workflow command data: % and line breaks must be escaped (GitHub docs, "Workflow
    # commands for GitHub Actions").
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def group_start(title: str) -> str:
    return f"::group::{_escape(title)}"


def group_end() -> str:
    return "::endgroup::"


def console_url(region: str, name: str) -> str:
    """The SageMaker console page of training job ``name``."""
    domain = "amazonaws.cn" if region.startswith("cn-") else "aws.amazon.com"
    return f"https://{region}.console.{domain}/sagemaker/home?region={region}#/jobs/{name}"


def summary_markdown(job: JobFacts) -> str:
    """The job summary: a heading and one table row per known fact."""
    rows = [
        ("job", f"`{job.name}`"),
        ("state", job.state + (f" ({job.detail})" if job.detail else "")),
    ]
    if job.region and job.backend == "sagemaker":
        rows.append(("console", f"[{job.name}]({console_url(job.region, job.name)})"))
    if job.mlflow_run:
        shown = (
            f"[{job.mlflow_run}]({job.mlflow_link})" if job.mlflow_link else f"`{job.mlflow_run}`"
        )
        rows.append(("MLflow run", shown))
    if job.image:
        rows.append(("image", f"`{job.image}`"))
    body = "\n".join(f"| {k} | {v} |" for k, v in rows)
    return f"### sagelift training job\n\n| | |\n|---|---|\n{body}\n\n"
