"""Sentry breadcrumbs, one transaction (or span) per stream, and final errors (``l0[sentry]``).

A failure is captured once: by this sink. The ``ERROR`` record the :class:`~l0.monitoring.Logging`
sink writes for the same failure would otherwise become a second event through Sentry's logging
integration; a global event processor, installed with the first sink, drops those records'
events for the streams a sink captures.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import weakref
from collections.abc import Generator, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from l0._errors import FeatureNotEnabled
from l0.monitoring._info import StreamInfo
from l0.monitoring._sink import category_of
from l0.monitoring._trace import DEFAULT_MAX_STREAMS, Attrs, Tracer

if TYPE_CHECKING:
    from sentry_sdk import Client, Scope
    from sentry_sdk.tracing import Span

__all__ = ["Sentry"]

_ORIGIN = "auto.ai.l0"
_TIMEOUT_CODES = frozenset({"INITIAL_TOKEN_TIMEOUT", "INTER_TOKEN_TIMEOUT", "TOTAL_TIMEOUT"})
_RECENT = 1024
"""How many captured stream ids a sink remembers, to recognize their log records."""
_LEVELS = {
    "l0.retry": "warning",
    "l0.fallback": "warning",
    "l0.timeout": "warning",
    "l0.guardrail.violation": "warning",
    "l0.drift": "warning",
}


class _Stream:
    """A stream's Sentry span and its breadcrumbs so far."""

    __slots__ = ("crumbs", "span")

    def __init__(self, span: Span | None, max_breadcrumbs: int) -> None:
        self.span = span
        self.crumbs: collections.deque[dict[str, Any]] = collections.deque(maxlen=max_breadcrumbs)


