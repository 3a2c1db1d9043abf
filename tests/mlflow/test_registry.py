"""The model registry and MLflow 3's logged models, through the official client.

Runs against `cairn server`, and with MLFLOW_REFERENCE=1 against MLflow's own server,
so what is asserted here is what MLflow does."""

import json
import urllib.request
import uuid

import mlflow
import pytest
from mlflow.exceptions import MlflowException

from conftest import REFERENCE, cairn, cairn_only


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def error_code(exc):
    return exc.value.error_code


def make_run(client, experiment):
    exp = mlflow.set_experiment(experiment)
    run = client.create_run(exp.experiment_id)
    client.set_terminated(run.info.run_id)
    return run.info.run_id


def test_registered_models_and_versions_life_cycle(client):
    name = unique("detector")
    rid = make_run(client, unique("reg"))
    m = client.create_registered_model(name, tags={"team": "vision"}, description="finds defects")
    assert (m.name, m.description, m.tags) == (name, "finds defects", {"team": "vision"})
    with pytest.raises(MlflowException) as e:
        client.create_registered_model(name)
    assert error_code(e) == "RESOURCE_ALREADY_EXISTS"
    with pytest.raises(MlflowException) as e:
        client.create_registered_model("a/b")
    assert error_code(e) == "INVALID_PARAMETER_VALUE"

    v1 = client.create_model_version(name, f"runs:/{rid}/model", run_id=rid, tags={"k": "v"}, description="first")
    v2 = client.create_model_version(name, "s3://bucket/models/detector", description="second")
    assert (v1.version, v2.version) == ("1", "2")
    assert (v1.run_id, v1.current_stage, v1.status, v1.tags) == (rid, "None", "READY", {"k": "v"})
    assert v2.run_id in ("", None)
    for bad in ["/tmp/local/model", f"runs:/{rid}/model"]:  # a local path; a run source without its run_id
        with pytest.raises(MlflowException) as e:
            client.create_model_version(name, bad)
        assert error_code(e) == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MlflowException) as e:
        client.get_model_version(name, "9")
    assert error_code(e) == "RESOURCE_DOES_NOT_EXIST"

    # Stages: moving v2 to Production with archive_existing_versions archives v1.
    assert client.transition_model_version_stage(name, "1", "production").current_stage == "Production"
    v2 = client.transition_model_version_stage(name, "2", "Production", archive_existing_versions=True)
    assert v2.current_stage == "Production"
    assert client.get_model_version(name, "1").current_stage == "Archived"
    with pytest.raises(MlflowException) as e:
        client.transition_model_version_stage(name, "2", "prod")
    assert error_code(e) == "INVALID_PARAMETER_VALUE"
    latest = client.get_latest_versions(name)
    assert sorted((v.version, v.current_stage) for v in latest) == [("1", "Archived"), ("2", "Production")]
    assert [v.version for v in client.get_latest_versions(name, stages=["Production"])] == ["2"]

    # Aliases.
    client.set_registered_model_alias(name, "champion", "2")
    assert client.get_model_version_by_alias(name, "champion").version == "2"
    assert client.get_registered_model(name).aliases == {"champion": "2"}
    for reserved in ["latest", "v3", "not an alias"]:
        with pytest.raises(MlflowException) as e:
            client.set_registered_model_alias(name, reserved, "2")
        assert error_code(e) == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MlflowException) as e:
        client.set_registered_model_alias(name, "ghost", "42")
    assert error_code(e) == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(MlflowException):
        client.get_model_version_by_alias(name, "nobody")

    # Tags and descriptions.
    client.set_registered_model_tag(name, "tier", "gold")
    client.delete_registered_model_tag(name, "team")
    client.set_model_version_tag(name, "1", "validated", "yes")
    client.delete_model_version_tag(name, "1", "k")
    client.update_registered_model(name, description="v2 of the detector")
    client.update_model_version(name, "1", description="retired")
    m = client.get_registered_model(name)
    assert (m.tags, m.description) == ({"tier": "gold"}, "v2 of the detector")
    v1 = client.get_model_version(name, "1")
    assert (v1.tags, v1.description) == ({"validated": "yes"}, "retired")
    assert client.get_model_version_download_uri(name, "1") == f"runs:/{rid}/model"

    # Rename: versions and aliases follow.
    new_name = name + "-renamed"
    client.rename_registered_model(name, new_name)
    with pytest.raises(MlflowException) as e:
        client.get_registered_model(name)
    assert error_code(e) == "RESOURCE_DOES_NOT_EXIST"
    assert client.get_model_version(new_name, "2").name == new_name
    assert client.get_model_version_by_alias(new_name, "champion").version == "2"

    # Deleting a version takes its aliases; numbers are not reused.
    client.delete_model_version(new_name, "2")
    assert client.get_registered_model(new_name).aliases == {}
    assert client.create_model_version(new_name, "s3://bucket/again").version == "3"
    client.delete_registered_model(new_name)
    with pytest.raises(MlflowException) as e:
        client.get_registered_model(new_name)
    assert error_code(e) == "RESOURCE_DOES_NOT_EXIST"


