"""The one exception tree of l0.

::

    L0Error (Exception)                          every error l0 raises: .code, .category
    ├── StreamTimeout (L0Error, TimeoutError)    INITIAL_/INTER_TOKEN_TIMEOUT, TOTAL_TIMEOUT
    ├── NetworkError (L0Error, ConnectionError)  NETWORK_ERROR
    ├── StreamTruncated                          STREAM_TRUNCATED: ended without saying it finished
    ├── ZeroOutput                               ZERO_OUTPUT: ended with no content
    ├── SourceError                              STREAM_ERROR: the source raised something else
    ├── GuardrailViolationError                  GUARDRAIL_VIOLATION, FATAL_GUARDRAIL_VIOLATION
    ├── DriftDetected                            DRIFT_DETECTED
    ├── StreamAborted                            STREAM_ABORTED: closed by you (abort())
    ├── StreamClosed                             STREAM_CLOSED: used after close
    ├── AllStreamsExhausted                      ALL_STREAMS_EXHAUSTED: .errors has them all
    ├── InvalidStream (L0Error, TypeError)       INVALID_STREAM
    ├── AdapterNotFound (L0Error, LookupError)   ADAPTER_NOT_FOUND
    ├── FeatureNotEnabled                        FEATURE_NOT_ENABLED
    └── ConfigError (L0Error, ValueError)        INVALID_CONFIG

Errors raised by a provider keep the original exception as ``__cause__``.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Literal, cast

from l0._events._observability import FailureType

__all__ = [
    "AdapterNotFound",
    "AllStreamsExhausted",
    "CircuitOpen",
    "ConfigError",
    "DriftDetected",
    "ErrorCategory",
    "ErrorCode",
    "FeatureNotEnabled",
    "GuardrailViolationError",
    "InvalidStream",
    "L0Error",
    "NetworkError",
    "RetryReason",
    "SourceError",
    "StreamAborted",
    "StreamClosed",
    "StreamTimeout",
    "StreamTruncated",
    "ToolCallError",
    "ZeroOutput",
]

RetryReason = Literal[
    "zero_output",
    "guardrail_violation",
    "drift",
    "incomplete",
    "network_error",
    "timeout",
    "rate_limit",
    "server_error",
    "unknown",
]
"""Why an attempt failed, in the vocabulary of ``Retry(retry_on=...)``."""


class ErrorCode(str, enum.Enum):
    """Machine-readable error codes: the canonical ones plus l0's own additions."""

    STREAM_ABORTED = "STREAM_ABORTED"
    INITIAL_TOKEN_TIMEOUT = "INITIAL_TOKEN_TIMEOUT"
    INTER_TOKEN_TIMEOUT = "INTER_TOKEN_TIMEOUT"
    ZERO_OUTPUT = "ZERO_OUTPUT"
    GUARDRAIL_VIOLATION = "GUARDRAIL_VIOLATION"
    FATAL_GUARDRAIL_VIOLATION = "FATAL_GUARDRAIL_VIOLATION"
    INVALID_STREAM = "INVALID_STREAM"
    ALL_STREAMS_EXHAUSTED = "ALL_STREAMS_EXHAUSTED"
    NETWORK_ERROR = "NETWORK_ERROR"
    DRIFT_DETECTED = "DRIFT_DETECTED"
    ADAPTER_NOT_FOUND = "ADAPTER_NOT_FOUND"
    FEATURE_NOT_ENABLED = "FEATURE_NOT_ENABLED"
    # l0's additions to the canonical set
    TOTAL_TIMEOUT = "TOTAL_TIMEOUT"
    STREAM_TRUNCATED = "STREAM_TRUNCATED"
    STREAM_ERROR = "STREAM_ERROR"
    STREAM_CLOSED = "STREAM_CLOSED"
    INVALID_CONFIG = "INVALID_CONFIG"
    TOOL_CALL_INVALID = "TOOL_CALL_INVALID"
    INVALID_JSON = "INVALID_JSON"
    SCHEMA_VALIDATION_FAILED = "SCHEMA_VALIDATION_FAILED"
    CIRCUIT_OPEN = "CIRCUIT_OPEN"


