"""Runs: creating or attaching, logging metrics, artifacts, config, summary, finishing."""

from __future__ import annotations

import atexit
import getpass
import math
import operator
import os
import signal
import sys
import tempfile
import threading
import uuid
import time
from collections.abc import Mapping, MutableMapping
from typing import Any, Dict, Iterator, List, Optional, Tuple, Union

from . import _capture, _local
from ._http import Client, quote_path
from .errors import CairnConnectionError, CairnError

#: The sender wakes up this often (seconds) to send what was logged.
FLUSH_INTERVAL = 1.0
#: How often (seconds) a running run tells the server its process is alive; a run
#: whose heartbeats stop is marked "crashed" (after the server's CAIRN_HEARTBEAT_TIMEOUT).
HEARTBEAT_INTERVAL = 30.0
#: ... or as soon as this many points are queued.
BATCH_POINTS = 10_000
#: Points per request; the server accepts up to 1,000,000 and 64 MiB per body.
MAX_POINTS_PER_REQUEST = 100_000
#: Longest metric key, in UTF-8 bytes (the server's limit).
MAX_KEY_BYTES = 250

_FINISH_STATUSES = ("finished", "failed", "killed")

_Columns = Tuple[List[int], List[Any], List[int]]


_sigterm = threading.Event()
_sigterm_watched = False


def _watch_sigterm() -> None:
    """From now on SIGTERM sets a flag (see Run.should_checkpoint) instead of ending the
    process. Only the main thread may install handlers; elsewhere it stays as it was."""
    global _sigterm_watched
    if _sigterm_watched:
        return
    try:
        signal.signal(signal.SIGTERM, lambda *_: _sigterm.set())
        _sigterm_watched = True
    except ValueError:
        pass


def _now_ms() -> int:
    return int(time.time() * 1000)


def _warn(msg: str) -> None:
    try:
        sys.stderr.write(f"cairn: {msg}\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


def encode_value(v: float) -> Union[float, str]:
    """A metric value as the server accepts it: non-finite values become strings."""
    if v != v:
        return "NaN"
    if v == math.inf:
        return "Infinity"
    if v == -math.inf:
        return "-Infinity"
    return v


def decode_value(v: Any) -> Any:
    """The inverse of :func:`encode_value` (also accepts `inf`/`-inf`/`nan`)."""
    if isinstance(v, str):
        low = v.strip().lower()
        if low in ("nan", "+nan", "-nan"):
            return math.nan
        if low in ("infinity", "+infinity", "inf", "+inf"):
            return math.inf
        if low in ("-infinity", "-inf"):
            return -math.inf
    return v


def _to_number(key: str, v: Any) -> float:
    if isinstance(v, (bool, int, float)):
        try:
            return float(v)
        except OverflowError:
            raise ValueError(f"value for metric {key!r} is too large for a float: {v}") from None
    if v is None or isinstance(v, (str, bytes, bytearray)):
        raise TypeError(f"value for metric {key!r} must be a number, got {type(v).__name__} {v!r}")
    try:  # numpy / torch scalars, Decimal, Fraction, 0-d arrays
        return float(v)
    except (TypeError, ValueError, OverflowError):
        raise TypeError(f"value for metric {key!r} must be a number, got {type(v).__name__}") from None


def _check_key(key: Any) -> str:
    if not isinstance(key, str):
        raise TypeError(f"metric keys must be strings, got {type(key).__name__} {key!r}")
    if not key:
        raise ValueError("metric keys must not be empty")
    if len(key.encode("utf-8")) > MAX_KEY_BYTES:
        raise ValueError(f"metric key {key[:40]!r}... is longer than {MAX_KEY_BYTES} bytes")
    bad = next((c for c in key if ord(c) < 32 or 127 <= ord(c) < 160), None)
    if bad is not None:
        raise ValueError(f"metric key {key!r} contains the control character {bad!r}")
    return key


def _flatten(data: Mapping, prefix: str = "") -> List[Tuple[str, float]]:
    """`{"val": {"acc": 1}}` → `[("val/acc", 1.0)]`, validating keys and values."""
    out: List[Tuple[str, float]] = []
    for k, v in data.items():
        key = _check_key(k)
        full = f"{prefix}/{key}" if prefix else key
        if isinstance(v, Mapping):
            out.extend(_flatten(v, full))
        else:
            _check_key(full)
            out.append((full, _to_number(full, v)))
    return out


def _check_step(step: Any) -> int:
    if isinstance(step, bool):
        raise TypeError("step must be an integer, not a bool")
    try:
        return operator.index(step)
    except TypeError:
        if isinstance(step, float) and step.is_integer():
            return int(step)
        raise TypeError(f"step must be an integer, got {type(step).__name__} {step!r}") from None


def _as_dict(obj: Any, what: str) -> Dict[str, Any]:
    """Accepts a mapping, an argparse.Namespace or a dataclass instance."""
    if obj is None:
        return {}
    if isinstance(obj, Mapping):
        return {str(k): v for k, v in obj.items()}
    import dataclasses

    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    if hasattr(obj, "__dict__"):
        return {k: v for k, v in vars(obj).items() if not k.startswith("_")}
    raise TypeError(f"{what} must be a dict, got {type(obj).__name__}")


def _tag_value(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _normalize_tags(tags: Any) -> Dict[str, str]:
    """Tags are a string→string map; a list of names becomes `{name: ""}`."""
    if tags is None:
        return {}
    if isinstance(tags, str):
        return {tags: ""}
    if isinstance(tags, Mapping):
        return {str(k): _tag_value(v) for k, v in tags.items()}
    return {str(t): "" for t in tags}


def _run_ref(p: Any) -> str:
    if isinstance(p, Run):
        return p.id
    if isinstance(p, str) and p:
        return p
    raise TypeError(f"parents must be run ids, short ids or Run objects, got {type(p).__name__} {p!r}")


def _seeds(seed: Any) -> List[int]:
    seeds = seed if isinstance(seed, (list, tuple)) else [seed]
    out = []
    for s in seeds:
        if isinstance(s, bool):
            raise TypeError("seed must be an integer")
        out.append(operator.index(s))
    return out


class Config(MutableMapping):
    """The run's config. Reading is local; writing PATCHes the run (merged at top level).

    Nested values are returned as plain dicts: changing them in place is not sent to
    the server; assign the top-level key again (or use :meth:`update`) instead.
    """

    def __init__(self, run: "Run") -> None:
        object.__setattr__(self, "_run", run)

    def _dict(self) -> Dict[str, Any]:
        cfg = self._run._data.get("config")
        return cfg if isinstance(cfg, dict) else {}

    def __getitem__(self, key: str) -> Any:
        return self._dict()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._dict()))

    def __len__(self) -> int:
        return len(self._dict())

    def __contains__(self, key: object) -> bool:
        return key in self._dict()

    def __setitem__(self, key: str, value: Any) -> None:
        self.update({key: value})

    def __delitem__(self, key: str) -> None:
        raise TypeError("config keys cannot be removed from a run")

    def update(self, other: Any = (), **kwargs: Any) -> None:  # type: ignore[override]
        changes: Dict[str, Any] = {}
        if isinstance(other, Mapping) or hasattr(other, "__dict__"):
            changes.update(_as_dict(other, "config"))
        else:
            changes.update(dict(other))
        changes.update(kwargs)
        if not changes:
            return
        for k in changes:
            if not isinstance(k, str):
                raise TypeError(f"config keys must be strings, got {k!r}")
        self._run._patch({"config": changes, "config_sources": {k: "sdk" for k in changes}})

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self._dict()[name]
        except KeyError:
            raise AttributeError(f"config has no key {name!r}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        if name.startswith("_"):
            object.__setattr__(self, name, value)
        else:
            self[name] = value

    def as_dict(self) -> Dict[str, Any]:
        import copy

        return copy.deepcopy(self._dict())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Config):
            other = other._dict()
        return self._dict() == other

    def __repr__(self) -> str:
        return f"Config({self._dict()!r})"


