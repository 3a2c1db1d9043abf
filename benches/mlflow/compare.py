"""Side-by-side: the same official `mlflow` client workload against MLflow's own tracking
server, FastTrackML and `cairn server`, on this machine, in one run.

Run through ./scripts/bench-mlflow, which installs the servers and builds Cairn. Every
answer is checked (counts, order, values read back), so a server that drops data cannot
look fast. Prints a markdown table of each figure per server and Cairn's ratios.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
import urllib.parse
from urllib.parse import urlparse

import mlflow
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag

CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tree_cpu_seconds(root: int) -> float:
    """User + system CPU of a process and all its descendants (gunicorn workers too)."""
    children: dict[int, list[int]] = {}
    stats: dict[int, float] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid, ppid = int(entry), int(fields[1])
        children.setdefault(ppid, []).append(pid)
        # utime, stime, cutime, cstime (waited-for children count too)
        stats[pid] = sum(int(x) for x in fields[11:15]) / CLK_TCK
    total, todo = 0.0, [root]
    while todo:
        p = todo.pop()
        total += stats.get(p, 0.0)
        todo.extend(children.get(p, []))
    return total


class Server:
    def __init__(self, name: str, argv: list[str], url: str, env: dict | None = None, cwd: str | None = None):
        self.name, self.url = name, url
        self.log = open(os.path.join(cwd or tempfile.gettempdir(), f"{name}.log"), "w")
        self.proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=self.log, stderr=self.log, start_new_session=True)
        deadline = time.monotonic() + 120
        while True:
            if self.proc.poll() is not None:
                raise SystemExit(f"{name} exited while starting; see {self.log.name}")
            try:
                urllib.request.urlopen(self.url + "/api/2.0/mlflow/experiments/search?max_results=1", timeout=2)
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise SystemExit(f"{name} did not answer within 120 s; see {self.log.name}")
                time.sleep(0.3)

    def cpu(self) -> float:
        return tree_cpu_seconds(self.proc.pid)

    def stop(self):
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=30)
        except Exception:
            os.killpg(self.proc.pid, signal.SIGKILL)


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p * (len(xs) - 1))))]


def workload(server: Server, a) -> dict:
    client = MlflowClient(server.url)
    mlflow.set_tracking_uri(server.url)
    out = {}
    exp = client.create_experiment(f"bench-{random.randint(0, 1 << 30)}")

    # 1. Run creation with 20 params and 5 tags, 8 client threads.
    def create(i: int) -> str:
        r = client.create_run(exp, run_name=f"run-{i}", tags={f"t{j}": f"v{j}" for j in range(5)})
        rid = r.info.run_id
        params = [Param(f"p{j}", str(j if j else i % 10)) for j in range(20)]
        client.log_batch(rid, params=params, metrics=[Metric("acc", (i * 7919 % 1000) / 1000, int(time.time() * 1000), 0)])
        return rid

    t = time.perf_counter()
    with ThreadPoolExecutor(a.threads) as pool:
        ids = list(pool.map(create, range(a.runs)))
    took = time.perf_counter() - t
    out["create"] = a.runs / took
    page = client.search_runs([exp], max_results=1, filter_string="params.p0 = '3'")
    assert page, "created runs are searchable"

    # 2. log-batch ingestion through the client (1,000 metrics per call), 8 threads.
    run = ids[0]
    per_thread = a.points // a.threads
    def ingest(k: int):
        now = int(time.time() * 1000)
        for start in range(0, per_thread, 1000):
            ms = [Metric(f"ingest{k}", float(s), now + s, s) for s in range(start, min(start + 1000, per_thread))]
            client.log_batch(run, metrics=ms)

    cpu0, t = server.cpu(), time.perf_counter()
    with ThreadPoolExecutor(a.threads) as pool:
        list(pool.map(ingest, range(a.threads)))
    took, cpu = time.perf_counter() - t, server.cpu() - cpu0
    total = per_thread * a.threads
    out["ingest_client"] = total / took
    out["cpu_per_m_client"] = cpu / total * 1e6
    h = client.get_metric_history(run, "ingest0")
    assert len(h) == per_thread and [m.step for m in h] == list(range(per_thread)), "every point read back in order"

    # 3. Raw HTTP log-batch: the client's own cost out of the way.
    u = urlparse(server.url)
    bodies = []
    now = int(time.time() * 1000)
    per_body = 1000
    n_bodies = a.raw_points // per_body
    for b in range(n_bodies):
        ms = [{"key": f"raw{b % a.threads}", "value": float(s), "timestamp": now + s, "step": b * per_body + s}
              for s in range(per_body)]
        bodies.append(json.dumps({"run_id": ids[1], "metrics": ms}).encode())

    def post(chunk: list[bytes]):
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=120)
        for body in chunk:
            conn.request("POST", "/api/2.0/mlflow/runs/log-batch", body, {"Content-Type": "application/json"})
            r = conn.getresponse()
            r.read()
            assert r.status == 200, r.status
        conn.close()

    chunks = [bodies[i :: a.threads] for i in range(a.threads)]
    cpu0, t = server.cpu(), time.perf_counter()
    threads = [threading.Thread(target=post, args=(c,)) for c in chunks]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    took, cpu = time.perf_counter() - t, server.cpu() - cpu0
    out["ingest_raw"] = n_bodies * per_body / took
    out["cpu_per_m_raw"] = cpu / (n_bodies * per_body) * 1e6
    got = sum(len(client.get_metric_history(ids[1], f"raw{k}")) for k in range(a.threads))
    assert got == n_bodies * per_body, f"raw points read back: {got}"

    # 4. Filtered, ordered search over all runs (p50/p95).
    expected = sorted(
        ((i * 7919 % 1000) / 1000 for i in range(a.runs) if i % 10 == 3 and (i * 7919 % 1000) / 1000 > 0.5),
        reverse=True,
    )[:100]
    lat = []
    for _ in range(a.queries):
        t = time.perf_counter()
        res = client.search_runs([exp], filter_string="metrics.acc > 0.5 and params.p0 = '3'",
                                 order_by=["metrics.acc DESC"], max_results=100)
        lat.append(time.perf_counter() - t)
        assert [r.data.metrics["acc"] for r in res] == expected, "search answers match"
    out["search_p50"], out["search_p95"] = pct(lat, 0.5), pct(lat, 0.95)

    # 4b. The same search over raw HTTP: the server's time without the client's parsing.
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=120)
    body = json.dumps({"experiment_ids": [exp], "filter": "metrics.acc > 0.5 and params.p0 = '3'",
                       "order_by": ["metrics.acc DESC"], "max_results": 100}).encode()
    lat = []
    for _ in range(a.queries):
        t = time.perf_counter()
        conn.request("POST", "/api/2.0/mlflow/runs/search", body, {"Content-Type": "application/json"})
        r = conn.getresponse()
        doc = json.loads(r.read())
        lat.append(time.perf_counter() - t)
        accs = [next(m["value"] for m in run["data"]["metrics"] if m["key"] == "acc") for run in doc.get("runs", [])]
        assert accs == expected, "raw search answers match"
    conn.close()
    out["search_raw_p50"], out["search_raw_p95"] = pct(lat, 0.5), pct(lat, 0.95)

    # 5. A 1,000-row unfiltered page.
    lat = []
    for _ in range(max(3, a.queries // 4)):
        t = time.perf_counter()
        res = client.search_runs([exp], max_results=1000)
        lat.append(time.perf_counter() - t)
        assert len(res) == min(1000, a.runs)
    out["page_p50"] = pct(lat, 0.5)

    # 6. A long metric history, read the way the client reads it (paged).
    long_run = ids[2]
    now = int(time.time() * 1000)
    def fill(k: int):
        for start in range(k * 1000, a.history, a.threads * 1000):
            client.log_batch(long_run, metrics=[Metric("long", s * 0.5, now + s, s) for s in range(start, min(start + 1000, a.history))])
    with ThreadPoolExecutor(a.threads) as pool:
        list(pool.map(fill, range(a.threads)))
    lat = []
    for _ in range(3):
        t = time.perf_counter()
        h = client.get_metric_history(long_run, "long")
        lat.append(time.perf_counter() - t)
        # Every point, with its value (order aside: servers differ on ties).
        assert sorted((m.step, m.value) for m in h) == [(s, s * 0.5) for s in range(a.history)]
    out["history"] = pct(lat, 0.5)

    # 6b. The same history over raw HTTP, in pages of 25,000 (MLflow's page limit).
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=300)
    lat = []
    for _ in range(3):
        t = time.perf_counter()
        points, token = [], None
        while True:
            q = f"/api/2.0/mlflow/metrics/get-history?run_id={long_run}&metric_key=long&max_results=25000"
            if token:
                q += f"&page_token={urllib.parse.quote(token)}"
            conn.request("GET", q)
            r = conn.getresponse()
            doc = json.loads(r.read())
            assert r.status == 200, doc
            points.extend(doc.get("metrics", []))
            token = doc.get("next_page_token")
            if not token:
                break
        lat.append(time.perf_counter() - t)
        assert sorted((m["step"], m["value"]) for m in points) == [(s, s * 0.5) for s in range(a.history)]
    conn.close()
    out["history_raw"] = pct(lat, 0.5)
    return out


ROWS = [
    ("create", "run creation (20 params, 5 tags; 8 threads)", "runs/s", True),
    ("ingest_client", "log-batch through the mlflow client (8 threads)", "points/s", True),
    ("cpu_per_m_client", "server CPU per million points (client ingestion)", "CPU-s", False),
    ("ingest_raw", "log-batch, raw HTTP load generator (8 connections)", "points/s", True),
    ("cpu_per_m_raw", "server CPU per million points (raw ingestion)", "CPU-s", False),
    ("search_p50", "search_runs, filter + order, p50", "s", False),
    ("search_p95", "search_runs, filter + order, p95", "s", False),
    ("search_raw_p50", "the same search, raw HTTP (no client parsing), p50", "s", False),
    ("search_raw_p95", "the same search, raw HTTP, p95", "s", False),
    ("page_p50", "search_runs, 1,000-row unfiltered page, p50", "s", False),
    ("history", "get_metric_history, long metric (client pages)", "s", False),
    ("history_raw", "the same history, raw HTTP (pages of 25,000)", "s", False),
]


def fmt(v: float, unit: str) -> str:
    if unit == "s":
        return f"{v * 1000:.1f} ms" if v < 10 else f"{v:.1f} s"
    if unit == "CPU-s":
        return f"{v:.2f} CPU-s"
    return f"{v:,.0f} {unit}"


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--cairn", required=True)
    ap.add_argument("--servers", default="mlflow,fasttrackml,cairn")
    ap.add_argument("--runs", type=int, default=10_000)
    ap.add_argument("--points", type=int, default=200_000, help="points logged through the client")
    ap.add_argument("--raw-points", type=int, default=1_000_000, help="points logged by the raw generator")
    ap.add_argument("--history", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=20)
    ap.add_argument("--threads", type=int, default=8)
    a = ap.parse_args()
    results = {}
    for name in a.servers.split(","):
        work = tempfile.mkdtemp(prefix=f"bench-{name}-")
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        if name == "mlflow":
            argv = [shutil.which("mlflow") or "mlflow", "server", "--backend-store-uri", f"sqlite:///{work}/mlflow.db",
                    "--artifacts-destination", f"{work}/artifacts", "--host", "127.0.0.1", "--port", str(port),
                    "--workers", "4"]
            env = dict(os.environ)
        elif name == "fasttrackml":
            argv = [shutil.which("fml") or "fml", "server", "--listen-address", f"127.0.0.1:{port}",
                    "--database-uri", f"sqlite://{work}/fml.db", "--default-artifact-root", f"{work}/artifacts"]
            env = dict(os.environ)
        elif name == "cairn":
            argv = [os.path.abspath(a.cairn), "server", "--port", str(port)]
            env = {k: v for k, v in os.environ.items() if not k.startswith("CAIRN_")}
            env["CAIRN_HOME"] = work
        else:
            raise SystemExit(f"unknown server {name}")
        print(f"== {name} ({url})", file=sys.stderr)
        srv = Server(name, argv, url, env=env, cwd=work)
        try:
            t = time.perf_counter()
            results[name] = workload(srv, a)
            print(f"   done in {time.perf_counter() - t:.0f} s: {results[name]}", file=sys.stderr)
        finally:
            srv.stop()
    names = list(results)
    head = "| figure | " + " | ".join(names) + (" | cairn vs mlflow | cairn vs fasttrackml |" if "cairn" in results else " |")
    print(f"\n{a.runs:,} runs, {a.points:,} client points, {a.raw_points:,} raw points, {a.history:,}-point history, "
          f"{a.threads} threads\n")
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    for key, label, unit, higher in ROWS:
        cells = [fmt(results[n][key], unit) for n in names]
        ratios = []
        if "cairn" in results:
            for other in ("mlflow", "fasttrackml"):
                if other in results:
                    c, o = results["cairn"][key], results[other][key]
                    r = (c / o) if higher else (o / c if c else float("inf"))
                    ratios.append(f"{r:.1f}× {'faster' if unit != 'CPU-s' else 'less CPU'}" if r >= 1 else f"{1 / r:.1f}× slower")
                else:
                    ratios.append("-")
        print(f"| {label} | " + " | ".join(cells) + (" | " + " | ".join(ratios) + " |" if ratios else " |"))


if __name__ == "__main__":
    main()
