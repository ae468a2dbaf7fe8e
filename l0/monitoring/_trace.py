"""The lifecycle of a traced stream, read from its events, for the span-based sinks.

:class:`Tracer` turns the event sequence of each stream into calls of a few hooks: open the
stream's span, open and close one child per attempt, annotate (retries, fallbacks, timeouts,
violations, drift, resumes, tool calls), close the stream's span. OpenTelemetry and Sentry
implement the hooks; the bookkeeping (which attempt is open, when a stream has ended, the
bounded per-stream table) lives here once.

Where attempts begin and end:

* attempt 1 at SESSION_START, a retry at its ATTEMPT_START (after the backoff sleep), a
  fallback at FALLBACK_START;
* an attempt ends at the ERROR that retries or falls back from it, or with the stream;
* the stream ends at COMPLETE, ABORT_COMPLETED or the final ERROR (strategy ``halt``), which
  all follow SESSION_END; its state is released there. A stream whose end never arrives is
  released when the table is full (oldest first) or by :meth:`Tracer.close`.
"""

from __future__ import annotations

import time
from typing import Any, Generic, TypeVar

import msgspec

from l0._events import _observability as obs
from l0.monitoring._info import Defaults, Outcome, StreamInfo
from l0.monitoring._sink import Handlers, StreamTable, call_guarded

__all__ = ["Attrs", "Tracer"]

S = TypeVar("S")
A = TypeVar("A")

Attrs = dict[str, "str | int | float | bool | list[str]"]
"""Attributes of an annotation (span event or breadcrumb data)."""

DEFAULT_MAX_STREAMS = 10_000


class _Record(Generic[S, A]):
    __slots__ = ("attempt", "info", "stream")

    def __init__(self, info: StreamInfo, stream: S) -> None:
        self.info = info
        self.stream = stream
        self.attempt: A | None = None


