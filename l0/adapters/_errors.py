"""Errors of provider adapters, and the mapping of HTTP statuses and error payloads onto them.

::

    L0Error
    ├── ProviderError         the provider answered with an error: an HTTP error status
    │                         (.status_code), or an error event inside the stream
    └── StreamProtocolError   the provider's stream broke its wire format (malformed JSON
                              in a data line, a line longer than the parser's limit)

Everything here decides by status code, header and structured error fields (``type``, ``code``),
never by the words of a message. Transport errors of ``httpx`` (and of ``httpx2``, which
openai 3.x uses) are looked up in :data:`sys.modules` only: if the module is not imported, the
exception cannot be one of its types, and classifying must not import it.
"""

from __future__ import annotations

import email.utils
import math
import sys
import time
from collections.abc import Mapping
from typing import Any, ClassVar, cast

from l0._errors import ErrorCode, L0Error, NetworkError, RetryReason
from l0._events._observability import FailureType

__all__ = [
    "ProviderError",
    "StreamProtocolError",
    "headers_of",
    "payload_error",
    "retry_after_from",
    "status_error",
    "transport_error",
]

# Error ``type``/``code`` values (OpenAI and the servers that copy its shape) that say what
# kind of failure an error payload reports.
_RATE_LIMIT_KINDS = frozenset(
    {"rate_limit_exceeded", "rate_limit_error", "requests", "tokens", "insufficient_quota"}
)
_CLIENT_KINDS = frozenset(
    {
        "invalid_request_error",
        "authentication_error",
        "permission_error",
        "permission_denied",
        "not_found_error",
        "invalid_api_key",
        "context_length_exceeded",
        "model_not_found",
        "unsupported_parameter",
        "unsupported_value",
        "invalid_prompt",
    }
)


class ProviderError(L0Error):
    """The provider answered with an error.

    ``status_code`` is the HTTP status (``None`` for an error event inside a stream that had
    started); ``provider`` names the adapter that saw it; ``error_type`` and ``error_code`` are
    the ``type``/``code`` fields of the provider's error payload, if it sent one; ``body`` is
    that payload.

    What l0 does with it follows the status: 429 is a rate limit (retried after
    ``retry_after``, taken from ``Retry-After``/``retry-after-ms``), 408 a timeout, 409 and 5xx
    server errors (retried, without using ``Retry.attempts``); every other 4xx (400 bad request,
    401/403 credentials, 404 unknown model, 422...) is not retried: the same request would fail
    the same way. Fallbacks still run, since another model or provider may accept it.

    .. versionadded:: 0.1
    """

    default_code = ErrorCode.STREAM_ERROR
    default_retryable = True
    default_failure_type: ClassVar[FailureType] = "model"
    default_retry_reason: ClassVar[RetryReason] = "server_error"

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        provider: str | None = None,
        error_type: str | None = None,
        error_code: str | None = None,
        body: Any = None,
        retryable: bool | None = None,
        retry_after: float | None = None,
        retry_reason: RetryReason | None = None,
        failure_type: FailureType | None = None,
        counts_toward_limit: bool | None = None,
    ) -> None:
        metadata: dict[str, Any] = {}
        if status_code is not None:
            metadata["status_code"] = status_code
        if provider is not None:
            metadata["provider"] = provider
        if error_type is not None:
            metadata["error_type"] = error_type
        if error_code is not None:
            metadata["error_code"] = error_code
        super().__init__(message, retryable=retryable, retry_after=retry_after, metadata=metadata)
        self.status_code = status_code
        self.provider = provider
        self.error_type = error_type
        self.error_code = error_code
        self.body: Any = body
        if retry_reason is not None:
            self.retry_reason: RetryReason = retry_reason
        if failure_type is not None:
            self.failure_type: FailureType = failure_type
        if counts_toward_limit is not None:
            self.counts_toward_limit = counts_toward_limit


