"""Incremental scikit-learn training that survives spot interruptions.

An SGDClassifier learns the bundled digits data set one epoch at a time with partial_fit.
After each epoch the model is checkpointed atomically; a restarted job (a spot interruption,
``sagelift run --simulate-interruptions 2``) picks up from the latest checkpoint.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import time
from pathlib import Path

import joblib
import numpy as np
from sklearn.datasets import load_digits
from sklearn.linear_model import SGDClassifier
from sklearn.model_selection import train_test_split

from sagelift.checkpoints import Checkpoints


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pause", type=float, default=0.2, help="seconds per epoch, to watch")
    args, _ = parser.parse_known_args()

    x, y = load_digits(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(x / 16.0, y, random_state=args.seed)
    classes = np.unique(y)

    ckpt = Checkpoints(suffix=".joblib")
    model = SGDClassifier(loss="log_loss", alpha=1e-4, random_state=args.seed)
    start = 1
    latest = ckpt.latest()
    if latest is not None:
        model = joblib.load(latest)
        start = ckpt.step_of(latest) + 1
        print(f"resuming after epoch {start - 1} from {latest.name}", flush=True)

    for epoch in range(start, args.epochs + 1):
        order = np.random.default_rng(args.seed * 1000 + epoch).permutation(len(x_train))
        model.partial_fit(x_train[order], y_train[order], classes=classes)
        accuracy = model.score(x_test, y_test)
        buffer = io.BytesIO()
        joblib.dump(model, buffer)
        ckpt.save(epoch, buffer.getvalue())
        print(f"epoch={epoch} test_accuracy={accuracy:.4f}", flush=True)
        time.sleep(args.pause)

    model_dir = Path(os.environ.get("SM_MODEL_DIR", "model"))
    model_dir.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, model_dir / "model.joblib")
    (model_dir / "metrics.json").write_text(json.dumps({"test_accuracy": accuracy}))
    print(f"final test_accuracy={accuracy:.4f}")


if __name__ == "__main__":
    main()
