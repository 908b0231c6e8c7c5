"""Train a gradient-boosted classifier for the wine cultivar data.

Runs as plain ``python train.py`` on a laptop and unchanged as a SageMaker training job:
directories come from the SM_* environment variables when they are set, hyperparameters
arrive as ``--name value`` arguments.
"""

from __future__ import annotations

import argparse
import configparser
import csv
import json
import os
import time
from pathlib import Path

import joblib
import numpy as np
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score
from sklearn.model_selection import StratifiedKFold, cross_val_score

CONFIG_FILE = Path(__file__).resolve().parent / "config.ini"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n_estimators", type=int, default=100)
    parser.add_argument("--max_depth", type=int, default=3)
    parser.add_argument("--learning_rate", type=float, default=0.1)
    parser.add_argument("--subsample", type=float, default=1.0)
    parser.add_argument("--train", default=os.environ.get("SM_CHANNEL_TRAIN", "data/train"))
    parser.add_argument("--test", default=os.environ.get("SM_CHANNEL_TEST", "data/test"))
    parser.add_argument("--model_dir", default=os.environ.get("SM_MODEL_DIR", "model/"))
    parser.add_argument(
        "--output_data_dir", default=os.environ.get("SM_OUTPUT_DATA_DIR", "output/")
    )
    return parser.parse_args()


def read_config(path: Path) -> configparser.ConfigParser:
    config = configparser.ConfigParser()
    if not config.read(path, encoding="utf-8"):
        raise SystemExit(f"missing config file: {path}")
    return config


def load_channel(directory: str, target: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Read every CSV file in a channel directory into features and labels."""
    files = sorted(Path(directory).glob("*.csv"))
    if not files:
        raise SystemExit(f"no CSV files in {directory}")
    rows: list[list[str]] = []
    header: list[str] = []
    for path in files:
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.reader(f)
            header = next(reader)
            rows.extend(reader)
    table = np.array(rows, dtype=float)
    label = header.index(target)
    features = [name for i, name in enumerate(header) if i != label]
    return np.delete(table, label, axis=1), table[:, label].astype(int), features


def main() -> None:
    args = parse_args()
    config = read_config(CONFIG_FILE)
    target = config.get("data", "target")
    class_names = [name.strip() for name in config.get("data", "class_names").split(",")]
    seed = config.getint("evaluation", "seed")
    folds = config.getint("evaluation", "cv_folds")

    x_train, y_train, features = load_channel(args.train, target)
    x_test, y_test, _ = load_channel(args.test, target)
    print(f"train rows={len(y_train)} test rows={len(y_test)} features={len(features)}")
    print(f"hyperparameters: {json.dumps(vars(args), sort_keys=True)}")

    model = GradientBoostingClassifier(
        n_estimators=args.n_estimators,
        max_depth=args.max_depth,
        learning_rate=args.learning_rate,
        subsample=args.subsample,
        random_state=seed,
    )

    started = time.perf_counter()
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    scores = cross_val_score(model, x_train, y_train, cv=splitter, scoring="accuracy")
    for fold, score in enumerate(scores, start=1):
        print(f"fold={fold} cv_accuracy={score:.4f}")
    print(f"cv_accuracy_mean={scores.mean():.4f} cv_accuracy_std={scores.std():.4f}")

    model.fit(x_train, y_train)
    checkpoints = sorted({max(1, round(args.n_estimators * k / 5)) for k in range(1, 6)})
    staged = zip(model.staged_predict(x_train), model.staged_predict(x_test), strict=True)
    for stage, (train_pred, test_pred) in enumerate(staged, start=1):
        if stage in checkpoints:
            print(
                f"stage={stage} train_accuracy={accuracy_score(y_train, train_pred):.4f} "
                f"test_accuracy={accuracy_score(y_test, test_pred):.4f}"
            )
    elapsed = time.perf_counter() - started

    predictions = model.predict(x_test)
    metrics = {
        "train_accuracy": accuracy_score(y_train, model.predict(x_train)),
        "test_accuracy": accuracy_score(y_test, predictions),
        "test_f1_macro": f1_score(y_test, predictions, average="macro"),
        "cv_accuracy_mean": float(scores.mean()),
    }
    print(
        f"final train_accuracy={metrics['train_accuracy']:.4f} "
        f"test_accuracy={metrics['test_accuracy']:.4f} "
        f"test_f1_macro={metrics['test_f1_macro']:.4f};"
    )
    print(f"training_seconds={elapsed:.2f}")

    model_dir = Path(args.model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    bundle = {"model": model, "features": features, "classes": class_names}
    joblib.dump(bundle, model_dir / "model.joblib")

    output_dir = Path(args.output_data_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    matrix = confusion_matrix(y_test, predictions, labels=range(len(class_names)))
    with (output_dir / "confusion_matrix.csv").open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["actual \\ predicted", *class_names])
        for name, row in zip(class_names, matrix, strict=True):
            writer.writerow([name, *row.tolist()])
    print(f"saved model to {model_dir / 'model.joblib'}")


if __name__ == "__main__":
    main()
