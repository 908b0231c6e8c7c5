from __future__ import annotations

import pytest

from sagelift.errors import SpecError
from sagelift.spec import MetricDefinition
from sagelift.tracking.base import RunInfo
from sagelift.tracking.metrics import MetricParser, parse_metrics
from sagelift.tracking.store import job_environment, resolve_uri

DEFS = (
    MetricDefinition(name="loss", regex=r"loss=([0-9.]+)"),
    MetricDefinition(name="acc", regex=r"acc: ([0-9.]+)"),
)


def test_occurrence_index_is_the_step_without_an_explicit_one() -> None:
    points = parse_metrics(["loss=0.5", "noise", "loss=0.25 acc: 0.9", "loss=nan"], DEFS)
    assert [(p.key, p.value, p.step) for p in points] == [
        ("loss", 0.5, 0),
        ("loss", 0.25, 1),
        ("acc", 0.9, 0),
    ]


def test_explicit_epoch_or_step_on_the_line_wins() -> None:
    parser = MetricParser(definitions=DEFS)
    assert parser.feed("Epoch 7: loss=0.1")[0].step == 7
    assert parser.feed("step=12 loss=0.05")[0].step == 12
    assert parser.feed("loss=0.01")[0].index == 2


def test_a_regex_without_a_group_is_a_spec_error() -> None:
    with pytest.raises(SpecError, match="no capture group"):
        MetricParser(definitions=(MetricDefinition(name="x", regex="loss=[0-9]+"),))


def test_tracking_uri_shorthands(tmp_path) -> None:  # type: ignore[no-untyped-def]
    assert resolve_uri(None, tmp_path) is None
    assert resolve_uri("off", tmp_path) is None
    assert resolve_uri("sqlite", tmp_path) == f"sqlite:///{tmp_path}/.sagelift/mlflow.db"
    assert resolve_uri("http://h:5000", tmp_path) == "http://h:5000"


def test_cloud_jobs_get_the_run_only_when_the_server_is_reachable() -> None:
    loopback = RunInfo(uri="http://127.0.0.1:5000", experiment_id="1", run_id="r")
    public = RunInfo(uri="https://mlflow.example.com", experiment_id="1", run_id="r")
    assert job_environment(loopback, local=True)["MLFLOW_RUN_ID"] == "r"
    assert job_environment(loopback, local=False) == {}
    assert job_environment(public, local=False)["MLFLOW_TRACKING_URI"] == public.uri
