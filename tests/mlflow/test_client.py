"""The official `mlflow` client (mlflow-skinny, pinned by ./scripts/test) against
`cairn server`: what existing MLflow code does must work unchanged, and what it records
must be ordinary Cairn runs."""

import json
import os
import time
import uuid

import mlflow
import pytest
from mlflow.entities import Metric, Param, RunTag, ViewType
from mlflow.exceptions import MlflowException

from conftest import REFERENCE, cairn, cairn_only


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_experiments_life_cycle(client):
    name = unique("exp")
    eid = client.create_experiment(name, tags={"team": "cv"})
    exp = client.get_experiment(eid)
    assert (exp.name, exp.lifecycle_stage, exp.tags) == (name, "active", {"team": "cv"})
    assert client.get_experiment_by_name(name).experiment_id == eid
    assert client.get_experiment_by_name(unique("missing")) is None
    with pytest.raises(MlflowException) as e:
        client.create_experiment(name)
    assert e.value.error_code == "RESOURCE_ALREADY_EXISTS"
    with pytest.raises(MlflowException) as e:
        client.get_experiment("999999")
    assert e.value.error_code == "RESOURCE_DOES_NOT_EXIST"

    client.set_experiment_tag(eid, "stage", "dev")
    client.rename_experiment(eid, name + "-renamed")
    exp = client.get_experiment(eid)
    assert exp.name == name + "-renamed" and exp.tags == {"team": "cv", "stage": "dev"}

    client.delete_experiment(eid)
    assert client.get_experiment(eid).lifecycle_stage == "deleted"
    active = [e.experiment_id for e in client.search_experiments()]
    deleted = [e.experiment_id for e in client.search_experiments(view_type=ViewType.DELETED_ONLY)]
    assert eid not in active and eid in deleted
    client.restore_experiment(eid)
    found = client.search_experiments(filter_string=f"name = '{name}-renamed'")
    assert [e.experiment_id for e in found] == [eid]
    assert [e.experiment_id for e in client.search_experiments(filter_string="tags.stage = 'dev'")] == [eid]

    client.delete_experiment_tag(eid, "stage")
    assert client.get_experiment(eid).tags == {"team": "cv"}
    with pytest.raises(MlflowException) as e:
        client.delete_experiment_tag(eid, "stage")
    assert e.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_a_training_script_runs_unchanged(client, server, tmp_path):
    mlflow.set_experiment(unique("train"))
    with mlflow.start_run(run_name="baseline", tags={"cairn.hypothesis": "warmup helps"}) as run:
        mlflow.log_params({"lr": 0.01, "optimizer": "adam", "layers": 4})
        for step in range(20):
            mlflow.log_metrics({"loss": 1 / (step + 1), "acc": step / 20}, step=step)
        mlflow.set_tag("team", "cv")
        (tmp_path / "model").mkdir()
        (tmp_path / "model" / "weights.bin").write_bytes(os.urandom(4096))
        (tmp_path / "model" / "sub").mkdir()
        (tmp_path / "model" / "sub" / "config.json").write_text('{"a": 1}')
        mlflow.log_artifacts(str(tmp_path / "model"), artifact_path="model")
        mlflow.log_text("hello", "notes/readme.txt")
    rid = run.info.run_id
    got = client.get_run(rid)
    assert got.info.status == "FINISHED" and got.info.end_time >= got.info.start_time
    assert got.data.params == {"lr": "0.01", "optimizer": "adam", "layers": "4"}
    assert got.data.metrics == {"loss": 0.05, "acc": 0.95}
    assert got.data.tags["team"] == "cv" and got.data.tags["mlflow.runName"] == "baseline"
    history = client.get_metric_history(rid, "loss")
    assert [m.step for m in history] == list(range(20))
    assert [m.value for m in history] == [1 / (s + 1) for s in range(20)]

    assert sorted(f.path for f in client.list_artifacts(rid)) == ["model", "notes"]
    assert sorted(f.path for f in client.list_artifacts(rid, "model")) == ["model/sub", "model/weights.bin"]
    out = mlflow.artifacts.download_artifacts(run_id=rid, artifact_path="model", dst_path=str(tmp_path / "dl"))
    assert (tmp_path / "dl" / "model" / "weights.bin").read_bytes() == (tmp_path / "model" / "weights.bin").read_bytes()
    assert json.loads((tmp_path / "dl" / "model" / "sub" / "config.json").read_text()) == {"a": 1}
    assert os.path.isdir(out)

    if REFERENCE:
        return
    # The same run, as Cairn sees it.
    shown = json.loads(cairn(server, "show", rid, "--json"))
    assert shown["name"] == "baseline" and shown["hypothesis"] == "warmup helps"
    assert shown["config"] == {"lr": 0.01, "optimizer": "adam", "layers": 4}, "typed where the text reads back"
    assert shown["config_sources"]["lr"] == "mlflow"
    assert {m["key"] for m in shown["metrics"]} == {"loss", "acc"}
    assert "model/sub/config.json" in [a["path"] for a in shown["artifacts"]]
    listed = cairn(server, "ls", "--filter", "params.lr = 0.01 and metrics.acc > 0.9")
    assert shown["short_id"] in listed, listed


