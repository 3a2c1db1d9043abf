"""A small JSON-over-HTTP client on top of http.client (standard library only)."""

from __future__ import annotations

import http.client
import json
import os
import socket
import time
import urllib.parse
from typing import IO, Any, Callable, Mapping, Optional, Sequence, Tuple

from ._version import __version__
from .errors import CairnConnectionError, CairnError, error_from_response

#: Statuses worth retrying: the server did not (or could not) do the work.
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})

#: Bytes read from a file and sent per write when uploading.
UPLOAD_CHUNK = 1024 * 1024


def quote_path(path: str) -> str:
    """URL-quotes every `/`-separated segment of ``path``, keeping the slashes."""
    return "/".join(urllib.parse.quote(seg, safe="") for seg in path.split("/"))


def _json_default(obj: Any) -> Any:
    # numpy / torch scalars and 0-d arrays
    item = getattr(obj, "item", None)
    if callable(item):
        try:
            return item()
        except (TypeError, ValueError):
            pass
    tolist = getattr(obj, "tolist", None)
    if callable(tolist):
        return tolist()
    if isinstance(obj, (set, frozenset)):
        return sorted(obj, key=repr)
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serializable")


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, default=_json_default, allow_nan=False, separators=(",", ":")).encode("utf-8")


def credentials_path() -> str:
    """Where `cairn login` keeps tokens (the same rule as the CLI)."""
    if os.environ.get("CAIRN_CONFIG_DIR"):
        return os.path.join(os.environ["CAIRN_CONFIG_DIR"], "credentials.toml")
    if os.environ.get("XDG_CONFIG_HOME"):
        return os.path.join(os.environ["XDG_CONFIG_HOME"], "cairn", "credentials.toml")
    return os.path.join(os.path.expanduser("~"), ".config", "cairn", "credentials.toml")


def read_credentials() -> dict:
    """The credentials file, or {} when there is none.

    Refused, as by the CLI, when others may read it.
    """
    path = credentials_path()
    try:
        mode = os.stat(path).st_mode & 0o777
    except OSError:
        return {}
    if mode & 0o077:
        raise CairnError(
            "invalid_argument",
            f"{path} holds tokens but its permissions are {mode:04o}, so others can read it; run `chmod 600 {path}`",
        )
    try:
        import tomllib  # type: ignore[import-not-found]
    except ImportError:  # Python < 3.11
        with open(path, encoding="utf-8") as f:
            return _read_credentials_text(f.read())
    with open(path, "rb") as f:
        return tomllib.load(f)


def _read_credentials_text(text: str) -> dict:
    """The credentials file as `cairn login` writes it, without a TOML library: top-level
    `key = "text"` lines and `[servers."URL"]` tables of them. (TOML's basic strings
    escape as JSON's do, for what the CLI writes.) Lines of any other shape are skipped."""
    out: dict = {}
    table = out
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[servers.") and line.endswith("]"):
            url = line[len("[servers."):-1].strip()
            url = json.loads(url) if url.startswith('"') else url
            table = out.setdefault("servers", {}).setdefault(url, {})
        elif line.startswith("["):
            table = {}
        elif "=" in line:
            key, value = (part.strip() for part in line.split("=", 1))
            if value.startswith('"'):
                table[key] = json.loads(value)
    return out


def _token_for(base_url: str) -> Optional[str]:
    env = os.environ.get("CAIRN_TOKEN", "").strip()
    if env:
        return env
    servers = read_credentials().get("servers", {})
    entry = servers.get(base_url.strip().rstrip("/"))
    return entry.get("token") if isinstance(entry, dict) else None


