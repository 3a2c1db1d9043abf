"""Exceptions raised by the Cairn SDK."""

from __future__ import annotations

from typing import Optional


class CairnError(Exception):
    """An error reported by the Cairn server, or met while talking to it.

    ``code`` is the server's stable error code (e.g. ``run_not_found``), ``message``
    is meant for a person, ``status`` is the HTTP status (``None`` when no response
    was received).
    """

    def __init__(self, code: str, message: str, status: Optional[int] = None) -> None:
        super().__init__(code, message, status)
        self.code = code
        self.message = message
        self.status = status

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

    code, message = None, None
    try:
        doc = json.loads(body.decode("utf-8"))
        err = doc.get("error") if isinstance(doc, dict) else None
        if isinstance(err, dict):
            code = err.get("code")
            message = err.get("message")
    except (ValueError, UnicodeDecodeError):
        pass
    if not code:
        code = "http_error"
    if not message:
        text = body.decode("utf-8", "replace").strip()
        message = f"HTTP {status} {reason}" + (f": {text[:500]}" if text else "")
    cls = HypothesisRequiredError if code == "hypothesis_required" else CairnError
    return cls(str(code), str(message), status)
