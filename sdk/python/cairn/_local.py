"""Finding (or starting) the local Cairn server that serves the embedded store."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from typing import Any, Dict, List, Optional

from ._http import Client
from .errors import CairnError

#: How long to wait for a freshly started server to answer /healthz.
START_TIMEOUT = 30.0

# Servers this process started: keeping the Popen objects alive avoids a
# "subprocess is still running" ResourceWarning; the servers outlive us on purpose.
_started: List[subprocess.Popen] = []


def find_home(cwd: Optional[str] = None) -> str:
    """The Cairn home: $CAIRN_HOME, else `<git root>/.cairn`, else `<cwd>/.cairn`."""
    env = os.environ.get("CAIRN_HOME")
    if env:
        return os.path.abspath(os.path.expanduser(env))
    start = os.path.abspath(cwd or os.getcwd())
    d = start
    while True:
        if os.path.exists(os.path.join(d, ".git")):
            return os.path.join(d, ".cairn")
        parent = os.path.dirname(d)
        if parent == d:
            break
        d = parent
    return os.path.join(start, ".cairn")


def read_server_file(home: str) -> Optional[Dict[str, Any]]:
    try:
        with open(os.path.join(home, "server.json"), "r", encoding="utf-8") as f:
            doc = json.load(f)
    except (OSError, ValueError):
        return None
    if isinstance(doc, dict) and isinstance(doc.get("url"), str) and doc["url"]:
        return doc
    return None


def _running_server(home: str) -> Optional[str]:
    doc = read_server_file(home)
    if doc is None:
        return None
    url = doc["url"].rstrip("/")
    try:
        client = Client(url)
    except CairnError:
        return None
    return url if client.healthy() else None


def find_binary() -> str:
    env = os.environ.get("CAIRN_BIN")
    if env:
        path = os.path.expanduser(env)
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
        found = shutil.which(path)
        if found:
            return found
        raise CairnError(
            "binary_not_found",
            f"cairn binary not found at CAIRN_BIN={env}: install it or set CAIRN_BIN / CAIRN_SERVER",
        )
    found = shutil.which("cairn")
    if found:
        return found
    raise CairnError("binary_not_found", "cairn binary not found: install it or set CAIRN_BIN / CAIRN_SERVER")


def _log_tail(path: str, n: int = 2000) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - n))
            return f.read().decode("utf-8", "replace").strip()
    except OSError:
        return ""


def _written_since(home: str, t: float) -> bool:
    try:
        return os.stat(os.path.join(home, "server.json")).st_mtime >= t - 1.0
    except OSError:
        return False


def ensure_server(home: Optional[str] = None, timeout: float = START_TIMEOUT) -> str:
    """The URL of a healthy server for the local store, starting one when needed."""
    home = home or find_home()
    url = _running_server(home)
    if url:
        return url
    binary = find_binary()
    os.makedirs(home, exist_ok=True)
    log_path = os.path.join(home, "server.log")
    env = dict(os.environ)
    env["CAIRN_HOME"] = home
    env.pop("CAIRN_SERVER", None)
    env.pop("CAIRN_RUN_ID", None)
    started_at = time.time()
    with open(log_path, "ab") as log:
        try:
            proc = subprocess.Popen(
                [binary, "server", "--port", "0"],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=home,
                start_new_session=True,
                close_fds=True,
            )
        except OSError as e:
            raise CairnError("binary_not_found", f"could not start {binary}: {e}; install it or set CAIRN_BIN / CAIRN_SERVER") from None
    _started.append(proc)
    deadline = time.monotonic() + timeout
    delay = 0.02
    while True:
        url = _running_server(home)
        if url:
            return url
        code = proc.poll()
        if code is not None and not _written_since(home, started_at):
            # (When another process wrote server.json meanwhile, ours probably lost a
            # race to serve the same store: keep polling for that server instead.)
            tail = _log_tail(log_path)
            raise CairnError(
                "server_start_failed",
                f"`{binary} server --port 0` exited with status {code} before serving"
                + (f"; {log_path} ends with:\n{tail}" if tail else f"; see {log_path}"),
            )
        if time.monotonic() > deadline:
            tail = _log_tail(log_path)
            raise CairnError(
                "server_start_failed",
                f"`{binary} server --port 0` did not answer within {timeout:.0f} s "
                f"(no healthy {os.path.join(home, 'server.json')})"
                + (f"; {log_path} ends with:\n{tail}" if tail else ""),
            )
        time.sleep(delay)
        delay = min(delay * 2, 0.25)


def server_url() -> str:
    """$CAIRN_SERVER, else the credentials file's default server (`cairn login`), else
    the local store's server (started when needed) -- the CLI's rule."""
    env = os.environ.get("CAIRN_SERVER")
    if env and env.strip():
        return env.strip().rstrip("/")
    from ._http import read_credentials

    default = read_credentials().get("default_server")
    if isinstance(default, str) and default.strip():
        return default.strip().rstrip("/")
    return ensure_server()


__all__ = ["find_home", "ensure_server", "server_url", "find_binary", "read_server_file"]
