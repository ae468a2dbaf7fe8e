"""What the engine returns to the runtime: queued notices and the next action."""

from __future__ import annotations

import math
from typing import Any

import attrs
import msgspec

from l0._errors import (
    ErrorCode,
    L0Error,
)
from l0._events import _observability as obs
from l0._events._stream import (
    Complete,
)

__all__ = [
    "FATAL_CODES",
    "INF",
    "NEVER",
    "PROVIDER_DOWN",
    "REASON_TEXT",
    "Action",
    "Fail",
    "Finish",
    "Notice",
    "RuleCall",
    "StartAttempt",
]

INF = math.inf
NEVER = 1 << 62  # a token count no stream reaches
# Failures that no retry or fallback can mend: stop at once and raise them as they are.
FATAL_CODES = frozenset(
    {
        ErrorCode.FATAL_GUARDRAIL_VIOLATION,
        ErrorCode.TOTAL_TIMEOUT,
        ErrorCode.STREAM_ABORTED,
        ErrorCode.INVALID_STREAM,
        ErrorCode.ADAPTER_NOT_FOUND,
        ErrorCode.INVALID_CONFIG,
    }
)
PROVIDER_DOWN: frozenset[str] = frozenset(
    {"network_error", "timeout", "server_error", "rate_limit"}
)
"""Failure reasons that count against a source's circuit (see l0.CircuitBreaker)."""
REASON_TEXT: dict[str, str] = {
    "zero_output": "Zero output",
    "guardrail_violation": "Guardrail violation",
    "drift": "Drift detected",
    "incomplete": "Stream truncated",
    "network_error": "Network error",
    "timeout": "Timeout",
    "rate_limit": "Rate limited",
    "server_error": "Server error",
    "unknown": "Stream error",
}


class Notice:
    """One queued output: an observability event and/or a callback invocation."""

    __slots__ = ("args", "callback", "event")

    def __init__(
        self, event: obs.ObservabilityEvent | None, callback: str | None, args: tuple[Any, ...]
    ) -> None:
        self.event = event
        self.callback = callback
        self.args = args

    def __repr__(self) -> str:
        return f"Notice({self.event!r}, {self.callback!r}, {self.args!r})"


@attrs.frozen
class StartAttempt:
    """Start attempt ``attempt`` of source ``source_index`` after sleeping ``delay`` seconds."""

    source_index: int
    attempt: int
    delay: float
    is_retry: bool
    is_fallback: bool


@attrs.frozen
class Finish:
    """The stream completed; deliver ``event`` and stop."""

    event: Complete


@attrs.frozen
class Fail:
    """The stream failed for good; raise ``error``."""

    error: L0Error


Action = StartAttempt | Finish | Fail


class RuleCall(msgspec.Struct, frozen=True, kw_only=True):
    """One call of an asynchronous guardrail rule, as the runtime timed it: reported as
    GUARDRAIL_CALLBACK_START/END with the verdict it belongs to.

    ``index`` is the rule's position among the asynchronous rules, ``start`` the runtime's
    clock when it was called, ``error`` the type name of what it raised (None if it
    returned; its message may quote content, so it is left out).
    """

    index: int
    rule_id: str
    start: float
    duration_ms: float
    error: str | None = None
