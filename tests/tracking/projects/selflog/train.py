"""Logs loss to MLflow itself AND prints it (and acc, which it does not log)."""

import json
import os

import mlflow

with mlflow.start_run():
    for step in range(3):
        loss = 1.0 / (step + 1)
        mlflow.log_metric("loss", loss, step=step)
        print(f"step={step} loss={loss:.4f} acc={0.5 + 0.1 * step:.2f}", flush=True)
with open(os.path.join(os.environ["SM_MODEL_DIR"], "model.json"), "w") as f:
    json.dump({"ok": True}, f)
