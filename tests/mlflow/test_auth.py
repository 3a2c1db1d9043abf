"""The official MLflow client against a Cairn server that requires sign-in: a token in
MLFLOW_TRACKING_TOKEN (sent as a bearer token), or MLFLOW_TRACKING_USERNAME and
MLFLOW_TRACKING_PASSWORD (basic auth). Runs belong to the signed-in user; a viewer
cannot write; no credentials get a clear refusal."""

import json
import os
import subprocess
import time
import urllib.request

import pytest

from conftest import BINARY, cairn_only


def _post(url, path, body, token=None):
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(url + path, data=json.dumps(body).encode(), headers=headers)
    return json.load(urllib.request.urlopen(req))


@pytest.fixture(scope="module")
def team(tmp_path_factory):
    home = tmp_path_factory.mktemp("cairn-team")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAIRN_")}
    env["CAIRN_HOME"] = str(home)
    subprocess.run([BINARY, "admin", "users", "add", "root-admin", "--admin", "--password-stdin", "--store",
                    str(home / "cairn.db")], input=b"admin-password\n", env=env, check=True, capture_output=True)
    log = open(home / "server.log", "w")
    proc = subprocess.Popen([BINARY, "server", "--port", "0", "--auth"], env=env, stdout=log, stderr=log)
    marker = home / "server.json"
    deadline = time.monotonic() + 30
    while not marker.exists():
        assert proc.poll() is None, (home / "server.log").read_text()
        assert time.monotonic() < deadline
        time.sleep(0.05)
    url = json.loads(marker.read_text())["url"]
    admin = _post(url, "/api/v1/auth/login", {"username": "root-admin", "password": "admin-password"})["token"]
    for name, role in [("mia", "editor"), ("vic", "viewer")]:
        _post(url, "/api/v1/users", {"name": name, "role": role, "password": f"{name}-password"}, admin)
    tokens = {
        name: _post(url, "/api/v1/tokens", {"name": "mlflow", "user": name}, admin)["token"] for name in ["mia", "vic"]
    }
    yield {"url": url, "admin": admin, "tokens": tokens}
    proc.terminate()
    proc.wait(timeout=20)


@pytest.fixture
def mlflow_as(team, monkeypatch):
    import mlflow

    for k in ["MLFLOW_TRACKING_TOKEN", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"]:
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", team["url"])
    mlflow.set_tracking_uri(team["url"])

    def use(**env):
        for k, v in env.items():
            monkeypatch.setenv(k, v)
        return mlflow

    return use


def _owner(team, run_id):
    req = urllib.request.Request(f"{team['url']}/api/v1/runs/{run_id}", headers={"Authorization": f"Bearer {team['admin']}"})
    return json.load(urllib.request.urlopen(req))["owner"]


@cairn_only
def test_a_tracking_token_signs_the_client_in(team, mlflow_as, tmp_path):
    mlflow = mlflow_as(MLFLOW_TRACKING_TOKEN=team["tokens"]["mia"])
    mlflow.set_experiment("auth-token")
    with mlflow.start_run() as run:
        mlflow.log_param("lr", 0.01)
        mlflow.log_metric("acc", 0.9, step=1)
        f = tmp_path / "notes.txt"
        f.write_text("hello")
        mlflow.log_artifact(str(f))
    assert _owner(team, run.info.run_id) == "mia", "the run is the signed-in user's, whatever mlflow.user says"
    got = mlflow.MlflowClient().get_run(run.info.run_id)
    assert got.data.metrics["acc"] == 0.9
    assert [a.path for a in mlflow.MlflowClient().list_artifacts(run.info.run_id)] == ["notes.txt"]


@cairn_only
def test_a_user_name_and_password_sign_the_client_in(team, mlflow_as):
    mlflow = mlflow_as(MLFLOW_TRACKING_USERNAME="mia", MLFLOW_TRACKING_PASSWORD="mia-password")
    mlflow.set_experiment("auth-basic")
    with mlflow.start_run() as run:
        mlflow.log_metric("acc", 0.5)
    assert _owner(team, run.info.run_id) == "mia"


@cairn_only
def test_no_credentials_and_a_viewer_writing_are_refused(team, mlflow_as):
    from mlflow.exceptions import MlflowException, RestException

    mlflow = mlflow_as()
    with pytest.raises((MlflowException, RestException)) as err:
        mlflow.MlflowClient().search_experiments()
    assert "sign" in str(err.value).lower() or "401" in str(err.value)
    mlflow = mlflow_as(MLFLOW_TRACKING_TOKEN=team["tokens"]["vic"])
    assert any(e.name == "auth-token" for e in mlflow.MlflowClient().search_experiments()), "a viewer reads"
    exp = mlflow.MlflowClient().get_experiment_by_name("auth-token")
    with pytest.raises((MlflowException, RestException)) as err:
        mlflow.MlflowClient().create_run(exp.experiment_id)
    assert "PERMISSION_DENIED" in str(err.value) or "403" in str(err.value)
