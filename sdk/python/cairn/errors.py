"""Exceptions raised by the Cairn SDK."""

from __future__ import annotations

from typing import Any, Dict, Optional


class CairnError(Exception):
    """An error reported by the Cairn server, or met while talking to it.

    ``code`` is the server's stable error code (e.g. ``run_not_found``), ``message``
    is meant for a person, ``status`` is the HTTP status (``None`` when no response
    was received).
    """

    def __init__(self, code: str, message: str, status: Optional[int] = None, details: Optional[Dict[str, Any]] = None) -> None:
        super().__init__(code, message, status)
        self.code = code
        self.message = message
        self.status = status
        #: Structured detail the server attached (e.g. the earlier run of a duplicate).
        self.details = details or {}

    def __str__(self) -> str:
        if self.status is not None:
            return f"{self.message} ({self.code}, HTTP {self.status})"
        return f"{self.message} ({self.code})"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r}, status={self.status!r})"


class HypothesisRequiredError(CairnError):
    """The project requires every run to state a hypothesis and none was given."""

    def __str__(self) -> str:
        return (
            super().__str__()
            + "; pass hypothesis=\"...\" to cairn.init() or set CAIRN_HYPOTHESIS"
        )


class DuplicateRunError(CairnError):
    """An identical run (same code, data, config without seeds, command and packages)
    already finished in the project, so the new one was not started.

    ``run`` describes the earlier run (``id``, ``short_id``, ``name``, ``owner``,
    ``created_at``, ``metrics``). Pass ``on_duplicate="replicate"`` to
    :func:`cairn.init` to run it again as a replicate (e.g. with another seed), or
    ``on_duplicate="force"`` to run it anyway.
    """

    @property
    def run(self) -> Dict[str, Any]:
        run = self.details.get("run")
        return run if isinstance(run, dict) else {}

    def __str__(self) -> str:
        return (
            super().__str__()
            + '; pass on_duplicate="replicate" to cairn.init() to run it again as a replicate (another seed), '
            + 'or on_duplicate="force" to run it anyway'
        )


class CairnConnectionError(CairnError):
    """The server could not be reached (refused, timed out, reset, ...)."""

    def __init__(self, url: str, cause: BaseException, sent: bool = True) -> None:
        msg = (
            f"cannot reach the Cairn server at {url}: {type(cause).__name__}: {cause}; "
            "is it running? (set CAIRN_SERVER, or unset it to use the local store)"
        )
        super().__init__("connection_failed", msg, None)
        self.url = url
        self.cause = cause
        #: False when the failure happened before any byte of the request was sent,
        #: so retrying cannot duplicate a write.
        self.sent = sent


def error_from_response(status: int, reason: str, body: bytes) -> CairnError:
    """Builds the exception for a non-2xx answer from its JSON error body."""
    import json

    code, message, details = None, None, None
    try:
        doc = json.loads(body.decode("utf-8"))
        err = doc.get("error") if isinstance(doc, dict) else None
        if isinstance(err, dict):
            code = err.get("code")
            message = err.get("message")
            details = err.get("details") if isinstance(err.get("details"), dict) else None
    except (ValueError, UnicodeDecodeError):
        pass
    if not code:
        code = "http_error"
    if not message:
        text = body.decode("utf-8", "replace").strip()
        message = f"HTTP {status} {reason}" + (f": {text[:500]}" if text else "")
    cls = {"hypothesis_required": HypothesisRequiredError, "duplicate_run": DuplicateRunError}.get(str(code), CairnError)
    return cls(str(code), str(message), status, details)
