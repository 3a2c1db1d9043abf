"""A tiny fake training loop tracked with Cairn (no numpy, no GPU).

    pip install ./sdk/python                                      # once
    CAIRN_SERVER=http://127.0.0.1:8080 python examples/train.py   # a running server
    python examples/train.py                                      # local store via the `cairn` binary
"""

import argparse
import json
import math
import os
import random
import tempfile

import cairn

parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float, default=0.05)
parser.add_argument("--epochs", type=int, default=3)
parser.add_argument("--optimizer", default="adam")
args = parser.parse_args()
config = {"lr": args.lr, "epochs": args.epochs, "steps_per_epoch": 50, "optimizer": {"name": args.optimizer}}

run = cairn.init(
    project="demo",
    hypothesis=f"a learning rate of {args.lr} brings the loss under 0.2 within {args.epochs} epochs",
    expected={"metric": "loss", "direction": "decrease", "size": 0.8},
    config=config,
    tags={"example": "true"},
    seed=0,
)
print(f"tracking run {run.short_id} ({run.name}) at {run.url}")

rng = random.Random(0)
step = 0
for epoch in range(config["epochs"]):
    for _ in range(config["steps_per_epoch"]):
        loss = math.exp(-config["lr"] * step) + rng.uniform(0.0, 0.05)
        acc = 1.0 - loss / 2 + rng.uniform(-0.01, 0.01)
        run.log({"loss": loss, "acc": acc})  # steps 0, 1, 2, ...
        step += 1
    run.log({"epoch": epoch}, step=step - 1)

run.summary["final_loss"] = loss

with tempfile.TemporaryDirectory() as tmp:
    weights = os.path.join(tmp, "weights.json")
    with open(weights, "w") as f:
        json.dump({"w": [rng.random() for _ in range(16)], "epochs": config["epochs"]}, f)
    info = run.log_artifact(weights, name="model/weights.json")
    print(f"uploaded {info['path']} ({info['size']} bytes)")

run.finish()
print(f"finished run {run.short_id}: final loss {loss:.3f}")
