"""In-process counters and latency summaries, fed by the observability events."""

from __future__ import annotations

import threading

import msgspec

from l0._events import _observability as obs
from l0.monitoring._info import completion_details
from l0.monitoring._sink import Handlers, call_guarded
from l0.monitoring._summary import Quantiles, Summary

__all__ = ["Metrics", "MetricsSnapshot"]


def _no_counts() -> dict[str, int]:
    return {}


class MetricsSnapshot(msgspec.Struct, frozen=True, kw_only=True):
    """The counters of a :class:`Metrics` at one moment; ``msgspec.json.encode`` it freely.

    .. versionadded:: 0.1
    """

    requests: int = 0
    """Streams started (SESSION_START)."""
    active: int = 0
    """Started and not ended yet."""
    completed: int = 0
    failed: int = 0
    """Streams that ended in an error (the final ERROR)."""
    aborted: int = 0
    """Streams aborted (``abort()``, or interrupted where the runtime reports it)."""
    completion_rate: float | None = None
    """``completed / (completed + failed + aborted)``; ``None`` before any stream ended."""
    tokens: int = 0
    """Text chunks delivered by completed streams (l0's ``token_count``)."""
    input_tokens: int = 0
    """Provider-reported input tokens of completed streams (when the provider reports them)."""
    output_tokens: int = 0
    """Provider-reported output tokens of completed streams."""
    retries: int = 0
    network_retries: int = 0
    """Retries after network failures and timeouts (``Retry.max_retries`` budget)."""
    model_retries: int = 0
    """Retries after content failures: zero output, guardrails, drift... (``Retry.attempts``)."""
    fallbacks: int = 0
    timeouts: int = 0
    timeouts_by_type: dict[str, int] = msgspec.field(default_factory=_no_counts)
    """``"initial"``, ``"inter"`` (TIMEOUT_TRIGGERED) and ``"total"`` (TOTAL_TIMEOUT errors)."""
    network_errors: int = 0
    guardrail_violations: int = 0
    drift_detections: int = 0
    """Streams in which drift was detected."""
    errors: int = 0
    """Every failed attempt (ERROR events, retried or not)."""
    errors_by_code: dict[str, int] = msgspec.field(default_factory=_no_counts)
    failures_by_code: dict[str, int] = msgspec.field(default_factory=_no_counts)
    """The error codes that ended streams."""
    time_to_first_token: Summary = msgspec.field(default_factory=Summary)
    """Seconds from the start of the successful attempt to its first content."""
    duration: Summary = msgspec.field(default_factory=Summary)
    """Seconds from the start to the end of each stream that ended, whatever the outcome."""


def _bump(counts: dict[str, int], key: str) -> None:
    counts[key] = counts.get(key, 0) + 1


class Metrics:
    """A sink that counts what streams do: ``l0.run(..., on_event=metrics)``.

    Give one instance to every session for process-wide numbers, one per session for that
    session's, or both with :func:`combine`. It keeps no per-stream state (everything it
    needs arrives in the events), so it cannot leak; its latency summaries use bounded
    memory. Updates take a lock and never await, so it is safe across tasks and threads.

    .. versionadded:: 0.1
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._handlers: Handlers = {
            obs.SessionStart: self._started,
            obs.Error: self._error,
            obs.FallbackStart: self._fallback,
            obs.TimeoutTriggered: self._timeout,
            obs.NetworkError: self._network_error,
            obs.SessionSummary: self._summary,
            obs.Complete: self._complete,
            obs.AbortCompleted: self._aborted,
        }
        self._reset()

    def _reset(self) -> None:
        self._counts: dict[str, int] = dict.fromkeys(
            (
                "requests",
                "completed",
                "failed",
                "aborted",
                "tokens",
                "input_tokens",
                "output_tokens",
                "retries",
                "network_retries",
                "model_retries",
                "fallbacks",
                "timeouts",
                "network_errors",
                "guardrail_violations",
                "drift_detections",
                "errors",
            ),
            0,
        )
        self._timeouts: dict[str, int] = {}
        self._errors: dict[str, int] = {}
        self._failures: dict[str, int] = {}
        self._ttft = Quantiles()
        self._duration = Quantiles()

    def __call__(self, event: obs.ObservabilityEvent, /) -> None:
        """Take one event (never raises)."""
        call_guarded(self._handlers, event, self)

    def snapshot(self) -> MetricsSnapshot:
        """The numbers now, as an immutable :class:`MetricsSnapshot`."""
        with self._lock:
            c = self._counts
            ended = c["completed"] + c["failed"] + c["aborted"]
            return MetricsSnapshot(
                **c,
                active=max(0, c["requests"] - ended),
                completion_rate=c["completed"] / ended if ended else None,
                timeouts_by_type=dict(self._timeouts),
                errors_by_code=dict(self._errors),
                failures_by_code=dict(self._failures),
                time_to_first_token=self._ttft.summary(),
                duration=self._duration.summary(),
            )

    def reset(self) -> None:
        """Start counting from zero."""
        with self._lock:
            self._reset()

    # -- handlers (each under the lock, no awaits) ------------------------------------------

    def _started(self, event: obs.SessionStart) -> None:
        with self._lock:
            self._counts["requests"] += 1

    def _error(self, event: obs.Error) -> None:
        code = event.error_code or "UNKNOWN"
        with self._lock:
            c = self._counts
            c["errors"] += 1
            _bump(self._errors, code)
            if code == "TOTAL_TIMEOUT":
                c["timeouts"] += 1
                _bump(self._timeouts, "total")
            if event.recovery_strategy == "retry":
                c["retries"] += 1
                kind = "network" if event.failure_type in ("network", "timeout") else "model"
                c[f"{kind}_retries"] += 1
            elif event.recovery_strategy == "halt":
                c["failed"] += 1
                _bump(self._failures, code)

    def _fallback(self, event: obs.FallbackStart) -> None:
        with self._lock:
            self._counts["fallbacks"] += 1

    def _timeout(self, event: obs.TimeoutTriggered) -> None:
        with self._lock:
            self._counts["timeouts"] += 1
            _bump(self._timeouts, event.timeout_type)

    def _network_error(self, event: obs.NetworkError) -> None:
        with self._lock:
            self._counts["network_errors"] += 1

    def _summary(self, event: obs.SessionSummary) -> None:
        with self._lock:
            c = self._counts
            c["guardrail_violations"] += event.guardrail_violations
            c["drift_detections"] += int(event.drift_detected)
            self._duration.add(max(0.0, event.end_ts - event.start_ts))

    def _complete(self, event: obs.Complete) -> None:
        _finish, input_tokens, output_tokens, ttft = completion_details(event)
        with self._lock:
            c = self._counts
            c["completed"] += 1
            c["tokens"] += event.token_count
            c["input_tokens"] += input_tokens or 0
            c["output_tokens"] += output_tokens or 0
            if ttft is not None:
                self._ttft.add(ttft)

    def _aborted(self, event: obs.AbortCompleted) -> None:
        with self._lock:
            self._counts["aborted"] += 1