class ErrorCategory(str, enum.Enum):
    """Coarse routing classes for error codes."""

    NETWORK = "network"
    TRANSIENT = "transient"
    CONTENT = "content"
    PROVIDER = "provider"
    INTERNAL = "internal"


_CATEGORY: dict[ErrorCode, ErrorCategory] = {
    ErrorCode.NETWORK_ERROR: ErrorCategory.NETWORK,
    ErrorCode.STREAM_TRUNCATED: ErrorCategory.NETWORK,
    ErrorCode.INITIAL_TOKEN_TIMEOUT: ErrorCategory.TRANSIENT,
    ErrorCode.INTER_TOKEN_TIMEOUT: ErrorCategory.TRANSIENT,
    ErrorCode.TOTAL_TIMEOUT: ErrorCategory.TRANSIENT,
    ErrorCode.GUARDRAIL_VIOLATION: ErrorCategory.CONTENT,
    ErrorCode.FATAL_GUARDRAIL_VIOLATION: ErrorCategory.CONTENT,
    ErrorCode.DRIFT_DETECTED: ErrorCategory.CONTENT,
    ErrorCode.ZERO_OUTPUT: ErrorCategory.CONTENT,
    ErrorCode.TOOL_CALL_INVALID: ErrorCategory.CONTENT,
    ErrorCode.INVALID_JSON: ErrorCategory.CONTENT,
    ErrorCode.SCHEMA_VALIDATION_FAILED: ErrorCategory.CONTENT,
    ErrorCode.INVALID_STREAM: ErrorCategory.INTERNAL,
    ErrorCode.ADAPTER_NOT_FOUND: ErrorCategory.INTERNAL,
    ErrorCode.FEATURE_NOT_ENABLED: ErrorCategory.INTERNAL,
    ErrorCode.STREAM_CLOSED: ErrorCategory.INTERNAL,
    ErrorCode.INVALID_CONFIG: ErrorCategory.INTERNAL,
    ErrorCode.STREAM_ABORTED: ErrorCategory.PROVIDER,
    ErrorCode.ALL_STREAMS_EXHAUSTED: ErrorCategory.PROVIDER,
    ErrorCode.STREAM_ERROR: ErrorCategory.PROVIDER,
    ErrorCode.CIRCUIT_OPEN: ErrorCategory.PROVIDER,
}


class L0Error(Exception):
    """Root of every error l0 raises.

    Attributes:
        code: the :class:`ErrorCode`.
        category: derived from ``code``.
        retryable: whether retrying the same source may help.
        retry_after: seconds the provider asked us to wait before retrying, if it said.
        failure_type: root-cause class used in ``ERROR`` events.
        retry_reason: the ``Retry(retry_on=...)`` name of this failure.
        counts_toward_limit: whether a retry for it uses the ``Retry.attempts`` budget
            (network and transient failures only use ``Retry.max_retries``).
        attempt, source_index, adapter: where it happened, filled in by the runtime.
        checkpoint, token_count, content_length, model_retry_count, network_retry_count,
        fallback_index, metadata, context: recovery context, filled in by the runtime.
    """

    default_code: ClassVar[ErrorCode] = ErrorCode.STREAM_ERROR
    default_retryable: ClassVar[bool] = False
    default_failure_type: ClassVar[FailureType] = "unknown"
    default_retry_reason: ClassVar[RetryReason] = "unknown"
    default_counts_toward_limit: ClassVar[bool] = True

    def __init__(
        self,
        message: str,
        *,
        code: ErrorCode | None = None,
        retryable: bool | None = None,
        retry_after: float | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code: ErrorCode = code if code is not None else self.default_code
        self.retryable: bool = self.default_retryable if retryable is None else retryable
        self.retry_after: float | None = retry_after
        self.failure_type: FailureType = self.default_failure_type
        self.retry_reason: RetryReason = self.default_retry_reason
        self.counts_toward_limit: bool = self.default_counts_toward_limit
        self.timestamp: float = time.time()
        self.metadata: dict[str, Any] = dict(metadata) if metadata else {}
        self.attempt: int | None = None
        self.source_index: int | None = None
        self.adapter: str | None = None
        self.checkpoint: str | None = None
        self.token_count: int | None = None
        self.content_length: int | None = None
        self.model_retry_count: int | None = None
        self.network_retry_count: int | None = None
        self.fallback_index: int | None = None
        self.context: Mapping[str, Any] | None = None
        self._detail: str | None = None

    @property
    def detail(self) -> str | None:
        """What the exception behind this error, the provider or the source said, which
        :attr:`message` leaves out: it may quote a prompt, the output or a URL with a key, and
        l0's messages go to logs and telemetry. ``None`` if nothing more was said. Monitoring
        sinks record it only with ``record_content=True``.
        """
        return self._detail if self._detail is not None else _said(self)

    @detail.setter
    def detail(self, value: str | None) -> None:
        self._detail = value

    @property
    def category(self) -> ErrorCategory:
        """The :class:`ErrorCategory` of :attr:`code`."""
        return _CATEGORY[self.code]

    @property
    def has_checkpoint(self) -> bool:
        """True when a non-empty checkpoint was recorded."""
        return bool(self.checkpoint)

    def to_json(self) -> dict[str, Any]:
        """The canonical serialisation (camelCase keys), for logs and transport."""
        return {
            "name": type(self).__name__,
            "code": self.code.value,
            "category": self.category.value,
            "message": self.message,
            "timestamp": self.timestamp,
            "hasCheckpoint": self.has_checkpoint,
            "checkpoint": self.checkpoint,
            "tokenCount": self.token_count,
            "modelRetryCount": self.model_retry_count,
            "networkRetryCount": self.network_retry_count,
            "fallbackIndex": self.fallback_index,
            "metadata": dict(self.metadata) if self.metadata else None,
            "context": dict(self.context) if self.context is not None else None,
        }

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, code={self.code.value})"


