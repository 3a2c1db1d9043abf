"""Integration tests against the real `cairn` binary (embedded store, temporary home).

The binary comes from $CAIRN_BIN, else <repo>/target/debug/cairn. These tests FAIL,
on purpose, when it is missing: build it first (`cargo build`).

    cd sdk/python && python -m pytest -q tests/test_real_server.py
"""

import json
import math
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

import cairn
from cairn import _local

HERE = Path(__file__).resolve().parent
SDK_ROOT = HERE.parent
REPO_ROOT = HERE.parents[2]
BINARY = os.environ.get("CAIRN_BIN") or str(REPO_ROOT / "target" / "debug" / "cairn")


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    assert os.path.isfile(BINARY) and os.access(BINARY, os.X_OK), (
        f"the cairn binary is missing at {BINARY}: build it (`cargo build` in {REPO_ROOT}) "
        "or point CAIRN_BIN at it. This integration test does not skip."
    )
    home = tmp_path_factory.mktemp("cairn-home")
    yield home
    # Stop the server the SDK started for this home (only that one, by its pid).
    doc = _local.read_server_file(str(home))
    if doc and doc.get("pid"):
        try:
            os.kill(int(doc["pid"]), signal.SIGTERM)
        except OSError:
            pass
    for proc in list(_local._started):
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        _local._started.remove(proc)


@pytest.fixture
def real(home, monkeypatch, tmp_path):
    """Points the SDK at the local store in `home` (no CAIRN_SERVER: autostart path),
    from a working folder of its own (outside any git repository)."""
    monkeypatch.setenv("CAIRN_HOME", str(home))
    monkeypatch.setenv("CAIRN_BIN", BINARY)
    monkeypatch.chdir(tmp_path)
    return home


def server_url(home) -> str:
    return _local.ensure_server(str(home))


def api(base, method, path, body=None, raw=False):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            content = resp.read()
            if raw:
                return content, dict(resp.headers.items())
            return json.loads(content) if content.strip() else None
    except urllib.error.HTTPError as e:
        raise AssertionError(f"{method} {path} -> {e.code}: {e.read().decode(errors='replace')}") from None


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_readme_example_end_to_end(real, tmp_path):
    project = unique("demo")
    run = cairn.init(
        project=project,
        hypothesis="warmup lowers the final loss",
        config={"lr": 3e-4, "epochs": 2, "optimizer": {"name": "adam"}},
        tags={"suite": "integration"},
        seed=1,
        expected={"metric": "loss", "direction": "decrease", "size": 0.1},
    )
    base = server_url(real)
    assert run.url == f"{base}/runs/{run.short_id}"
    assert api(base, "GET", "/healthz")["status"] == "ok"

    losses, accs = [], []
    for step in range(1000):
        loss = 1.0 / (step + 1)
        acc = 1.0 - loss / 3
        losses.append(loss)
        accs.append(acc)
        run.log({"loss": loss, "acc": acc})
    run.config["batch_size"] = 64
    run.summary["best_acc"] = max(accs)

    payload = os.urandom(2 * 1024 * 1024 + 17)
    weights = tmp_path / "weights.bin"
    weights.write_bytes(payload)
    info = run.log_artifact(weights, name="model/weights.bin")
    assert info["path"] == "model/weights.bin" and info["size"] == len(payload)
    run.finish()

    record = api(base, "GET", f"/api/v1/runs/{run.short_id}")
    assert record["id"] == run.id and record["project"] == project
    assert record["status"] == "finished" and record["ended_at"] is not None
    assert record["hypothesis"] == "warmup lowers the final loss"
    assert record["expected"]["metric"] == "loss" and record["expected"]["direction"] == "decrease"
    assert record["config"] == {"lr": 3e-4, "epochs": 2, "optimizer": {"name": "adam"}, "batch_size": 64}
    assert record["tags"]["suite"] == "integration"
    assert record["seeds"] == [1]
    summaries = {m["key"]: m for m in record["metrics"]}
    assert summaries["loss"]["count"] == 1000 and summaries["loss"]["last_step"] == 999
    assert summaries["best_acc"]["last"] == max(accs) and summaries["best_acc"]["last_step"] == 999

    hist = api(base, "GET", f"/api/v1/runs/{run.id}/metrics/loss")
    assert hist["total"] == 1000 and hist["downsampled"] is False
    assert hist["steps"] == list(range(1000))
    assert hist["values"] == losses
    assert len(hist["timestamps"]) == 1000 and all(isinstance(t, int) for t in hist["timestamps"])
    hist = api(base, "GET", f"/api/v1/runs/{run.id}/metrics/acc?max_points=100")
    assert hist["downsampled"] is True and len(hist["steps"]) <= 100

    body, headers = api(base, "GET", f"/api/v1/runs/{run.id}/artifacts/model/weights.bin", raw=True)
    assert body == payload, "artifact bytes differ from the uploaded file"
    lower = {k.lower(): v for k, v in headers.items()}
    assert lower.get("x-cairn-blake3") == info["blake3"]
    listing = api(base, "GET", f"/api/v1/runs/{run.id}/artifacts")["artifacts"]
    assert [a["path"] for a in listing] == ["model/weights.bin"]

    # The local server is reused, not started again.
    assert len(_local._started) == 1
    assert run.summary["loss"] == losses[-1]


