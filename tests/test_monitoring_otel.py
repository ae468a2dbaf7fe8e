"""l0.monitoring.OpenTelemetry with the real SDK: spans on every path, attributes, metrics."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from typing import Any

import anyio
import pytest

pytest.importorskip("opentelemetry.sdk")

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

import l0
import l0.testing
from l0 import events as ev
from l0.monitoring import OpenTelemetry
from tests._sources import Raise, Script, Stall, boom, collect_until_error, paced

SECRET = "s3cr3t-payload"
CONTEXT = {"model": "gpt-4o", "provider": "openai", "fallback_models": ["gpt-4o-mini"]}


class Telemetry:
    """An OpenTelemetry sink wired to in-memory span and metric exporters."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])

    def sink(self, **options: Any) -> OpenTelemetry:
        return OpenTelemetry(self.tracer_provider, self.meter_provider, **options)

    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def stream_spans(self) -> list[ReadableSpan]:
        return [s for s in self.spans() if s.name != "l0.attempt"]

    def attempts_of(self, stream: ReadableSpan) -> list[ReadableSpan]:
        ctx = stream.context
        assert ctx is not None
        attempts = [
            s for s in self.spans() if s.parent is not None and s.parent.span_id == ctx.span_id
        ]
        return sorted(attempts, key=lambda s: s.start_time or 0)

    def points(self, name: str) -> list[Any]:
        data = self.reader.get_metrics_data()
        if data is None:
            return []
        found: list[Any] = []
        for rm in data.resource_metrics:
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    if metric.name == name:
                        found.extend(metric.data.data_points)
        return found


@pytest.fixture
def telemetry() -> Iterator[Telemetry]:
    t = Telemetry()
    yield t
    t.tracer_provider.shutdown()
    t.meter_provider.shutdown()


async def abort_after_first_event(stream: l0.Stream) -> None:
    _, error = await collect_until_error(stream, lambda e: stream.abort())
    assert isinstance(error, l0.StreamAborted)


def only(items: Sequence[Any]) -> Any:
    assert len(items) == 1, items
    return items[0]


def all_text(spans: Sequence[ReadableSpan]) -> str:
    parts: list[str] = []
    for s in spans:
        parts.append(f"{s.name} {dict(s.attributes or {})} {s.status.description}")
        parts.extend(f"{e.name} {dict(e.attributes or {})}" for e in s.events)
    return " ".join(parts)


# -- success ----------------------------------------------------------------------------------


async def test_success_span_tree_and_genai_attributes(telemetry: Telemetry) -> None:
    """One CLIENT span per stream with one attempt child, the current GenAI attributes,
    finish reasons, no deprecated gen_ai.system, status unset; a duration sample."""
    sink = telemetry.sink()
    source = l0.testing.FakeProvider(l0.testing.Script(text="Reliable streams survive."))
    stream = l0.run(source, on_event=sink, context=CONTEXT)
    await stream.read()
    span = only(telemetry.stream_spans())
    assert span.name == "chat gpt-4o"
    assert span.kind == SpanKind.CLIENT
    assert span.parent is None
    attrs = dict(span.attributes or {})
    assert attrs["gen_ai.operation.name"] == "chat"
    assert attrs["gen_ai.provider.name"] == "openai"
    assert attrs["gen_ai.request.model"] == "gpt-4o"
    assert attrs["gen_ai.response.model"] == "gpt-4o"
    assert attrs["gen_ai.request.stream"] is True
    assert attrs["gen_ai.response.finish_reasons"] == ("stop",)
    assert attrs["l0.stream_id"] == stream.stream_id
    assert attrs["l0.outcome"] == "completed"
    assert attrs["l0.retries"] == 0
    assert attrs["l0.token_count"] == 3
    assert "error.type" not in attrs
    assert not any(key.startswith("gen_ai.system") for key in attrs)
    assert span.status.status_code == StatusCode.UNSET
    attempt = only(telemetry.attempts_of(span))
    assert attempt.attributes is not None
    assert attempt.attributes["l0.attempt"] == 1
    assert attempt.attributes["l0.adapter"] == "async-iterator"
    times = (span.start_time, attempt.start_time, attempt.end_time, span.end_time)
    assert None not in times
    assert list(times) == sorted(times)  # type: ignore[type-var]
    point = only(telemetry.points("gen_ai.client.operation.duration"))
    assert point.count == 1
    assert dict(point.attributes) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.response.model": "gpt-4o",
        "l0.outcome": "completed",
    }
    assert sink.open_streams == 0