def test_registry_search_filters_orders_and_pages(client):
    prefix = unique("srch")
    rid = make_run(client, unique("reg-search"))
    for i in range(5):
        client.create_registered_model(f"{prefix}-{i}", tags={"parity": "even" if i % 2 == 0 else "odd"})
        for _ in range(i):
            client.create_model_version(f"{prefix}-{i}", f"runs:/{rid}/m{i}", run_id=rid)

    found = client.search_registered_models(filter_string=f"name LIKE '{prefix}-%'")
    assert [m.name for m in found] == [f"{prefix}-{i}" for i in range(5)], "by name, ascending"
    evens = client.search_registered_models(filter_string=f"name LIKE '{prefix}%' AND tags.parity = 'even'")
    assert [m.name for m in evens] == [f"{prefix}-0", f"{prefix}-2", f"{prefix}-4"]
    desc = client.search_registered_models(filter_string=f"name ILIKE '{prefix.upper()}%'", order_by=["name DESC"])
    assert [m.name for m in desc][0] == f"{prefix}-4"
    page1 = client.search_registered_models(filter_string=f"name LIKE '{prefix}%'", max_results=2)
    page2 = client.search_registered_models(filter_string=f"name LIKE '{prefix}%'", max_results=2,
                                            page_token=page1.token)
    assert [m.name for m in page1] + [m.name for m in page2] == [f"{prefix}-{i}" for i in range(4)]
    with pytest.raises(MlflowException) as e:
        client.search_registered_models(filter_string="colour = 'red'")
    assert error_code(e) == "INVALID_PARAMETER_VALUE"

    versions = client.search_model_versions(f"name = '{prefix}-3'", order_by=["version_number DESC"])
    assert [v.version for v in versions] == ["3", "2", "1"]
    by_run = client.search_model_versions(f"run_id = '{rid}'")
    assert len(by_run) == 10
    assert {v.name for v in client.search_model_versions(f"name = '{prefix}-4' AND version_number > 2")} == {
        f"{prefix}-4"}
    assert len(client.search_model_versions(f"name = '{prefix}-4' AND version_number > 2")) == 2
    with pytest.raises(MlflowException) as e:
        client.search_model_versions("colour = 'red'")
    assert error_code(e) == "INVALID_PARAMETER_VALUE"


class Doubler(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        return [2 * x for x in model_input]


def test_log_model_registers_and_loads_back(client, server):
    mlflow.set_experiment(unique("logged"))
    name = unique("doubler")
    with mlflow.start_run() as run:
        mlflow.log_param("factor", 2)
        info = mlflow.pyfunc.log_model(name="model", python_model=Doubler(), pip_requirements=[],
                                       registered_model_name=name)
    assert info.model_id and info.model_id.startswith("m-")
    assert str(info.registered_model_version) == "1"
    loaded = mlflow.pyfunc.load_model(f"models:/{name}/1")
    assert list(loaded.predict([1, 2, 3])) == [2, 4, 6]
    assert list(mlflow.pyfunc.load_model(info.model_uri).predict([5])) == [10]
    version = client.get_model_version(name, "1")
    assert version.run_id == run.info.run_id
    logged = client.get_logged_model(info.model_id)
    assert logged.source_run_id == run.info.run_id and logged.status == mlflow.entities.LoggedModelStatus.READY
    found = client.search_logged_models(experiment_ids=[run.info.experiment_id], filter_string="name = 'model'")
    assert [m.model_id for m in found] == [info.model_id]
    # Registering the run's model again makes version 2 of the same logged model.
    again = mlflow.register_model(f"runs:/{run.info.run_id}/model", name)
    assert again.version == "2"

    if REFERENCE:
        return
    # Cairn's own API shows the model with the run that made it, and its files among the run's artifacts.
    base = server["url"]
    models = json.load(urllib.request.urlopen(f"{base}/api/v1/runs/{run.info.run_id}/models"))
    assert [v["version"] for v in models["versions"]] == [1, 2]
    assert [m["id"] for m in models["logged_models"]] == [info.model_id]
    registered = json.load(urllib.request.urlopen(f"{base}/api/v1/models/{name}"))
    assert registered["name"] == name
    shown = json.loads(cairn(server, "show", run.info.run_id, "--json"))
    assert f"models/{info.model_id}/MLmodel" in [a["path"] for a in shown["artifacts"]]


def test_artifacts_can_be_deleted(client, tmp_path):
    from mlflow.store.artifact.mlflow_artifacts_repo import MlflowArtifactsRepository

    mlflow.set_experiment(unique("delete"))
    with mlflow.start_run() as run:
        mlflow.log_text("a", "keep.txt")
        mlflow.log_text("b", "old/one.txt")
        mlflow.log_text("c", "old/deep/two.txt")
    repo = MlflowArtifactsRepository(run.info.artifact_uri)
    repo.delete_artifacts("old")
    assert [f.path for f in client.list_artifacts(run.info.run_id)] == ["keep.txt"]


@cairn_only
def test_cairn_api_registry_matches_mlflows_view(client, server):
    name = unique("native-model")
    rid = make_run(client, unique("native-reg"))
    base = server["url"]

    def call(method, path, body=None):
        req = urllib.request.Request(base + path, method=method, data=json.dumps(body).encode() if body else None,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req) as r:
            return json.loads(r.read() or b"null")

    call("POST", "/api/v1/models", {"name": name, "description": "made natively"})
    v = call("POST", f"/api/v1/models/{name}/versions", {"source": f"runs:/{rid}/model", "run_id": rid})
    assert v["version"] == 1 and v["stage"] == "None"
    call("PATCH", f"/api/v1/models/{name}/versions/1", {"stage": "Staging"})
    call("PATCH", f"/api/v1/models/{name}", {"aliases": {"candidate": 1}})
    mv = client.get_model_version_by_alias(name, "candidate")
    assert (mv.version, mv.current_stage, mv.run_id) == ("1", "Staging", rid)
    assert client.get_registered_model(name).description == "made natively"
    try:
        call("POST", "/api/v1/models", {"name": name})
        raise AssertionError("a duplicate name was accepted")
    except urllib.error.HTTPError as e:
        assert e.code == 409