class Summary(MutableMapping):
    """Latest value of each metric: what this process logged, else what the server has.

    Assigning ``summary["best_acc"] = 0.93`` logs that value as a point at the run's
    current step (the step of the last ``log()``, 0 before any).
    """

    def __init__(self, run: "Run") -> None:
        self._run = run

    def _remote(self) -> Dict[str, Any]:
        doc = self._run._client.request("GET", f"{self._run._path}/metrics")
        out: Dict[str, Any] = {}
        for m in (doc or {}).get("metrics", []) or []:
            if isinstance(m, dict) and "key" in m:
                out[m["key"]] = decode_value(m.get("last"))
        return out

    def __getitem__(self, key: str) -> Any:
        with self._run._lock:
            if key in self._run._latest:
                return self._run._latest[key]
        remote = self._remote()
        if key in remote:
            return remote[key]
        raise KeyError(key)

    def __setitem__(self, key: str, value: Any) -> None:
        self._run._log_items(_flatten({key: value}), step=None, advance=False)

    def __delitem__(self, key: str) -> None:
        raise TypeError("metrics cannot be removed from a run's summary")

    def _merged(self) -> Dict[str, Any]:
        merged = self._remote()
        with self._run._lock:
            merged.update(self._run._latest)
        return merged

    def __iter__(self) -> Iterator[str]:
        return iter(self._merged())

    def __len__(self) -> int:
        return len(self._merged())

    def __contains__(self, key: object) -> bool:
        try:
            self[key]  # type: ignore[index]
            return True
        except KeyError:
            return False

    def as_dict(self) -> Dict[str, Any]:
        return self._merged()

    def __repr__(self) -> str:
        with self._run._lock:
            local = dict(self._run._latest)
        return f"Summary({local!r})"


