"""OpenTelemetry traces and metrics from the observability events (extra ``l0[otel]``).

Spans and metrics follow the OpenTelemetry GenAI semantic conventions (status: development) as
published on opentelemetry.io (``gen-ai-spans``, ``gen-ai-metrics``; the ``gen_ai`` registry
of semantic-conventions-genai): ``gen_ai.provider.name`` (never the deprecated
``gen_ai.system``), ``gen_ai.request.stream``, ``gen_ai.response.time_to_first_chunk``, and the
client metrics ``gen_ai.client.operation.duration``, ``gen_ai.client.token.usage``,
``gen_ai.client.operation.time_to_first_chunk`` and
``gen_ai.client.operation.time_per_output_chunk``, with the bucket boundaries they advise.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from l0._errors import FeatureNotEnabled
from l0.monitoring._info import StreamInfo
from l0.monitoring._trace import DEFAULT_MAX_STREAMS, Attrs, Tracer

if TYPE_CHECKING:
    from opentelemetry.metrics import Counter, Histogram, Meter, MeterProvider
    from opentelemetry.trace import Span, TracerProvider
    from opentelemetry.util.types import AttributeValue

__all__ = ["OpenTelemetry"]

_SCOPE = "l0"
# The bucket boundaries the conventions advise: one set for the three durations (operation,
# time to first chunk, time per output chunk), one for token counts.
_SECONDS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)
_TOKENS = (
    1,
    4,
    16,
    64,
    256,
    1024,
    4096,
    16384,
    65536,
    262144,
    1048576,
    4194304,
    16777216,
    67108864,
)


def _ns(ts: float) -> int:
    return int(ts * 1e9)


def _histogram(
    meter: Meter, name: str, unit: str, description: str, buckets: Sequence[float]
) -> Histogram:
    """A histogram with the bucket boundaries the conventions advise (API >= 1.30)."""
    try:
        return meter.create_histogram(
            name, unit=unit, description=description, explicit_bucket_boundaries_advisory=buckets
        )
    except TypeError:  # opentelemetry-api < 1.30 takes no advice: the SDK's default buckets
        return meter.create_histogram(name, unit=unit, description=description)


class OpenTelemetry(Tracer["Span", "Span"]):
    """A sink that traces each stream and records GenAI client metrics.

    One span per stream (kind ``CLIENT``, named ``"{operation} {model}"``), a child of
    whatever span is current where the stream is consumed, with one ``l0.attempt`` child span
    per attempt. Retries, fallbacks, timeouts, guardrail violations, drift, resumes and tool
    calls are span events. Every span ends on every path: success, failure after retries,
    abort, and (given a runtime that reports it) cancellation; a stream whose end is never
    seen is ended as ``abandoned`` when ``max_streams`` are open, or by :meth:`close`.

    Args:
        tracer_provider, meter_provider: default to the global providers.
        model, provider, operation: ``gen_ai.request.model``, ``gen_ai.provider.name`` and
            ``gen_ai.operation.name`` when the stream's context does not say (context keys
            ``"model"``, ``"provider"``, ``"operation"``, ``"fallback_models"``).
        record_content: also record error messages, checkpoints, tool arguments and
            violation messages (never by default: they may hold prompt or output text).
        context_attributes: keys of the stream's context to copy onto its span as
            ``l0.context.<key>`` (scalar values only).
        max_streams: how many streams may be open at once before the oldest is abandoned.

    Raises:
        l0.FeatureNotEnabled: ``opentelemetry-api`` is not installed (``pip install
            'l0[otel]'``).

    .. versionadded:: 0.1
    """

    def __init__(
        self,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
        *,
        model: str | None = None,
        provider: str | None = None,
        operation: str = "chat",
        record_content: bool = False,
        context_attributes: Sequence[str] = (),
        max_streams: int = DEFAULT_MAX_STREAMS,
    ) -> None:
        try:
            from opentelemetry import context, metrics, trace  # noqa: PLC0415 - optional extra
        except ImportError as exc:
            raise FeatureNotEnabled(
                "l0.monitoring.OpenTelemetry needs the opentelemetry-api package: "
                "pip install 'l0[otel]'"
            ) from exc
        super().__init__(
            model=model,
            provider=provider,
            operation=operation,
            record_content=record_content,
            max_streams=max_streams,
        )
        self._trace = trace
        self._context = context
        self._tracer = trace.get_tracer(_SCOPE, tracer_provider=tracer_provider)
        self._context_keys = tuple(context_attributes)
        meter = metrics.get_meter(_SCOPE, meter_provider=meter_provider)
        self._duration: Histogram = _histogram(
            meter, "gen_ai.client.operation.duration", "s", "GenAI operation duration.", _SECONDS
        )
        self._usage: Histogram = _histogram(
            meter,
            "gen_ai.client.token.usage",
            "{token}",
            "Number of input and output tokens used.",
            _TOKENS,
        )
        self._ttfc: Histogram = _histogram(
            meter,
            "gen_ai.client.operation.time_to_first_chunk",
            "s",
            "Time to receive the first chunk of the response stream.",
            _SECONDS,
        )
        self._per_chunk: Histogram = _histogram(
            meter,
            "gen_ai.client.operation.time_per_output_chunk",
            "s",
            "Time per output chunk after the first (the stream's mean).",
            _SECONDS,
        )
        self._counters: dict[str, Counter] = {
            "retry": meter.create_counter(
                "l0.retries", unit="{retry}", description="Retries of an attempt."
            ),
            "fallback": meter.create_counter(
                "l0.fallbacks", unit="{fallback}", description="Switches to a fallback source."
            ),
            "timeout": meter.create_counter(
                "l0.timeouts",
                unit="{timeout}",
                description="First-token and inter-token deadlines that passed.",
            ),
            "violation": meter.create_counter(
                "l0.guardrail.violations", unit="{violation}", description="Guardrail violations."
            ),
            "drift": meter.create_counter(
                "l0.drift.detections", unit="{stream}", description="Streams with drift."
            ),
        }

    # -- attributes ---------------------------------------------------------------------------

    def _common(self, info: StreamInfo) -> dict[str, AttributeValue]:
        attrs: dict[str, AttributeValue] = {"gen_ai.operation.name": info.operation}
        if info.provider is not None:
            attrs["gen_ai.provider.name"] = info.provider
        if info.model is not None:
            attrs["gen_ai.request.model"] = info.model
        return attrs

    def _context_attrs(self, info: StreamInfo, attrs: dict[str, AttributeValue]) -> None:
        context = info.context
        if context is None:
            return
        for key in self._context_keys:
            value = context.get(key)
            if isinstance(value, (str, bool, int, float)):
                attrs[f"l0.context.{key}"] = value

    # -- hooks ----------------------------------------------------------------------------

    def _open_stream(self, info: StreamInfo, ts: float) -> Span:
        attrs = self._common(info)
        attrs["gen_ai.request.stream"] = True
        attrs["l0.stream_id"] = info.stream_id
        self._context_attrs(info, attrs)
        return self._tracer.start_span(
            info.span_name,
            context=self._context.get_current(),
            kind=self._trace.SpanKind.CLIENT,
            attributes=attrs,
            start_time=_ns(ts),
        )

    def _open_attempt(self, info: StreamInfo, stream: Span, ts: float) -> Span:
        attrs: dict[str, AttributeValue] = {
            "l0.attempt": info.attempt,
            "l0.source_index": info.source_index,
            "l0.attempt.is_retry": info.attempt > 1,
            "l0.attempt.is_fallback": info.source_index > 0,
        }
        model = info.model_of(info.source_index)
        if model is not None:
            attrs["gen_ai.request.model"] = model
        parent = self._trace.set_span_in_context(stream)
        return self._tracer.start_span(
            "l0.attempt", context=parent, attributes=attrs, start_time=_ns(ts)
        )

    def _close_attempt(
        self, info: StreamInfo, stream: Span, attempt: Span, ts: float, failed: bool
    ) -> None:
        if info.adapter is not None:
            attempt.set_attribute("l0.adapter", info.adapter)
        if failed:
            self._set_error(attempt, info)
        attempt.end(end_time=_ns(ts))

    def _annotate(
        self, info: StreamInfo, stream: Span, target: Span, name: str, attrs: Attrs, ts: float
    ) -> None:
        target.add_event(name, attributes=attrs, timestamp=_ns(ts))

    def _set_error(self, span: Span, info: StreamInfo) -> None:
        code = info.error_code or "_OTHER"
        span.set_attribute("error.type", code)
        if info.failure_type is not None:
            span.set_attribute("l0.failure_type", info.failure_type)
        status = self._trace.Status(self._trace.StatusCode.ERROR, info.error_text or code)
        span.set_status(status)

    def _close_stream(self, info: StreamInfo, stream: Span, ts: float) -> None:
        try:
            self._finish_span(info, stream)
        finally:
            stream.end(end_time=_ns(ts))
        self._record_metrics(info)

    def _finish_span(self, info: StreamInfo, span: Span) -> None:
        attrs: dict[str, AttributeValue] = {
            "l0.outcome": info.outcome or "abandoned",
            "l0.attempts": info.retries + info.fallbacks + 1,
            "l0.retries": info.retries,
            "l0.retries.network": info.network_retries,
            "l0.retries.model": info.model_retries,
            "l0.fallback.index": info.source_index,
            "l0.timeouts": info.timeouts,
            "l0.guardrail.violations": info.violations,
            "l0.drift.detected": info.drift,
            "l0.resumes": info.resumes,
            "l0.checkpoints": info.checkpoints,
            "l0.token_count": info.token_count,
        }
        if info.outcome == "completed":
            response_model = info.model_of(info.source_index)
            if response_model is not None:
                attrs["gen_ai.response.model"] = response_model
        if info.finish_reason is not None:
            attrs["gen_ai.response.finish_reasons"] = (info.finish_reason,)
        if info.input_tokens is not None:
            attrs["gen_ai.usage.input_tokens"] = info.input_tokens
        if info.output_tokens is not None:
            attrs["gen_ai.usage.output_tokens"] = info.output_tokens
        if info.ttft is not None:
            attrs["gen_ai.response.time_to_first_chunk"] = info.ttft
        span.set_attributes(attrs)
        if info.outcome == "failed":
            self._set_error(span, info)

    def _metric_attrs(self, info: StreamInfo) -> dict[str, AttributeValue]:
        attrs = self._common(info)
        if info.outcome == "completed":
            response_model = info.model_of(info.source_index)
            if response_model is not None:
                attrs["gen_ai.response.model"] = response_model
        return attrs

    def _record_metrics(self, info: StreamInfo) -> None:
        if info.outcome == "abandoned":
            return
        attrs = self._metric_attrs(info)
        duration_attrs = dict(attrs)
        duration_attrs["l0.outcome"] = info.outcome or "abandoned"
        if info.outcome == "failed":
            duration_attrs["error.type"] = info.error_code or "_OTHER"
        self._duration.record(max(0.0, info.end_ts - info.start_ts), duration_attrs)
        for kind, tokens in (("input", info.input_tokens), ("output", info.output_tokens)):
            if tokens is not None:
                self._usage.record(tokens, {**attrs, "gen_ai.token.type": kind})
        if info.ttft is not None:
            self._ttfc.record(info.ttft, attrs)
            if info.token_count > 1:
                streaming = info.end_ts - info.attempt_start - info.ttft
                self._per_chunk.record(max(0.0, streaming) / (info.token_count - 1), attrs)
        if info.violations:
            self._counters["violation"].add(info.violations, attrs)
        if info.drift:
            self._counters["drift"].add(1, attrs)

    def _count(self, info: StreamInfo, what: str, attrs: Attrs) -> None:
        counter = self._counters.get(what)
        if counter is not None:
            merged: dict[str, AttributeValue] = dict(self._common(info))
            merged.update(attrs)
            counter.add(1, merged)