async def test_constructor_defaults_and_context_attributes(telemetry: Telemetry) -> None:
    """Model/provider from the constructor when the context lacks them; chosen context keys
    are copied as l0.context.*, the others are not."""
    sink = telemetry.sink(
        model="m-1", provider="acme", operation="text_completion", context_attributes=["tenant"]
    )
    await l0.run(Script(["x"]), on_event=sink, context={"tenant": "t-7", "user": "u"}).read()
    span = only(telemetry.stream_spans())
    attrs = dict(span.attributes or {})
    assert span.name == "text_completion m-1"
    assert (attrs["gen_ai.provider.name"], attrs["gen_ai.request.model"]) == ("acme", "m-1")
    assert attrs["l0.context.tenant"] == "t-7"
    assert "l0.context.user" not in attrs


async def test_span_is_a_child_of_the_current_span(telemetry: Telemetry) -> None:
    """The stream's span nests under the span current where the stream is consumed."""
    sink = telemetry.sink()
    tracer = telemetry.tracer_provider.get_tracer("app")
    with tracer.start_as_current_span("handle-request") as outer:
        await l0.run(Script(["x"]), on_event=sink).read()
    span = only([s for s in telemetry.spans() if s.name == "chat"])
    assert span.parent is not None
    assert span.parent.span_id == outer.get_span_context().span_id


# -- failure, retries, fallbacks ---------------------------------------------------------------


async def test_failure_after_retries(telemetry: Telemetry, zero_backoff: None) -> None:
    """Every attempt span ends in error, the stream span ends in error with error.type, retry
    reasons are span events, and the retry counter and duration carry the error type."""
    sink = telemetry.sink()
    stream = l0.run(
        Script([Raise(boom)]), retry=l0.Retry(attempts=2), on_event=sink, context=CONTEXT
    )
    with pytest.raises(l0.AllStreamsExhausted):
        await stream.read()
    span = only(telemetry.stream_spans())
    attrs = dict(span.attributes or {})
    assert span.status.status_code == StatusCode.ERROR
    assert attrs["error.type"] == "STREAM_ERROR"
    assert attrs["l0.outcome"] == "failed"
    assert (attrs["l0.retries"], attrs["l0.retries.model"], attrs["l0.attempts"]) == (2, 2, 3)
    retries = [e for e in span.events if e.name == "l0.retry"]
    assert [e.attributes["l0.retry.number"] for e in retries] == [1, 2]  # type: ignore[index]
    assert retries[0].attributes["l0.retry.reason"] == "Stream error"  # type: ignore[index]
    attempts = telemetry.attempts_of(span)
    assert [a.attributes["l0.attempt"] for a in attempts] == [1, 2, 3]  # type: ignore[index]
    assert all(a.status.status_code == StatusCode.ERROR for a in attempts)
    assert all(a.attributes["error.type"] == "STREAM_ERROR" for a in attempts)  # type: ignore[index]
    (retry_point,) = telemetry.points("l0.retries")
    assert retry_point.value == 2
    assert retry_point.attributes["l0.retry.kind"] == "model"
    duration = only(telemetry.points("gen_ai.client.operation.duration"))
    assert duration.attributes["error.type"] == "STREAM_ERROR"
    assert "gen_ai.response.model" not in duration.attributes
    assert sink.open_streams == 0


