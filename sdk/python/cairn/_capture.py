"""What a run records about code, data and environment when the SDK creates it.

The ``cairn`` binary does the work (``cairn capture``), so a run started from Python
is recorded exactly as ``cairn run`` records one: git commit and uncommitted diff,
BLAKE3 data fingerprints with manifests, hardware, Python packages. Without the binary
(e.g. a remote server and no local install) the SDK records what the standard library
can tell: the interpreter, its packages and the machine.
"""

from __future__ import annotations

import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
from typing import Any, Dict, List, Optional, Sequence

from . import _local
from .errors import CairnError

#: How long ``cairn capture`` may take (hashing a large dataset the first time).
CAPTURE_TIMEOUT = 3600.0


def command_line() -> List[str]:
    """The command this process runs as: the interpreter and its arguments."""
    return [sys.executable or "python"] + list(sys.argv)


def run_capture(data: Sequence[str] = (), data_only: bool = False) -> Optional[Dict[str, Any]]:
    """Runs ``cairn capture``; None when no binary is available.

    The answer has ``code``, ``environment`` (unless ``data_only``), ``data.datasets``
    (each with a ``manifest_file``), ``diff_file`` when the tree has uncommitted
    changes, and ``dir``: the temporary folder holding those files.
    """
    try:
        binary = _local.find_binary()
    except CairnError:
        return None
    out = tempfile.mkdtemp(prefix="cairn-capture-")
    args = [binary, "capture", "--out", out]
    for p in data:
        args += ["--data", os.fspath(p)]
    if data_only:
        args.append("--data-only")
    args += ["--"] + command_line()
    try:
        proc = subprocess.run(args, capture_output=True, text=True, timeout=CAPTURE_TIMEOUT, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise CairnError("capture_failed", f"could not capture code, data and environment with {binary}: {e}") from None
    if proc.returncode != 0:
        msg = proc.stderr.strip().removeprefix("error: ") or f"{binary} capture exited with {proc.returncode}"
        raise CairnError("capture_failed", msg)
    try:
        doc = json.loads(proc.stdout)
    except ValueError as e:
        raise CairnError("capture_failed", f"{binary} capture printed invalid JSON: {e}") from None
    doc["dir"] = out
    return doc


def python_environment() -> Dict[str, Any]:
    """The environment as the standard library sees it (used without the binary)."""
    try:
        from importlib import metadata

        packages = sorted(
            {f"{d.metadata['Name'] or '?'}=={d.version}" for d in metadata.distributions()}, key=str.lower
        )
    except Exception:
        packages = []
    return {
        "os": {"family": sys.platform, "name": platform.platform(), "kernel": platform.release(), "arch": platform.machine()},
        "host": {"hostname": socket.gethostname()},
        "cpu": {"cores": os.cpu_count()},
        "python": {"version": platform.python_version(), "executable": sys.executable, "packages": packages},
        "captured_by": "python-sdk (no cairn binary: code and GPUs not captured)",
    }


def dataset_records(doc: Dict[str, Any], first_index: int) -> List[Dict[str, Any]]:
    """Dataset records for the run, with the artifact path each manifest goes to."""
    out = []
    for i, d in enumerate(doc.get("data", {}).get("datasets", [])):
        out.append(
            {
                "path": d["path"],
                "hash": d["hash"],
                "files": d["files"],
                "bytes": d["bytes"],
                "manifest_artifact": f"data/manifest-{first_index + i}.json",
            }
        )
    return out


def cleanup(doc: Optional[Dict[str, Any]]) -> None:
    if not doc or not doc.get("dir"):
        return
    import shutil

    shutil.rmtree(doc["dir"], ignore_errors=True)