class Tracer(Generic[S, A]):
    """Base of the span-based sinks; subclasses implement the ``_open_*``/``_close_*`` hooks."""

    def __init__(
        self,
        *,
        model: str | None,
        provider: str | None,
        operation: str,
        record_content: bool,
        max_streams: int,
    ) -> None:
        self._defaults = Defaults(model, provider, operation)
        self.record_content = record_content
        self._table: StreamTable[_Record[S, A]] = StreamTable(max_streams, self._abandon)
        self._handlers: Handlers = {
            obs.SessionStart: self._session_start,
            obs.AttemptStart: self._attempt_start,
            obs.FallbackStart: self._fallback_start,
            obs.FallbackModelSelected: self._fallback_selected,
            obs.RetryAttempt: self._retry,
            obs.AdapterDetected: self._adapter,
            obs.TimeoutTriggered: self._timeout,
            obs.Error: self._error,
            obs.GuardrailRuleResult: self._rule_result,
            obs.DriftCheckResult: self._drift,
            obs.ResumeStart: self._resume,
            obs.ToolRequested: self._tool,
            obs.SessionSummary: self._summary,
            obs.Complete: self._complete,
            obs.AbortCompleted: self._aborted,
        }

    # -- the sink ---------------------------------------------------------------------------

    def __call__(self, event: obs.ObservabilityEvent, /) -> None:
        """Take one event (never raises)."""
        call_guarded(self._handlers, event, self)

    @property
    def open_streams(self) -> int:
        """How many streams are being traced now (started, end not seen yet)."""
        return len(self._table)

    def close(self) -> None:
        """End the spans of every stream still open, as ``abandoned`` (e.g. at shutdown)."""
        for record in self._table.drain():
            self._abandon(record)

    # -- hooks ------------------------------------------------------------------------------

    def _open_stream(self, info: StreamInfo, ts: float) -> S:
        raise NotImplementedError

    def _open_attempt(self, info: StreamInfo, stream: S, ts: float) -> A:
        raise NotImplementedError

    def _close_attempt(
        self, info: StreamInfo, stream: S, attempt: A, ts: float, failed: bool
    ) -> None:
        """``info`` says how the attempt ended (``error_code``... when ``failed``)."""
        raise NotImplementedError

    def _annotate(
        self, info: StreamInfo, stream: S, target: S | A, name: str, attrs: Attrs, ts: float
    ) -> None:
        """Something happened to the stream (``target`` is it, or its open attempt)."""
        raise NotImplementedError

    def _close_stream(self, info: StreamInfo, stream: S, ts: float) -> None:
        """``info.outcome`` says how the stream ended."""
        raise NotImplementedError

    def _count(self, info: StreamInfo, what: str, attrs: Attrs) -> None:
        """Something countable happened (``retry``, ``fallback``, ``timeout``); optional."""

    # -- bookkeeping ------------------------------------------------------------------------

    def _record(self, event: obs.ObservabilityEvent) -> _Record[S, A] | None:
        return self._table.get(event.stream_id)

    def _note(
        self, record: _Record[S, A], name: str, attrs: Attrs, ts: float, *, attempt: bool = False
    ) -> None:
        """Annotate the stream (or, with ``attempt``, its open attempt if there is one)."""
        target: S | A = record.stream
        if attempt and record.attempt is not None:
            target = record.attempt
        self._annotate(record.info, record.stream, target, name, attrs, ts)

    def _start_attempt(self, record: _Record[S, A], ts: float) -> None:
        info = record.info
        if record.attempt is not None:
            self._close_attempt(info, record.stream, record.attempt, ts, failed=False)
        info.attempt_start = ts
        info.adapter = None
        record.attempt = self._open_attempt(info, record.stream, ts)

    def _end_attempt(self, record: _Record[S, A], ts: float, failed: bool) -> None:
        attempt, record.attempt = record.attempt, None
        if attempt is not None:
            self._close_attempt(record.info, record.stream, attempt, ts, failed)

    def _finish(self, event: obs.ObservabilityEvent, outcome: Outcome, failed: bool) -> None:
        record = self._table.pop(event.stream_id)
        if record is None:
            return
        info = record.info
        info.outcome = outcome
        info.end_ts = event.ts
        try:
            self._end_attempt(record, event.ts, failed)
        finally:
            self._close_stream(info, record.stream, event.ts)

    def _abandon(self, record: _Record[S, A]) -> None:
        info = record.info
        info.outcome = "abandoned"
        now = max(time.time(), info.attempt_start)
        info.end_ts = now
        try:
            self._end_attempt(record, now, failed=False)
        finally:
            self._close_stream(info, record.stream, now)

    # -- handlers ---------------------------------------------------------------------------

    def _session_start(self, event: obs.SessionStart) -> None:
        info = StreamInfo(event, self._defaults)
        record: _Record[S, A] = _Record(info, self._open_stream(info, event.ts))
        self._table.add(event.stream_id, record)
        self._start_attempt(record, event.ts)

    def _attempt_start(self, event: obs.AttemptStart) -> None:
        record = self._record(event)
        if record is not None:
            record.info.attempt = event.attempt
            self._start_attempt(record, event.ts)

    def _fallback_start(self, event: obs.FallbackStart) -> None:
        record = self._record(event)
        if record is None:
            return
        info = record.info
        info.fallbacks += 1
        info.source_index = event.to_index
        info.attempt = 1
        self._count(info, "fallback", {"l0.fallback.index": event.to_index})
        self._start_attempt(record, event.ts)

    def _fallback_selected(self, event: obs.FallbackModelSelected) -> None:
        record = self._record(event)
        if record is None:
            return
        attrs: Attrs = {"l0.fallback.index": event.index, "l0.fallback.reason": event.reason}
        model = record.info.model_of(event.index)
        if model is not None:
            attrs["gen_ai.request.model"] = model
        self._note(record, "l0.fallback", attrs, event.ts)

    def _retry(self, event: obs.RetryAttempt) -> None:
        record = self._record(event)
        if record is not None:
            attrs: Attrs = {
                "l0.retry.number": event.attempt,
                "l0.retry.reason": event.reason,
                "l0.retry.delay_ms": event.delay_ms,
            }
            self._note(record, "l0.retry", attrs, event.ts)

    def _adapter(self, event: obs.AdapterDetected) -> None:
        record = self._record(event)
        if record is not None:
            record.info.adapter = event.adapter_id

    def _timeout(self, event: obs.TimeoutTriggered) -> None:
        record = self._record(event)
        if record is None:
            return
        record.info.timeouts += 1
        attrs: Attrs = {
            "l0.timeout.type": event.timeout_type,
            "l0.timeout.elapsed_ms": event.elapsed_ms,
            "l0.timeout.configured_ms": event.configured_ms,
        }
        self._count(record.info, "timeout", {"l0.timeout.type": event.timeout_type})
        self._note(record, "l0.timeout", attrs, event.ts, attempt=True)

    def _error(self, event: obs.Error) -> None:
        record = self._record(event)
        if record is not None:
            info = record.info
            info.fail(event, self.record_content)
            if event.error_code == "TOTAL_TIMEOUT":  # no TIMEOUT_TRIGGERED for this one
                info.timeouts += 1
                self._count(info, "timeout", {"l0.timeout.type": "total"})
            if event.recovery_strategy == "retry":
                kind = info.count_retry(event)
                self._count(
                    info, "retry", {"l0.retry.kind": kind, "error.type": info.error_code or ""}
                )
        if event.recovery_strategy == "halt":
            self._finish(event, "failed", failed=True)
        elif record is not None and event.recovery_strategy != "continue":
            self._end_attempt(record, event.ts, failed=True)

    def _rule_result(self, event: obs.GuardrailRuleResult) -> None:
        violation = event.violation
        record = self._record(event)
        if record is None or event.passed or violation is None:
            return
        attrs: Attrs = {
            "l0.guardrail.rule": violation.rule_id,
            "l0.guardrail.severity": violation.severity,
            "l0.guardrail.recoverable": violation.recoverable,
        }
        if self.record_content:
            attrs["l0.guardrail.message"] = violation.message
        self._note(record, "l0.guardrail.violation", attrs, event.ts, attempt=True)

    def _drift(self, event: obs.DriftCheckResult) -> None:
        record = self._record(event)
        if record is None or not event.detected:
            return
        record.info.drift = True
        attrs: Attrs = {"l0.drift.score": event.score, "l0.drift.threshold": event.threshold}
        self._note(record, "l0.drift", attrs, event.ts, attempt=True)

    def _resume(self, event: obs.ResumeStart) -> None:
        record = self._record(event)
        if record is None:
            return
        record.info.resumes += 1
        attrs: Attrs = {"l0.resume.token_count": event.token_count}
        if self.record_content:
            attrs["l0.resume.checkpoint"] = event.checkpoint
        self._note(record, "l0.resume", attrs, event.ts, attempt=True)

    def _tool(self, event: obs.ToolRequested) -> None:
        record = self._record(event)
        if record is None:
            return
        attrs: Attrs = {
            "gen_ai.tool.name": event.tool_name,
            "gen_ai.tool.call.id": event.tool_call_id,
        }
        if self.record_content:
            attrs["gen_ai.tool.call.arguments"] = _json(event.arguments)
        self._note(record, "l0.tool_call", attrs, event.ts, attempt=True)

    def _summary(self, event: obs.SessionSummary) -> None:
        record = self._record(event)
        if record is not None:
            record.info.summarize(event)

    def _complete(self, event: obs.Complete) -> None:
        record = self._record(event)
        if record is not None:
            record.info.complete(event)
        self._finish(event, "completed", failed=False)

    def _aborted(self, event: obs.AbortCompleted) -> None:
        self._finish(event, "aborted", failed=False)


def _json(value: Any) -> str:
    return msgspec.json.encode(value).decode()