class StreamTimeout(L0Error, TimeoutError):
    """No content arrived in time (first token, between tokens, or overall).

    ``kind`` is ``"initial"``, ``"inter"`` or ``"total"``; ``elapsed`` and ``limit`` are seconds.
    """

    default_code = ErrorCode.INTER_TOKEN_TIMEOUT
    default_retryable = True
    default_failure_type: ClassVar[FailureType] = "timeout"
    default_retry_reason: ClassVar[RetryReason] = "timeout"
    default_counts_toward_limit = False

    _CODES: ClassVar[dict[str, ErrorCode]] = {
        "initial": ErrorCode.INITIAL_TOKEN_TIMEOUT,
        "inter": ErrorCode.INTER_TOKEN_TIMEOUT,
        "total": ErrorCode.TOTAL_TIMEOUT,
    }

    def __init__(self, kind: Literal["initial", "inter", "total"], elapsed: float, limit: float):
        super().__init__(
            f"{kind} timeout: no content for {elapsed:.3f}s (limit {limit:g}s)",
            code=self._CODES[kind],
            retryable=kind != "total",
        )
        self.kind = kind
        self.elapsed = elapsed
        self.limit = limit


class NetworkError(L0Error, ConnectionError):
    """The connection to the provider failed (refused, reset, dropped, DNS, TLS...)."""

    default_code = ErrorCode.NETWORK_ERROR
    default_retryable = True
    default_failure_type: ClassVar[FailureType] = "network"
    default_retry_reason: ClassVar[RetryReason] = "network_error"
    default_counts_toward_limit = False


class StreamTruncated(L0Error):
    """The source ended without saying it had finished (no finish reason / ``[DONE]``)."""

    default_code = ErrorCode.STREAM_TRUNCATED
    default_retryable = True
    default_failure_type: ClassVar[FailureType] = "network"
    default_retry_reason: ClassVar[RetryReason] = "incomplete"
    default_counts_toward_limit = False


class ZeroOutput(L0Error):
    """The attempt ended with no content (nothing, or only whitespace)."""

    default_code = ErrorCode.ZERO_OUTPUT
    default_retryable = True
    default_failure_type: ClassVar[FailureType] = "zero_output"
    default_retry_reason: ClassVar[RetryReason] = "zero_output"