def test_hypothesis_is_required_by_default(real):
    with pytest.raises(cairn.HypothesisRequiredError) as info:
        cairn.init(project=unique("strict"))
    assert info.value.code == "hypothesis_required" and info.value.status == 400


def test_non_finite_values_round_trip(real):
    run = cairn.init(project=unique("nan"), hypothesis="losses can diverge")
    run.log({"loss": 1.0})
    run.log({"loss": float("nan")})
    run.log({"loss": math.inf})
    run.log({"loss": -math.inf})
    run.finish()
    base = server_url(real)
    hist = api(base, "GET", f"/api/v1/runs/{run.id}/metrics/loss")
    assert hist["steps"] == [0, 1, 2, 3]
    assert hist["values"] == [1.0, "NaN", "Infinity", "-Infinity"]
    fresh = cairn.Run(run._client, run.data)  # no local values: read from the server
    assert fresh.summary["loss"] == -math.inf


def test_context_manager_marks_failures(real):
    with pytest.raises(ZeroDivisionError):
        with cairn.init(project=unique("fail"), hypothesis="h") as run:
            run.log({"x": 1})
            1 / 0
    record = api(server_url(real), "GET", f"/api/v1/runs/{run.id}")
    assert record["status"] == "failed"
    assert {m["key"] for m in record["metrics"]} == {"x"}


def test_attach_to_a_run_created_elsewhere(real, monkeypatch):
    base = server_url(real)
    created = api(
        base,
        "POST",
        "/api/v1/runs",
        {"project": unique("attach"), "hypothesis": "h", "config": {"a": 1}, "command": ["python", "train.py"]},
    )
    monkeypatch.setenv("CAIRN_RUN_ID", created["short_id"])
    run = cairn.init(config={"b": 2}, tags={"via": "sdk"})
    assert run.id == created["id"] and run.attached
    run.log({"loss": 0.5})
    run.finish()
    record = api(base, "GET", f"/api/v1/runs/{run.id}")
    assert record["status"] == "running"  # the wrapper owns the status
    assert record["config"] == {"a": 1, "b": 2} and record["tags"]["via"] == "sdk"
    assert {m["key"]: m["count"] for m in record["metrics"]} == {"loss": 1}
    api(base, "POST", f"/api/v1/runs/{run.id}/finish", {"status": "finished", "exit_code": 0})


def test_errors_carry_the_server_code(real):
    run = cairn.init(project=unique("err"), hypothesis="h")
    with pytest.raises(cairn.CairnError) as info:
        run._client.request("GET", "/api/v1/runs/ffffffff")
    assert info.value.code == "run_not_found" and info.value.status == 404
    with pytest.raises(cairn.CairnError) as info:
        run._client.request("GET", f"/api/v1/runs/{run.id}/artifacts/nope.bin")
    assert info.value.code == "artifact_not_found"
    run.finish()