class StreamProtocolError(L0Error):
    """The provider's stream broke its wire format: a data line that is not the JSON it should
    be, an event line longer than the parser's limit, a body that is not an event stream.

    Retried by default (a proxy or server that cut a chunk once usually does not do it again),
    and each retry uses ``Retry.attempts``, so a server that always answers garbage fails
    soon. ``retryable=False`` when retrying cannot help (the server answers with something that
    is not an event stream at all).

    .. versionadded:: 0.1
    """

    default_code = ErrorCode.STREAM_ERROR
    default_retryable = True
    default_failure_type: ClassVar[FailureType] = "model"
    default_retry_reason: ClassVar[RetryReason] = "server_error"


# -- headers ----------------------------------------------------------------------------------


def headers_of(exc: object) -> Mapping[str, str] | None:
    """The response headers an SDK exception carries (``exc.response.headers``), if any."""
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None) if response is not None else None
    if headers is None:
        # litellm keeps the provider's headers apart from its (sometimes synthetic) response.
        headers = getattr(exc, "litellm_response_headers", None)
    if headers is None or not hasattr(headers, "get"):
        return None
    return cast("Mapping[str, str]", headers)


def _number(value: object) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    if math.isnan(number) or math.isinf(number):
        return None
    return max(0.0, number)


def retry_after_from(
    headers: Mapping[str, str] | None, *, now: float | None = None
) -> float | None:
    """Seconds to wait before retrying, from ``retry-after-ms`` (milliseconds, preferred: it is
    more precise) or ``Retry-After`` (seconds, or an HTTP date; ``now`` is the wall-clock time
    to measure a date from, :func:`time.time` by default). ``None`` if neither is usable.

    >>> retry_after_from({"retry-after": "2"})
    2.0
    >>> retry_after_from({"retry-after-ms": "1500", "retry-after": "2"})
    1.5
    """
    if not headers:
        return None
    get = headers.get
    millis = _number(get("retry-after-ms") or get("Retry-After-Ms"))
    if millis is not None:
        return millis / 1000
    raw = get("retry-after") or get("Retry-After")
    if raw is None:
        return None
    seconds = _number(raw)
    if seconds is not None:
        return seconds
    try:
        date = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        return None
    if date.tzinfo is None:
        return None
    return max(0.0, date.timestamp() - (time.time() if now is None else now))


# -- statuses and payloads --------------------------------------------------------------------


def status_error(
    status: int,
    *,
    headers: Mapping[str, str] | None = None,
    provider: str | None = None,
    message: str | None = None,
    body: Any = None,
) -> ProviderError:
    """The :class:`ProviderError` for HTTP ``status`` (see its docstring for the policy)."""
    payload = _error_object(body)
    error_type = _field(payload, "type")
    error_code = _field(payload, "code")
    if message is None:
        text = payload.get("message") if payload is not None else None
        message = text if isinstance(text, str) and text else "the provider returned an error"
    where = f"{provider}: " if provider else ""
    # The provider's message stays in ``body`` (and the cause): it may quote the request.
    text = f"{where}HTTP {status}{_kind(error_type, error_code)}"
    retry_after = retry_after_from(headers)
    common: dict[str, Any] = {
        "status_code": status,
        "provider": provider,
        "error_type": error_type,
        "error_code": error_code,
        "body": body,
        "retry_after": retry_after,
    }
    if status == 429:
        return ProviderError(text, retryable=True, retry_reason="rate_limit",
                             failure_type="network", counts_toward_limit=False,
                             **common)  # fmt: skip
    if status == 408:
        return ProviderError(text, retryable=True, retry_reason="timeout",
                             failure_type="timeout", counts_toward_limit=False,
                             **common)  # fmt: skip
    if status == 409 or status >= 500:
        return ProviderError(text, retryable=True, retry_reason="server_error",
                             failure_type="network", counts_toward_limit=False,
                             **common)  # fmt: skip
    return ProviderError(text, retryable=False, retry_reason="unknown",
                         failure_type="unknown", **common)  # fmt: skip