class Client:
    """Talks to one Cairn server. Thread-safe: every request uses its own connection."""

    #: Pauses between attempts of a retried request (so len + 1 attempts in all).
    retry_delays: Sequence[float] = (0.5, 1.0, 2.0, 4.0)

    def __init__(self, base_url: str, timeout: float = 60.0, token: Optional[str] = None) -> None:
        base_url = base_url.strip().rstrip("/")
        if "://" not in base_url:
            base_url = "http://" + base_url
        parts = urllib.parse.urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise CairnError("invalid_argument", f"invalid Cairn server URL {base_url!r}")
        self.base_url = base_url
        self._scheme = parts.scheme
        self._netloc = parts.netloc
        self._prefix = parts.path.rstrip("/")
        self.timeout = timeout
        #: Sent as ``Authorization: Bearer …``: CAIRN_TOKEN, else the token `cairn login`
        #: stored for this server.
        self.token = token if token is not None else _token_for(base_url)

    # -- low level ---------------------------------------------------------------------

    def _connection(self, timeout: Optional[float] = None) -> http.client.HTTPConnection:
        cls = http.client.HTTPSConnection if self._scheme == "https" else http.client.HTTPConnection
        return cls(self._netloc, timeout=self.timeout if timeout is None else timeout)

    def _target(self, path: str, query: Optional[Mapping[str, Any]] = None) -> str:
        target = self._prefix + path
        if query:
            q = {k: v for k, v in query.items() if v is not None}
            if q:
                target += "?" + urllib.parse.urlencode(q)
        return target

    def _once(
        self,
        method: str,
        target: str,
        body: Optional[bytes],
        headers: Mapping[str, str],
        file: Optional[Tuple[IO[bytes], int]] = None,
        timeout: Optional[float] = None,
    ) -> Tuple[int, bytes, Mapping[str, str]]:
        conn = self._connection(timeout)
        try:
            try:
                conn.connect()
            except (OSError, http.client.HTTPException) as e:
                raise CairnConnectionError(self.base_url, e, sent=False) from None
            try:
                hdrs = {"User-Agent": f"cairn-python/{__version__}", "Accept": "application/json"}
                if self.token:
                    hdrs["Authorization"] = f"Bearer {self.token}"
                hdrs.update(headers)
                if file is not None:
                    fobj, size = file
                    conn.putrequest(method, target, skip_accept_encoding=True)
                    for k, v in hdrs.items():
                        conn.putheader(k, v)
                    conn.putheader("Content-Length", str(size))
                    conn.endheaders()
                    remaining = size
                    while remaining > 0:
                        chunk = fobj.read(min(UPLOAD_CHUNK, remaining))
                        if not chunk:
                            raise CairnError(
                                "invalid_argument",
                                f"file shrank while uploading: {remaining} of {size} bytes missing",
                            )
                        conn.send(chunk)
                        remaining -= len(chunk)
                else:
                    conn.request(method, target, body=body, headers=hdrs)
                resp = conn.getresponse()
                data = resp.read()
                return resp.status, data, {k.lower(): v for k, v in resp.getheaders()}
            except (OSError, http.client.HTTPException) as e:
                raise CairnConnectionError(self.base_url, e, sent=True) from None
        finally:
            conn.close()

    def _with_retries(self, attempt: Callable[[], Any], idempotent: bool, retries: bool) -> Any:
        delays = list(self.retry_delays) if retries else []
        while True:
            try:
                return attempt()
            except CairnConnectionError as e:
                if not delays or (e.sent and not idempotent):
                    raise
            except CairnError as e:
                if not delays or e.status not in RETRYABLE_STATUSES:
                    raise
            time.sleep(delays.pop(0))

    # -- public ------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        query: Optional[Mapping[str, Any]] = None,
        *,
        retries: bool = True,
        idempotent: Optional[bool] = None,
        timeout: Optional[float] = None,
    ) -> Any:
        """Sends a JSON request, returns the decoded JSON answer (None when empty).

        Retries (with backoff) on connection failures and 429/5xx answers. A failure
        after the request was sent is only retried when the request is idempotent
        (GET/PUT/PATCH/DELETE by default).
        """
        if idempotent is None:
            idempotent = method.upper() in ("GET", "HEAD", "PUT", "PATCH", "DELETE")
        target = self._target(path, query)
        payload = None if body is None else dumps(body)
        headers = {"Content-Type": "application/json"} if payload is not None else {}

        def attempt() -> Any:
            status, data, _ = self._once(method, target, payload, headers, timeout=timeout)
            if not 200 <= status < 300:
                raise error_from_response(status, http.client.responses.get(status, ""), data)
            if not data.strip():
                return None
            try:
                return json.loads(data.decode("utf-8"))
            except ValueError as e:
                raise CairnError("invalid_response", f"the server at {self.base_url} answered with invalid JSON: {e}", status) from None

        return self._with_retries(attempt, idempotent, retries)

    def upload(self, path: str, filename: str, *, retries: bool = True, timeout: Optional[float] = None) -> Any:
        """PUTs a file as a raw, streamed body (Content-Length known up front)."""
        target = self._target(path)
        with open(filename, "rb") as f:
            size = os.fstat(f.fileno()).st_size

            def attempt() -> Any:
                f.seek(0)
                status, data, _ = self._once(
                    "PUT", target, None, {"Content-Type": "application/octet-stream"}, file=(f, size), timeout=timeout
                )
                if not 200 <= status < 300:
                    raise error_from_response(status, http.client.responses.get(status, ""), data)
                return json.loads(data.decode("utf-8")) if data.strip() else None

            return self._with_retries(attempt, True, retries)

    def get_bytes(self, path: str) -> Tuple[bytes, Mapping[str, str]]:
        status, data, headers = self._once("GET", self._target(path), None, {"Accept": "*/*"})
        if not 200 <= status < 300:
            raise error_from_response(status, http.client.responses.get(status, ""), data)
        return data, headers

    def healthy(self, timeout: float = 2.0) -> bool:
        """True when GET /healthz answers 200."""
        try:
            status, _, _ = self._once("GET", self._target("/healthz"), None, {}, timeout=timeout)
        except CairnError:
            return False
        except (OSError, socket.timeout):
            return False
        return status == 200
