"""Unit tests against the in-process fake server (tests/fakeserver.py)."""

import http.client
import json
import math
import os
import subprocess
import sys
import time

import pytest

import cairn
from cairn import _run

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def wait_for(pred, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.01)
    return pred()


# -- init ---------------------------------------------------------------------------------


def test_init_sends_the_run_and_exposes_its_fields(fake, monkeypatch):
    monkeypatch.setenv("CAIRN_USER", "ana")
    parent = fake.add_run(project="vision", hypothesis="h0")
    run = cairn.init(
        project="vision",
        name="baseline",
        hypothesis="mixup improves val acc",
        config={"lr": 0.01, "optimizer": {"name": "adam"}},
        parents=[parent["short_id"]],
        tags={"aug": "mixup", "debug": True, "n": 3},
        description="first try",
        group="sweep-1",
        seed=7,
        expected={"metric": "val_acc", "direction": "increase", "size": 0.01},
    )
    (post,) = fake.find("POST", "/api/v1/runs")
    body = post.json()
    # What the process is and where it runs, as the standard library sees it (no binary here).
    assert body.pop("command") == [sys.executable] + sys.argv
    assert body.pop("environment")["python"]["version"] == ".".join(map(str, sys.version_info[:3]))
    assert body.pop("on_duplicate") == "refuse", "identical finished runs are refused by default"
    assert body.pop("config_sources") == {"lr": "sdk", "optimizer": "sdk"}
    assert body == {
        "project": "vision",
        "name": "baseline",
        "description": "first try",
        "hypothesis": "mixup improves val acc",
        "expected": {"metric": "val_acc", "direction": "increase", "size": 0.01},
        "owner": "ana",
        "seeds": [7],
        "parents": [parent["short_id"]],
        "group_id": "sweep-1",
        "tags": {"aug": "mixup", "debug": "true", "n": "3"},
        "config": {"lr": 0.01, "optimizer": {"name": "adam"}},
    }
    assert post.headers["Content-Type"] == "application/json"
    assert len(run.id) == 32 and run.short_id == run.id[:8]
    assert run.project == "vision" and run.name == "baseline"
    assert run.url == f"{fake.url}/runs/{run.short_id}"
    assert run.config["optimizer"] == {"name": "adam"} and run.config.lr == 0.01
    assert cairn.run is run and cairn.current_run() is run
    # A Run object is accepted as a parent, by id.
    child = cairn.init(project="vision", hypothesis="h", parents=run)
    assert fake.find("POST", "/api/v1/runs")[-1].json()["parents"] == [run.id]
    assert cairn.run is child


def test_init_defaults_come_from_the_environment(fake, monkeypatch):
    monkeypatch.setenv("CAIRN_PROJECT", "nlp")
    monkeypatch.setenv("CAIRN_HYPOTHESIS", "bigger batch is fine")
    monkeypatch.setattr(_run.getpass, "getuser", lambda: "unixuser")
    cairn.init()
    body = fake.find("POST", "/api/v1/runs")[-1].json()
    for captured in ("command", "environment", "on_duplicate"):
        body.pop(captured)
    assert body == {"project": "nlp", "hypothesis": "bigger batch is fine", "owner": "unixuser"}
    monkeypatch.delenv("CAIRN_PROJECT")
    monkeypatch.delenv("CAIRN_HYPOTHESIS")
    cairn.init(hypothesis="explicit")
    body = fake.find("POST", "/api/v1/runs")[-1].json()
    assert body["project"] == "default" and body["hypothesis"] == "explicit"


def test_missing_hypothesis_raises_hypothesis_required(fake):
    fake.strict_projects.add("strict")
    with pytest.raises(cairn.HypothesisRequiredError) as info:
        cairn.init(project="strict")
    err = info.value
    assert isinstance(err, cairn.CairnError)
    assert err.code == "hypothesis_required" and err.status == 400
    assert err.message == "a hypothesis is required for runs in project 'strict'"
    assert "CAIRN_HYPOTHESIS" in str(err)
    assert cairn.run is None