def _error_object(body: Any) -> dict[str, Any] | None:
    """The error object of an error payload: ``{"error": {...}}`` or the object itself."""
    if not isinstance(body, Mapping):
        return None
    mapping = cast("Mapping[str, Any]", body)
    inner = mapping.get("error")
    if isinstance(inner, Mapping):
        return dict(cast("Mapping[str, Any]", inner))
    return dict(mapping)


def _kind(error_type: str | None, error_code: str | None) -> str:
    """`` (type, code)`` for a message: what kind of error the provider said it was."""
    named = [name for name in (error_type, error_code) if name]
    return f" ({', '.join(dict.fromkeys(named))})" if named else ""


def _field(payload: Mapping[str, Any] | None, name: str) -> str | None:
    if payload is None:
        return None
    value = payload.get(name)
    if value is None or isinstance(value, bool):
        return None
    return str(value) if isinstance(value, (str, int)) else None


def payload_error(payload: Any, *, provider: str | None = None) -> ProviderError:
    """The :class:`ProviderError` for an error event inside a stream (``{"error": {...}}``, an
    error object, or a bare message string).

    A numeric ``code`` of 400-599 (some servers put the HTTP status there) is read as a status;
    otherwise ``type``/``code`` name a rate limit or a request the provider rejects (not
    retried); anything else is a server-side failure, retried.
    """
    if isinstance(payload, str):
        payload = {"message": payload}
    error = _error_object(payload) or {}
    raw_code = error.get("code", error.get("status"))
    status = raw_code if isinstance(raw_code, int) and not isinstance(raw_code, bool) else None
    text = error.get("message")
    message = text if isinstance(text, str) and text else "error event in the stream"
    if status is not None and 400 <= status <= 599:
        err = status_error(status, provider=provider, message=message, body=payload)
        err.status_code = None  # it was not the response's status: the stream had started
        err.metadata.pop("status_code", None)
        err.metadata["in_band_status"] = status
        return err
    error_type = _field(error, "type")
    error_code = _field(error, "code")
    kinds = {error_type, error_code}
    where = f"{provider}: " if provider else ""
    common: dict[str, Any] = {
        "provider": provider,
        "error_type": error_type,
        "error_code": error_code,
        "body": payload,
    }
    text = f"{where}error event in the stream{_kind(error_type, error_code)}"
    if kinds & _RATE_LIMIT_KINDS:
        return ProviderError(text, retryable=True, retry_reason="rate_limit",
                             failure_type="network", counts_toward_limit=False,
                             **common)  # fmt: skip
    if kinds & _CLIENT_KINDS:
        return ProviderError(text, retryable=False, retry_reason="unknown",
                             failure_type="model", **common)  # fmt: skip
    return ProviderError(text, retryable=True, retry_reason="server_error",
                         failure_type="model", **common)  # fmt: skip


# -- transport errors -------------------------------------------------------------------------


def transport_error(exc: BaseException) -> L0Error | None:
    """A :class:`~l0.NetworkError` for a transport error of ``httpx`` or ``httpx2`` (a timeout
    is flagged as one), the :class:`ProviderError` of an ``HTTPStatusError``, else ``None``."""
    for name in ("httpx", "httpx2"):
        module = sys.modules.get(name)
        if module is None:
            continue
        if isinstance(exc, module.TimeoutException):
            err = NetworkError(f"network timeout: {type(exc).__name__}")
            err.failure_type = "timeout"
            err.retry_reason = "timeout"
            return err
        if isinstance(exc, module.TransportError):
            return NetworkError(f"network error: {type(exc).__name__}")
        if isinstance(exc, module.HTTPStatusError):
            response: Any = getattr(exc, "response", None)
            status: int = response.status_code
            headers: Mapping[str, str] = response.headers
            return status_error(status, headers=headers, message=str(exc))
    return None