class Sentry(Tracer[_Stream, "Span | None"]):
    """A sink that reports streams to Sentry.

    * **Breadcrumbs** for the lifecycle (start, attempts, retries, fallbacks, timeouts,
      violations, drift, the end), attached to the stream's own error event; with
      ``scope_breadcrumbs=True`` they also go to the current scope, where your own events
      find them.
    * **Tracing**: a transaction per stream (op ``gen_ai.<operation>``), or a child span of
      the span that is current where the stream is consumed, with an ``l0.attempt`` child per
      attempt; finished on every path, with a status (``ok``, ``internal_error``,
      ``deadline_exceeded``, ``cancelled``). Sentry's own sampling applies.
    * **Errors**: a stream that finally fails is captured once (not once per retry), with the
      stream's facts (context ``l0``), your context (``l0.context``), tags for the error code,
      category and model, and a link to the stream's trace. Aborts are not errors. The
      ``ERROR`` record a :class:`~l0.monitoring.Logging` sink writes for that failure is not
      turned into a second event by Sentry's logging integration.

    Args:
        client: a ``sentry_sdk.Client`` to report to; by default the current scope's client
            (from ``sentry_sdk.init``). Sentry 2's hubs are deprecated and not accepted.
        model, provider, operation: as for :class:`OpenTelemetry`.
        record_content: include error messages, checkpoints, tool arguments and violation
            messages (never by default).
        capture_errors: capture final failures (turn off if you capture the raised
            exceptions yourself).
        scope_breadcrumbs: also add the breadcrumbs to the current scope.
        max_breadcrumbs: breadcrumbs kept per stream (the most recent).
        max_streams: streams open at once before the oldest is abandoned.

    Raises:
        l0.FeatureNotEnabled: ``sentry-sdk`` is not installed (``pip install 'l0[sentry]'``).

    .. versionadded:: 0.1
    """

    _live: ClassVar[weakref.WeakSet[Sentry]] = weakref.WeakSet()
    """The sinks alive, which the duplicate filter asks."""
    _filter_installed: ClassVar[bool] = False

    def __init__(
        self,
        client: Client | None = None,
        *,
        model: str | None = None,
        provider: str | None = None,
        operation: str = "chat",
        record_content: bool = False,
        capture_errors: bool = True,
        scope_breadcrumbs: bool = False,
        max_breadcrumbs: int = 50,
        max_streams: int = DEFAULT_MAX_STREAMS,
    ) -> None:
        try:
            import sentry_sdk  # noqa: PLC0415 - optional extra
        except ImportError as exc:
            raise FeatureNotEnabled(
                "l0.monitoring.Sentry needs the sentry-sdk package: pip install 'l0[sentry]'"
            ) from exc
        super().__init__(
            model=model,
            provider=provider,
            operation=operation,
            record_content=record_content,
            max_streams=max_streams,
        )
        self._sdk = sentry_sdk
        self._client = client
        self.capture_errors = capture_errors
        self.scope_breadcrumbs = scope_breadcrumbs
        self.max_breadcrumbs = max_breadcrumbs
        self._captured: dict[str, None] = {}
        if not Sentry._filter_installed:
            from sentry_sdk.scope import add_global_event_processor  # noqa: PLC0415

            add_global_event_processor(Sentry._drop_logged_failure)  # pyright: ignore[reportArgumentType]
            Sentry._filter_installed = True
        Sentry._live.add(self)

    def _reports_failure_of(self, stream_id: str) -> bool:
        """Whether this sink captures (or has captured) the failure of ``stream_id``."""
        if not self.capture_errors:
            return False
        return stream_id in self._captured or self._table.get(stream_id) is not None

    @staticmethod
    def _drop_logged_failure(
        event: dict[str, Any], hint: Mapping[str, Any] | None
    ) -> dict[str, Any] | None:
        """Drop the event Sentry's logging integration makes of the Logging sink's record of
        a stream's final failure, when a Sentry sink captures that failure itself."""
        record = hint.get("log_record") if hint else None
        if (
            not isinstance(record, logging.LogRecord)
            or getattr(record, "l0_event", None) != "ERROR"
            or getattr(record, "l0_recovery", None) != "halt"
        ):
            return event
        stream_id = getattr(record, "l0_stream_id", None)
        if not isinstance(stream_id, str):
            return event
        sinks = list(Sentry._live)
        return None if any(sink._reports_failure_of(stream_id) for sink in sinks) else event

    @contextlib.contextmanager
    def _scope(self) -> Generator[Scope, None, None]:
        """The scope to report through: the current one, or a fork bound to our client."""
        if self._client is None:
            yield self._sdk.get_current_scope()
            return
        with self._sdk.new_scope() as scope:
            scope.set_client(self._client)
            yield scope

    def _crumb(
        self,
        stream: _Stream,
        message: str,
        ts: float,
        level: str = "info",
        data: dict[str, Any] | None = None,
    ) -> None:
        crumb: dict[str, Any] = {
            "type": "default",
            "category": "l0",
            "level": level,
            "message": message,
            "timestamp": ts,
            "data": data or {},
        }
        stream.crumbs.append(crumb)
        if self.scope_breadcrumbs:
            with self._scope():
                self._sdk.add_breadcrumb(dict(crumb))

    # -- hooks ------------------------------------------------------------------------------

    def _open_stream(self, info: StreamInfo, ts: float) -> _Stream:
        data: dict[str, Any] = {
            "gen_ai.operation.name": info.operation,
            "gen_ai.request.stream": True,
            "l0.stream_id": info.stream_id,
        }
        if info.provider is not None:
            data["gen_ai.provider.name"] = info.provider
        if info.model is not None:
            data["gen_ai.request.model"] = info.model
        op = f"gen_ai.{info.operation}"
        with self._scope() as scope:
            parent = scope.span
            if parent is not None:
                span = parent.start_child(
                    op=op, name=info.span_name, start_timestamp=ts, origin=_ORIGIN
                )
            else:
                span = scope.start_transaction(
                    name=info.span_name, op=op, start_timestamp=ts, origin=_ORIGIN
                )
        for key, value in data.items():
            span.set_data(key, value)
        stream = _Stream(span, self.max_breadcrumbs)
        self._crumb(stream, f"l0 stream started: {info.span_name}", ts, data=dict(data))
        return stream

    def _open_attempt(self, info: StreamInfo, stream: _Stream, ts: float) -> Span | None:
        if info.attempt > 1 or info.source_index > 0:
            self._crumb(
                stream,
                f"l0 attempt {info.attempt} of source {info.source_index}",
                ts,
                data={"attempt": info.attempt, "source_index": info.source_index},
            )
        if stream.span is None:
            return None
        span = stream.span.start_child(
            op="l0.attempt", name=f"attempt {info.attempt}", start_timestamp=ts, origin=_ORIGIN
        )
        span.set_data("l0.attempt", info.attempt)
        span.set_data("l0.source_index", info.source_index)
        model = info.model_of(info.source_index)
        if model is not None:
            span.set_data("gen_ai.request.model", model)
        return span

    def _close_attempt(
        self, info: StreamInfo, stream: _Stream, attempt: Span | None, ts: float, failed: bool
    ) -> None:
        if failed:
            data: dict[str, Any] = {
                "error.type": info.error_code,
                "failure_type": info.failure_type,
            }
            if info.error_text is not None:
                data["error"] = info.error_text
            self._crumb(
                stream,
                f"l0 attempt {info.attempt} failed: {info.error_code}",
                ts,
                level="error" if info.outcome == "failed" else "warning",
                data=data,
            )
        if attempt is None:
            return
        if info.adapter is not None:
            attempt.set_data("l0.adapter", info.adapter)
        if failed:
            attempt.set_data("error.type", info.error_code)
        attempt.set_status(_status(info) if failed else "ok")
        attempt.finish(end_timestamp=ts)

    def _annotate(
        self,
        info: StreamInfo,
        stream: _Stream,
        target: _Stream | Span | None,
        name: str,
        attrs: Attrs,
        ts: float,
    ) -> None:
        self._crumb(stream, name, ts, level=_LEVELS.get(name, "info"), data=dict(attrs))

    def _close_stream(self, info: StreamInfo, stream: _Stream, ts: float) -> None:
        outcome = info.outcome or "abandoned"
        level = {"failed": "error", "abandoned": "warning"}.get(outcome, "info")
        self._crumb(
            stream,
            f"l0 stream {outcome}",
            ts,
            level=level,
            data={
                "retries": info.retries,
                "fallback_index": info.source_index,
                "token_count": info.token_count,
            },
        )
        try:
            if outcome == "failed" and self.capture_errors:
                self._capture(info, stream)
        finally:
            self._finish_span(info, stream, ts)

    # -- the stream's span and error -------------------------------------------------------

    def _finish_span(self, info: StreamInfo, stream: _Stream, ts: float) -> None:
        span = stream.span
        if span is None:
            return
        outcome = info.outcome or "abandoned"
        for key, value in _facts(info).items():
            span.set_data(key, value)
        span.set_tag("l0.outcome", outcome)
        if outcome == "failed":
            span.set_tag("error.type", info.error_code or "_OTHER")
        span.set_status(
            {"completed": "ok", "aborted": "cancelled", "abandoned": "unknown"}.get(
                outcome, _status(info)
            )
        )
        with self._scope() as scope:
            span.finish(scope=scope, end_timestamp=ts)

    def _capture(self, info: StreamInfo, stream: _Stream) -> None:
        code = info.error_code or "_OTHER"
        message = f"l0 stream failed: {code}"
        if info.error_text is not None:
            message = f"{message}: {info.error_text}"
        tags: dict[str, str] = {"l0.error_code": code}
        category = category_of(info.error_code)
        if category is not None:
            tags["l0.error_category"] = category
        if info.failure_type is not None:
            tags["l0.failure_type"] = info.failure_type
        if info.model is not None:
            tags["gen_ai.request.model"] = info.model
        if info.provider is not None:
            tags["gen_ai.provider.name"] = info.provider
        contexts: dict[str, Any] = {"l0": {"stream_id": info.stream_id, **_facts(info)}}
        if info.context is not None:
            contexts["l0.context"] = dict(info.context)
        if stream.span is not None:
            contexts["trace"] = stream.span.get_trace_context()
        event: dict[str, Any] = {
            "level": "error",
            "logger": "l0",
            "message": message,
            "tags": tags,
            "contexts": contexts,
            "fingerprint": ["l0-stream-failed", code],
        }
        if not self.scope_breadcrumbs:
            event["breadcrumbs"] = {"values": list(stream.crumbs)}
        captured = self._captured
        captured[info.stream_id] = None
        if len(captured) > _RECENT:
            del captured[next(iter(captured))]
        with self._scope() as scope:
            scope.capture_event(event)  # pyright: ignore[reportArgumentType] - a plain Event dict


