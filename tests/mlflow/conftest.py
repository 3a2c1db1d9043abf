"""Starts a real `cairn server` (embedded store, temporary home) for the MLflow client.

The binary comes from $CAIRN_BIN, else <repo>/target/debug/cairn; the tests fail, on
purpose, when it is missing.
"""

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BINARY = os.environ.get("CAIRN_BIN") or str(REPO / "target" / "debug" / "cairn")


#: With MLFLOW_REFERENCE=1 the same tests run against MLflow's own `mlflow server` (from
#: PATH): differential testing, so they assert what MLflow does, not what Cairn guesses.
REFERENCE = os.environ.get("MLFLOW_REFERENCE") == "1"


def free_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    if REFERENCE:
        work = tmp_path_factory.mktemp("mlflow-server")
        port = free_port()
        log = open(work / "server.log", "w")
        proc = subprocess.Popen(
            ["mlflow", "server", "--backend-store-uri", f"sqlite:///{work}/mlflow.db", "--artifacts-destination",
             str(work / "artifacts"), "--host", "127.0.0.1", "--port", str(port), "--workers", "2"],
            stdout=log, stderr=log, start_new_session=True,
        )
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, (work / "server.log").read_text()
            try:
                import urllib.request

                urllib.request.urlopen(url + "/health", timeout=2)
                break
            except Exception:
                assert time.monotonic() < deadline, "mlflow server did not start"
                time.sleep(0.3)
        yield {"url": url, "home": work, "env": dict(os.environ)}
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
        return
    assert os.path.isfile(BINARY), f"build cairn first: no binary at {BINARY}"
    home = tmp_path_factory.mktemp("cairn-home")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAIRN_")}
    env["CAIRN_HOME"] = str(home)
    log = open(home / "server.log", "w")
    proc = subprocess.Popen([BINARY, "server", "--port", "0"], env=env, stdout=log, stderr=log)
    marker = home / "server.json"
    deadline = time.monotonic() + 30
    while not marker.exists():
        assert proc.poll() is None, (home / "server.log").read_text()
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    url = json.loads(marker.read_text())["url"]
    yield {"url": url, "home": home, "env": env}
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=20)


@pytest.fixture
def client(server, monkeypatch):
    import mlflow
    from mlflow import MlflowClient

    monkeypatch.setenv("MLFLOW_TRACKING_URI", server["url"])
    mlflow.set_tracking_uri(server["url"])
    return MlflowClient(server["url"])


def cairn(server, *args):
    """Runs the cairn CLI against the server's store; returns stdout."""
    out = subprocess.run([BINARY, *args], env=server["env"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout


cairn_only = pytest.mark.skipif(REFERENCE, reason="checks Cairn's own view of the runs")
