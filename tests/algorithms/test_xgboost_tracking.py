"""A built-in XGBoost job is recorded like any job: one MLflow run (``tracking.uri =
"sqlite"``) with the hyperparameters as params, the algorithm's validation metric parsed per
round from its own log lines, and the model artifact holding ``xgboost-model``."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from sagelift import jobs
from sagelift.backends.base import JobState
from sagelift.backends.local import opt_ml_bindable
from sagelift.tracking.state import run_info
from tests.algorithms.test_algorithm_jobs import PARAMS, _project

xgb = pytest.importorskip("xgboost")
mlflow = pytest.importorskip("mlflow")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings(
        "ignore::UserWarning", "ignore::pytest.PytestUnraisableExceptionWarning"
    ),
    pytest.mark.skipif(not opt_ml_bindable(), reason="/opt/ml cannot be bound on this machine"),
]


@pytest.mark.parametrize("content_type", ["text/csv", "text/libsvm"])
def test_a_tracked_xgboost_job_logs_params_the_metric_series_and_the_model(
    tmp_path: Path, clean_environ: dict[str, str], content_type: str
) -> None:
    root, held_out, _ = _project(
        tmp_path / "proj",
        content_type,
        tracking={"uri": "sqlite", "experiment": "builtin-xgboost"},
    )
    lines: list[str] = []
    result = jobs.run(
        jobs.load_spec(root, environ=clean_environ),
        settings=jobs.load_settings(root, environ=clean_environ),
        on_line=lines.append,
    )
    assert result.status.state is JobState.COMPLETED, result.status.failure_reason
    run = run_info(result.handle.record_dir)
    assert run is not None
    client = mlflow.tracking.MlflowClient(tracking_uri=run.uri)
    got = client.get_run(run.run_id)
    assert got.info.status == "FINISHED"
    assert got.data.params == {k: str(v) for k, v in PARAMS.items()}

    # One point per boosting round, equal to what the job printed, for each channel.
    printed = {
        channel: [
            float(m.group(1))
            for line in lines
            if (m := re.search(rf"\t{channel}-auc:(\S+)", line)) is not None
        ]
        for channel in ("train", "validation")
    }
    for channel, values in printed.items():
        assert len(values) == PARAMS["num_round"], channel
        history = sorted(
            (m.step, m.value) for m in client.get_metric_history(run.run_id, f"{channel}:auc")
        )
        assert [value for _, value in history] == pytest.approx(values), channel
        assert [step for step, _ in history] == sorted({step for step, _ in history})
    assert got.data.metrics["validation:auc"] == pytest.approx(printed["validation"][-1])
    assert not {k for k in got.data.metrics if k.startswith("test:")}

    # The model artifact is the xgboost-model the job saved, and it predicts.
    model = Path(client.download_artifacts(run.run_id, "model", str(tmp_path / "artifacts")))
    files = sorted(p.relative_to(model).as_posix() for p in model.rglob("*") if p.is_file())
    assert "xgboost-model" in files, files
    booster = xgb.Booster(model_file=str(model / "xgboost-model"))
    if content_type == "text/libsvm":
        held_out = np.hstack([np.zeros((held_out.shape[0], 1)), held_out])
    assert booster.predict(xgb.DMatrix(held_out)).shape == (held_out.shape[0],)