def test_server_errors_become_cairn_errors(fake, monkeypatch):
    monkeypatch.setenv("CAIRN_RUN_ID", "deadbeef")
    with pytest.raises(cairn.CairnError) as info:
        cairn.init()
    assert info.value.code == "run_not_found" and info.value.status == 404
    assert "deadbeef" in info.value.message
    assert not isinstance(info.value, cairn.HypothesisRequiredError)


def test_connection_failure_names_the_server(monkeypatch):
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    monkeypatch.setenv("CAIRN_SERVER", f"http://127.0.0.1:{port}")
    with pytest.raises(cairn.CairnConnectionError) as info:
        cairn.init(project="p", hypothesis="h")
    assert f"http://127.0.0.1:{port}" in str(info.value)
    assert info.value.code == "connection_failed" and isinstance(info.value, cairn.CairnError)


# -- metrics ------------------------------------------------------------------------------


def test_steps_auto_increment_and_explicit_steps_are_kept(fake):
    run = cairn.init(project="p", hypothesis="h")
    run.log({"loss": 1.0, "acc": 0.1})
    run.log({"loss": 0.9})
    run.log({"loss": 0.8})
    run.log({"loss": 0.5}, step=10)
    run.log({"loss": 0.4})
    run.log({"val": {"acc": 0.5}}, step=3)  # nested keys are flattened with '/'
    assert run.step == 3
    run.finish()
    assert [p[0] for p in fake.series(run.id, "loss")] == [0, 1, 2, 10, 11]
    assert [p[1] for p in fake.series(run.id, "loss")] == [1.0, 0.9, 0.8, 0.5, 0.4]
    assert [p[0] for p in fake.series(run.id, "acc")] == [0]
    assert fake.series(run.id, "val/acc")[0][:2] == (3, 0.5)


def test_points_are_sent_columnar_with_log_time_timestamps(fake, monkeypatch):
    monkeypatch.setattr(_run, "FLUSH_INTERVAL", 0.3)
    run = cairn.init(project="p", hypothesis="h")
    before = int(time.time() * 1000)
    for i in range(5):
        run.log({"loss": 1.0 / (i + 1), "acc": i / 10})
    after = int(time.time() * 1000)
    # The background thread sends within the flush interval, before finish().
    assert wait_for(lambda: len(fake.series(run.id, "loss")) == 5)
    posts = fake.metric_posts()
    body = posts[0].json()
    assert set(body) == {"series", "batch_id"}
    assert len(body["batch_id"]) == 32
    by_key = {s["key"]: s for s in body["series"]}
    assert set(by_key) == {"loss", "acc"}
    assert by_key["loss"]["steps"] == [0, 1, 2, 3, 4]
    assert by_key["acc"]["values"] == [0.0, 0.1, 0.2, 0.3, 0.4]
    for ts in by_key["loss"]["timestamps"]:
        assert before <= ts <= after
    run.finish()
    assert sum(len(s["steps"]) for r in fake.metric_posts() for s in r.json()["series"]) == 10


def test_batches_are_sent_when_10000_points_are_queued(fake, monkeypatch):
    monkeypatch.setattr(_run, "FLUSH_INTERVAL", 3600.0)  # only the size threshold can trigger
    run = cairn.init(project="p", hypothesis="h")
    for i in range(12_000):
        run.log({"x": float(i)})
    assert wait_for(lambda: len(fake.metric_posts()) >= 1)
    first = fake.metric_posts()[0].json()
    assert sum(len(s["steps"]) for s in first["series"]) >= 10_000
    run.finish()
    pts = fake.series(run.id, "x")
    assert [p[0] for p in pts] == list(range(12_000))
    assert [p[1] for p in pts] == [float(i) for i in range(12_000)]


def test_large_batches_are_split_into_requests(fake, monkeypatch):
    monkeypatch.setattr(_run, "FLUSH_INTERVAL", 3600.0)
    monkeypatch.setattr(_run, "BATCH_POINTS", 10**9)
    monkeypatch.setattr(_run, "MAX_POINTS_PER_REQUEST", 1000)
    run = cairn.init(project="p", hypothesis="h")
    for i in range(1500):
        run.log({"a": i, "b": -i})
    run.finish()
    sizes = [sum(len(s["steps"]) for s in r.json()["series"]) for r in fake.metric_posts()]
    assert sizes == [1000, 1000, 1000]
    assert len(fake.series(run.id, "a")) == 1500 and len(fake.series(run.id, "b")) == 1500


