"""MLflow's multipart artifact upload (MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD=true): a
100 MB artifact in parts, byte for byte. On S3 (moto_server here) the parts go to
signed URLs straight to the bucket, on MLflow's own server as on Cairn; on local
storage Cairn takes the parts itself (MLflow's own server does not do multipart there,
so that test is Cairn's alone)."""

import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
import uuid

import mlflow
import pytest
from mlflow import MlflowClient
from mlflow.store.artifact.http_artifact_repo import HttpArtifactRepository

from conftest import BINARY, REFERENCE, cairn_only, free_port

SIZE = 100 * 1024 * 1024
CHUNK = 10 * 1024 * 1024


def wait_port(port, proc, log, what):
    deadline = time.monotonic() + 120
    while True:
        assert proc.poll() is None, f"{what} exited: {log.read_text()[-2000:]}"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            assert time.monotonic() < deadline, f"{what} did not start"
            time.sleep(0.2)


@pytest.fixture(scope="module")
def moto(tmp_path_factory):
    if not shutil.which("moto_server"):
        pytest.fail("moto_server is needed for the S3 tests: pip install 'moto[server]'")
    work = tmp_path_factory.mktemp("moto")
    port = free_port()
    log = work / "moto.log"
    proc = subprocess.Popen(["moto_server", "-H", "127.0.0.1", "-p", str(port)], stdout=open(log, "w"),
                            stderr=subprocess.STDOUT, start_new_session=True)
    wait_port(port, proc, log, "moto_server")
    url = f"http://127.0.0.1:{port}"
    urllib.request.urlopen(urllib.request.Request(f"{url}/artifacts", method="PUT")).read()
    yield url
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=30)


def start(cmd, env, work, ready_port=None, marker=None):
    log = work / "server.log"
    proc = subprocess.Popen(cmd, env=env, stdout=open(log, "w"), stderr=subprocess.STDOUT, start_new_session=True)
    if marker is not None:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert proc.poll() is None, log.read_text()[-2000:]
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.05)
        url = json.loads(marker.read_text())["url"]
    else:
        wait_port(ready_port, proc, log, "mlflow server")
        url = f"http://127.0.0.1:{ready_port}"
    return proc, url


def stop(proc):
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=30)


@pytest.fixture(scope="module")
def s3_server(moto, tmp_path_factory):
    """A tracking server whose artifacts live in moto's S3."""
    work = tmp_path_factory.mktemp("s3-server")
    creds = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1"}
    if REFERENCE:
        env = {**os.environ, **creds, "MLFLOW_S3_ENDPOINT_URL": moto}
        port = free_port()
        proc, url = start(["mlflow", "server", "--backend-store-uri", f"sqlite:///{work}/mlflow.db",
                           "--artifacts-destination", "s3://artifacts/mlflow", "--host", "127.0.0.1",
                           "--port", str(port), "--workers", "1"], env, work, ready_port=port)
    else:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CAIRN_")}
        env.update(creds, AWS_ENDPOINT_URL=moto, AWS_ALLOW_HTTP="true", CAIRN_HOME=str(work))
        proc, url = start([BINARY, "server", "--port", "0", "--artifacts", "s3://artifacts/cairn"], env, work,
                          marker=work / "server.json")
    yield url
    stop(proc)


@pytest.fixture
def multipart(monkeypatch):
    """Multipart uploads on, in 10 MB parts; records what each `mpu/create` answered."""
    monkeypatch.setenv("MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD", "true")
    monkeypatch.setenv("MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE", str(CHUNK))
    monkeypatch.setenv("MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE", str(CHUNK))
    created = []
    real = HttpArtifactRepository.create_multipart_upload

    def spy(self, *args, **kwargs):
        out = real(self, *args, **kwargs)
        created.append(out)
        return out

    monkeypatch.setattr(HttpArtifactRepository, "create_multipart_upload", spy)
    return created


