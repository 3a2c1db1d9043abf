"""Importers against files the real tools wrote: TensorBoard event files from
tensorboardX's writer, and W&B run folders from `wandb` in offline mode. The binary
comes from $CAIRN_BIN, else <repo>/target/debug/cairn; each test gets its own
embedded store (a temporary CAIRN_HOME)."""

import json
import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BINARY = os.environ.get("CAIRN_BIN") or str(REPO / "target" / "debug" / "cairn")


@pytest.fixture
def cairn(tmp_path):
    assert os.path.isfile(BINARY), f"build cairn first: no binary at {BINARY}"
    home = tmp_path / "cairn-home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAIRN_")}
    env["CAIRN_HOME"] = str(home)

    def run(*args, ok=True):
        out = subprocess.run([BINARY, *args], env=env, capture_output=True, text=True, timeout=300)
        if ok:
            assert out.returncode == 0, out.stderr
        return out

    def json_of(*args):
        return json.loads(run(*args, "--json").stdout)

    run.json = json_of
    return run