class FakeNumpyScalar:
    def __init__(self, v):
        self.v = v

    def __float__(self):
        return float(self.v)


def test_values_are_numbers_and_non_finite_values_are_strings(fake):
    run = cairn.init(project="p", hypothesis="h")
    run.log({"nan": float("nan"), "inf": math.inf, "ninf": -math.inf, "flag": True, "n": 3, "np": FakeNumpyScalar(2.5)})
    run.finish()
    raw = fake.metric_posts()[0].body.decode()
    assert '"NaN"' in raw and '"Infinity"' in raw and '"-Infinity"' in raw
    assert "NaN," not in raw.replace('"NaN"', "")  # never bare NaN tokens
    by_key = {s["key"]: s["values"] for s in json.loads(raw)["series"]}
    assert by_key == {"nan": ["NaN"], "inf": ["Infinity"], "ninf": ["-Infinity"], "flag": [1.0], "n": [3.0], "np": [2.5]}


def test_invalid_values_are_refused_before_anything_is_queued(fake):
    run = cairn.init(project="p", hypothesis="h")
    for bad in ({"loss": "0.3"}, {"loss": None}, {"loss": [1, 2]}, {"": 1.0}, {"a\nb": 1.0}, {1: 1.0}):
        with pytest.raises((TypeError, ValueError)):
            run.log(bad)
    with pytest.raises(TypeError):
        run.log({"ok": 1.0, "bad": "x"})
    with pytest.raises(TypeError):
        run.log({"ok": 1.0}, step=1.5)
    with pytest.raises(TypeError):
        run.log([("loss", 1.0)])
    run.log({"ok": 2.0})
    run.finish()
    assert fake.series(run.id, "ok") == [(0, 2.0, fake.series(run.id, "ok")[0][2])]


def test_failed_sends_are_retried_with_backoff(fake, capsys):
    fake.metrics_failures = [503, 503]
    run = cairn.init(project="p", hypothesis="h")
    run.log({"loss": 0.5})
    run.finish()
    assert len(fake.metric_posts()) == 3
    # Retries of one batch carry one batch id, so the server can store it once.
    assert len({r.json()["batch_id"] for r in fake.metric_posts()}) == 1
    assert [p[:2] for p in fake.series(run.id, "loss")] == [(0, 0.5)]
    assert "could not send" not in capsys.readouterr().err
    assert fake.runs[run.id]["status"] == "finished"


def test_points_are_kept_after_final_failure_and_retried_at_finish(fake, monkeypatch, capsys):
    monkeypatch.setattr(_run, "FLUSH_INTERVAL", 0.05)
    fake.fail_all_metrics = True
    run = cairn.init(project="p", hypothesis="h")
    run.log({"loss": 0.5})
    run.log({"loss": 0.4})
    seen = []
    assert wait_for(lambda: seen.append(capsys.readouterr().err) or "retried at finish()" in "".join(seen))
    assert "could not send" in "".join(seen) and fake.url in "".join(seen)
    fake.fail_all_metrics = False
    run.log({"loss": 0.3})
    run.finish()
    assert [p[:2] for p in fake.series(run.id, "loss")] == [(0, 0.5), (1, 0.4), (2, 0.3)]


def test_finish_raises_when_points_cannot_be_delivered(fake, capsys):
    fake.fail_all_metrics = True
    run = cairn.init(project="p", hypothesis="h")
    run.log({"loss": 0.5})
    with pytest.raises(cairn.CairnError) as info:
        run.finish()
    assert info.value.code == "metrics_undelivered"
    assert "1 metric points" in info.value.message and "loss" in info.value.message
    assert fake.url in info.value.message
    assert fake.runs[run.id]["status"] == "finished"  # still finished on the server
    with pytest.raises(cairn.CairnError):
        run.log({"loss": 0.1})  # no logging after finish
    # Once the server recovers, finishing again delivers the kept points.
    fake.fail_all_metrics = False
    run.finish()
    assert [p[:2] for p in fake.series(run.id, "loss")] == [(0, 0.5)]
    assert len(fake.find("POST", "/finish")) == 1


