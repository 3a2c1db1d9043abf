"""`cairn import tensorboard LOGDIR` on event files tensorboardX's SummaryWriter wrote."""

import math

from tensorboardX import SummaryWriter


def write_runs(logdir):
    for lr in (0.1, 0.01):
        w = SummaryWriter(str(logdir / f"lr-{lr}"))
        for step in range(100):
            w.add_scalar("train/loss", 1.0 / (step + 1) + lr, step)
            if step % 10 == 0:
                w.add_scalar("val/acc", 0.5 + step / 400 + lr, step)
        w.add_histogram("weights", [0.1, 0.2, 0.3], 0)
        w.close()
    w = SummaryWriter(str(logdir / "tuned"))
    w.add_hparams({"lr": 0.003, "optimizer": "adam", "batch_size": 32, "augment": True},
                  {"hparam/acc": 0.91}, name="trial")
    w.close()


def test_event_files_import_as_runs_with_their_steps_and_times(cairn, tmp_path):
    logdir = tmp_path / "logs"
    write_runs(logdir)
    first = cairn("import", "tensorboard", str(logdir), "--project", "tb")
    assert "3 run(s) created" in first.stdout, first.stdout + first.stderr
    assert "histogram" in first.stderr or "not scalars" in first.stderr, first.stderr
    runs = {r["name"]: r for r in cairn.json("ls", "--project", "tb", "--limit", "50")["runs"]}
    assert set(runs) == {"lr-0.1", "lr-0.01", "tuned/trial"}, set(runs)
    run = runs["lr-0.1"]
    assert run["status"] == "finished"
    shown = cairn.json("show", run["short_id"])
    metrics = {m["key"]: m for m in shown["metrics"]}
    assert metrics["train/loss"]["count"] == 100 and metrics["val/acc"]["count"] == 10, metrics
    assert math.isclose(metrics["train/loss"]["last"], 1 / 100 + 0.1, rel_tol=1e-6)
    assert metrics["train/loss"]["last_step"] == 99
    # Wall times are the writer's: the run spans them.
    assert shown["created_at"] <= shown["ended_at"]
    tuned = cairn.json("show", runs["tuned/trial"]["short_id"])
    assert tuned["config"] == {"lr": 0.003, "optimizer": "adam", "batch_size": 32, "augment": True}, tuned["config"]
    assert {m["key"] for m in tuned["metrics"]} == {"hparam/acc"}
    # Numbers are numbers: the hyperparameter filters as one.
    found = cairn.json("ls", "--project", "tb", "--filter", "params.lr < 0.01")["runs"]
    assert [r["name"] for r in found] == ["tuned/trial"]

    again = cairn("import", "tensorboard", str(logdir), "--project", "tb")
    assert "0 run(s) created" in again.stdout and "3 unchanged" in again.stdout, again.stdout

    # More steps later (a run still training): only the new points come in.
    # (A writer names its file by the second it starts: a suffix keeps this one apart.)
    w = SummaryWriter(str(logdir / "lr-0.1"), filename_suffix=".resumed")
    for step in range(100, 120):
        w.add_scalar("train/loss", 0.001, step)
    w.close()
    more = cairn("import", "tensorboard", str(logdir), "--project", "tb")
    assert "1 updated" in more.stdout and "20 metric point(s)" in more.stdout, more.stdout
    shown = cairn.json("show", run["short_id"])
    assert {m["key"]: m for m in shown["metrics"]}["train/loss"]["count"] == 120


def test_a_corrupt_event_file_is_listed_and_its_run_left_out(cairn, tmp_path):
    logdir = tmp_path / "logs"
    write_runs(logdir)
    victim = next((logdir / "lr-0.01").glob("events.out.tfevents.*"))
    data = bytearray(victim.read_bytes())
    data[200] ^= 0xFF
    victim.write_bytes(bytes(data))
    out = cairn("import", "tensorboard", str(logdir), "--project", "tb", ok=False)
    assert out.returncode != 0
    assert str(victim) in out.stderr and "checksum" in out.stderr, out.stderr
    names = {r["name"] for r in cairn.json("ls", "--project", "tb")["runs"]}
    assert names == {"lr-0.1", "tuned/trial"}, names


def test_a_folder_without_event_files_is_refused(cairn, tmp_path):
    (tmp_path / "empty").mkdir()
    out = cairn("import", "tensorboard", str(tmp_path / "empty"), "--project", "tb", ok=False)
    assert out.returncode != 0 and "no TensorBoard event files" in out.stderr, out.stderr
