"""A PyTorch training loop that survives spot interruptions (needs torch).

Checkpoints hold the model, the optimiser and the epoch; they are written atomically with
sagelift.checkpoints, so a SIGTERM or SIGKILL mid-save never leaves a truncated file behind.
SIGTERM (SageMaker's stop and spot signal, forwarded by sagelift's launcher) makes the loop
save at once and exit cleanly.
"""

from __future__ import annotations

import argparse
import os
import signal
from pathlib import Path

import torch
from torch import nn

from sagelift.checkpoints import Checkpoints

stop_requested = False


def on_sigterm(signum: int, frame: object) -> None:
    global stop_requested
    stop_requested = True


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--lr", type=float, default=0.05)
    args, _ = parser.parse_known_args()
    signal.signal(signal.SIGTERM, on_sigterm)

    torch.manual_seed(0)
    x = torch.randn(512, 8)
    y = x @ torch.arange(1.0, 9.0) + 0.1 * torch.randn(512)
    model = nn.Linear(8, 1)
    optimiser = torch.optim.SGD(model.parameters(), lr=args.lr)

    ckpt = Checkpoints(suffix=".pt")
    start = 1
    latest = ckpt.latest()
    if latest is not None:
        state = torch.load(latest)
        model.load_state_dict(state["model"])
        optimiser.load_state_dict(state["optimiser"])
        start = state["epoch"] + 1
        print(f"resuming after epoch {state['epoch']}", flush=True)

    for epoch in range(start, args.epochs + 1):
        for batch in torch.randperm(512, generator=torch.Generator().manual_seed(epoch)).split(64):
            optimiser.zero_grad()
            loss = nn.functional.mse_loss(model(x[batch]).squeeze(1), y[batch])
            loss.backward()
            optimiser.step()
        state = {"model": model.state_dict(), "optimiser": optimiser.state_dict(), "epoch": epoch}
        ckpt.save(epoch, lambda path, state=state: torch.save(state, path))
        print(f"epoch={epoch} loss={loss.item():.5f}", flush=True)
        if stop_requested:
            print("SIGTERM received: checkpoint saved, exiting", flush=True)
            return

    model_dir = Path(os.environ.get("SM_MODEL_DIR", "model"))
    model_dir.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), model_dir / "model.pt")


if __name__ == "__main__":
    main()