def test_a_server_that_is_gone_gets_the_records_later(fake, tmp_path):
    import json

    run = cairn.init(project="p", hypothesis="h")
    run._client.retry_delays = (0.05,)
    run.log({"loss": 0.5}, step=3)
    artifact = tmp_path / "weights.bin"
    artifact.write_bytes(b"\x00\x01")
    fake.stop()
    assert run.log_artifact(artifact, name="model/weights.bin")["spooled"] is True
    run.finish()  # no exception: everything is kept on disk
    lines = [json.loads(l) for l in (tmp_path / "home" / "spool" / f"{run.id}.jsonl").read_text().splitlines()]
    assert [(l["method"], l["path"].rsplit("/", 1)[-1]) for l in lines] == [
        ("PUT", "weights.bin"),
        ("POST", "metrics"),
        ("POST", "finish"),
    ]
    assert lines[1]["body"]["series"][0]["steps"] == [3] and lines[1]["body"]["batch_id"]
    assert lines[2]["body"] == {"status": "finished"}
    assert open(lines[0]["file"], "rb").read() == b"\x00\x01"


def test_summary_reads_local_then_server_values_and_logs_assignments(fake):
    run = cairn.init(project="p", hypothesis="h")
    run.log({"acc": 0.5})
    run.log({"acc": 0.7, "loss": float("nan")})
    assert run.summary["acc"] == 0.7
    assert math.isnan(run.summary["loss"])
    # A key only the server knows (e.g. logged by another process).
    fake.points.setdefault(run.id, {})["remote"] = [(0, 1.0, 0), (5, "Infinity", 0)]
    assert run.summary["remote"] == math.inf
    with pytest.raises(KeyError):
        run.summary["missing"]
    assert "missing" not in run.summary and "acc" in run.summary
    run.summary["best_acc"] = 0.93
    assert run.summary["best_acc"] == 0.93
    run.log({"acc": 0.8})  # step 2: summary assignment did not advance the step
    run.finish()
    assert fake.series(run.id, "best_acc")[0][:2] == (1, 0.93)
    assert [p[0] for p in fake.series(run.id, "acc")] == [0, 1, 2]
    assert set(run.summary) >= {"acc", "loss", "remote", "best_acc"}


def test_config_updates_patch_the_run(fake):
    run = cairn.init(project="p", hypothesis="h", config={"lr": 0.1, "epochs": 3})
    run.config["lr"] = 0.05
    run.config.update({"batch": 32, "opt": {"name": "sgd"}})
    run.config.dropout = 0.1
    patches = [r.json() for r in fake.find("PATCH")]
    assert patches == [
        {"config": {"lr": 0.05}, "config_sources": {"lr": "sdk"}},
        {"config": {"batch": 32, "opt": {"name": "sgd"}}, "config_sources": {"batch": "sdk", "opt": "sdk"}},
        {"config": {"dropout": 0.1}, "config_sources": {"dropout": "sdk"}},
    ]
    assert dict(run.config) == {"lr": 0.05, "epochs": 3, "batch": 32, "opt": {"name": "sgd"}, "dropout": 0.1}
    assert run.config == fake.runs[run.id]["config"]
    with pytest.raises(AttributeError):
        run.config.nope
    run.set_tags({"stage": "dev", "n": 1})
    assert fake.find("PATCH")[-1].json() == {"tags": {"stage": "dev", "n": "1"}}
    assert run.tags == {"stage": "dev", "n": "1"}


# -- finishing ------------------------------------------------------------------------------


