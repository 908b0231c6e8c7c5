"""Prints metric lines (one per epoch), writes a model; fails when --fail is given."""

import argparse
import json
import os
import sys

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=3)
parser.add_argument("--fail", default="no")
args, _ = parser.parse_known_args()
for epoch in range(args.epochs):
    print(f"epoch={epoch} loss={1.0 / (epoch + 1):.4f} acc={0.5 + 0.1 * epoch:.2f}", flush=True)
with open(os.path.join(os.environ["SM_MODEL_DIR"], "model.json"), "w") as f:
    json.dump({"epochs": args.epochs}, f)
if args.fail == "yes":
    sys.exit("diverged")
