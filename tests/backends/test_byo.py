"""``kind = "byo"``: a job run as SageMaker runs a bring-your-own image."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sagelift import jobs
from sagelift.backends.base import JobState
from sagelift.backends.container import container_args
from sagelift.backends.local import opt_ml_bindable
from sagelift.contract.config_files import render_byo_hyperparameters
from sagelift.errors import SpecError
from tests.suites.backend_suite import read_member

HYPERPARAMETERS = {"objective": "binary:logistic", "num_round": 10, "eta": 0.3, "layers": [8, 4]}
PLAIN = {"eta": "0.3", "layers": "[8, 4]", "num_round": "10", "objective": "binary:logistic"}


def test_byo_hyperparameters_are_plain_strings_without_sagemaker_keys() -> None:
    assert render_byo_hyperparameters(HYPERPARAMETERS) == PLAIN
    assert render_byo_hyperparameters({"flag": True, "cfg": {"a": 1}}) == {
        "cfg": '{"a": 1}',
        "flag": "True",
    }


def test_a_byo_job_without_an_entry_point_runs_train(make_project, clean_environ) -> None:
    project = make_project("byo", kind="byo", entry_point="")
    spec = jobs.load_spec(project, environ=clean_environ)
    assert spec.kind == "byo"
    assert spec.entry_point.argv == ("train",)
    assert container_args(spec) == ("train",)


def test_the_default_kind_is_script_mode(make_project, clean_environ) -> None:
    spec = jobs.load_spec(make_project("ok"), environ=clean_environ)
    assert spec.kind == "script"
    assert container_args(spec)[0] == "-c"


def test_an_unknown_kind_is_refused(make_project, clean_environ) -> None:
    with pytest.raises(SpecError, match="kind"):
        jobs.load_spec(make_project("ok", kind="docker"), environ=clean_environ)


@pytest.mark.skipif(not opt_ml_bindable(), reason="/opt/ml cannot be bound on this machine")
def test_a_local_byo_job_reads_plain_hyperparameters_and_gets_no_arguments(
    make_project, clean_environ
) -> None:
    project = make_project("byo", kind="byo", hyperparameters=HYPERPARAMETERS)
    result = jobs.run(jobs.load_spec(project, environ=clean_environ))
    assert result.status.state is JobState.COMPLETED, result.status.failure_reason
    model = result.status.model_artifacts
    assert model is not None
    facts = json.loads(read_member(model, "facts.json"))
    assert facts["hyperparameters"] == PLAIN
    assert facts["hyperparameters"]["objective"] == "binary:logistic"
    assert facts["argv"] == []
    assert facts["sm_variables"] == []


def test_a_script_mode_job_still_gets_json_and_arguments(
    make_project, clean_environ, tmp_path: Path
) -> None:
    if not opt_ml_bindable():
        pytest.skip("/opt/ml cannot be bound on this machine")
    project = make_project("byo", hyperparameters={"objective": "binary:logistic"})
    result = jobs.run(jobs.load_spec(project, environ=clean_environ))
    assert result.status.state is JobState.COMPLETED, result.status.failure_reason
    assert result.status.model_artifacts is not None
    facts = json.loads(read_member(result.status.model_artifacts, "facts.json"))
    assert facts["hyperparameters"]["objective"] == '"binary:logistic"'
    assert facts["argv"] == ["--objective", "binary:logistic"]
    assert "sagemaker_program" in facts["hyperparameters"]
