"""A small in-process stand-in for the Cairn server, recording every request.

Implements just enough of docs/rest-api.md for the SDK's unit tests. Also runnable as
a fake `cairn` binary: `python fakeserver.py server --port 0` (writes
$CAIRN_HOME/server.json like the real one).
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List, Optional


class Request:
    def __init__(self, method: str, path: str, query: Dict[str, List[str]], headers: Dict[str, str], body: bytes):
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8")) if self.body else None

    def __repr__(self) -> str:
        return f"<{self.method} {self.path} {len(self.body)}B>"


class FakeCairn:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: List[Request] = []
        self.runs: Dict[str, Dict[str, Any]] = {}
        # run id -> key -> list of (step, value, timestamp)
        self.points: Dict[str, Dict[str, List[tuple]]] = {}
        self.artifacts: Dict[str, Dict[str, bytes]] = {}
        self.strict_projects = set()  # projects that require a hypothesis
        self.strict_all = False  # like the real server: every new project requires one
        # Statuses to answer the next POST .../metrics requests with, in order.
        self.metrics_failures: List[int] = []
        self.fail_all_metrics = False
        self.upload_chunk_sizes: List[int] = []
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread: Optional[threading.Thread] = None

    # -- lifecycle -----------------------------------------------------------------
    def start(self) -> "FakeCairn":
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    # -- helpers for tests -----------------------------------------------------------
    def find(self, method: str, contains: str = "") -> List[Request]:
        with self.lock:
            return [r for r in self.requests if r.method == method and contains in r.path]

    def metric_posts(self) -> List[Request]:
        return [r for r in self.find("POST", "/metrics") if r.path.endswith("/metrics")]

    def series(self, run_id: str, key: str) -> List[tuple]:
        with self.lock:
            return sorted(self.points.get(run_id, {}).get(key, []), key=lambda p: p[0])

    def add_run(self, **fields: Any) -> Dict[str, Any]:
        run = self._new_run(fields)
        with self.lock:
            self.runs[run["id"]] = run
        return run

    def _new_run(self, body: Dict[str, Any]) -> Dict[str, Any]:
        rid = uuid.uuid4().hex
        now = int(time.time() * 1000)
        return {
            "id": rid,
            "short_id": rid[:8],
            "project": body.get("project", "default"),
            "name": body.get("name") or f"run-{rid[:4]}",
            "description": body.get("description", ""),
            "hypothesis": body.get("hypothesis"),
            "expected": body.get("expected"),
            "verdict": None,
            "owner": body.get("owner") or "someone",
            "tags": dict(body.get("tags") or {}),
            "status": body.get("status") or "running",
            "created_at": now,
            "started_at": now,
            "ended_at": None,
            "exit_code": None,
            "config": dict(body.get("config") or {}),
            "command": body.get("command") or [],
            "code": None,
            "data": None,
            "environment": None,
            "seeds": body.get("seeds") or [],
            "parents": body.get("parents") or [],
            "children": [],
            "group_id": body.get("group_id"),
            "fingerprint": None,
            "metrics": [],
            "deleted_at": None,
            "updated_at": now,
        }

    def _lookup(self, ref: str) -> Optional[Dict[str, Any]]:
        for run in self.runs.values():
            if ref in (run["id"], run["short_id"]):
                return run
        return None

    def _summaries(self, run_id: str) -> List[Dict[str, Any]]:
        out = []
        for key, pts in sorted(self.points.get(run_id, {}).items()):
            pts = sorted(pts, key=lambda p: p[0])
            last = pts[-1]
            out.append({"key": key, "count": len(pts), "last": last[1], "last_step": last[0], "last_timestamp": last[2]})
        return out

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, doc: Any = None, raw: Optional[bytes] = None, extra: Any = None) -> None:
                body = raw if raw is not None else (b"" if doc is None else json.dumps(doc).encode())
                self.send_response(status)
                for k, v in (extra or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Type", "application/json" if raw is None else "application/octet-stream")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _error(self, status: int, code: str, message: str) -> None:
                self._send(status, {"error": {"code": code, "message": message}})

            def _read_body(self) -> bytes:
                if self.headers.get("Transfer-Encoding"):
                    raise AssertionError("chunked bodies are not expected from the SDK")
                n = int(self.headers.get("Content-Length") or 0)
                chunks = []
                while n > 0:
                    c = self.rfile.read(min(n, 256 * 1024))
                    if not c:
                        break
                    chunks.append(c)
                    n -= len(c)
                return b"".join(chunks)

            def _handle(self, method: str) -> None:
                parts = urllib.parse.urlsplit(self.path)
                path = parts.path
                body = self._read_body()
                req = Request(method, self.path, urllib.parse.parse_qs(parts.query), dict(self.headers.items()), body)
                with fake.lock:
                    fake.requests.append(req)
                try:
                    self._route(method, path, req)
                except Exception as e:  # pragma: no cover - shows up as a 500 in tests
                    self._error(500, "internal", f"fake server error: {e!r}")

            def _route(self, method: str, path: str, req: Request) -> None:
                segs = [urllib.parse.unquote(s) for s in path.strip("/").split("/")]
                if path == "/healthz":
                    return self._send(200, {"status": "ok", "version": "fake", "store": "memory"})
                if segs[:3] != ["api", "v1", "runs"]:
                    return self._error(404, "not_found", f"no route {path}")
                rest = segs[3:]
                with fake.lock:
                    if not rest and method == "GET":
                        project = (req.query.get("project") or [None])[0]
                        runs = [r for r in fake.runs.values() if project in (None, r["project"])]
                        for r in runs:
                            r["metrics"] = fake._summaries(r["id"])
                        return self._send(200, {"runs": runs, "next_cursor": None})
                    if not rest and method == "POST":
                        try:
                            body = req.json()
                        except ValueError:
                            return self._error(400, "invalid_json", "body is not JSON")
                        if not body.get("project"):
                            return self._error(400, "invalid_argument", "project is required")
                        strict = fake.strict_all or body["project"] in fake.strict_projects
                        if strict and not (body.get("hypothesis") or "").strip():
                            return self._error(
                                400,
                                "hypothesis_required",
                                f"a hypothesis is required for runs in project '{body['project']}'",
                            )
                        run = fake._new_run(body)
                        fake.runs[run["id"]] = run
                        return self._send(201, run)
                    run = fake._lookup(rest[0]) if rest else None
                    if run is None:
                        return self._error(404, "run_not_found", f"no run '{rest[0] if rest else ''}' in this store")
                    rid = run["id"]
                    if len(rest) == 1 and method == "GET":
                        run["metrics"] = fake._summaries(rid)
                        return self._send(200, run)
                    if len(rest) == 1 and method == "PATCH":
                        body = req.json() or {}
                        for k, v in body.items():
                            if k == "config":
                                run["config"].update(v)
                            elif k == "tags":
                                run["tags"].update(v)
                            elif k == "remove_tags":
                                for t in v:
                                    run["tags"].pop(t, None)
                            else:
                                run[k] = v
                        return self._send(200, run)
                    if rest[1:] == ["finish"] and method == "POST":
                        body = req.json() or {}
                        run["status"] = body.get("status", "finished")
                        run["exit_code"] = body.get("exit_code")
                        run["ended_at"] = int(time.time() * 1000)
                        return self._send(200, run)
                    if rest[1:] == ["metrics"] and method == "POST":
                        if fake.fail_all_metrics:
                            return self._error(503, "store_unavailable", "store is down (fake)")
                        if fake.metrics_failures:
                            status = fake.metrics_failures.pop(0)
                            return self._error(status, "store_unavailable", "store is busy (fake)")
                        body = req.json()
                        n = 0
                        store = fake.points.setdefault(rid, {})
                        for s in body.get("series", []):
                            ts = s.get("timestamps") or [None] * len(s["steps"])
                            assert len(s["steps"]) == len(s["values"]) == len(ts)
                            for st, v, t in zip(s["steps"], s["values"], ts):
                                store.setdefault(s["key"], []).append((st, v, t))
                                n += 1
                        for p in body.get("points", []):
                            store.setdefault(p["key"], []).append((p.get("step", 0), p["value"], p.get("timestamp")))
                            n += 1
                        return self._send(200, {"accepted": n})
                    if rest[1:] == ["metrics"] and method == "GET":
                        return self._send(200, {"metrics": fake._summaries(rid)})
                    if len(rest) == 3 and rest[1] == "metrics" and method == "GET":
                        pts = sorted(fake.points.get(rid, {}).get(rest[2], []), key=lambda p: p[0])
                        total = len(pts)
                        max_points = int((req.query.get("max_points") or [0])[0])
                        down = bool(max_points) and total > max_points
                        if down:  # crude stand-in for LTTB
                            pts = pts[:: -(-total // max_points)]
                        return self._send(
                            200,
                            {
                                "run": rid,
                                "key": rest[2],
                                "downsampled": down,
                                "total": total,
                                "steps": [p[0] for p in pts],
                                "values": [p[1] for p in pts],
                                "timestamps": [p[2] for p in pts],
                            },
                        )
                    if rest[1:] == ["artifacts"] and method == "GET":
                        arts = fake.artifacts.get(rid, {})
                        listing = [
                            {"path": k, "size": len(v), "blake3": "fake", "created_at": 0} for k, v in sorted(arts.items())
                        ]
                        return self._send(200, {"artifacts": listing})
                    if len(rest) >= 3 and rest[1] == "artifacts":
                        name = "/".join(rest[2:])
                        if method == "PUT":
                            fake.artifacts.setdefault(rid, {})[name] = req.body
                            return self._send(
                                201, {"path": name, "size": len(req.body), "blake3": "fake", "created_at": 0}
                            )
                        if method == "GET":
                            data = fake.artifacts.get(rid, {}).get(name)
                            if data is None:
                                return self._error(404, "artifact_not_found", f"no artifact {name}")
                            return self._send(200, raw=data, extra={"x-cairn-blake3": "fake"})
                return self._error(404, "not_found", f"no route {method} {path}")

            def do_GET(self) -> None:
                self._handle("GET")

            def do_POST(self) -> None:
                self._handle("POST")

            def do_PUT(self) -> None:
                self._handle("PUT")

            def do_PATCH(self) -> None:
                self._handle("PATCH")

        return Handler


def main(argv: List[str]) -> None:
    """Acts as `cairn server --port 0` (and `cairn capture`) for the autostart tests."""
    if argv[:1] == ["capture"]:
        print(json.dumps({"code": {"versioned": False}, "environment": {}, "data": {"datasets": []}}))
        return
    assert argv[:1] == ["server"], argv
    home = os.environ["CAIRN_HOME"]
    # Count starts, so tests can check a running server is reused.
    with open(os.path.join(home, "starts.txt"), "a") as f:
        f.write(f"{os.getpid()}\n")
    fake = FakeCairn()
    fake.strict_all = True
    tmp = os.path.join(home, "server.json.tmp")
    with open(tmp, "w") as f:
        json.dump({"url": fake.url, "pid": os.getpid()}, f)
    os.replace(tmp, os.path.join(home, "server.json"))
    print(f"fake cairn serving on {fake.url}", flush=True)
    fake.httpd.serve_forever()


if __name__ == "__main__":
    main(sys.argv[1:])