@cairn_only
def test_runs_made_by_cairn_are_visible_through_mlflow(client, server):
    import urllib.request

    project = unique("native")
    body = json.dumps({"project": project, "hypothesis": "h", "name": "native-1", "owner": "dana",
                       "config": {"lr": 0.1, "opt": {"name": "sgd"}}})
    req = urllib.request.Request(server["url"] + "/api/v1/runs", data=body.encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    run = json.load(urllib.request.urlopen(req))
    got = client.get_run(run["id"])
    assert got.data.params == {"lr": "0.1", "opt.name": "sgd"}
    assert got.data.tags["cairn.hypothesis"] == "h"
    assert got.info.status == "RUNNING"
    # Its name and owner are its mlflow.runName and mlflow.user, shown and searched.
    assert (got.data.tags["mlflow.runName"], got.data.tags["mlflow.user"]) == ("native-1", "dana")
    eid = client.get_experiment_by_name(project).experiment_id
    for f in ("tags.mlflow.runName = 'native-1'", "tags.mlflow.user = 'dana'", "tags.`mlflow.user` LIKE 'da%'"):
        assert [r.info.run_id for r in client.search_runs([eid], filter_string=f)] == [got.info.run_id], f


def test_params_cannot_change_and_batches_have_limits(client, server):
    import urllib.error
    import urllib.request

    eid = client.create_experiment(unique("limits"))
    run = client.create_run(eid)
    rid = run.info.run_id
    client.log_param(rid, "lr", "0.01")
    client.log_param(rid, "lr", "0.01")  # the same value again is fine
    with pytest.raises(MlflowException) as e:
        client.log_param(rid, "lr", "0.02")
    assert e.value.error_code == "INVALID_PARAMETER_VALUE" and "Changing param values is not allowed" in e.value.message

    now = int(time.time() * 1000)
    metrics = [Metric("m", float(i), now, i) for i in range(1000)]
    client.log_batch(rid, metrics=metrics)
    assert len(client.get_metric_history(rid, "m")) == 1000
    # The client splits big batches itself; the server's own limits, as MLflow's server has them:
    def raw_batch(**body):
        req = urllib.request.Request(
            server["url"] + "/api/2.0/mlflow/runs/log-batch",
            data=json.dumps({"run_id": rid, **body}).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            urllib.request.urlopen(req)
        except urllib.error.HTTPError as err:
            return err.code, json.load(err)
        return 200, {}

    metric = lambda i: {"key": "n", "value": 1.0, "timestamp": now, "step": i}  # noqa: E731
    status, err = raw_batch(metrics=[metric(i) for i in range(1001)])
    assert status == 400 and err["error_code"] == "INVALID_PARAMETER_VALUE" and "at most 1000 metrics" in err["message"]
    status, err = raw_batch(
        metrics=[metric(i) for i in range(950)], params=[{"key": f"p{i}", "value": "v"} for i in range(60)]
    )
    assert status == 400 and "at most 1000 metrics, params, and tags. Got 1010" in err["message"]
    status, err = raw_batch(params=[{"key": f"p{i}", "value": "v"} for i in range(101)])
    assert status == 400 and "at most 100 params" in err["message"]
    got = client.get_run(rid)
    assert "n" not in got.data.metrics and "p0" not in got.data.params, "a rejected batch stores nothing"
    with pytest.raises(MlflowException) as e:
        client.log_batch(rid, params=[Param("lr", "0.5")], tags=[RunTag("t", "1")])
    assert e.value.error_code == "INVALID_PARAMETER_VALUE"
    assert "t" not in client.get_run(rid).data.tags


def test_search_filters_orders_and_pages(client):
    eid = client.create_experiment(unique("search"))
    ids = {}
    for i, (lr, opt) in enumerate([(0.1, "adam"), (0.01, "adam"), (0.001, "sgd"), (0.01, "sgd"), (0.05, "adam")]):
        r = client.create_run(eid, run_name=f"r{i}", tags={"opt": opt})
        client.log_batch(r.info.run_id, metrics=[Metric("acc", 0.5 + i / 10, 0, 0)], params=[Param("lr", str(lr))])
        ids[f"r{i}"] = r.info.run_id
    client.set_terminated(ids["r4"], "FAILED")

    def names(**kw):
        return [r.info.run_name for r in client.search_runs([eid], **kw)]

    assert names(filter_string="params.lr = '0.01'", order_by=["attributes.run_name"]) == ["r1", "r3"]
    assert names(filter_string="metrics.acc > 0.75 and tags.opt = 'sgd'") == ["r3"]
    assert names(filter_string="attributes.status = 'FAILED'") == ["r4"]
    assert names(filter_string="tags.opt = 'sgd'", order_by=["metrics.acc DESC"]) == ["r3", "r2"]
    chosen = f"attributes.run_id IN ('{ids['r1']}', '{ids['r2']}')"
    assert names(filter_string=chosen, order_by=["attributes.run_name"]) == ["r1", "r2"]
    assert names(filter_string="attributes.run_name LIKE 'r%'", order_by=["metrics.acc ASC"]) == [
        "r0", "r1", "r2", "r3", "r4"]
    page = client.search_runs([eid], max_results=2, order_by=["metrics.acc DESC"])
    seen = [r.info.run_name for r in page]
    while page.token:
        page = client.search_runs([eid], max_results=2, order_by=["metrics.acc DESC"], page_token=page.token)
        seen += [r.info.run_name for r in page]
    assert seen == ["r4", "r3", "r2", "r1", "r0"]
    with pytest.raises(MlflowException) as e:
        client.search_runs([eid], filter_string="metrics.acc >")
    assert e.value.error_code == "INVALID_PARAMETER_VALUE"

    client.delete_run(ids["r0"])
    assert "r0" not in names()
    deleted = [r.info.run_name for r in client.search_runs([eid], run_view_type=ViewType.DELETED_ONLY)]
    assert deleted == ["r0"]


def test_params_read_back_as_logged_and_search_as_text(client, server):
    eid = client.create_experiment(unique("params"))
    # Python's own spellings, as `log_param` sends them: str(1e-05), str(True), a version.
    logged = [{"lr": 1e-05, "amp": True, "version": "1.10", "epochs": 3},
              {"lr": 0.001, "amp": False, "version": "1.1", "epochs": 30}]
    ids = []
    for i, params in enumerate(logged):
        with mlflow.start_run(experiment_id=eid, run_name=f"p{i}") as run:
            mlflow.log_params(params)
        ids.append(run.info.run_id)
    assert client.get_run(ids[0]).data.params == {"lr": "1e-05", "amp": "True", "version": "1.10", "epochs": "3"}
    assert client.get_run(ids[1]).data.params == {"lr": "0.001", "amp": "False", "version": "1.1", "epochs": "30"}

    def names(f):
        return sorted(r.info.run_name for r in client.search_runs([eid], filter_string=f))

    assert names("params.lr = '1e-05'") == ["p0"]
    assert names("params.amp = 'True'") == ["p0"]
    assert names("params.version = '1.10'") == ["p0"]
    assert names("params.version = '1.1'") == ["p1"]
    assert names("params.version LIKE '1.1%'") == ["p0", "p1"]
    assert names("params.epochs != '3'") == ["p1"]
    if not REFERENCE:
        # Cairn's own search reads what the text means: 1e-05 is below 0.0001.
        listed = json.loads(cairn(server, "ls", "--filter", "params.lr < 0.0001", "--json"))
        assert [r["name"] for r in listed["runs"]] == ["p0"]


def test_a_large_artifact_is_streamed(client, tmp_path):
    eid = client.create_experiment(unique("big"))
    rid = client.create_run(eid).info.run_id
    big = tmp_path / "big.bin"
    with open(big, "wb") as f:
        block = os.urandom(1 << 20)
        for _ in range(100):
            f.write(block)
    client.log_artifact(rid, str(big), artifact_path="data")
    [info] = client.list_artifacts(rid, "data")
    assert info.file_size == 100 << 20
    out = client.download_artifacts(rid, "data/big.bin", str(tmp_path / "dl"))
    assert os.path.getsize(out) == 100 << 20
    with open(out, "rb") as a, open(big, "rb") as b:
        assert a.read(1 << 20) == b.read(1 << 20)


def test_runs_restore_and_the_bulk_history_charts_use(client, server):
    import urllib.parse
    import urllib.request

    eid = client.create_experiment(unique("bulk"))
    a, b = client.create_run(eid).info.run_id, client.create_run(eid).info.run_id
    now = int(time.time() * 1000)
    for rid in (a, b):
        client.log_batch(rid, metrics=[Metric("loss", 1 / (i + 1), now + i, i) for i in range(1000)])
    client.delete_run(a)
    assert client.get_run(a).info.lifecycle_stage == "deleted"
    client.restore_run(a)
    assert client.get_run(a).info.lifecycle_stage == "active"

    query = urllib.parse.urlencode(
        [("run_ids", a), ("run_ids", b), ("metric_key", "loss"), ("start_step", 100), ("end_step", 899),
         ("max_results", 50)]
    )
    url = f"{server['url']}/api/2.0/mlflow/metrics/get-history-bulk-interval?{query}"
    got = json.load(urllib.request.urlopen(url))["metrics"]
    for rid in (a, b):
        mine = [m for m in got if m["run_id"] == rid]
        steps = [m["step"] for m in mine]
        assert 2 <= len(mine) <= 50 and steps == sorted(steps)
        assert steps[0] == 100 and steps[-1] == 899, "the ends of the interval are kept"
        assert all(m["value"] == 1 / (m["step"] + 1) for m in mine)


def test_dataset_inputs_are_kept_and_searchable(client):
    from mlflow.entities import Dataset, DatasetInput, InputTag

    exp = client.create_experiment(unique("datasets"))
    runs = {}
    for run_name, ds_name, digest, context in [("a", "train-set", "d1", "training"), ("b", "eval-set", "d2", "eval"),
                                               ("c", None, None, None)]:
        rid = client.create_run(exp, run_name=run_name).info.run_id
        runs[run_name] = rid
        if ds_name:
            ds = Dataset(name=ds_name, digest=digest, source_type="local", source='{"uri": "/data"}')
            client.log_inputs(rid, [DatasetInput(ds, tags=[InputTag("mlflow.data.context", context)])])

    got = client.get_run(runs["a"])
    [inp] = got.inputs.dataset_inputs
    assert (inp.dataset.name, inp.dataset.digest, inp.dataset.source_type) == ("train-set", "d1", "local")
    assert [(t.key, t.value) for t in inp.tags] == [("mlflow.data.context", "training")]
    assert not any(k.startswith("mlflow.dataset") for k in got.data.tags), got.data.tags

    def names(f):
        return sorted(r.info.run_name for r in client.search_runs([exp], filter_string=f))

    assert names("datasets.name = 'train-set'") == ["a"]
    assert names("datasets.digest IN ('d1', 'd2')") == ["a", "b"]
    assert names("datasets.context = 'eval'") == ["b"]
    assert names("datasets.name = 'train-set' AND attributes.run_name = 'b'") == []


def test_an_invalid_order_by_is_refused(client, monkeypatch):
    # MLflow's own server answers one of these with a 500, which the client retries
    # with backoff for minutes: no retries here.
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    eid = client.create_experiment(unique("order"))
    client.create_run(eid)
    for bad in (["metrics.acc SIDEWAYS"], ["attributes.nonsense"], ["params.lr ASC DESC"]):
        with pytest.raises(MlflowException) as e:
            client.search_runs([eid], order_by=bad)
        assert e.value.error_code == "INVALID_PARAMETER_VALUE", bad
    # A key named twice is refused; MLflow's own server answers it as an internal error.
    with pytest.raises(MlflowException) as e:
        client.search_runs([eid], order_by=["metrics.acc", "metrics.acc DESC"])
    assert REFERENCE or e.value.error_code == "INVALID_PARAMETER_VALUE"
    # Many distinct keys are fine, on both.
    many = ["metrics.acc", "params.lr DESC", "tags.t", "attributes.start_time", "attributes.run_name DESC",
            "metrics.loss", "params.opt"]
    assert len(client.search_runs([eid], order_by=many)) == 1


def test_the_latest_metric_value_is_the_greatest_step_then_time_then_value(client):
    eid = client.create_experiment(unique("latest"))
    rid = client.create_run(eid).info.run_id
    client.log_batch(rid, metrics=[Metric("m", 1.0, 2000, 5), Metric("m", 2.0, 1000, 5), Metric("m", 0.5, 3000, 4)])
    assert client.get_run(rid).data.metrics["m"] == 1.0
    # The same step at an older time does not replace it; at the same time, the greater value does.
    client.log_metric(rid, "m", 3.0, timestamp=1500, step=5)
    assert client.get_run(rid).data.metrics["m"] == 1.0
    client.log_metric(rid, "m", 9.0, timestamp=2000, step=5)
    assert client.get_run(rid).data.metrics["m"] == 9.0
    client.log_metric(rid, "m", 0.1, timestamp=1, step=6)
    assert client.get_run(rid).data.metrics["m"] == 0.1


def test_client_supplied_times_are_kept(client):
    eid = client.create_experiment(unique("times"))
    start = 1_600_000_000_000
    rid = client.create_run(eid, start_time=start, run_name="backfill").info.run_id
    other = client.create_run(eid, run_name="now").info.run_id
    client.set_terminated(rid, "FINISHED", end_time=start + 3_600_000)
    info = client.get_run(rid).info
    assert (info.start_time, info.end_time, info.status) == (start, start + 3_600_000, "FINISHED")
    # Other updates keep the client's times.
    client.update_run(rid, name="backfill-renamed")
    info = client.get_run(rid).info
    assert (info.start_time, info.end_time, info.run_name) == (start, start + 3_600_000, "backfill-renamed")

    def ids(f):
        return {r.info.run_id for r in client.search_runs([eid], filter_string=f)}

    assert ids(f"attributes.start_time = {start}") == {rid}
    assert ids(f"attributes.start_time < {start + 1}") == {rid}
    assert ids(f"attributes.start_time > {start}") == {other}
    assert ids(f"attributes.end_time = {start + 3_600_000}") == {rid}
    assert ids(f"attributes.end_time < {start + 3_600_001}") == {rid}
    ordered = [r.info.run_id for r in client.search_runs([eid], order_by=["attributes.start_time ASC"])]
    assert ordered == [rid, other]


def test_system_tags_are_searchable_as_tags(client):
    eid = client.create_experiment(unique("systags"))
    parent = client.create_run(eid, run_name="run-01", tags={"mlflow.user": "alice",
                                                            "mlflow.source.name": "train.py",
                                                            "mlflow.source.git.commit": "abc123"})
    pid = parent.info.run_id
    child = client.create_run(eid, run_name="run-02", tags={"mlflow.parentRunId": pid, "mlflow.user": "bob"})
    cid = child.info.run_id
    third = client.create_run(eid, run_name="other").info.run_id

    def ids(f):
        return {r.info.run_id for r in client.search_runs([eid], filter_string=f)}

    assert ids("tags.mlflow.runName = 'run-01'") == {pid}
    assert ids("tags.`mlflow.runName` LIKE 'run-0%'") == {pid, cid}
    assert ids("tags.mlflow.runName != 'other'") == {pid, cid}
    assert ids("tags.mlflow.user = 'alice'") == {pid}
    assert ids("tags.mlflow.source.name = 'train.py'") == {pid}
    assert ids("tags.`mlflow.source.git.commit` = 'abc123'") == {pid}
    assert ids(f"tags.mlflow.parentRunId = '{pid}'") == {cid}
    # Renaming, by update or by the tag, is what the tag then says.
    client.update_run(third, name="renamed")
    assert ids("tags.mlflow.runName = 'renamed'") == {third}
    client.set_tag(third, "mlflow.runName", "renamed-again")
    assert ids("tags.mlflow.runName = 'renamed-again'") == {third}
    assert client.get_run(third).info.run_name == "renamed-again"
    ordered = [r.info.run_id for r in client.search_runs([eid], order_by=["tags.mlflow.runName DESC"])]
    assert ordered == [cid, pid, third]


def test_experiment_search_has_mlflows_whole_grammar(client):
    prefix = unique("grammar")
    ids = {}
    for name, tags in [("a", {"team": "cv"}), ("b", {"team": "nlp"}), ("c", {})]:
        ids[name] = client.create_experiment(f"{prefix}-{name}", tags=tags)
        time.sleep(0.01)
    exps = {n: client.get_experiment(i) for n, i in ids.items()}

    def names(f="", order_by=None, **kw):
        f = f"name LIKE '{prefix}-%'" + (f" AND {f}" if f else "")
        found = client.search_experiments(filter_string=f, order_by=order_by, **kw)
        return [e.name.rsplit("-", 1)[1] for e in found]

    assert names() == ["c", "b", "a"]  # newest first
    assert names(f"experiment_id IN ('{ids['a']}', '{ids['c']}')", ["name"]) == ["a", "c"]
    assert names(f"experiment_id = '{ids['b']}'") == ["b"]
    assert names(f"attribute.name = '{prefix}-b'") == ["b"]
    assert names(f"name ILIKE '{prefix.upper()}-%'", ["name ASC"]) == ["a", "b", "c"]
    assert names(f"name LIKE '{prefix.upper()}-%'") == []
    assert names(f"name != '{prefix}-b'", ["name"]) == ["a", "c"]
    t = exps["b"].creation_time
    assert names(f"attribute.creation_time >= {t}", ["name"]) == ["b", "c"]
    assert names(f"attribute.creation_time < {t}") == ["a"]
    assert names(f"attribute.last_update_time >= {exps['b'].last_update_time}", ["name"]) == ["b", "c"]
    assert names("tags.team = 'cv'") == ["a"]
    # A tag the experiment lacks fails every test but IS NULL.
    assert names("tags.team != 'cv'") == ["b"]
    assert names("tags.team LIKE '%'", ["name"]) == ["a", "b"]
    assert names("tags.team ILIKE 'NL%'") == ["b"]
    assert names("tags.team IS NULL") == ["c"]
    assert names("tags.team IS NOT NULL", ["name"]) == ["a", "b"]
    assert names(order_by=["name DESC"]) == ["c", "b", "a"]
    assert names(order_by=["attribute.creation_time"]) == ["a", "b", "c"]
    assert names(order_by=["experiment_id DESC"]) == ["c", "b", "a"]
    client.rename_experiment(ids["a"], f"{prefix}-a2")
    assert names(order_by=["last_update_time DESC"])[0] == "a2"
    for bad_filter in ["params.x = 'a'", "attribute.nope = 'a'", "name > 'a'", "creation_time = 'a'",
                       "name = 'a' OR name = 'b'", "name IS NULL"]:
        with pytest.raises(MlflowException) as e:
            client.search_experiments(filter_string=bad_filter)
        assert e.value.error_code == "INVALID_PARAMETER_VALUE", bad_filter
    for bad_order in (["tags.team"], ["name SIDEWAYS"], ["nope"]):
        with pytest.raises(MlflowException) as e:
            client.search_experiments(order_by=bad_order)
        assert e.value.error_code == "INVALID_PARAMETER_VALUE", bad_order


def test_experiment_search_pages_and_views(client):
    prefix = unique("pages")
    ids = [client.create_experiment(f"{prefix}-{i}") for i in range(5)]
    f = f"name LIKE '{prefix}-%'"
    page = client.search_experiments(filter_string=f, max_results=2, order_by=["name"])
    seen = [e.experiment_id for e in page]
    while page.token:
        page = client.search_experiments(filter_string=f, max_results=2, order_by=["name"], page_token=page.token)
        seen += [e.experiment_id for e in page]
    assert seen == ids
    with pytest.raises(MlflowException) as e:
        client.search_experiments(max_results=50_001)
    assert e.value.error_code == "INVALID_PARAMETER_VALUE"
    client.delete_experiment(ids[0])

    def view(v):
        return sorted(e.experiment_id for e in client.search_experiments(view_type=v, filter_string=f))

    assert view(ViewType.ACTIVE_ONLY) == sorted(ids[1:])
    assert view(ViewType.DELETED_ONLY) == [ids[0]]
    assert view(ViewType.ALL) == sorted(ids)


def test_deleting_an_experiment_deletes_its_runs(client):
    eid = client.create_experiment(unique("cascade"))
    a, b, c = (client.create_run(eid, run_name=n).info.run_id for n in "abc")
    client.log_metric(a, "loss", 0.5)
    client.delete_run(c)
    client.delete_experiment(eid)
    assert {client.get_run(r).info.lifecycle_stage for r in (a, b, c)} == {"deleted"}

    def view(v):
        return {r.info.run_id for r in client.search_runs([eid], run_view_type=v)}

    assert view(ViewType.ACTIVE_ONLY) == set()
    assert view(ViewType.DELETED_ONLY) == {a, b, c}
    assert view(ViewType.ALL) == {a, b, c}
    # A deleted run's history still reads.
    assert [m.value for m in client.get_metric_history(a, "loss")] == [0.5]
    # Restoring the experiment restores every run in it, as MLflow does.
    client.restore_experiment(eid)
    assert {client.get_run(r).info.lifecycle_stage for r in (a, b, c)} == {"active"}
    assert view(ViewType.ACTIVE_ONLY) == {a, b, c}
    assert view(ViewType.DELETED_ONLY) == set()


def test_log_batch_with_repeated_keys(client):
    eid = client.create_experiment(unique("dupes"))
    rid = client.create_run(eid).info.run_id
    with pytest.raises(MlflowException) as e:
        client.log_batch(rid, params=[Param("lr", "0.1"), Param("lr", "0.1")])
    assert e.value.error_code == "INVALID_PARAMETER_VALUE"
    assert client.get_run(rid).data.params == {}
    client.log_batch(rid, metrics=[Metric("m", 1.0, 100, 0), Metric("m", 2.0, 200, 1), Metric("m", 3.0, 300, 2)],
                     tags=[RunTag("t", "first"), RunTag("t", "second")])
    run = client.get_run(rid)
    assert run.data.metrics["m"] == 3.0 and run.data.tags["t"] == "second"
    assert [(m.step, m.value) for m in client.get_metric_history(rid, "m")] == [(0, 1.0), (1, 2.0), (2, 3.0)]


def test_search_runs_into_pandas(client):
    name = unique("pandas")
    eid = client.create_experiment(name)
    for i in range(3):
        rid = client.create_run(eid, run_name=f"p{i}", tags={"kind": "grid"}).info.run_id
        client.log_batch(rid, metrics=[Metric("acc", 0.5 + i / 10, 0, 0)], params=[Param("lr", str(10 ** -i))])
        client.set_terminated(rid)
    df = mlflow.search_runs(experiment_ids=[eid], order_by=["metrics.acc DESC"])
    assert len(df) == 3
    for col in ["run_id", "experiment_id", "status", "start_time", "end_time", "metrics.acc", "params.lr",
                "tags.kind", "tags.mlflow.runName"]:
        assert col in df.columns, col
    assert list(df["tags.mlflow.runName"]) == ["p2", "p1", "p0"]
    assert list(df["params.lr"]) == ["0.01", "0.1", "1"]
    assert list(df["metrics.acc"]) == pytest.approx([0.7, 0.6, 0.5])
    assert set(df["status"]) == {"FINISHED"}
    df = mlflow.search_runs(experiment_names=[name], filter_string="params.lr = '0.1'")
    assert list(df["tags.mlflow.runName"]) == ["p1"]
