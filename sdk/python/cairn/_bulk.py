"""Results recorded after the fact, many at a time: ``cairn.log_runs`` sends runs with
their config, tags and final metrics a thousand per request, each request one
transaction on the server (all of its runs stored, or none)."""

from __future__ import annotations

import math
import os
from typing import Any, Dict, Iterable, List, Mapping, Optional

from . import _local
from ._http import Client
from ._run import _normalize_tags
from .errors import CairnError

#: The most runs the server takes in one request.
BATCH = 1000

_FIELDS = {"name", "description", "hypothesis", "tags", "status", "config", "metrics", "created_at", "ended_at", "command", "seeds", "group_id", "project"}


def _run_body(i: int, run: Mapping[str, Any], project: str) -> Dict[str, Any]:
    if not isinstance(run, Mapping):
        raise CairnError("invalid_argument", f"runs[{i}] is a {type(run).__name__}; give a dict with config, metrics, tags …")
    unknown = sorted(set(run) - _FIELDS)
    if unknown:
        raise CairnError("invalid_argument", f"runs[{i}] has unknown field(s) {', '.join(unknown)}; use {', '.join(sorted(_FIELDS))}")
    body: Dict[str, Any] = {k: v for k, v in run.items() if v is not None}
    body["project"] = run.get("project") or project
    if "tags" in body:
        body["tags"] = _normalize_tags(body["tags"])
    if "config" in body:
        body["config"] = dict(body["config"])
    metrics = {}
    for key, value in dict(body.get("metrics") or {}).items():
        try:
            v = float(value)
        except (TypeError, ValueError):
            raise CairnError("invalid_argument", f"runs[{i}]: metric {key!r} is {value!r}, not a number") from None
        if not math.isfinite(v):
            raise CairnError("invalid_argument", f"runs[{i}]: metric {key!r} is {v}; a final value must be finite")
        metrics[str(key)] = v
    if metrics:
        body["metrics"] = metrics
    return body


def log_runs(runs: Iterable[Mapping[str, Any]], *, project: Optional[str] = None) -> List[Dict[str, Any]]:
    """Records finished runs in bulk (``POST /api/v1/runs/batch``), for results that
    exist already: a sweep's table, a notebook's loop, another tracker's export.

    Each run is a dict with any of ``config``, ``metrics`` (final values), ``tags``,
    ``name``, ``hypothesis``, ``description``, ``status`` (default ``finished``),
    ``created_at``/``ended_at`` (ms since the epoch), ``command``, ``seeds``,
    ``group_id`` and ``project``. Runs go a thousand per request; each request is
    stored whole or not at all. Returns ``id``, ``short_id`` and ``name`` of each run,
    in order."""
    project = project or os.environ.get("CAIRN_PROJECT") or "default"
    bodies = [_run_body(i, r, project) for i, r in enumerate(runs)]
    client = Client(_local.server_url())
    created: List[Dict[str, Any]] = []
    for start in range(0, len(bodies), BATCH):
        answer = client.request("POST", "/api/v1/runs/batch", {"runs": bodies[start : start + BATCH]}, idempotent=False)
        created.extend(answer["runs"])
    return created
