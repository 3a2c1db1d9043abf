import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
for p in (ROOT, HERE):
    if p not in sys.path:
        sys.path.insert(0, p)

from cairn import _http, _run  # noqa: E402
from fakeserver import FakeCairn  # noqa: E402

CAIRN_ENV = (
    "CAIRN_SERVER",
    "CAIRN_RUN_ID",
    "CAIRN_PROJECT",
    "CAIRN_HYPOTHESIS",
    "CAIRN_USER",
    "CAIRN_HOME",
    "CAIRN_BIN",
)


def _reset_runs():
    for run in list(_run._active):
        try:
            run.finish()
        except Exception:
            pass
    with _run._state_lock:
        _run._active.clear()
        _run._current = None


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    """Every test starts without Cairn variables and with fast retries."""
    for name in CAIRN_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(_http.Client, "retry_delays", (0.01, 0.02, 0.04))
    yield
    _reset_runs()


@pytest.fixture
def fake(monkeypatch, tmp_path):
    server = FakeCairn().start()
    monkeypatch.setenv("CAIRN_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CAIRN_SERVER", server.url)
    # No binary against the fake: capture falls back to what Python can tell.
    from cairn import _capture

    monkeypatch.setattr(_capture, "run_capture", lambda *a, **k: None)
    yield server
    _reset_runs()
    server.stop()