class ToolCallError(L0Error):
    """The model streamed a tool call l0 cannot deliver whole: its arguments are not a JSON
    object, or it has no name. Retried like other content errors (the model is asked again)."""

    default_code = ErrorCode.TOOL_CALL_INVALID
    default_retryable = True
    default_failure_type: ClassVar[FailureType] = "tool"
    default_retry_reason: ClassVar[RetryReason] = "incomplete"


class SourceError(L0Error):
    """The source (factory, adapter or iterator) raised an exception l0 has no better name for.

    The original exception is ``__cause__``.
    """

    default_code = ErrorCode.STREAM_ERROR
    default_retryable = True
    default_failure_type: ClassVar[FailureType] = "unknown"
    default_retry_reason: ClassVar[RetryReason] = "unknown"


class GuardrailViolationError(L0Error):
    """A guardrail rule rejected the output; ``fatal`` ones stop everything."""

    default_code = ErrorCode.GUARDRAIL_VIOLATION
    default_retryable = True
    default_failure_type: ClassVar[FailureType] = "model"
    default_retry_reason: ClassVar[RetryReason] = "guardrail_violation"

    def __init__(self, message: str, *, fatal: bool = False, violations: Sequence[Any] = ()):
        super().__init__(
            message,
            code=ErrorCode.FATAL_GUARDRAIL_VIOLATION if fatal else ErrorCode.GUARDRAIL_VIOLATION,
            retryable=not fatal,
        )
        self.fatal = fatal
        self.violations: list[Any] = list(violations)


class DriftDetected(L0Error):
    """The output drifted from what was asked (drift detection)."""

    default_code = ErrorCode.DRIFT_DETECTED
    default_retryable = True
    default_failure_type: ClassVar[FailureType] = "model"
    default_retry_reason: ClassVar[RetryReason] = "drift"


class StreamAborted(L0Error):
    """The stream was aborted on request (``stream.abort()``): closed by you, not broken."""

    default_code = ErrorCode.STREAM_ABORTED
    default_failure_type: ClassVar[FailureType] = "abort"


class StreamClosed(L0Error):
    """The stream was used after it was closed."""

    default_code = ErrorCode.STREAM_CLOSED


def _said(error: L0Error) -> str | None:
    """What the exception behind ``error`` (or the provider) said: the cause's text, or the
    message of the provider's error body."""
    if isinstance(error, AllStreamsExhausted) and error.errors:
        return error.errors[-1].detail
    cause = error.__cause__
    if cause is not None:
        text = str(cause)
        return f"{type(cause).__name__}: {text}" if text else type(cause).__name__
    body = getattr(error, "body", None)
    if isinstance(body, Mapping):
        inner: Any = cast("Mapping[str, Any]", body).get("error", body)
        message: Any = (
            cast("Mapping[str, Any]", inner).get("message") if isinstance(inner, Mapping) else None
        )
        if isinstance(message, str) and message:
            return message
    return None


class AllStreamsExhausted(L0Error):
    """Every attempt of every source failed; ``errors`` lists them in order."""

    default_code = ErrorCode.ALL_STREAMS_EXHAUSTED

    def __init__(self, message: str, errors: Sequence[L0Error]):
        super().__init__(message)
        self.errors: list[L0Error] = list(errors)


class CircuitOpen(L0Error):
    """The source was skipped: its :class:`~l0.CircuitBreaker` circuit is open (it failed
    repeatedly and its recovery time has not passed). Not retried; the next source is tried."""

    default_code = ErrorCode.CIRCUIT_OPEN
    default_retryable = False


class InvalidStream(L0Error, TypeError):
    """The factory returned something that is not a stream l0 can read."""

    default_code = ErrorCode.INVALID_STREAM


class AdapterNotFound(L0Error, LookupError):
    """The named adapter does not exist, or does not support the running backend."""

    default_code = ErrorCode.ADAPTER_NOT_FOUND


class FeatureNotEnabled(L0Error):
    """A feature needs explicit opt-in or an extra that is not installed."""

    default_code = ErrorCode.FEATURE_NOT_ENABLED


class ConfigError(L0Error, ValueError):
    """A configuration value is invalid; the message names the field."""

    default_code = ErrorCode.INVALID_CONFIG
