"""`cairn import wandb DIR` on run folders `wandb` 0.31 wrote in offline mode."""

import math
import os
import subprocess
import sys
import textwrap


def train(workdir, name, lr, crash=False, steps=40):
    """Runs a tiny W&B-logged training script offline in `workdir`."""
    script = textwrap.dedent(f"""
        import wandb
        run = wandb.init(project="vision", name={name!r}, tags=["baseline", "cv"], notes="tried a thing",
                         config={{"lr": {lr}, "optimizer": {{"name": "adam", "beta1": 0.9}}, "epochs": 3}})
        for step in range({steps}):
            wandb.log({{"train/loss": 1.0 / (step + 1), "val/acc": 0.5 + step / 100}})
        wandb.log({{"sample": wandb.Html("<b>hi</b>")}})
        run.summary["best_acc"] = 0.93
        if {crash}:
            raise RuntimeError("the loss diverged")
        run.finish()
    """)
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true", "WANDB_DIR": str(workdir),
           "WANDB_CONSOLE": "off"}
    out = subprocess.run([sys.executable, "-c", script], cwd=workdir, env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == (1 if crash else 0), out.stderr


def test_offline_runs_import_with_history_config_and_summary(cairn, tmp_path):
    work = tmp_path / "project"
    work.mkdir()
    train(work, "lr-small", 0.001)
    train(work, "lr-big", 0.1, crash=True)
    first = cairn("import", "wandb", str(work / "wandb"))
    assert "2 run(s) created" in first.stdout, first.stdout + first.stderr
    assert "not numbers" in first.stderr, first.stderr
    runs = {r["name"]: r for r in cairn.json("ls", "--project", "vision")["runs"]}
    assert set(runs) == {"lr-small", "lr-big"}, runs
    small = cairn.json("show", runs["lr-small"]["short_id"])
    assert small["status"] == "finished" and runs["lr-big"]["status"] == "failed"
    assert small["config"] == {"lr": 0.001, "optimizer": {"name": "adam", "beta1": 0.9}, "epochs": 3}, small["config"]
    assert small["description"] == "tried a thing"
    assert {"baseline", "cv"} <= set(small["tags"]) and small["tags"]["wandb.run_id"]
    metrics = {m["key"]: m for m in small["metrics"]}
    assert metrics["train/loss"]["count"] == 40 and metrics["train/loss"]["last_step"] == 39
    assert math.isclose(metrics["train/loss"]["last"], 1 / 40)
    assert metrics["best_acc"]["count"] == 1 and math.isclose(metrics["best_acc"]["last"], 0.93)
    assert "sample" not in metrics
    assert small["created_at"] <= small["ended_at"]
    found = cairn.json("ls", "--project", "vision", "--filter", "params.lr < 0.01")["runs"]
    assert [r["name"] for r in found] == ["lr-small"]

    again = cairn("import", "wandb", str(work / "wandb"))
    assert "0 run(s) created" in again.stdout and "2 unchanged" in again.stdout, again.stdout


def test_a_corrupt_log_is_listed_and_its_run_left_out(cairn, tmp_path):
    work = tmp_path / "project"
    work.mkdir()
    train(work, "good", 0.01, steps=5)
    train(work, "victim", 0.02, steps=5)
    logs = sorted((work / "wandb").glob("offline-run-*/run-*.wandb"))
    victim = next(p for p in logs if b"victim" in p.read_bytes())
    data = bytearray(victim.read_bytes())
    data[100] ^= 0xFF
    victim.write_bytes(bytes(data))
    out = cairn("import", "wandb", str(work / "wandb"), ok=False)
    assert out.returncode != 0 and "checksum" in out.stderr and str(victim) in out.stderr, out.stderr
    assert [r["name"] for r in cairn.json("ls", "--project", "vision")["runs"]] == ["good"]