def test_finish_is_idempotent_and_module_helpers_use_the_current_run(fake):
    run = cairn.init(project="p", hypothesis="h")
    cairn.log({"loss": 1.0})
    cairn.log({"loss": 0.5})
    cairn.finish(exit_code=0)
    run.finish()
    cairn.finish()
    finishes = fake.find("POST", "/finish")
    assert len(finishes) == 1 and finishes[0].json() == {"status": "finished", "exit_code": 0}
    assert run.status == "finished"
    assert cairn.run is None
    with pytest.raises(cairn.CairnError):
        cairn.log({"loss": 0.1})
    with pytest.raises(ValueError):
        run.finish(status="done")


def test_context_manager_finishes_or_fails(fake):
    with cairn.init(project="p", hypothesis="h") as ok:
        ok.log({"x": 1})
    assert fake.runs[ok.id]["status"] == "finished"
    with pytest.raises(RuntimeError, match="boom"):
        with cairn.init(project="p", hypothesis="h") as bad:
            bad.log({"x": 1})
            raise RuntimeError("boom")
    assert fake.runs[bad.id]["status"] == "failed"
    assert fake.series(bad.id, "x")[0][:2] == (0, 1.0)


def test_init_finishes_a_previous_unfinished_run(fake, capsys):
    first = cairn.init(project="p", hypothesis="h")
    second = cairn.init(project="p", hypothesis="h")
    assert fake.runs[first.id]["status"] == "finished"
    assert fake.runs[second.id]["status"] == "running"
    assert "finishing the previous run" in capsys.readouterr().err


SCRIPT = """
import sys
sys.path.insert(0, {root!r})
import cairn
run = cairn.init(project="p", hypothesis="h")
for i in range(100):
    run.log({{"loss": 1.0 / (i + 1)}})
{tail}
"""


@pytest.mark.parametrize(
    "tail,status,exit_code",
    [("", "finished", None), ("raise SystemExit(0)", "finished", None), ("raise ValueError('bad')", "failed", 1)],
)
def test_atexit_flushes_and_finishes(fake, tmp_path, tail, status, exit_code):
    script = tmp_path / "train.py"
    script.write_text(SCRIPT.format(root=ROOT, tail=tail))
    env = dict(os.environ, CAIRN_SERVER=fake.url)
    proc = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=60)
    (run_id,) = list(fake.runs)
    assert fake.runs[run_id]["status"] == status, proc.stderr
    assert fake.runs[run_id]["exit_code"] == exit_code
    assert [p[0] for p in fake.series(run_id, "loss")] == list(range(100))


# -- attached mode ----------------------------------------------------------------------------


def test_attach_to_a_run_created_by_the_wrapper(fake, monkeypatch):
    existing = fake.add_run(project="vision", hypothesis="wrapper hypothesis", config={"a": 1}, tags={"via": "cli"})
    monkeypatch.setenv("CAIRN_RUN_ID", existing["short_id"])
    run = cairn.init(project="vision", config={"b": 2}, tags={"x": "y"})
    assert run.id == existing["id"] and run.attached
    assert fake.find("POST", "/api/v1/runs") == []  # nothing created
    assert fake.find("GET", "/api/v1/runs/" + existing["short_id"])
    (patch,) = fake.find("PATCH")
    assert patch.json() == {"config": {"b": 2}, "config_sources": {"b": "sdk"}, "tags": {"x": "y"}}
    assert dict(run.config) == {"a": 1, "b": 2}
    assert run.tags == {"via": "cli", "x": "y"}
    run.log({"loss": 0.1})
    run.finish()
    assert fake.series(run.id, "loss")[0][:2] == (0, 0.1)
    assert fake.find("POST", "/finish") == []  # the wrapper owns the status
    assert fake.runs[run.id]["status"] == "running"


def test_attached_run_failure_leaves_the_status_to_the_wrapper(fake, monkeypatch):
    existing = fake.add_run(project="p", hypothesis="h")
    monkeypatch.setenv("CAIRN_RUN_ID", existing["id"])
    with pytest.raises(KeyError):
        with cairn.init() as run:
            run.log({"x": 1})
            raise KeyError("k")
    assert fake.find("POST", "/finish") == []
    assert fake.find("PATCH") == []  # init was given nothing to change
    assert len(fake.series(existing["id"], "x")) == 1


# -- artifacts ---------------------------------------------------------------------------------


