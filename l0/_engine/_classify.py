"""Turn an exception raised by a source into an :class:`~l0.L0Error`, by type (never by message).

The messages name exception types only: an exception's own text may quote a prompt, output or
URL with a key in it, and l0's messages go to logs and telemetry. The original is ``__cause__``.
"""

from __future__ import annotations

import sys

import anyio

from l0._errors import L0Error, NetworkError, SourceError

__all__ = ["classify"]

_NETWORK_TYPES: tuple[type[BaseException], ...] = (
    ConnectionError,
    anyio.BrokenResourceError,
    anyio.ClosedResourceError,
    anyio.EndOfStream,
    EOFError,
)


def _httpx_error(exc: Exception) -> L0Error | None:
    # Only look if httpx is already imported: classifying must not import it.
    httpx = sys.modules.get("httpx")
    if httpx is None:
        return None
    if isinstance(exc, httpx.TimeoutException):
        err = NetworkError(f"network timeout: {type(exc).__name__}")
        err.failure_type = "timeout"
        err.retry_reason = "timeout"
        return err
    if isinstance(exc, httpx.TransportError):
        return NetworkError(f"network error: {type(exc).__name__}")
    return None


def classify(exc: Exception) -> L0Error:
    """Map ``exc`` to an l0 error; the original becomes ``__cause__`` (set by the caller)."""
    if isinstance(exc, L0Error):
        return exc
    ssl = sys.modules.get("ssl")  # a TLS error means ssl is imported; don't import it here
    if ssl is not None and isinstance(exc, ssl.SSLError):
        # A TLS failure is a configuration problem: retrying will not fix it.
        return NetworkError(f"TLS error: {type(exc).__name__}", retryable=False)
    if isinstance(exc, _NETWORK_TYPES):
        return NetworkError(f"connection failed: {type(exc).__name__}")
    if isinstance(exc, TimeoutError):
        err = NetworkError(f"timed out: {type(exc).__name__}")
        err.failure_type = "timeout"
        err.retry_reason = "timeout"
        return err
    if isinstance(exc, OSError):
        return NetworkError(f"OS error: {type(exc).__name__}")
    mapped = _httpx_error(exc)
    if mapped is not None:
        return mapped
    return SourceError(f"stream error: {type(exc).__name__}")