async def test_network_retry_then_fallback(telemetry: Telemetry, zero_backoff: None) -> None:
    """A network retry, then a fallback: attempt spans per source, the fallback as a span
    event, gen_ai.response.model from context['fallback_models']."""
    sink = telemetry.sink()
    primary = Script([Raise(lambda: l0.NetworkError("reset"))])
    stream = l0.run(
        primary,
        fallbacks=[Script(paced("a", "b"))],
        retry=l0.Retry(attempts=1, max_retries=1),
        on_event=sink,
        context=CONTEXT,
    )
    await stream.read()
    span = only(telemetry.stream_spans())
    attrs = dict(span.attributes or {})
    assert attrs["gen_ai.request.model"] == "gpt-4o"
    assert attrs["gen_ai.response.model"] == "gpt-4o-mini"
    assert (attrs["l0.retries.network"], attrs["l0.fallback.index"]) == (1, 1)
    fallback = only([e for e in span.events if e.name == "l0.fallback"])
    assert fallback.attributes["l0.fallback.index"] == 1
    assert fallback.attributes["l0.fallback.reason"] == "Retries exhausted"
    assert fallback.attributes["gen_ai.request.model"] == "gpt-4o-mini"
    attempts = telemetry.attempts_of(span)
    models = [(a.attributes or {}).get("gen_ai.request.model") for a in attempts]
    assert models == ["gpt-4o", "gpt-4o", "gpt-4o-mini"]
    assert [(a.attributes or {})["l0.attempt.is_fallback"] for a in attempts] == [
        False,
        False,
        True,
    ]
    assert [a.status.status_code for a in attempts] == [
        StatusCode.ERROR,
        StatusCode.ERROR,
        StatusCode.UNSET,
    ]
    assert only(telemetry.points("l0.fallbacks")).value == 1
    assert only(telemetry.points("l0.retries")).attributes["l0.retry.kind"] == "network"


@pytest.mark.timing
async def test_timeouts_are_span_events_and_counted(
    anyio_backend: Any, telemetry: Telemetry, zero_backoff: None
) -> None:
    """A first-token timeout is an event on the attempt that timed out, and counted by type."""
    sink = telemetry.sink()
    src = Script([Stall(5), "late"], ["ok"])
    await l0.run(src, timeout=l0.Timeout(initial_token=0.05), on_event=sink).read()
    span = only(telemetry.stream_spans())
    first, second = telemetry.attempts_of(span)
    timeout = only([e for e in first.events if e.name == "l0.timeout"])
    assert timeout.attributes["l0.timeout.type"] == "initial"
    assert first.attributes["error.type"] == "INITIAL_TOKEN_TIMEOUT"  # type: ignore[index]
    assert not second.events
    point = only(telemetry.points("l0.timeouts"))
    assert (point.value, point.attributes["l0.timeout.type"]) == (1, "initial")
    assert dict(span.attributes or {})["l0.retries.network"] == 1  # a timeout is transient
    assert only(telemetry.points("l0.retries")).attributes["l0.retry.kind"] == "network"


@pytest.mark.timing
async def test_total_timeout_is_a_failure_and_a_timeout(
    anyio_backend: Any, telemetry: Telemetry
) -> None:
    """Running out of total time: error.type TOTAL_TIMEOUT, counted as a timeout."""
    sink = telemetry.sink()
    stream = l0.run(
        Script(["a", Stall(5), "b"]),
        timeout=l0.Timeout(total=0.1, inter_token=None),
        on_event=sink,
    )
    with pytest.raises(l0.StreamTimeout):
        await stream.read()
    attrs = dict(only(telemetry.stream_spans()).attributes or {})
    assert (attrs["error.type"], attrs["l0.timeouts"]) == ("TOTAL_TIMEOUT", 1)
    point = only(telemetry.points("l0.timeouts"))
    assert (point.value, point.attributes["l0.timeout.type"]) == (1, "total")


def test_an_error_that_continues_keeps_the_attempt_open(telemetry: Telemetry) -> None:
    """An ERROR with strategy "continue" is not the end of the attempt."""
    sink = telemetry.sink()
    error = (
        ev.Error,
        {
            "error": "x",
            "error_code": "STREAM_ERROR",
            "failure_type": "tool",
            "recovery_strategy": "continue",
            "policy": {},
        },
    )
    end = (ev.Complete, {"token_count": 1, "content_length": 1})
    for event in lifecycle("c1", error, end=end):
        sink(event)
    span = only(telemetry.stream_spans())
    attempt = only(telemetry.attempts_of(span))
    assert attempt.status.status_code == StatusCode.UNSET
    assert dict(span.attributes or {})["l0.outcome"] == "completed"