def test_artifact_upload_streams_the_file(fake, tmp_path, monkeypatch):
    data = os.urandom(3 * 1024 * 1024 + 123)
    path = tmp_path / "model.bin"
    path.write_bytes(data)
    sent = []
    real_send = http.client.HTTPConnection.send

    def spy(self, chunk):
        sent.append(chunk if isinstance(chunk, (bytes, bytearray)) else type(chunk))
        return real_send(self, chunk)

    monkeypatch.setattr(http.client.HTTPConnection, "send", spy)
    run = cairn.init(project="p", hypothesis="h")
    sent.clear()
    info = run.log_artifact(path)
    assert info == {"path": "model.bin", "size": len(data), "blake3": "fake", "created_at": 0}
    (put,) = fake.find("PUT")
    assert put.path == f"/api/v1/runs/{run.id}/artifacts/model.bin"
    assert put.headers["Content-Length"] == str(len(data))
    assert "Transfer-Encoding" not in put.headers
    assert put.headers["Content-Type"] == "application/octet-stream"
    assert fake.artifacts[run.id]["model.bin"] == data
    # Sent in pieces, never as one buffer holding the whole file.
    body_chunks = [c for c in sent if isinstance(c, (bytes, bytearray)) and not c.startswith(b"PUT ")]
    assert sum(len(c) for c in body_chunks) == len(data)
    assert len(body_chunks) >= 4 and max(len(c) for c in body_chunks) <= 1024 * 1024


def test_artifact_names_are_quoted_and_directories_upload_every_file(fake, tmp_path):
    run = cairn.init(project="p", hypothesis="h")
    f = tmp_path / "weights.pt"
    f.write_bytes(b"w")
    info = run.log_artifact(str(f), name="ckpt dir/epoch #1.pt")
    assert info["path"] == "ckpt dir/epoch #1.pt"
    assert fake.find("PUT")[-1].path == f"/api/v1/runs/{run.id}/artifacts/ckpt%20dir/epoch%20%231.pt"

    d = tmp_path / "outputs"
    (d / "sub").mkdir(parents=True)
    (d / "a.txt").write_text("a")
    (d / "sub" / "b.txt").write_text("bb")
    infos = run.log_artifact(d)
    assert [i["path"] for i in infos] == ["outputs/a.txt", "outputs/sub/b.txt"]
    infos = run.log_artifact(d, name="renamed")
    assert [i["path"] for i in infos] == ["renamed/a.txt", "renamed/sub/b.txt"]
    assert fake.artifacts[run.id]["renamed/sub/b.txt"] == b"bb"
    assert cairn.log_artifact(f)["path"] == "weights.pt"
    with pytest.raises(FileNotFoundError):
        run.log_artifact(tmp_path / "nope")


def test_artifact_upload_is_retried_from_the_start(fake, tmp_path, monkeypatch):
    path = tmp_path / "data.bin"
    path.write_bytes(b"0123456789" * 1000)
    run = cairn.init(project="p", hypothesis="h")
    calls = {"n": 0}
    real_once = run._client._once

    def flaky(method, target, body, headers, file=None, timeout=None):
        if file is not None and calls["n"] == 0:
            calls["n"] += 1
            file[0].read(500)  # a partial send, then the server answers 503
            from cairn.errors import CairnError

            raise CairnError("store_unavailable", "busy", 503)
        return real_once(method, target, body, headers, file=file, timeout=timeout)

    monkeypatch.setattr(run._client, "_once", flaky)
    run.log_artifact(path)
    assert fake.artifacts[run.id]["data.bin"] == b"0123456789" * 1000


# -- local server discovery ------------------------------------------------------------------


def test_find_home(tmp_path, monkeypatch):
    from cairn import _local

    repo = tmp_path / "repo"
    (repo / "src" / "deep").mkdir(parents=True)
    (repo / ".git").write_text("gitdir: elsewhere")  # worktrees have a .git file
    assert _local.find_home(str(repo / "src" / "deep")) == str(repo / ".cairn")
    plain = tmp_path / "plain"
    plain.mkdir()
    if not any(os.path.exists(os.path.join(p, ".git")) for p in [str(tmp_path)] + [str(x) for x in tmp_path.parents]):
        assert _local.find_home(str(plain)) == str(plain / ".cairn")
    monkeypatch.setenv("CAIRN_HOME", str(tmp_path / "home"))
    assert _local.find_home(str(plain)) == str(tmp_path / "home")