def test_example_script(real, tmp_path):
    base = server_url(real)
    env = dict(os.environ, CAIRN_SERVER=base, PYTHONPATH=str(SDK_ROOT))
    env.pop("CAIRN_RUN_ID", None)
    proc = subprocess.run(
        [sys.executable, str(SDK_ROOT / "examples" / "train.py")],
        env=env,
        cwd=str(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    runs = api(base, "GET", "/api/v1/runs?project=demo")["runs"]
    assert runs, "the example created no run in project demo"
    latest = max(runs, key=lambda r: r["created_at"])
    assert latest["status"] == "finished"
    assert latest["config"]["optimizer"] == {"name": "adam"}
    keys = {m["key"] for m in latest["metrics"]}
    assert {"loss", "acc"} <= keys
    artifacts = api(base, "GET", f"/api/v1/runs/{latest['id']}/artifacts")["artifacts"]
    assert [a["path"] for a in artifacts] == ["model/weights.json"]


def test_seed_everything_seeds_and_records(real):
    import random

    run = cairn.init(project="seeds", hypothesis="seeding makes it repeatable")
    seeded = cairn.seed_everything(42)
    first = random.random()
    cairn.seed_everything(42)
    assert random.random() == first
    assert "random" in seeded
    run.finish()
    got = api(server_url(real), "GET", f"/api/v1/runs/{run.id}")
    assert got["seeds"] == [42]
    assert "random" in got["tags"]["cairn.seeded"]


def test_identical_runs_are_refused_unless_replicated(real):
    project = "dup-" + uuid.uuid4().hex[:8]
    first = cairn.init(project=project, hypothesis="h", config={"lr": 0.1}, seed=1)
    first.log({"acc": 0.9})
    first.finish()
    assert first.data["fingerprint"] and first.data["group_id"].startswith("replicates-")
    assert first.data["config_sources"] == {"lr": "sdk"}
    assert first.data["environment"]["python"]["packages"], "captured like cairn run"
    with pytest.raises(cairn.DuplicateRunError) as err:
        cairn.init(project=project, hypothesis="h", config={"lr": 0.1}, seed=2)
    assert err.value.run["short_id"] == first.short_id
    assert "on_duplicate" in str(err.value)
    again = cairn.init(project=project, hypothesis="h", config={"lr": 0.1}, seed=2, on_duplicate="replicate")
    again.finish()
    assert again.data["group_id"] == first.data["group_id"], "replicates share a group"
    other = cairn.init(project=project, hypothesis="h", config={"lr": 0.2})
    other.finish()
    assert other.data["fingerprint"] != first.data["fingerprint"]
    assert other.data["changes"]["params"] == [{"key": "lr", "before": 0.1, "after": 0.2}]


def test_data_declared_from_the_sdk_is_fingerprinted(real, tmp_path):
    data = tmp_path / "dataset"
    data.mkdir()
    (data / "a.csv").write_text("x,y\n1,2\n")
    run = cairn.init(project="data-" + uuid.uuid4().hex[:8], hypothesis="h", data=str(data))
    ds = run.data["data"]["datasets"]
    assert len(ds) == 1 and len(ds[0]["hash"]) == 64 and ds[0]["files"] == 1
    extra = tmp_path / "labels.txt"
    extra.write_text("ok\n")
    rec = run.declare_data(extra)
    assert rec["manifest_artifact"] == "data/manifest-1.json"
    run.finish()
    base = server_url(real)
    paths = [a["path"] for a in api(base, "GET", f"/api/v1/runs/{run.id}/artifacts")["artifacts"]]
    assert paths == ["data/manifest-0.json", "data/manifest-1.json"]
    got = api(base, "GET", f"/api/v1/runs/{run.id}")
    assert [d["path"] for d in got["data"]["datasets"]] == [str(data), str(extra)]
    with pytest.raises(cairn.CairnError) as err:
        cairn.init(project="data-x", hypothesis="h", data="/no/such/dataset")
    assert "/no/such/dataset" in str(err.value)


def test_records_are_kept_while_the_server_is_away_and_sent_later(real):
    run = cairn.init(project="offline-" + uuid.uuid4().hex[:8], hypothesis="h")
    run._client.retry_delays = (0.1,)
    run.log({"loss": 1.0}, step=0)
    run.flush()
    _kill_server(real)
    run.log({"loss": 0.5}, step=1)
    run.finish()  # the server is gone: kept on disk, no exception
    spool = Path(real) / "spool" / f"{run.id}.jsonl"
    assert spool.exists()
    base = server_url(real)  # a new server on the same store
    done = subprocess.run([BINARY, "sync"], env={**os.environ, "CAIRN_HOME": str(real)}, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    got = api(base, "GET", f"/api/v1/runs/{run.id}")
    assert got["status"] == "finished"
    (loss,) = [m for m in got["metrics"] if m["key"] == "loss"]
    assert loss["count"] == 2 and loss["last"] == 0.5
    assert not spool.exists()


def _kill_server(home) -> None:
    import time

    doc = _local.read_server_file(str(home))
    if not doc or not doc.get("pid"):
        return
    pid = int(doc["pid"])
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        return
    for _ in range(200):
        try:
            os.kill(pid, 0)
        except OSError:
            return
        time.sleep(0.05)


CRASHING_SCRIPT = """
import os, sys, time
import cairn
run = cairn.init(project=sys.argv[1], hypothesis="h")
run._client.retry_delays = (0.1,)
for i in range(50):
    run.log({"loss": float(i)}, step=i)
run.flush()
time.sleep(1.5)  # long enough for a heartbeat
print(run.id, flush=True)
sys.stdin.readline()  # the server is gone now
for i in range(50, 100):
    run.log({"loss": float(i)}, step=i)
spool = os.path.join(os.environ["CAIRN_HOME"], "spool", run.id + ".jsonl")
while not (os.path.exists(spool) and os.path.getsize(spool) > 0):
    time.sleep(0.05)
print("spooled", flush=True)
time.sleep(120)  # killed here, never finishing
"""


def test_a_process_killed_during_an_outage_loses_no_points_and_its_run_crashes(real, monkeypatch):
    import time

    monkeypatch.setenv("CAIRN_HEARTBEAT_TIMEOUT", "2")
    _kill_server(real)  # the next server starts with the short heartbeat timeout
    server_url(real)
    child = subprocess.Popen(
        [sys.executable, "-c", CRASHING_SCRIPT, unique("outage")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(SDK_ROOT)},
    )
    try:
        run_id = child.stdout.readline().strip()
        assert run_id, "the training process did not start its run"
        _kill_server(real)
        child.stdin.write("go\n")
        child.stdin.flush()
        assert child.stdout.readline().strip() == "spooled"
    finally:
        child.kill()  # SIGKILL: no finish(), no atexit
        child.wait()
    spool = Path(real) / "spool" / f"{run_id}.jsonl"
    assert spool.exists(), "the undelivered points were not written to disk"
    base = server_url(real)  # a new server on the same store
    deadline = time.time() + 20
    while True:
        got = api(base, "GET", f"/api/v1/runs/{run_id}")
        if got["status"] == "crashed":
            break
        assert time.time() < deadline, f"the run was not marked crashed: {got['status']}"
        time.sleep(0.2)
    done = subprocess.run([BINARY, "sync"], env={**os.environ, "CAIRN_HOME": str(real)}, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    got = api(base, "GET", f"/api/v1/runs/{run_id}")
    (loss,) = [m for m in got["metrics"] if m["key"] == "loss"]
    assert loss["count"] == 100 and loss["last"] == 99.0, loss
    assert got["status"] == "crashed"
    assert not spool.exists()
    _kill_server(real)  # later tests get a server with the default timeout


def test_a_short_outage_is_sent_at_finish(real):
    run = cairn.init(project=unique("blip"), hypothesis="h")
    run._client.retry_delays = (0.1,)
    run.log({"loss": 1.0}, step=0)
    run.flush()
    _kill_server(real)
    run.log({"loss": 0.5}, step=1)
    run._send_buffer(include_held=False)  # what the sender thread does each second
    spool = Path(real) / "spool" / f"{run.id}.jsonl"
    assert spool.exists() and spool.stat().st_size > 0
    # Back at the same address (as a team's server comes back after a restart).
    port = run._client.base_url.rsplit(":", 1)[1].strip("/")
    back = subprocess.Popen(
        [BINARY, "server", "--port", port], env={**os.environ, "CAIRN_HOME": str(real)}, stdout=subprocess.PIPE
    )
    try:
        assert "listening" in back.stdout.readline().decode()
        run.finish()
        got = api(run._client.base_url, "GET", f"/api/v1/runs/{run.id}")
        (loss,) = [m for m in got["metrics"] if m["key"] == "loss"]
        assert loss["count"] == 2 and got["status"] == "finished"
        assert not spool.exists()
    finally:
        back.terminate()
        back.wait()


# -- a team server that requires sign-in ---------------------------------------------


@pytest.fixture
def team_server(tmp_path, monkeypatch):
    """`cairn server --auth` with one admin; yields (url, token)."""
    assert os.path.isfile(BINARY), f"the cairn binary is missing at {BINARY}"
    home = tmp_path / "server-home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAIRN_")}
    env["CAIRN_HOME"] = str(home)
    subprocess.run(
        [BINARY, "admin", "users", "add", "ada", "--admin", "--password-stdin", "--store", str(home / "cairn.db")],
        input=b"ada-password-1\n",
        env=env,
        check=True,
        capture_output=True,
    )
    proc = subprocess.Popen([BINARY, "server", "--port", "0", "--auth"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        doc = None
        for _ in range(300):
            doc = _local.read_server_file(str(home))
            if doc and doc.get("pid") == proc.pid:
                break
            import time

            time.sleep(0.05)
        url = doc["url"]
        req = urllib.request.Request(
            url + "/api/v1/auth/login",
            data=json.dumps({"username": "ada", "password": "ada-password-1"}).encode(),
            headers={"Content-Type": "application/json"},
        )
        token = json.load(urllib.request.urlopen(req))["token"]
        for k in [k for k in os.environ if k.startswith("CAIRN_")]:
            monkeypatch.delenv(k)
        monkeypatch.setenv("CAIRN_CONFIG_DIR", str(tmp_path / "config"))
        monkeypatch.setenv("CAIRN_SERVER", url)
        monkeypatch.chdir(tmp_path)
        yield url, token
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_a_token_signs_the_sdk_in_and_the_run_is_the_users(team_server, monkeypatch):
    url, token = team_server
    monkeypatch.setenv("CAIRN_TOKEN", token)
    run = cairn.init(project="team", hypothesis="tokens work", config={"lr": 0.1})
    run.log({"acc": 0.9})
    run.finish()
    req = urllib.request.Request(f"{url}/api/v1/runs/{run.id}", headers={"Authorization": f"Bearer {token}"})
    record = json.load(urllib.request.urlopen(req))
    assert record["owner"] == "ada", "the owner is the signed-in user, not the machine's"
    assert record["metrics"][0]["key"] == "acc"


def test_without_a_token_the_sdk_says_to_sign_in(team_server):
    with pytest.raises(cairn.CairnError) as err:
        cairn.init(project="team", hypothesis="no token")
    assert "sign" in str(err.value).lower()


def test_the_token_cairn_login_stored_is_used(team_server, tmp_path):
    url, token = team_server
    config = tmp_path / "config"
    config.mkdir()
    creds = config / "credentials.toml"
    creds.write_text(f'default_server = "{url}"\n\n[servers."{url}"]\ntoken = "{token}"\nuser = "ada"\n')
    creds.chmod(0o600)
    # What Python < 3.11 reads (no tomllib) is what tomllib reads.
    from cairn._http import _read_credentials_text
    assert _read_credentials_text(creds.read_text()) == {
        "default_server": url, "servers": {url: {"token": token, "user": "ada"}}}
    run = cairn.init(project="team", hypothesis="stored token")
    run.finish()
    creds.chmod(0o644)
    with pytest.raises(cairn.CairnError) as err:
        cairn.init(project="team", hypothesis="readable file")
    assert "chmod 600" in str(err.value)


TRAIN_WITH_CHECKPOINTS = r'''
import json, os, sys, time
import cairn

run = cairn.init()
state = run.resume_state()
start = 0
if state is not None:
    with open(state["path"]) as f:
        assert json.load(f)["step"] == state["step"]
    start = state["step"] + 1
    print("resumed after step", state["step"], flush=True)
for step in range(start, 40):
    run.log({"loss": 1.0 / (step + 1)}, step=step)
    time.sleep(0.05)
    if run.should_checkpoint():
        path = os.path.join(run.checkpoint_dir, "state.json")
        with open(path, "w") as f:
            json.dump({"step": step}, f)
        run.save_checkpoint(path, step=step)
        print("checkpointed at step", step, flush=True)
        sys.exit(0)
'''


def _wait(predicate, what, timeout=60.0):
    import time

    until = time.time() + timeout
    while time.time() < until:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_preempted_job_resumes_from_its_checkpoint_with_continuous_steps(real, tmp_path):
    """cairn.submit queues a preemptible sweep job that checkpoints through the SDK; an
    urgent job preempts it; it resumes from its checkpoint, and its metric steps run
    0..39 once each, with no gap."""
    base = server_url(real)
    api(base, "PUT", "/api/v1/runner/settings", {"shares": {"team:sweep": 1, "team:prod": 1}, "grace_s": 20})
    script = tmp_path / "train.py"
    script.write_text(TRAIN_WITH_CHECKPOINTS)
    log = open(tmp_path / "agent.log", "w")
    agent = subprocess.Popen(
        [BINARY, "agent", "--server", base, "--name", "sdk-agent", "--gpus", "fake:1", "--cpus", "4", "--mem", "4G",
         "--poll-ms", "100", "--work-dir", str(tmp_path / "work")],
        stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "CAIRN_HOME": str(real)},
    )
    try:
        _wait(lambda: api(base, "GET", "/api/v1/agents")["agents"], "the agent to register")
        sweep = cairn.submit(
            [sys.executable, str(script)], project="resume", hypothesis="it resumes", gpus=1, priority="low",
            preemptible=True, team="sweep", env={"PYTHONPATH": str(SDK_ROOT)}, on_duplicate=None,
        )
        assert sweep["state"] == "queued"
        run = sweep["run_id"]
        _wait(
            lambda: any(m["key"] == "loss" and m["last_step"] >= 5 for m in api(base, "GET", f"/api/v1/runs/{run}/metrics")["metrics"]),
            "the sweep job to log five steps",
        )
        urgent = cairn.submit(["sh", "-c", "echo urgent"], project="resume", hypothesis="urgent", gpus=1, priority="urgent",
                              team="prod", on_duplicate=None)
        for job in (urgent["run_id"], run):
            _wait(lambda: cairn.job(job)["state"] in ("finished", "failed", "cancelled"), f"job {job} to end", 120)
        done = cairn.job(run)
        assert done["state"] == "finished", done
        assert done["attempts"] == 2 and done["preemptions"] == 1, done
        assert cairn.job(urgent["run_id"])["state"] == "finished"
        history = api(base, "GET", f"/api/v1/runs/{run}/metrics/loss")
        steps = history["steps"]
        assert sorted(set(steps)) == list(range(40)), steps
        assert len(steps) == 40, f"a step was logged twice: {steps}"
        record = api(base, "GET", f"/api/v1/runs/{run}")
        assert record["status"] == "finished"
        assert record["tags"]["cairn.checkpoint"].startswith("checkpoints/")
        logs = api(base, "GET", f"/api/v1/runs/{run}/logs")["text"]
        assert "checkpointed at step" in logs and "resumed after step" in logs, logs
    finally:
        agent.terminate()
        agent.wait(timeout=30)
        log.close()


def test_log_runs_records_results_in_bulk_all_or_none(real):
    """cairn.log_runs stores 2,500 finished results in three requests, searchable by
    config and metric; a batch with one bad run stores none of it."""
    base = server_url(real)
    project = unique("bulk")
    results = [
        {"config": {"lr": 10 ** -(1 + i % 4), "aug": ["mixup", "none"][i % 2]}, "metrics": {"acc": 0.5 + i / 10000},
         "tags": {"source": "notebook"}, "hypothesis": "bulk results are searchable"}
        for i in range(2500)
    ]
    created = cairn.log_runs(results, project=project)
    assert len(created) == 2500 and len({c["id"] for c in created}) == 2500
    found = api(base, "POST", "/api/v1/runs/search",
                {"project": project, "filter": 'params.aug = "mixup" and metrics.acc > 0.7', "limit": 1000})
    assert len(found["runs"]) == sum(1 for i in range(2500) if i % 2 == 0 and 0.5 + i / 10000 > 0.7)
    run = api(base, "GET", "/api/v1/runs/" + created[7]["id"])
    assert run["status"] == "finished" and run["tags"]["source"] == "notebook"
    assert [m["last"] for m in run["metrics"] if m["key"] == "acc"] == [0.5007]
    tried = api(base, "GET", f"/api/v1/projects/{project}/tried?param=aug&metric=acc")
    assert {v["value"]: v["runs"] for v in tried["values"]} == {"mixup": 1250, "none": 1250}

    before = api(base, "GET", "/api/v1/projects/" + project)["run_count"]
    bad = [{"config": {"x": 1}, "hypothesis": "h"}, {"tags": {"": "an empty tag key"}, "hypothesis": "h"}]
    with pytest.raises(cairn.CairnError) as e:
        cairn.log_runs(bad, project=project)
    assert e.value.code == "invalid_argument"
    assert api(base, "GET", "/api/v1/projects/" + project)["run_count"] == before
    with pytest.raises(cairn.CairnError):
        cairn.log_runs([{"metrics": {"acc": float("nan")}, "hypothesis": "h"}], project=project)
