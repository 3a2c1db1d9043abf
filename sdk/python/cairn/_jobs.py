"""Submitting work to the runner's queue: ``cairn.submit`` records a run (status
``queued``) with a resource request; the scheduler starts it on a ``cairn agent``
when it fits, within quotas, budgets and fair share."""

from __future__ import annotations

import os
from typing import Any, Dict, Mapping, Optional, Sequence

from . import _capture, _local
from ._http import Client, quote_path
from ._run import _default_owner, _normalize_tags, _seeds
from .errors import CairnError

_UNITS = {"": 1.0, "M": 1.0, "K": 1.0 / 1024, "G": 1024.0, "T": 1024.0 * 1024}


def _mem_mb(mem: Any) -> int:
    """32G, 512M, 1.5T, or a number of MB."""
    if isinstance(mem, (int, float)) and not isinstance(mem, bool):
        return int(mem)
    text = str(mem).strip()
    i = next((k for k, c in enumerate(text) if c.isalpha()), len(text))
    unit = text[i:].upper().rstrip("B").rstrip("I")
    try:
        n = float(text[:i])
    except ValueError:
        raise CairnError("invalid_argument", f"mem={mem!r} is not an amount of memory such as '32G' or '512M'") from None
    if unit not in _UNITS or n < 0:
        raise CairnError("invalid_argument", f"mem={mem!r}: the unit must be K, M, G or T (as in '32G')")
    return int(-(-n * _UNITS[unit] // 1))


def _seconds(limit: Any) -> Optional[int]:
    """6h, 30m, 90s, 2d, or seconds."""
    if limit is None:
        return None
    if isinstance(limit, (int, float)) and not isinstance(limit, bool):
        return int(limit)
    text = str(limit).strip()
    per = {"s": 1, "m": 60, "h": 3600, "d": 86400}.get(text[-1:], None)
    try:
        return int(float(text[:-1]) * per) if per else int(text)
    except ValueError:
        raise CairnError("invalid_argument", f"time_limit={limit!r} is not a duration such as '6h', '30m' or 90") from None


def submit(
    command: Sequence[str],
    *,
    project: Optional[str] = None,
    hypothesis: Optional[str] = None,
    name: Optional[str] = None,
    config: Optional[Mapping[str, Any]] = None,
    tags: Any = None,
    seed: Any = None,
    gpus: int = 0,
    gpu_type: Optional[str] = None,
    cpus: int = 1,
    mem: Any = "1G",
    priority: str = "normal",
    time_limit: Any = None,
    preemptible: bool = False,
    budget: Optional[str] = None,
    team: Optional[str] = None,
    workdir: Optional[str] = None,
    in_place: bool = False,
    env: Optional[Mapping[str, str]] = None,
    on_duplicate: Optional[str] = "refuse",
) -> Dict[str, Any]:
    """Queues ``command`` to run on an agent, recorded as a run like ``cairn submit``
    records it (code, environment, config; the same duplicate check and hypothesis
    rule). Returns the job: ``run_id``, ``short_id``, ``state`` (``queued``), … .

    The agent runs it in a clean copy of the recorded commit with the recorded diff, or,
    with ``workdir=`` or ``in_place=True``, in that folder (default: this one) as it is.

    Raises :class:`CairnError` with code ``unschedulable`` when no connected agent
    could ever hold the request (the message names the largest node)."""
    if isinstance(command, str) or not command:
        raise CairnError("invalid_argument", "command must be a non-empty list of arguments, e.g. ['python', 'train.py']")
    client = Client(_local.server_url())
    run: Dict[str, Any] = {
        "project": project or os.environ.get("CAIRN_PROJECT") or "default",
        "command": [str(c) for c in command],
        "owner": _default_owner(),
    }
    hyp = hypothesis if hypothesis is not None else os.environ.get("CAIRN_HYPOTHESIS")
    if hyp is not None:
        run["hypothesis"] = hyp
    if name is not None:
        run["name"] = name
    if config:
        run["config"] = dict(config)
        run["config_sources"] = {k: "sdk" for k in config}
    if tags:
        run["tags"] = _normalize_tags(tags)
    if seed is not None:
        run["seeds"] = _seeds(seed)
    if on_duplicate is not None:
        run["on_duplicate"] = on_duplicate
    captured = _capture.run_capture(())
    try:
        if captured is not None:
            run["code"] = captured.get("code")
            run["environment"] = captured.get("environment")
        else:
            run["environment"] = _capture.python_environment()
        body = {
            "run": run,
            "resources": {
                "gpus": int(gpus),
                "gpu_type": gpu_type,
                "cpus": int(cpus),
                "mem_mb": _mem_mb(mem),
                "time_limit_s": _seconds(time_limit),
            },
            "priority": priority,
            "preemptible": bool(preemptible),
            "budget": budget,
            "team": team,
            "workdir": os.path.abspath(workdir or os.getcwd()),
            # A folder given, or in_place: run there as it is, not in a clean copy of the commit.
            "in_place": bool(in_place or workdir),
            "env": dict(env or {}),
        }
        job = client.request("POST", "/api/v1/jobs", body, idempotent=False)
        diff = captured.get("diff_file") if captured else None
        if diff:
            client.upload("/api/v1/runs/%s/artifacts/%s" % (job["run_id"], quote_path("code/uncommitted.diff")), diff)
        return job
    finally:
        _capture.cleanup(captured)


def job(run: str) -> Dict[str, Any]:
    """A job's state: ``queued``, ``assigned``, ``running``, ``stopping``, ``finished``, ``failed`` or ``cancelled``."""
    return Client(_local.server_url()).request("GET", "/api/v1/jobs/" + quote_path(run))


def cancel(*runs: str) -> Dict[str, Any]:
    """Cancels jobs: queued ones at once, running ones through their agent."""
    return Client(_local.server_url()).request("POST", "/api/v1/jobs/cancel", {"jobs": list(runs)}, idempotent=True)