@pytest.fixture
def fake_binary(tmp_path):
    script = tmp_path / "bin" / "cairn"
    script.parent.mkdir()
    script.write_text(
        f"#!{sys.executable}\n"
        "import sys\n"
        f"sys.path.insert(0, {HERE!r})\n"
        "import fakeserver\n"
        "fakeserver.main(sys.argv[1:])\n"
    )
    script.chmod(0o755)
    home = tmp_path / "home"
    yield script, home
    from cairn import _local

    doc = _local.read_server_file(str(home))
    if doc:
        import signal

        try:
            os.kill(int(doc["pid"]), signal.SIGTERM)
        except OSError:
            pass
    for proc in _local._started:
        try:
            proc.wait(timeout=5)
        except Exception:
            pass
    _local._started.clear()


def test_local_server_is_started_once_and_reused(fake_binary, monkeypatch):
    script, home = fake_binary
    monkeypatch.setenv("CAIRN_BIN", str(script))
    monkeypatch.setenv("CAIRN_HOME", str(home))
    run = cairn.init(project="p", hypothesis="h")
    doc = json.loads((home / "server.json").read_text())
    assert run.url.startswith(doc["url"] + "/runs/")
    assert (home / "server.log").exists()
    run.log({"x": 1})
    run.finish()
    cairn.init(project="p", hypothesis="h").finish()
    assert len((home / "starts.txt").read_text().split()) == 1


def test_stale_server_file_starts_a_new_server(fake_binary, monkeypatch):
    script, home = fake_binary
    home.mkdir()
    (home / "server.json").write_text(json.dumps({"url": "http://127.0.0.1:9", "pid": 999999}))
    monkeypatch.setenv("CAIRN_BIN", str(script))
    monkeypatch.setenv("CAIRN_HOME", str(home))
    run = cairn.init(project="p", hypothesis="h")
    assert "127.0.0.1:9/" not in run.url
    run.finish()


def test_missing_binary_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("CAIRN_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(cairn.CairnError) as info:
        cairn.init(project="p", hypothesis="h")
    assert "cairn binary not found: install it or set CAIRN_BIN / CAIRN_SERVER" in str(info.value)
    monkeypatch.setenv("CAIRN_BIN", str(tmp_path / "nope" / "cairn"))
    with pytest.raises(cairn.CairnError) as info:
        cairn.init(project="p", hypothesis="h")
    assert "cairn binary not found" in str(info.value) and "CAIRN_BIN" in str(info.value)


def test_a_binary_that_dies_reports_its_log(tmp_path, monkeypatch):
    script = tmp_path / "cairn"
    script.write_text("#!/bin/sh\necho 'error: store is locked' >&2\nexit 3\n")
    script.chmod(0o755)
    monkeypatch.setenv("CAIRN_BIN", str(script))
    monkeypatch.setenv("CAIRN_HOME", str(tmp_path / "home"))
    with pytest.raises(cairn.CairnError) as info:
        cairn.init(project="p", hypothesis="h")
    assert info.value.code == "server_start_failed"
    assert "status 3" in str(info.value) and "store is locked" in str(info.value)


def test_example_script_runs(fake, tmp_path):
    env = dict(os.environ, CAIRN_SERVER=fake.url, PYTHONPATH=ROOT)
    proc = subprocess.run(
        [sys.executable, os.path.join(ROOT, "examples", "train.py")],
        env=env,
        cwd=str(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    (run,) = fake.runs.values()
    assert run["project"] == "demo" and run["status"] == "finished" and run["hypothesis"]
    assert run["config"]["optimizer"] == {"name": "adam"}
    assert fake.series(run["id"], "loss") and fake.series(run["id"], "acc")
    assert fake.artifacts[run["id"]]
