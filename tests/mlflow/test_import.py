"""`cairn import mlflow ./mlruns` on a file store the real MLflow client wrote."""

import json
import os
import subprocess

import mlflow
from mlflow import MlflowClient

from conftest import BINARY, cairn_only


def cairn(home, *args):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAIRN_")}
    env["CAIRN_HOME"] = str(home)
    out = subprocess.run([BINARY, *args], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout


@cairn_only
def test_an_mlruns_folder_imports_completely_and_idempotently(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    mlruns = tmp_path / "mlruns"
    uri = f"file:{mlruns}"
    client = MlflowClient(uri)
    eid = client.create_experiment("legacy", tags={"team": "cv"})
    parent = client.create_run(eid, run_name="sweep", tags={"mlflow.source.git.commit": "a" * 40})
    pid = parent.info.run_id
    child = client.create_run(eid, run_name="trial-1", tags={"mlflow.parentRunId": pid, "cairn.hypothesis": "h"})
    cid = child.info.run_id
    client.log_param(cid, "lr", "0.01")
    client.log_param(cid, "opt", "adam")
    for step in range(50):
        client.log_metric(cid, "loss", 1 / (step + 1), step=step, timestamp=1_700_000_000_000 + step)
    (tmp_path / "weights.bin").write_bytes(b"\x00" * 1000)
    client.log_artifact(cid, str(tmp_path / "weights.bin"), artifact_path="model")
    client.set_terminated(cid, "FINISHED")
    client.set_terminated(pid, "FAILED")
    # The registry: version 2 is deleted, so the live versions are 1 and 3.
    client.create_registered_model("legacy-model", tags={"owner": "cv"}, description="the old one")
    for _ in range(3):
        client.create_model_version("legacy-model", f"runs:/{cid}/model", run_id=cid, tags={"src": "mlruns"})
    client.delete_model_version("legacy-model", "2")
    client.transition_model_version_stage("legacy-model", "3", "Production")
    client.set_registered_model_alias("legacy-model", "champion", "3")

    home = tmp_path / "home"
    first = cairn(home, "import", "mlflow", str(mlruns))
    assert "2 run(s) created" in first and "50 metric point(s)" in first and "1 artifact(s)" in first
    assert "1 registered model(s), 2 model version(s) created" in first, first
    models = json.loads(cairn(home, "models", "legacy-model", "--json"))
    assert models["model"]["description"] == "the old one" and models["model"]["tags"] == {"owner": "cv"}
    assert models["model"]["aliases"] == {"champion": 3}
    assert [(v["version"], v["stage"]) for v in models["versions"]] == [(1, "None"), (3, "Production")]
    assert models["versions"][0]["run_id"].replace("-", "") == cid, "linked to the imported run"
    assert models["versions"][0]["tags"] == {"src": "mlruns"}
    again = cairn(home, "import", "mlflow", str(mlruns))
    assert "0 run(s) created, 0 updated, 2 unchanged" in again, again
    assert "0 registered model(s), 0 model version(s) created" in again, again

    shown = json.loads(cairn(home, "show", cid, "--json"))
    assert shown["project"] == "legacy" and shown["name"] == "trial-1" and shown["status"] == "finished"
    assert shown["hypothesis"] == "h"
    assert shown["config"] == {"lr": 0.01, "opt": "adam"}
    assert shown["lineage"]["parents"][0]["id"].replace("-", "") == pid
    assert [a["path"] for a in shown["artifacts"]] == ["model/weights.bin"]
    [loss] = shown["metrics"]
    assert (loss["count"], loss["last"], loss["last_step"]) == (50, 0.02, 49)
    parent_shown = json.loads(cairn(home, "show", pid, "--json"))
    assert parent_shown["status"] == "failed" and parent_shown["code"]["commit"] == "a" * 40

    # Later work in MLflow: only what is new comes over.
    client.log_metric(cid, "loss", 0.01, step=50)
    client.create_run(eid, run_name="trial-2")
    later = cairn(home, "import", "mlflow", str(mlruns))
    assert "1 run(s) created, 1 updated, 1 unchanged" in later and "1 metric point(s)" in later, later
    assert json.loads(cairn(home, "show", cid, "--json"))["metrics"][0]["count"] == 51


def test_a_running_tracking_server_imports_with_histories_and_artifacts(client, server, tmp_path):
    """The source is whatever server the suite runs against: cairn, or MLflow's own."""
    eid = client.create_experiment(f"remote-{os.getpid()}-{id(tmp_path)}")
    rid = client.create_run(eid, run_name="far").info.run_id
    client.log_param(rid, "lr", "0.01")
    for step in range(30):
        client.log_metric(rid, "loss", 1 / (step + 1), step=step)
    (tmp_path / "m.bin").write_bytes(b"\x01" * 300)
    client.log_artifact(rid, str(tmp_path / "m.bin"), artifact_path="model")
    client.set_terminated(rid)
    model = f"remote-model-{os.getpid()}-{id(tmp_path)}"
    client.create_registered_model(model)
    client.create_model_version(model, f"runs:/{rid}/model", run_id=rid)
    client.create_model_version(model, "s3://bucket/elsewhere")
    client.set_registered_model_alias(model, "best", "1")

    home = tmp_path / "home"
    first = cairn(home, "import", "mlflow", server["url"])
    assert "run(s) created" in first
    imported = json.loads(cairn(home, "models", model, "--json"))
    assert [v["version"] for v in imported["versions"]] == [1, 2] and imported["model"]["aliases"] == {"best": 1}
    assert imported["versions"][0]["run_id"].replace("-", "") == rid
    shown = json.loads(cairn(home, "show", rid, "--json"))
    assert shown["name"] == "far" and shown["config"] == {"lr": 0.01} and shown["status"] == "finished"
    [loss] = [m for m in shown["metrics"] if m["key"] == "loss"]
    assert (loss["count"], loss["last_step"]) == (30, 29)
    assert [a["path"] for a in shown["artifacts"]] == ["model/m.bin"]
    again = cairn(home, "import", "mlflow", server["url"])
    assert "0 run(s) created, 0 updated" in again, again