class Run:
    """A run on the Cairn server. Create it with :func:`cairn.init`."""

    def __init__(self, client: Client, data: Dict[str, Any], attached: bool = False) -> None:
        self._client = client
        self._data: Dict[str, Any] = data
        self._attached = attached
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._send_lock = threading.Lock()  # one sender at a time
        self._finish_lock = threading.RLock()
        self._buf: Dict[str, _Columns] = {}
        self._buf_count = 0
        self._held: Dict[str, _Columns] = {}  # points whose sending failed; retried at flush/finish
        self._held_count = 0
        self._last_error: Optional[CairnError] = None
        self._next_step = 0
        self._current_step: Optional[int] = None
        self._latest: Dict[str, float] = {}
        self._thread: Optional[threading.Thread] = None
        self._closed = False  # no more logging
        self._finish_posted = False
        self._done = False
        self._spooled = 0  # points of this run written to the spool by this process
        self._next_heartbeat = 0.0
        self.summary = Summary(self)
        self.config = Config(self)
        if not attached:  # under `cairn run` the wrapper sends the heartbeats
            self._start_thread()

    # -- attributes --------------------------------------------------------------------

    @property
    def id(self) -> str:
        return self._data["id"]

    @property
    def short_id(self) -> str:
        return self._data.get("short_id") or self.id[:8]

    @property
    def project(self) -> str:
        return self._data.get("project", "")

    @property
    def name(self) -> str:
        return self._data.get("name", "")

    @property
    def hypothesis(self) -> Optional[str]:
        return self._data.get("hypothesis")

    @property
    def status(self) -> str:
        return self._data.get("status", "")

    @property
    def tags(self) -> Dict[str, str]:
        return dict(self._data.get("tags") or {})

    @property
    def url(self) -> str:
        return f"{self._client.base_url}/runs/{self.short_id}"

    @property
    def server_url(self) -> str:
        return self._client.base_url

    @property
    def attached(self) -> bool:
        """True when the run was created by `cairn run` and this process attached to it."""
        return self._attached

    @property
    def step(self) -> Optional[int]:
        """The step of the last log() call (None before any)."""
        return self._current_step

    @property
    def data(self) -> Dict[str, Any]:
        """The run record as last received from the server."""
        import copy

        return copy.deepcopy(self._data)

    @property
    def _path(self) -> str:
        return "/api/v1/runs/" + quote_path(self.id)

    def __repr__(self) -> str:
        return f"<cairn.Run {self.short_id} {self.name!r} project={self.project!r} status={self.status!r}>"

    # -- record updates ----------------------------------------------------------------

    def _patch(self, body: Dict[str, Any]) -> Dict[str, Any]:
        resp = self._client.request("PATCH", self._path, body)
        if isinstance(resp, dict) and "id" in resp:
            self._data = resp
        return self._data

    def refresh(self) -> "Run":
        """Reloads the run record from the server."""
        resp = self._client.request("GET", self._path)
        if isinstance(resp, dict) and "id" in resp:
            self._data = resp
        return self

    def set_tags(self, tags: Any) -> Dict[str, str]:
        """Merges tags (string values; a list of names gives empty values)."""
        t = _normalize_tags(tags)
        if t:
            self._patch({"tags": t})
        return self.tags

    def remove_tags(self, keys: Any) -> Dict[str, str]:
        keys = [keys] if isinstance(keys, str) else list(keys)
        if keys:
            self._patch({"remove_tags": [str(k) for k in keys]})
        return self.tags

    # -- metrics -----------------------------------------------------------------------

    def log(self, data: Mapping, step: Optional[int] = None) -> None:
        """Logs numbers at a step. Without ``step``, each call takes the next step
        (0 for the first); an explicit step makes later calls continue after it.
        Nested dicts are flattened with ``/`` (``{"val": {"acc": 1}}`` → ``val/acc``).
        """
        if not isinstance(data, Mapping):
            raise TypeError(f"run.log() takes a dict of metric values, got {type(data).__name__}")
        items = _flatten(data)
        self._log_items(items, None if step is None else _check_step(step), advance=True)

    def _log_items(self, items: List[Tuple[str, float]], step: Optional[int], advance: bool) -> None:
        ts = _now_ms()
        with self._cond:
            if self._closed:
                raise CairnError("run_finished", f"run {self.short_id} is finished; call cairn.init() to start another")
            if advance:
                if step is None:
                    step = self._next_step
                self._next_step = step + 1
                self._current_step = step
            elif step is None:
                step = self._current_step if self._current_step is not None else 0
            for key, value in items:
                cols = self._buf.get(key)
                if cols is None:
                    cols = self._buf[key] = ([], [], [])
                cols[0].append(step)
                cols[1].append(encode_value(value))
                cols[2].append(ts)
                self._latest[key] = value
            self._buf_count += len(items)
            if self._buf_count >= BATCH_POINTS:
                self._cond.notify_all()
        self._start_thread()

    def _start_thread(self) -> None:
        with self._cond:
            if self._thread is not None or self._closed:
                return
            self._thread = threading.Thread(target=self._sender_loop, name=f"cairn-sender-{self.short_id}", daemon=True)
        try:
            self._thread.start()
        except RuntimeError:  # interpreter shutting down: finish() sends synchronously
            pass

    def _sender_loop(self) -> None:
        deadline = time.monotonic() + FLUSH_INTERVAL
        while True:
            with self._cond:
                while not self._closed and self._buf_count < BATCH_POINTS:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._cond.wait(remaining)
                if self._closed:
                    return  # finish() sends the rest from its own thread
            deadline = time.monotonic() + FLUSH_INTERVAL
            try:
                self._send_buffer(include_held=False)
                if not self._attached and time.monotonic() >= self._next_heartbeat:
                    self._heartbeat()
            except Exception as e:  # never let the thread die silently
                _warn(f"metric sender error: {type(e).__name__}: {e}")

    def _heartbeat(self) -> None:
        self._next_heartbeat = time.monotonic() + HEARTBEAT_INTERVAL
        try:
            answer = self._client.request(
                "POST", f"{self._path}/heartbeat", None, retries=False, idempotent=True, timeout=10.0
            )
        except CairnError:
            return  # the next one may get through; missing a few is what the timeout allows for
        if isinstance(answer, dict) and answer.get("status") in ("running", "crashed"):
            self._data["status"] = answer["status"]

    def _take(self, include_held: bool) -> Dict[str, _Columns]:
        with self._lock:
            batch, self._buf, self._buf_count = self._buf, {}, 0
            if include_held and self._held:
                held, self._held, self._held_count = self._held, {}, 0
                for key, (s, v, t) in batch.items():
                    cols = held.setdefault(key, ([], [], []))
                    cols[0].extend(s)
                    cols[1].extend(v)
                    cols[2].extend(t)
                batch = held
        return batch

    def _hold(self, chunks: List[List[Dict[str, Any]]], error: CairnError) -> int:
        n = 0
        with self._lock:
            for chunk in chunks:
                for s in chunk:
                    cols = self._held.setdefault(s["key"], ([], [], []))
                    cols[0].extend(s["steps"])
                    cols[1].extend(s["values"])
                    cols[2].extend(s["timestamps"])
                    n += len(s["steps"])
            self._held_count += n
            self._last_error = error
        return n

    @staticmethod
    def _chunks(batch: Dict[str, _Columns]) -> List[List[Dict[str, Any]]]:
        chunks: List[List[Dict[str, Any]]] = []
        current: List[Dict[str, Any]] = []
        room = MAX_POINTS_PER_REQUEST
        for key, (steps, values, stamps) in batch.items():
            i = 0
            while i < len(steps):
                j = i + min(room, len(steps) - i)
                current.append({"key": key, "steps": steps[i:j], "values": values[i:j], "timestamps": stamps[i:j]})
                room -= j - i
                i = j
                if room == 0:
                    chunks.append(current)
                    current, room = [], MAX_POINTS_PER_REQUEST
        if current:
            chunks.append(current)
        return chunks

    def _send_buffer(self, include_held: bool) -> None:
        """Sends queued points (and, with include_held, earlier failures); failures are held."""
        with self._send_lock:
            batch = self._take(include_held)
            if not batch:
                return
            chunks = self._chunks(batch)
            for i, chunk in enumerate(chunks):
                try:
                    # The batch id lets the server answer a retry (after a lost reply)
                    # without storing the points twice.
                    body = {"series": chunk, "batch_id": uuid.uuid4().hex}
                    self._client.request("POST", f"{self._path}/metrics", body, idempotent=True)
                except CairnError as e:
                    if _unreachable(e):
                        # No server: the points go to disk now, so a process killed
                        # before the server returns loses none of them.
                        self._spool_chunks(chunks[i:])
                        return
                    n = self._hold(chunks[i:], e)
                    _warn(
                        f"could not send {n} metric points of run {self.short_id} to {self._client.base_url} "
                        f"({e}); they are kept and retried at finish()"
                    )
                    return

    def flush(self) -> None:
        """Sends everything logged so far, retrying points that failed before.

        Raises :class:`CairnError` when points could not be delivered (they are kept,
        so a later ``flush()`` or ``finish()`` tries again).
        """
        self._send_buffer(include_held=True)
        with self._lock:
            held, err = self._held_count, self._last_error
            keys = sorted(self._held)
        if held:
            shown = ", ".join(keys[:5]) + (", ..." if len(keys) > 5 else "")
            raise CairnError(
                "metrics_undelivered",
                f"{held} metric points of run {self.short_id} ({shown}) could not be delivered to "
                f"{self._client.base_url}: {err}",
                err.status if err is not None else None,
            )

    # -- artifacts ---------------------------------------------------------------------

    def log_artifact(self, path: Union[str, "os.PathLike[str]"], name: Optional[str] = None) -> Any:
        """Uploads a file (streamed) and returns the server's ``{path, size, blake3,
        created_at}``; a directory uploads every file under ``name`` (default: the
        directory's name) and returns a list of those.
        """
        path = os.fspath(path)
        if os.path.isdir(path):
            base = name if name is not None else os.path.basename(os.path.normpath(os.path.abspath(path)))
            base = base.replace(os.sep, "/").strip("/")
            results = []
            for root, dirs, files in os.walk(path):
                dirs.sort()
                for fn in sorted(files):
                    full = os.path.join(root, fn)
                    if not os.path.isfile(full):
                        continue
                    rel = os.path.relpath(full, path).replace(os.sep, "/")
                    results.append(self._upload(full, f"{base}/{rel}" if base else rel))
            return results
        if not os.path.isfile(path):
            raise FileNotFoundError(f"no such file or directory: {path!r}")
        target = name if name is not None else os.path.basename(path)
        return self._upload(path, target.replace(os.sep, "/"))

    def _upload(self, filename: str, artifact_path: str) -> Any:
        path = f"{self._path}/artifacts/{quote_path(artifact_path)}"
        try:
            return self._client.upload(path, filename)
        except CairnError as e:
            if not _unreachable(e):
                raise
            kept = _spool_file(self.id, filename)
            _spool_line(self.id, {"method": "PUT", "path": path, "file": kept})
            _warn(f"the server did not answer; artifact {artifact_path} of run {self.short_id} is kept in {kept}")
            return {"path": artifact_path, "spooled": True}

    # -- checkpoints (jobs run by `cairn agent`) -----------------------------------------

    @property
    def checkpoint_dir(self) -> str:
        """A local folder for checkpoints: ``CAIRN_CHECKPOINT_DIR``, else a folder of this
        run's in the temporary directory. Created on first use."""
        d = os.environ.get("CAIRN_CHECKPOINT_DIR") or os.path.join(tempfile.gettempdir(), "cairn-checkpoints", self.id)
        os.makedirs(d, exist_ok=True)
        return d

    def should_checkpoint(self) -> bool:
        """True once this process has been asked to stop: SIGTERM from the runner (a
        preemption, a spot notice, a requeue, a cancel or the time limit). Save a
        checkpoint then and exit; the job resumes from it.

        The first call makes SIGTERM set this flag instead of ending the process, so
        call it regularly (each step): the runner kills the process when the grace
        period ends."""
        _watch_sigterm()
        return _sigterm.is_set()

    def save_checkpoint(self, path: Union[str, "os.PathLike[str]"], step: Optional[int] = None, keep: int = 3) -> str:
        """Stores a file or folder as the run's latest checkpoint (the artifact
        ``checkpoints/<step>/<name>``), after every point logged so far, and keeps the
        latest ``keep``. :meth:`resume_state` finds it when the job starts again.
        Returns the artifact path."""
        path = os.fspath(path)
        if not os.path.exists(path):
            raise FileNotFoundError(f"no such file or directory: {path!r}")
        step = self._current_step if step is None else _check_step(step)
        label = "%012d" % step if step is not None else "t%d" % _now_ms()
        artifact = "checkpoints/%s/%s" % (label, os.path.basename(os.path.normpath(os.path.abspath(path))))
        # The points up to the checkpoint are stored before it is: a restart never
        # finds a checkpoint ahead of its metrics.
        self.flush()
        self.log_artifact(path, name=artifact)
        self.set_tags({"cairn.checkpoint": artifact, "cairn.checkpoint_step": "" if step is None else str(step)})
        if keep >= 1:
            listing = self._client.request("GET", self._path + "/artifacts", query={"prefix": "checkpoints/"})
            labels = sorted({a["path"].split("/")[1] for a in listing.get("artifacts", []) if a["path"].count("/") >= 2})
            for old in labels[: max(0, len(labels) - keep)]:
                if old != label:
                    self._client.request("DELETE", "%s/artifacts/%s" % (self._path, quote_path("checkpoints/" + old)))
        return artifact

    def resume_state(self) -> Optional[Dict[str, Any]]:
        """The checkpoint an earlier attempt of this job saved, downloaded into
        :attr:`checkpoint_dir`: ``{"path": local path, "step": step}``, or None on a
        first start. Steps logged without an explicit step continue after it."""
        tags = self.refresh().tags
        artifact = tags.get("cairn.checkpoint")
        if not artifact:
            return None
        listing = self._client.request("GET", self._path + "/artifacts", query={"prefix": artifact})
        files = [a["path"] for a in listing.get("artifacts", []) if a["path"] == artifact or a["path"].startswith(artifact + "/")]
        if not files:
            return None
        root = os.path.join(self.checkpoint_dir, "resume")
        parent = artifact.rsplit("/", 1)[0]
        for f in files:
            data, _ = self._client.get_bytes("%s/artifacts/%s" % (self._path, quote_path(f)))
            local = os.path.join(root, *f[len(parent) + 1 :].split("/"))
            os.makedirs(os.path.dirname(local), exist_ok=True)
            with open(local, "wb") as out:
                out.write(data)
        step_text = tags.get("cairn.checkpoint_step") or ""
        step = int(step_text) if step_text.isdigit() else None
        if step is not None:
            with self._lock:
                self._next_step = max(self._next_step, step + 1)
        return {"path": os.path.join(root, artifact.rsplit("/", 1)[1]), "step": step}

    # -- data ----------------------------------------------------------------------------

    def _store_captured(self, captured: Dict[str, Any], first_index: int) -> None:
        """Uploads the files `cairn capture` wrote: the uncommitted diff and manifests."""
        diff = captured.get("diff_file")
        if diff:
            try:
                self._upload(diff, "code/uncommitted.diff")
            except CairnError as e:
                _warn(f"the uncommitted diff of run {self.short_id} could not be stored: {e}")
        for i, d in enumerate(captured.get("data", {}).get("datasets", [])):
            try:
                self._upload(d["manifest_file"], f"data/manifest-{first_index + i}.json")
            except CairnError as e:
                _warn(f"the manifest of {d['path']} could not be stored (its hash is recorded): {e}")

    def declare_data(self, path: Any) -> Dict[str, Any]:
        """Fingerprints a dataset (file or folder) by content and records it on the run,
        with its per-file manifest as an artifact. Returns the dataset record."""
        captured = _capture.run_capture([os.fspath(path)], data_only=True)
        if captured is None:
            raise CairnError(
                "binary_not_found", "declaring data needs the cairn binary to fingerprint it: install it or set CAIRN_BIN"
            )
        try:
            current = self._data.get("data") or {}
            existing = list(current.get("datasets") or [])
            new = _capture.dataset_records(captured, len(existing))
            self._patch({"data": {"datasets": existing + new}})
            self._store_captured(captured, len(existing))
        finally:
            _capture.cleanup(captured)
        return new[0]

    # -- finishing ---------------------------------------------------------------------

    def _stop_sender(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None and thread.is_alive() and thread is not threading.current_thread():
            thread.join()

    def finish(self, status: str = "finished", exit_code: Optional[int] = None) -> "Run":
        """Flushes metrics and marks the run finished (or ``failed`` / ``killed``).

        Idempotent. When the process was started by ``cairn run`` (attached mode),
        only flushes: the wrapper records the status and exit code. Raises
        :class:`CairnError` when metric points could not be delivered (the run is
        still finished on the server when it can be reached; call ``finish()`` again
        to retry the points).
        """
        if status not in _FINISH_STATUSES:
            raise ValueError(f"status must be one of {', '.join(_FINISH_STATUSES)}, not {status!r}")
        with self._finish_lock:
            if self._done:
                return self
            self._stop_sender()
            flush_error: Optional[CairnError] = None
            offline = False
            try:
                self.flush()
            except CairnError as e:
                flush_error = e
                with self._lock:
                    offline = self._last_error is not None and _unreachable(self._last_error)
                if offline:
                    self._spool_held()
                    flush_error = None
            if not offline and self._spooled:
                self._send_spooled()
            if not self._attached and not self._finish_posted:
                body: Dict[str, Any] = {"status": status}
                if exit_code is not None:
                    body["exit_code"] = int(exit_code)
                finish_path = f"{self._path}/finish"
                try:
                    if offline:
                        raise CairnConnectionError(self._client.base_url, OSError("unreachable earlier"), sent=False)
                    resp = self._client.request("POST", finish_path, body, idempotent=True)
                except CairnError as e:
                    if _unreachable(e):
                        _spool_line(self.id, {"method": "POST", "path": finish_path, "body": body})
                        self._finish_posted = True
                        _warn(
                            f"the server at {self._client.base_url} did not answer: run {self.short_id} is kept in "
                            f"{_spool_dir()} and sent by the next `cairn run` or by `cairn sync`"
                        )
                    elif flush_error is None:
                        raise
                    else:
                        _warn(f"could not finish run {self.short_id}: {e}")
                else:
                    if isinstance(resp, dict) and "id" in resp:
                        self._data = resp
                    self._finish_posted = True
            if flush_error is not None:
                raise flush_error
            self._done = True
        _forget(self)
        return self

    def _spool_chunks(self, chunks: List[List[Dict[str, Any]]]) -> None:
        entries = [
            {"method": "POST", "path": f"{self._path}/metrics", "body": {"series": c, "batch_id": uuid.uuid4().hex}}
            for c in chunks
        ]
        n = sum(len(s["steps"]) for c in chunks for s in c)
        try:
            _spool_lines(self.id, entries)
        except OSError as e:  # no disk either: keep them in memory as before
            _warn(f"could not write the spool ({e}); {n} metric points of run {self.short_id} are kept in memory")
            self._hold(chunks, CairnConnectionError(self._client.base_url, e, sent=False))
            return
        first = self._spooled == 0
        self._spooled += n
        if first:
            _warn(
                f"the server at {self._client.base_url} does not answer: metric points of run {self.short_id} are "
                f"written to {_spool_dir()} until it does, and sent at finish(), by the next `cairn run` or by "
                f"`cairn sync`"
            )

    def _send_spooled(self) -> None:
        """Sends what this process spooled for the run, once the server answers again."""
        if self._spooled and _replay_run_spool(self._client, self.id):
            self._spooled = 0

    def _spool_held(self) -> None:
        """Writes the points the server did not take to the spool, as metric requests."""
        with self._lock:
            held, self._held, self._held_count = self._held, {}, 0
        n = 0
        for chunk in self._chunks(held):
            body = {"series": chunk, "batch_id": uuid.uuid4().hex}
            _spool_line(self.id, {"method": "POST", "path": f"{self._path}/metrics", "body": body})
            n += sum(len(s["steps"]) for s in chunk)
        if n:
            _warn(f"the server did not answer: {n} metric points of run {self.short_id} are kept in {_spool_dir()}")

    def __enter__(self) -> "Run":
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> bool:
        if exc_type is None:
            self.finish()
            return False
        status = "killed" if issubclass(exc_type, KeyboardInterrupt) else "failed"
        try:
            self.finish(status=status)
        except Exception as e:  # keep the original exception
            _warn(f"could not finish run {self.short_id} after {exc_type.__name__}: {e}")
        return False


# -- the spool: records kept while the server is unreachable --------------------------------
# Same format as the cairn binary's (`<home>/spool/<run id>.jsonl`); `cairn sync` and the
# next `cairn run` send them.


def _unreachable(e: CairnError) -> bool:
    # Only no answer at all: a server that answers (even 503) gets the records on a retry.
    return isinstance(e, CairnConnectionError)


def _spool_dir() -> str:
    return os.path.join(_local.find_home(), "spool")


def _spool_line(run_id: str, entry: Dict[str, Any]) -> None:
    _spool_lines(run_id, [entry])


def _spool_lines(run_id: str, entries: List[Dict[str, Any]]) -> None:
    """Appends records to the run's spool file with one write and one fsync."""
    import json

    d = _spool_dir()
    os.makedirs(d, exist_ok=True)
    data = "".join(json.dumps(e, allow_nan=False) + "\n" for e in entries).encode()
    fd = os.open(os.path.join(d, f"{run_id}.jsonl"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        # O_APPEND writes are never interleaved with another process's.
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)


def _replay_run_spool(client: Client, run_id: str) -> bool:
    """Sends one run's spooled records in order (as `cairn sync` does); keeps what the
    server does not answer. True when nothing is left."""
    import json

    path = os.path.join(_spool_dir(), f"{run_id}.jsonl")
    try:
        with open(path, "rb") as f:
            lines = [ln for ln in f.read().decode("utf-8", "replace").splitlines() if ln.strip()]
    except FileNotFoundError:
        return True
    sent = 0
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            sent += 1  # unreadable: dropped, as `cairn sync` does
            continue
        try:
            if entry.get("file"):
                client.upload(entry["path"], entry["file"])
                try:
                    os.remove(entry["file"])
                except OSError:
                    pass
            else:
                client.request(entry.get("method", "POST"), entry["path"], entry.get("body"), idempotent=True)
        except CairnError as e:
            if _unreachable(e):
                break
            _warn(f"a kept record of run {run_id} was refused and dropped: {e}")
        sent += 1
    rest = lines[sent:]
    if rest:
        tmp = path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write("".join(ln + "\n" for ln in rest))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        return False
    os.remove(path)
    return True


def _spool_file(run_id: str, filename: str) -> str:
    import shutil

    d = os.path.join(_spool_dir(), "files")
    os.makedirs(d, exist_ok=True)
    kept = os.path.join(d, f"{run_id}-{uuid.uuid4().hex}")
    shutil.copyfile(filename, kept)
    return kept


# -- process-wide state -----------------------------------------------------------------

_state_lock = threading.RLock()
_active: List[Run] = []
_current: Optional[Run] = None
_hooks_installed = False
_uncaught: Optional[type] = None


def current() -> Optional[Run]:
    return _current


def _forget(run: Run) -> None:
    global _current
    with _state_lock:
        if run in _active:
            _active.remove(run)
        if _current is run:
            _current = None


def _excepthook(exc_type: Any, exc: Any, tb: Any) -> None:
    global _uncaught
    _uncaught = exc_type
    _prev_excepthook(exc_type, exc, tb)


_prev_excepthook = sys.excepthook


def _at_exit() -> None:
    with _state_lock:
        runs = [r for r in _active if r._pid == os.getpid()]
    if _uncaught is None:
        status, code = "finished", None
    elif issubclass(_uncaught, KeyboardInterrupt):
        status, code = "killed", None
    else:
        status, code = "failed", 1
    for run in runs:
        try:
            run.finish(status=status, exit_code=code)
        except Exception as e:
            _warn(f"could not finish run {run.short_id} at exit: {e}")


def _install_hooks() -> None:
    global _hooks_installed, _prev_excepthook
    with _state_lock:
        if _hooks_installed:
            return
        _hooks_installed = True
        _prev_excepthook = sys.excepthook
        sys.excepthook = _excepthook
        atexit.register(_at_exit)


def _default_owner() -> Optional[str]:
    owner = os.environ.get("CAIRN_USER")
    if owner:
        return owner
    try:
        return getpass.getuser() or None
    except Exception:
        return None


def init(
    project: Optional[str] = None,
    name: Optional[str] = None,
    hypothesis: Optional[str] = None,
    config: Any = None,
    parents: Any = None,
    tags: Any = None,
    description: Optional[str] = None,
    group: Optional[str] = None,
    seed: Any = None,
    expected: Optional[Mapping[str, Any]] = None,
    owner: Optional[str] = None,
    data: Any = None,
    on_duplicate: Optional[str] = "refuse",
    capture: bool = True,
) -> Run:
    """Starts a run (or attaches to the one `cairn run` created) and makes it current.

    A new run is captured as ``cairn run`` captures one (code, environment, and the
    datasets in ``data``: a path or a list of paths, fingerprinted by content) and
    fingerprinted. When an identical run already finished in the project,
    ``on_duplicate`` decides: ``"refuse"`` (default) raises
    :class:`~cairn.DuplicateRunError` naming it, ``"replicate"`` runs it as another
    member of its replicate group (e.g. another seed), ``"force"`` runs it anyway,
    ``None`` skips the check. ``capture=False`` records no code or environment.
    """
    global _current
    cfg = _as_dict(config, "config")
    tag_map = _normalize_tags(tags)
    parent_ids = None
    if parents is not None:
        plist = [parents] if isinstance(parents, (str, Run)) else list(parents)
        parent_ids = [_run_ref(p) for p in plist]
    seeds = _seeds(seed) if seed is not None else None
    exp = dict(expected) if expected is not None else None
    if on_duplicate not in ("refuse", "replicate", "force", None):
        raise ValueError(f'on_duplicate must be "refuse", "replicate", "force" or None, not {on_duplicate!r}')
    data_paths: List[str] = []
    if data is not None:
        data_paths = [os.fspath(data)] if isinstance(data, (str, os.PathLike)) else [os.fspath(p) for p in data]

    client = Client(_local.server_url())
    run_id = os.environ.get("CAIRN_RUN_ID", "").strip()

    with _state_lock:
        prev = _current
    if prev is not None and not prev._done:
        if run_id and prev._attached and run_id in (prev.id, prev.short_id):
            _apply_attach_patch(prev, project, name, hypothesis, cfg, parent_ids, tag_map, description, group, seeds, exp, owner)
            return prev
        _warn(f"cairn.init(): finishing the previous run {prev.short_id} first")
        try:
            prev.finish()
        except CairnError as e:
            _warn(f"could not finish run {prev.short_id}: {e}")

    if run_id:
        data = client.request("GET", "/api/v1/runs/" + quote_path(run_id))
        run = Run(client, data, attached=True)
        _apply_attach_patch(run, project, name, hypothesis, cfg, parent_ids, tag_map, description, group, seeds, exp, owner)
        for p in data_paths:
            run.declare_data(p)
    else:
        body: Dict[str, Any] = {"project": project or os.environ.get("CAIRN_PROJECT") or "default"}
        hyp = hypothesis if hypothesis is not None else os.environ.get("CAIRN_HYPOTHESIS")
        for key, value in (
            ("name", name),
            ("description", description),
            ("hypothesis", hyp),
            ("expected", exp),
            ("owner", owner or _default_owner()),
            ("seeds", seeds),
            ("parents", parent_ids),
            ("group_id", group),
        ):
            if value is not None:
                body[key] = value
        if tag_map:
            body["tags"] = tag_map
        if cfg:
            body["config"] = cfg
            body["config_sources"] = {k: "sdk" for k in cfg}
        body["command"] = _capture.command_line()
        captured = _capture.run_capture(data_paths) if capture else None
        if captured is not None:
            body["code"] = captured.get("code")
            body["environment"] = captured.get("environment")
            datasets = _capture.dataset_records(captured, 0)
            if datasets:
                body["data"] = {"datasets": datasets}
        elif data_paths:
            raise CairnError(
                "binary_not_found",
                "declaring data needs the cairn binary to fingerprint it: install it or set CAIRN_BIN",
            )
        elif capture:
            body["environment"] = _capture.python_environment()
        if on_duplicate is not None:
            body["on_duplicate"] = on_duplicate
        try:
            created = client.request("POST", "/api/v1/runs", body, idempotent=False)
            run = Run(client, created, attached=False)
            if captured is not None:
                run._store_captured(captured, 0)
        finally:
            _capture.cleanup(captured)

    _install_hooks()
    with _state_lock:
        _active.append(run)
        _current = run
    return run


def _apply_attach_patch(
    run: Run,
    project: Optional[str],
    name: Optional[str],
    hypothesis: Optional[str],
    cfg: Dict[str, Any],
    parent_ids: Optional[List[str]],
    tag_map: Dict[str, str],
    description: Optional[str],
    group: Optional[str],
    seeds: Optional[List[int]],
    expected: Optional[Dict[str, Any]],
    owner: Optional[str],
) -> None:
    """In attached mode, sends what init() was given that the record can take."""
    if project is not None and project != run.project:
        _warn(f"attached to run {run.short_id} of project {run.project!r}; ignoring project={project!r}")
    if parent_ids:
        _warn(f"attached to run {run.short_id}: parents cannot be changed after creation; ignoring them")
    if owner is not None and owner != run._data.get("owner"):
        _warn(f"attached to run {run.short_id}: owner cannot be changed; ignoring owner={owner!r}")
    patch: Dict[str, Any] = {}
    if cfg:
        patch["config"] = cfg
        patch["config_sources"] = {k: "sdk" for k in cfg}
    if tag_map:
        patch["tags"] = tag_map
    for key, value in (
        ("name", name),
        ("description", description),
        ("hypothesis", hypothesis),
        ("expected", expected),
        ("group_id", group),
        ("seeds", seeds),
    ):
        if value is not None and run._data.get(key) != value:
            patch[key] = value
    if patch:
        run._patch(patch)
