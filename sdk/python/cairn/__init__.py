"""Cairn: track ML experiments (runs, hypotheses, metrics, artifacts).

    import cairn

    run = cairn.init(project="demo", hypothesis="warmup helps", config={"lr": 3e-4})
    for step in range(100):
        run.log({"loss": 1 / (step + 1)})
    run.log_artifact("model.pt")
    run.finish()
"""

from __future__ import annotations

from typing import Any, Mapping, Optional

from ._version import __version__
from .errors import CairnConnectionError, CairnError, DuplicateRunError, HypothesisRequiredError
from ._run import Config, Run, Summary, init
from ._seed import seed_everything
from ._jobs import cancel, job, submit
from ._bulk import log_runs
from . import _run as _run_mod

__all__ = [
    "__version__",
    "init",
    "log",
    "log_artifact",
    "finish",
    "current_run",
    "seed_everything",
    "submit",
    "job",
    "cancel",
    "log_runs",
    "Run",
    "Config",
    "Summary",
    "CairnError",
    "HypothesisRequiredError",
    "DuplicateRunError",
    "CairnConnectionError",
]


def current_run() -> Optional[Run]:
    """The run started by the last :func:`init` (None once it finished)."""
    return _run_mod.current()


def _require_run() -> Run:
    run = _run_mod.current()
    if run is None:
        raise CairnError("no_active_run", "no active run: call cairn.init() first")
    return run


def log(data: Mapping[str, Any], step: Optional[int] = None) -> None:
    """Logs metrics to the current run (see :meth:`Run.log`)."""
    _require_run().log(data, step=step)


def log_artifact(path: Any, name: Optional[str] = None) -> Any:
    """Uploads a file or directory to the current run (see :meth:`Run.log_artifact`)."""
    return _require_run().log_artifact(path, name=name)


def finish(status: str = "finished", exit_code: Optional[int] = None) -> None:
    """Finishes the current run, if any (see :meth:`Run.finish`)."""
    run = _run_mod.current()
    if run is not None:
        run.finish(status=status, exit_code=exit_code)


def __getattr__(name: str) -> Any:
    # `cairn.run` is the current run, like `wandb.run`.
    if name == "run":
        return _run_mod.current()
    raise AttributeError(f"module 'cairn' has no attribute {name!r}")