# -- abort, cancellation, early close ----------------------------------------------------------


async def test_abort_ends_every_span(telemetry: Telemetry) -> None:
    """abort() mid-stream: both spans end, outcome aborted, not an error."""
    sink = telemetry.sink()
    stream = l0.run(Script(paced("a", "b", "c")), on_event=sink)
    _, error = await collect_until_error(stream, lambda e: stream.abort())
    assert isinstance(error, l0.StreamAborted)
    span = only(telemetry.stream_spans())
    assert dict(span.attributes or {})["l0.outcome"] == "aborted"
    assert span.status.status_code == StatusCode.UNSET
    only(telemetry.attempts_of(span))
    assert sink.open_streams == 0


async def test_consumer_cancellation_ends_every_span(telemetry: Telemetry) -> None:
    """The consumer's scope is cancelled mid-stream: both spans still end."""
    sink = telemetry.sink()
    with anyio.CancelScope() as scope:
        async for event in l0.run(Script(["a", Stall(30), "b"]), on_event=sink):
            if isinstance(event, l0.Token):
                scope.cancel()
    assert scope.cancelled_caught
    span = only(telemetry.stream_spans())
    assert dict(span.attributes or {})["l0.outcome"] == "aborted"
    only(telemetry.attempts_of(span))
    assert sink.open_streams == 0


async def test_early_close_ends_every_span(telemetry: Telemetry) -> None:
    """Leaving ``async with stream`` early (break, then aclose) ends both spans."""
    sink = telemetry.sink()
    async with l0.run(Script(paced("a", "b", "c")), on_event=sink) as stream:
        async for _ in stream:
            break
    span = only(telemetry.stream_spans())
    assert dict(span.attributes or {})["l0.outcome"] == "aborted"
    assert sink.open_streams == 0


async def test_no_leak_across_thousands_of_streams(
    telemetry: Telemetry, zero_backoff: None
) -> None:
    """Completed, failed and aborted streams all release their state and end their spans."""
    sink = telemetry.sink()
    for i in range(1200):
        kind = i % 3
        if kind == 0:
            await l0.run(Script(["x"]), on_event=sink).read()
        elif kind == 1:
            with pytest.raises(l0.AllStreamsExhausted):
                await l0.run(Script([Raise(boom)]), retry=None, on_event=sink).read()
        else:
            await abort_after_first_event(l0.run(Script(paced("a", "b")), on_event=sink))
        assert sink.open_streams == 0
    spans = telemetry.stream_spans()
    assert len(spans) == 1200
    outcomes = sorted(dict(s.attributes or {})["l0.outcome"] for s in spans)
    assert outcomes == ["aborted"] * 400 + ["completed"] * 400 + ["failed"] * 400
    assert len(telemetry.spans()) == 2400  # every attempt span ended too


def test_unseen_ends_are_bounded_and_close_ends_the_rest(telemetry: Telemetry) -> None:
    """Streams whose end never arrives: the oldest is abandoned at max_streams; close()
    ends the others."""
    sink = telemetry.sink(max_streams=2)
    for i in range(3):
        sink(
            ev.SessionStart(
                ts=100.0 + i, stream_id=f"s{i}", attempt=1, is_retry=False, is_fallback=False
            )
        )
    assert sink.open_streams == 2
    (abandoned,) = telemetry.stream_spans()
    assert dict(abandoned.attributes or {})["l0.stream_id"] == "s0"
    assert dict(abandoned.attributes or {})["l0.outcome"] == "abandoned"
    sink.close()
    assert sink.open_streams == 0
    assert len(telemetry.stream_spans()) == 3
    assert len(telemetry.spans()) == 6
    assert telemetry.points("gen_ai.client.operation.duration") == []


# -- what the events carry ---------------------------------------------------------------------