def big_file(tmp_path):
    path = tmp_path / "weights.bin"
    digest = hashlib.sha256()
    with open(path, "wb") as f:
        for i in range(SIZE // (1024 * 1024)):
            block = hashlib.sha256(f"{i}".encode()).digest() * (1024 * 1024 // 32)
            digest.update(block)
            f.write(block)
    return path, digest.hexdigest()


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def round_trip(url, tmp_path, monkeypatch, created):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
    mlflow.set_tracking_uri(url)
    client = MlflowClient(url)
    eid = client.create_experiment(f"mpu-{uuid.uuid4().hex[:8]}")
    rid = client.create_run(eid).info.run_id
    src, digest = big_file(tmp_path)
    client.log_artifact(rid, str(src), artifact_path="model")
    assert len(created) == 1, "the upload went through mpu/create"
    parts = created[0].credentials
    assert [c.part_number for c in parts] == list(range(1, SIZE // CHUNK + 1))
    listed = {f.path: f.file_size for f in client.list_artifacts(rid, "model")}
    assert listed == {"model/weights.bin": SIZE}
    out = client.download_artifacts(rid, "model/weights.bin", str(tmp_path / "back"))
    assert sha256(out) == digest, "byte for byte"
    return parts


def test_a_100_mb_artifact_goes_to_s3_in_signed_parts(s3_server, moto, tmp_path, monkeypatch, multipart):
    parts = round_trip(s3_server, tmp_path, monkeypatch, multipart)
    for c in parts:
        assert c.url.startswith(moto) and "partNumber" in c.url and "Signature" in c.url, c.url


@cairn_only
def test_a_100_mb_artifact_goes_through_the_server_to_local_storage(server, tmp_path, monkeypatch, multipart):
    parts = round_trip(server["url"], tmp_path, monkeypatch, multipart)
    for c in parts:
        assert c.url.startswith(server["url"] + "/api/2.0/mlflow-artifacts/mpu/part/"), c.url
    # Nothing is left of the parts once they are joined.
    uploads = server["home"] / "artifacts" / "uploads"
    assert not uploads.exists() or not any(uploads.iterdir())


@cairn_only
def test_a_broken_multipart_upload_is_refused_and_leaves_nothing(server, tmp_path):
    base = server["url"] + "/api/2.0/mlflow-artifacts"
    client = MlflowClient(server["url"])
    rid = client.create_run(client.create_experiment(f"mpu-bad-{uuid.uuid4().hex[:8]}")).info.run_id
    eid = client.get_run(rid).info.experiment_id
    where = f"{eid}/{rid}/artifacts/ckpt"

    def call(method, path, body=None, raw=None):
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        req = urllib.request.Request(base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req) as r:
                return r.status, r.headers, json.loads(r.read() or b"{}")
        except urllib.error.HTTPError as e:
            return e.code, e.headers, json.loads(e.read() or b"{}")

    status, _, made = call("POST", f"/mpu/create/{where}", {"path": "/tmp/x/w.bin", "num_parts": 2})
    assert status == 200 and len(made["credentials"]) == 2
    upload = made["upload_id"]
    status, headers, _ = call("PUT", f"/mpu/part/{upload}/1", raw=b"a" * 1000)
    assert status == 200 and headers["ETag"]
    # Part 2 never came: completing says so, and the artifact does not exist.
    status, _, err = call("POST", f"/mpu/complete/{where}",
                          {"path": "/tmp/x/w.bin", "upload_id": upload, "parts": [{"part_number": 1, "etag": "x"}]})
    assert status == 400 and err["error_code"] == "INVALID_PARAMETER_VALUE", err
    assert client.list_artifacts(rid, "ckpt") == []
    status, _, err = call("PUT", f"/mpu/part/{upload}/3", raw=b"b")
    assert status == 400, err
    status, _, _ = call("POST", f"/mpu/abort/{where}", {"path": "/tmp/x/w.bin", "upload_id": upload})
    assert status == 200
    status, _, err = call("PUT", f"/mpu/part/{upload}/2", raw=b"b")
    assert status == 404 and err["error_code"] == "RESOURCE_DOES_NOT_EXIST", err
    status, _, err = call("POST", f"/mpu/create/{where}", {"path": "/tmp/x/w.bin", "num_parts": 0})
    assert status == 400, err
