"""Structured ``logging`` records for the lifecycle of each stream."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import msgspec

from l0._events import _observability as obs
from l0.monitoring._info import error_text
from l0.monitoring._sink import category_of
from l0.monitoring._sink import logger as own_logger

__all__ = ["Logging"]

# Fields that may hold prompt or output text, or provider error messages quoting it.
_CONTENT_FIELDS = frozenset(
    {
        "checkpoint",
        "arguments",
        "result",
        "error",
        "errors",
        "detail",
        "reason",
        "content_preview",
        "violation",
        "violations",
        "state",
        "context",
        "message",
    }
)


class Logging:
    """A sink that logs each stream's lifecycle through :mod:`logging`.

    Routine records (start, completion, abort) are logged at ``level``; trouble (retries,
    fallbacks, timeouts, failed attempts, guardrail violations, drift) at ``WARNING``; a
    stream's final failure at ``ERROR``; every other event at ``DEBUG``, so setting the
    logger to ``DEBUG`` is the switch for the full trace. Each record carries ``extra``
    attributes: ``l0_event``, ``l0_stream_id``, ``l0_context`` and, where they apply,
    ``l0_attempt``, ``l0_error_code``, ``l0_error_category``, ``l0_failure_type``,
    ``l0_recovery``, ``l0_token_count``, ``l0_delay_ms``, ``l0_timeout_type``,
    ``l0_fallback_index`` (and ``l0_fields`` for the other events).

    Error messages and anything else that may hold prompt or output text are left out
    unless ``record_content=True``.

    .. versionadded:: 0.1
    """

    def __init__(
        self,
        logger: logging.Logger | str = "l0",
        level: int = logging.INFO,
        *,
        record_content: bool = False,
    ) -> None:
        self.logger: logging.Logger = (
            logging.getLogger(logger) if isinstance(logger, str) else logger
        )
        self.level = level
        self.record_content = record_content
        self._handlers: dict[type[obs.ObservabilityEvent], Callable[[Any], None]] = {
            obs.SessionStart: self._started,
            obs.RetryAttempt: self._retry,
            obs.FallbackModelSelected: self._fallback,
            obs.TimeoutTriggered: self._timeout,
            obs.Error: self._error,
            obs.GuardrailRuleResult: self._violation,
            obs.DriftCheckResult: self._drift,
            obs.Complete: self._complete,
            obs.AbortCompleted: self._aborted,
        }

    def __call__(self, event: obs.ObservabilityEvent, /) -> None:
        """Log one event (never raises)."""
        try:
            handler = self._handlers.get(type(event))
            if handler is not None:
                handler(event)
            elif self.logger.isEnabledFor(logging.DEBUG):
                self._debug(event)
        except Exception:
            own_logger.exception("Logging failed on %s; the stream goes on", type(event).__name__)

    def _log(
        self, level: int, event: obs.ObservabilityEvent, msg: str, *args: object, **extra: Any
    ) -> None:
        extra["l0_event"] = event.event_type.value
        extra["l0_stream_id"] = event.stream_id
        extra["l0_context"] = event.context
        self.logger.log(level, msg, *args, extra=extra)

    # -- handlers ---------------------------------------------------------------------------

    def _debug(self, event: obs.ObservabilityEvent) -> None:
        fields = msgspec.structs.asdict(event)
        for name in ("ts", "stream_id", "context"):
            fields.pop(name, None)
        if not self.record_content:
            for name in _CONTENT_FIELDS.intersection(fields):
                del fields[name]
        self._log(
            logging.DEBUG,
            event,
            "l0 stream %s: %s",
            event.stream_id,
            event.event_type.value,
            l0_fields=fields,
        )

    def _started(self, event: obs.SessionStart) -> None:
        if self.logger.isEnabledFor(self.level):
            self._log(self.level, event, "l0 stream %s started", event.stream_id, l0_attempt=1)

    def _retry(self, event: obs.RetryAttempt) -> None:
        if self.logger.isEnabledFor(logging.WARNING):
            self._log(
                logging.WARNING,
                event,
                "l0 stream %s: retry %d of %d in %.0f ms (%s)",
                event.stream_id,
                event.attempt,
                event.max_attempts,
                event.delay_ms,
                event.reason,
                l0_attempt=event.attempt,
                l0_delay_ms=event.delay_ms,
            )

    def _fallback(self, event: obs.FallbackModelSelected) -> None:
        if self.logger.isEnabledFor(logging.WARNING):
            self._log(
                logging.WARNING,
                event,
                "l0 stream %s: falling back to source %d (%s)",
                event.stream_id,
                event.index,
                event.reason,
                l0_fallback_index=event.index,
            )

    def _timeout(self, event: obs.TimeoutTriggered) -> None:
        if self.logger.isEnabledFor(logging.WARNING):
            self._log(
                logging.WARNING,
                event,
                "l0 stream %s: %s-token timeout after %.0f ms (limit %.0f ms)",
                event.stream_id,
                event.timeout_type,
                event.elapsed_ms,
                event.configured_ms,
                l0_timeout_type=event.timeout_type,
            )

    def _error(self, event: obs.Error) -> None:
        final = event.recovery_strategy == "halt"
        level = logging.ERROR if final else logging.WARNING
        if not self.logger.isEnabledFor(level):
            return
        code = event.error_code or "UNKNOWN"
        category = category_of(event.error_code)
        extra: dict[str, Any] = {
            "l0_error_code": code,
            "l0_error_category": category,
            "l0_failure_type": event.failure_type,
            "l0_recovery": event.recovery_strategy,
            "l0_attempt": event.policy.get("attempt"),
            "l0_fallback_index": event.policy.get("fallbackIndex"),
        }
        detail = ""
        if self.record_content:
            extra["l0_error"] = text = error_text(event)
            detail = f": {text}"
        if final:
            self._log(
                level,
                event,
                "l0 stream %s failed: %s (%s, %s)%s",
                event.stream_id,
                code,
                category,
                event.failure_type,
                detail,
                **extra,
            )
        else:
            self._log(
                level,
                event,
                "l0 stream %s: attempt failed: %s (%s, %s), next: %s%s",
                event.stream_id,
                code,
                category,
                event.failure_type,
                event.recovery_strategy,
                detail,
                **extra,
            )

    def _violation(self, event: obs.GuardrailRuleResult) -> None:
        violation = event.violation
        if event.passed or violation is None or not self.logger.isEnabledFor(logging.WARNING):
            return
        detail = f": {violation.message}" if self.record_content else ""
        self._log(
            logging.WARNING,
            event,
            "l0 stream %s: guardrail %s violated (%s)%s",
            event.stream_id,
            violation.rule_id,
            violation.severity,
            detail,
            l0_rule=violation.rule_id,
            l0_severity=violation.severity,
        )

    def _drift(self, event: obs.DriftCheckResult) -> None:
        if event.detected and self.logger.isEnabledFor(logging.WARNING):
            self._log(
                logging.WARNING,
                event,
                "l0 stream %s: drift detected (score %.2f > %.2f)",
                event.stream_id,
                event.score,
                event.threshold,
            )

    def _complete(self, event: obs.Complete) -> None:
        if self.logger.isEnabledFor(self.level):
            self._log(
                self.level,
                event,
                "l0 stream %s completed: %d tokens",
                event.stream_id,
                event.token_count,
                l0_token_count=event.token_count,
            )

    def _aborted(self, event: obs.AbortCompleted) -> None:
        if self.logger.isEnabledFor(self.level):
            self._log(
                self.level,
                event,
                "l0 stream %s aborted after %d tokens",
                event.stream_id,
                event.token_count,
                l0_token_count=event.token_count,
            )