def lifecycle(stream_id: str, *middle: Any, end: Any) -> list[ev.ObservabilityEvent]:
    """A synthetic event sequence: start, ``middle`` (classes with fields), summary, end."""
    ts = itertools.count(1000.0, 0.5)
    common = {"stream_id": stream_id, "context": CONTEXT}
    out: list[ev.ObservabilityEvent] = [
        ev.SessionStart(ts=next(ts), attempt=1, is_retry=False, is_fallback=False, **common)
    ]
    out += [cls(ts=next(ts), **fields, **common) for cls, fields in middle]
    out.append(
        ev.SessionSummary(
            ts=next(ts),
            token_count=5,
            start_ts=1000.0,
            end_ts=1002.0,
            drift_detected=True,
            guardrail_violations=2,
            fallback_depth=0,
            retry_count=0,
            checkpoints_created=1,
            **common,
        )
    )
    cls, fields = end
    out.append(cls(ts=next(ts), **fields, **common))
    return out


def test_usage_ttft_and_per_chunk_metrics(telemetry: Telemetry) -> None:
    """Usage and TTFT in COMPLETE.state become span attributes and the GenAI histograms."""
    sink = telemetry.sink()
    state = {
        "finishReason": "length",
        "timeToFirstTokenMs": 500.0,
        "usage": {"input_tokens": 12, "output_tokens": 5, "total_tokens": 17},
    }
    for event in lifecycle(
        "u1", end=(ev.Complete, {"token_count": 5, "content_length": 20, "state": state})
    ):
        sink(event)
    span = only(telemetry.stream_spans())
    attrs = dict(span.attributes or {})
    assert (attrs["gen_ai.usage.input_tokens"], attrs["gen_ai.usage.output_tokens"]) == (12, 5)
    assert attrs["gen_ai.response.time_to_first_chunk"] == 0.5
    assert attrs["gen_ai.response.finish_reasons"] == ("length",)
    assert (attrs["l0.guardrail.violations"], attrs["l0.drift.detected"]) == (2, True)
    usage = {
        p.attributes["gen_ai.token.type"]: p.sum
        for p in telemetry.points("gen_ai.client.token.usage")
    }
    assert usage == {"input": 12, "output": 5}
    assert only(telemetry.points("gen_ai.client.operation.time_to_first_chunk")).sum == 0.5
    # The attempt ran 1000.0 -> 1001.0 (COMPLETE): 0.5 s after the first chunk, 4 more chunks.
    per_chunk = only(telemetry.points("gen_ai.client.operation.time_per_output_chunk"))
    assert per_chunk.sum == pytest.approx(0.125)
    assert only(telemetry.points("gen_ai.client.operation.duration")).sum == pytest.approx(1.0)
    assert only(telemetry.points("l0.guardrail.violations")).value == 2
    assert only(telemetry.points("l0.drift.detections")).value == 1


async def test_usage_and_ttft_end_to_end(telemetry: Telemetry) -> None:
    """A provider reporting usage: the span has gen_ai.usage.* and the time to first chunk."""
    sink = telemetry.sink()
    usage = l0.testing.TokenUsage(prompt_tokens=7)
    source = l0.testing.FakeProvider(l0.testing.Script(text="a b c", usage=usage))
    await l0.run(source, adapter=l0.testing.FakeAdapter(), on_event=sink).read()
    attrs = dict(only(telemetry.stream_spans()).attributes or {})
    assert (attrs["gen_ai.usage.input_tokens"], attrs["gen_ai.usage.output_tokens"]) == (7, 3)
    assert "gen_ai.response.time_to_first_chunk" in attrs


def test_guardrail_drift_resume_and_tool_events(telemetry: Telemetry) -> None:
    """Violations, drift, resumes and tool calls are events on the attempt span."""
    sink = telemetry.sink()
    violation = ev.GuardrailViolation(rule_id="pii", message=SECRET, severity="error")
    middle = [
        (
            ev.GuardrailRuleResult,
            {"index": 0, "rule_id": "pii", "passed": False, "violation": violation},
        ),
        (ev.DriftCheckResult, {"detected": True, "score": 0.9, "metrics": {}, "threshold": 0.5}),
        (ev.ResumeStart, {"checkpoint": SECRET, "token_count": 3}),
        (
            ev.ToolRequested,
            {"tool_name": "search", "tool_call_id": "c1", "arguments": {"q": SECRET}},
        ),
    ]
    for event in lifecycle(
        "g1", *middle, end=(ev.AbortCompleted, {"token_count": 1, "content_length": 1})
    ):
        sink(event)
    span = only(telemetry.stream_spans())
    attempt = only(telemetry.attempts_of(span))
    names = [e.name for e in attempt.events]
    assert names == ["l0.guardrail.violation", "l0.drift", "l0.resume", "l0.tool_call"]
    assert attempt.events[0].attributes["l0.guardrail.severity"] == "error"  # type: ignore[index]
    assert attempt.events[3].attributes["gen_ai.tool.name"] == "search"  # type: ignore[index]
    assert dict(span.attributes or {})["l0.resumes"] == 1
    assert SECRET not in all_text(telemetry.spans())


