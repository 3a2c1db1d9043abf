"""Seeding every random number generator a training script is likely to use."""

from __future__ import annotations

import os
import random
from typing import Any, Dict, Optional


def seed_everything(seed: int, run: Optional[Any] = None) -> Dict[str, str]:
    """Seeds Python's ``random``, NumPy and PyTorch (CPU and every CUDA device) when
    they are installed, and sets ``PYTHONHASHSEED`` for subprocesses.

    Returns what was seeded (library -> version) and records it on ``run`` (default:
    the current run, if any): the seed joins the run's seeds and the tag
    ``cairn.seeded`` names the libraries.
    """
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an integer, not {type(seed).__name__}")
    import platform

    seeded: Dict[str, str] = {"random": platform.python_version()}
    random.seed(seed)
    # Only processes started from here on see it: a running interpreter's hash seed is fixed.
    os.environ["PYTHONHASHSEED"] = str(seed)
    try:
        import numpy  # type: ignore

        numpy.random.seed(seed % (2**32))
        seeded["numpy"] = numpy.__version__
    except ImportError:
        pass
    try:
        import torch  # type: ignore

        torch.manual_seed(seed)
        if torch.cuda.is_available():
            torch.cuda.manual_seed_all(seed)
        seeded["torch"] = torch.__version__
    except ImportError:
        pass
    if run is None:
        from . import _run

        run = _run.current()
    if run is not None:
        seeds = list(run._data.get("seeds") or [])
        if seed not in seeds:
            seeds.append(seed)
        run._patch({"seeds": seeds, "tags": {"cairn.seeded": ",".join(sorted(seeded))}})
    return seeded