def _status(info: StreamInfo) -> str:
    return "deadline_exceeded" if info.error_code in _TIMEOUT_CODES else "internal_error"


def _facts(info: StreamInfo) -> dict[str, Any]:
    facts: dict[str, Any] = {
        "l0.outcome": info.outcome or "abandoned",
        "l0.retries": info.retries,
        "l0.retries.network": info.network_retries,
        "l0.retries.model": info.model_retries,
        "l0.fallback.index": info.source_index,
        "l0.timeouts": info.timeouts,
        "l0.guardrail.violations": info.violations,
        "l0.drift.detected": info.drift,
        "l0.resumes": info.resumes,
        "l0.token_count": info.token_count,
    }
    if info.outcome == "completed":
        response_model = info.model_of(info.source_index)
        if response_model is not None:
            facts["gen_ai.response.model"] = response_model
    if info.finish_reason is not None:
        facts["gen_ai.response.finish_reasons"] = [info.finish_reason]
    if info.input_tokens is not None:
        facts["gen_ai.usage.input_tokens"] = info.input_tokens
    if info.output_tokens is not None:
        facts["gen_ai.usage.output_tokens"] = info.output_tokens
    if info.ttft is not None:
        facts["gen_ai.response.time_to_first_chunk"] = info.ttft
    if info.outcome == "failed":
        facts["error.type"] = info.error_code or "_OTHER"
        if info.failure_type is not None:
            facts["l0.failure_type"] = info.failure_type
    return facts