async def test_live_guardrail_violation_and_drift(telemetry: Telemetry) -> None:
    """A warning-severity violation is an event on the attempt span and counted; drift too."""
    sink = telemetry.sink()
    rule = l0.Rule.streaming("loud", lambda d: "too loud" if "!" in d else None, severity="warning")
    await l0.run(
        Script(paced("hi", " there!")),
        guardrails=[rule],
        check_intervals=l0.CheckIntervals(guardrails=1),
        on_event=sink,
    ).read()
    span = only(telemetry.stream_spans())
    assert dict(span.attributes or {})["l0.guardrail.violations"] == 1
    event = only(
        [e for e in only(telemetry.attempts_of(span)).events if e.name == "l0.guardrail.violation"]
    )
    assert event.attributes["l0.guardrail.rule"] == "loud"
    assert "l0.guardrail.message" not in event.attributes
    assert only(telemetry.points("l0.guardrail.violations")).value == 1
    telemetry.exporter.clear()
    await l0.run(
        Script(["I keep saying the same thing. "] * 60),
        drift=l0.DriftConfig(action="record"),
        on_event=sink,
    ).read()
    span = only(telemetry.stream_spans())
    assert dict(span.attributes or {})["l0.drift.detected"] is True
    assert any(e.name == "l0.drift" for e in only(telemetry.attempts_of(span)).events)
    assert only(telemetry.points("l0.drift.detections")).value == 1


@pytest.mark.parametrize("record_content", [False, True])
async def test_resume_is_counted_once(
    telemetry: Telemetry, zero_backoff: None, record_content: bool
) -> None:
    """A stream that resumes from its checkpoint: one l0.resume event, l0.resumes == 1; the
    checkpoint text is recorded only with record_content."""
    sink = telemetry.sink(record_content=record_content)

    async def model(ctx: l0.AttemptContext) -> Any:
        if not ctx.checkpoint:
            for word in ("The ", SECRET, " brown ", "fox "):
                yield word
            raise ConnectionResetError("dropped")
        yield "jumps."

    stream = l0.run(
        model,
        continue_from_last_good_token=True,
        check_intervals=l0.CheckIntervals(checkpoint=2),
        on_event=sink,
    )
    await stream.read()
    span = only(telemetry.stream_spans())
    assert dict(span.attributes or {})["l0.resumes"] == 1
    resumes = [e for s in telemetry.spans() for e in s.events if e.name == "l0.resume"]
    assert len(resumes) == 1
    assert (SECRET in all_text(telemetry.spans())) is record_content


# -- privacy ---------------------------------------------------------------------------------


async def test_no_content_or_error_text_unless_opted_in(
    telemetry: Telemetry, zero_backoff: None
) -> None:
    """Output text, error messages and unlisted context never reach spans by default."""

    def secret_error() -> RuntimeError:
        return RuntimeError(f"provider said {SECRET}")

    context = {"model": "m", "note": SECRET}
    src = Script([SECRET, Raise(secret_error)], [Raise(secret_error)])
    with pytest.raises(l0.AllStreamsExhausted):
        await l0.run(
            src, retry=l0.Retry(attempts=1), on_event=telemetry.sink(), context=context
        ).read()
    assert telemetry.spans()
    assert SECRET not in all_text(telemetry.spans())
    telemetry.exporter.clear()
    with pytest.raises(l0.AllStreamsExhausted):
        await l0.run(
            Script([Raise(secret_error)]), retry=None, on_event=telemetry.sink(record_content=True)
        ).read()
    span = only(telemetry.stream_spans())
    assert span.status.description is not None
    assert SECRET in span.status.description
