"""SageMaker's XGBoost algorithm mode, run on this machine with the ``xgboost`` package.

What the job runs (``python -m sagelift.algorithms.xgboost_runner``) for ``algorithm =
"xgboost"`` on the local and container backends. It follows the open-source algorithm container
(aws/sagemaker-xgboost-container, ``algorithm_mode/train.py``): hyperparameters are read from
``/opt/ml/input/config/hyperparameters.json`` as plain strings and checked against the same
table sagelift checks before submitting; the ``train`` and optional ``validation`` channels are
read in their content type (CSV label first without header, libsvm as XGBoost's own parser
keeps its indices, parquet label first, RecordIO-protobuf; libsvm when none is given);
``xgb.train`` runs with the container's evaluation monitor, so each round prints
``[N]\\ttrain-<metric>:<v>\\tvalidation-<metric>:<v>`` as the container does (CloudWatch shows
the tab as ``#011``); the booster is saved as ``/opt/ml/model/xgboost-model``. A failure writes
``/opt/ml/output/failure`` and exits 1. Parameters XGBoost does not know are unset, so XGBoost's
defaults apply as in the container (the installed ``xgboost`` version may differ from the
container's: 1.7.x for ``1.7-1``).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from sagelift.algorithms.catalog import (
    ParameterRule,
    algorithm,
    channel_content_type,
    check_algorithm_hyperparameters,
)
from sagelift.contract.layout import CONTAINER_ROOT, TrainingLayout
from sagelift.errors import SageliftError
from sagelift.formats.validate import data_files, format_of

__all__ = ["MODEL_NAME", "load_matrix", "main", "train", "xgboost_params"]

MODEL_NAME = "xgboost-model"
#: Hyperparameters the container takes out before calling ``xgb.train``.
_NOT_XGBOOST = (
    "num_round",
    "early_stopping_rounds",
    "csv_weights",
    "save_model_on_termination",
    "_kfold",
    "_num_cv_round",
    "_tuning_objective_metric",
    "use_dask_gpu_training",
)


def _typed(rule: ParameterRule, text: str) -> Any:
    if rule.type == "int":
        return int(float(text))
    if rule.type == "float":
        return float(text)
    if rule.type == "list":
        return [part.strip() for part in text.split(",") if part.strip()]
    return text


def xgboost_params(hyperparameters: dict[str, str]) -> tuple[dict[str, Any], int, int | None]:
    """(``xgb.train`` params, num_round, early_stopping_rounds) from the job's plain-string
    hyperparameters. Raises SpecError as sagelift's own check does."""
    found, _ = algorithm("xgboost")
    check_algorithm_hyperparameters(found, hyperparameters)
    typed = {k: _typed(found.parameters[k], v) for k, v in hyperparameters.items()}
    if "updater" in typed:
        typed["updater"] = ",".join(typed["updater"])
    stopping = typed.get("early_stopping_rounds")
    params = {k: v for k, v in typed.items() if k not in _NOT_XGBOOST}
    return params, int(typed["num_round"]), stopping


def load_matrix(path: Path, content_type: str, *, columns: int | None = None) -> tuple[Any, Any]:
    """``(features, labels)`` of every data file under ``path`` in ``content_type``."""
    import numpy as np
    from scipy import sparse

    from sagelift import formats

    kind = format_of(content_type)
    files = data_files(path)
    if not files:
        raise ValueError(f"no data files in {path}")
    parts: list[tuple[Any, Any]] = []
    for file in files:
        if kind == "csv":
            parts.append(formats.read_csv(str(file)))
        elif kind == "libsvm":
            parts.append(formats.read_libsvm(str(file), one_based=False, columns=columns))
        elif kind == "recordio-protobuf":
            parts.append(formats.read_recordio(str(file)))
        elif kind == "parquet":
            import pandas as pd

            table = pd.read_parquet(file).to_numpy()
            parts.append((table[:, 1:], table[:, 0]))
        else:
            raise ValueError(f"content type {content_type!r} is not one XGBoost reads")
    if any(sparse.issparse(p[0]) for p in parts):
        width = max(p[0].shape[1] for p in parts)
        blocks = [sparse.csr_matrix(p[0]) for p in parts]
        blocks = [b if b.shape[1] == width else _widen(b, width) for b in blocks]
        features: Any = sparse.vstack(blocks).tocsr()
    else:
        features = np.vstack([p[0] for p in parts])
    return features, np.concatenate([p[1] for p in parts])


def _widen(matrix: Any, width: int) -> Any:
    from scipy import sparse

    return sparse.csr_matrix(
        (matrix.data, matrix.indices, matrix.indptr), shape=(matrix.shape[0], width)
    )


def train(layout: TrainingLayout) -> Path:
    """Train from ``layout``'s config and channels; returns the saved model's path."""
    import xgboost as xgb

    hyperparameters = json.loads(layout.hyperparameters_file.read_text(encoding="utf-8"))
    data_config = json.loads(layout.input_data_config_file.read_text(encoding="utf-8"))
    params, num_round, stopping = xgboost_params({k: str(v) for k, v in hyperparameters.items()})
    found, _ = algorithm("xgboost")
    content_type = channel_content_type(found, data_config.get("train", {}).get("ContentType"))
    train_x, train_y = load_matrix(layout.channel_dir("train"), content_type)
    dtrain = xgb.DMatrix(train_x, label=train_y)
    evals = [(dtrain, "train")]
    if "validation" in data_config:
        width = train_x.shape[1] if format_of(content_type) == "libsvm" else None
        val_x, val_y = load_matrix(layout.channel_dir("validation"), content_type, columns=width)
        if format_of(content_type) == "libsvm" and val_x.shape[1] > train_x.shape[1]:
            dtrain = xgb.DMatrix(_widen(train_x, val_x.shape[1]), label=train_y)
            evals = [(dtrain, "train")]
        evals.append((xgb.DMatrix(val_x, label=val_y), "validation"))
    callbacks: list[Any] = [xgb.callback.EvaluationMonitor()]
    if stopping:
        callbacks.append(xgb.callback.EarlyStopping(rounds=stopping, save_best=False))
    booster = xgb.train(
        params,
        dtrain,
        num_boost_round=num_round,
        evals=evals,
        callbacks=callbacks,
        verbose_eval=False,
    )
    layout.model_dir.mkdir(parents=True, exist_ok=True)
    target = layout.model_dir / MODEL_NAME
    booster.save_model(str(target))
    return target


def main(argv: list[str] | None = None) -> int:
    """Run the algorithm on ``/opt/ml`` (or the root given as the one argument)."""
    args = sys.argv[1:] if argv is None else argv
    layout = TrainingLayout(Path(args[0]) if args else CONTAINER_ROOT)
    try:
        train(layout)
    except (SageliftError, ValueError, OSError, ImportError) as exc:
        message = str(exc)
        hint = getattr(exc, "hint", None)
        reason = f"{message} ({hint})" if hint else message
        try:
            layout.output_dir.mkdir(parents=True, exist_ok=True)
            (layout.output_dir / "failure").write_text(reason, encoding="utf-8")
        except OSError:
            pass
        print(f"xgboost: {reason}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
