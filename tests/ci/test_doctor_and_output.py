"""``doctor --ci`` finds a stale pipeline; CI output folds the log and writes the summary."""

from __future__ import annotations

from pathlib import Path

from sagelift.ci.check import check_pipelines
from sagelift.ci.pipeline import PipelineSettings, render_pipeline
from sagelift.ci.report import JobFacts, ci_output, group_start, summary_markdown

ROLE = "arn:aws:iam::123456789012:role/sagelift/sagelift-wine-ci-github"


def _write(project: Path, **changes: object) -> None:
    values: dict[str, object] = {
        "provider": "github",
        "instance_type": "ml.m5.large",
        "region": "us-east-1",
        "role_arn": ROLE,
        "wait": False,
        "package": "sagelift[aws]",
        "repository": "sagelift-wine",
    }
    values.update(changes)
    path = project / ".github" / "workflows" / "sagelift.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_pipeline(PipelineSettings(**values)), encoding="utf-8")  # type: ignore[arg-type]


EXPECTED = {
    "aws.region": "us-east-1",
    "aws.ci_role": ROLE,
    "instance_type": "ml.m5.large",
    "aws.ecr_repository": "sagelift-wine",
}


def test_a_matching_pipeline_passes(tmp_path: Path) -> None:
    _write(tmp_path)
    results = check_pipelines(tmp_path, EXPECTED, probe=lambda arn: True)
    assert [r.outcome for r in results] == ["pass", "pass"]


def test_stale_repository_instance_type_and_missing_role_fail(tmp_path: Path) -> None:
    _write(tmp_path, repository="old-repo", instance_type="ml.c5.xlarge")
    results = check_pipelines(tmp_path, EXPECTED, probe=lambda arn: False)
    failed = [r.detail for r in results if r.outcome == "fail"]
    assert any("old-repo" in d for d in failed)
    assert any("ml.c5.xlarge" in d for d in failed)
    assert any("does not exist" in d for d in failed)


def test_placeholder_role_and_no_pipeline_fail(tmp_path: Path) -> None:
    assert check_pipelines(tmp_path, EXPECTED, probe=lambda arn: True)[0].outcome == "fail"
    _write(tmp_path, role_arn=None)
    results = check_pipelines(tmp_path, {**EXPECTED, "aws.ci_role": None}, probe=lambda a: True)
    assert [r.outcome for r in results] == ["pass", "fail"]
    assert "no CI role" in results[1].detail


def test_ci_output_is_automatic_on_github_and_off_elsewhere(tmp_path: Path) -> None:
    summary = str(tmp_path / "summary.md")
    assert ci_output({}, flag=False, summary_file=None) is None
    on = ci_output(
        {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": summary}, flag=False, summary_file=None
    )
    assert on is not None
    assert on.groups
    assert on.summary_file == summary
    gitlab = ci_output({"CI": "true"}, flag=False, summary_file="job.md")
    assert gitlab is not None
    assert not gitlab.groups
    assert group_start("a\nb") == "::group::a%0Ab"


def test_summary_names_the_job_console_link_and_mlflow_run() -> None:
    text = summary_markdown(
        JobFacts(
            name="wine-1",
            state="InProgress",
            backend="sagemaker",
            region="eu-west-1",
            mlflow_run="abc",
            mlflow_link="http://mlflow/#/runs/abc",
        )
    )
    assert "`wine-1`" in text
    assert (
        "https://eu-west-1.console.aws.amazon.com/sagemaker/home?region=eu-west-1#/jobs/wine-1"
        in text
    )
    assert "[abc](http://mlflow/#/runs/abc)" in text
