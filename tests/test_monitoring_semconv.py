"""The OpenTelemetry GenAI semantic conventions as published (gen-ai-spans, gen-ai-metrics):
instrument names, units and advised buckets, required attributes, and only registry names in
the ``gen_ai`` namespace (never the deprecated ``gen_ai.system`` or ``gen_ai.usage.prompt_*``),
in both the OpenTelemetry and the Sentry sink."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("opentelemetry.sdk")
pytest.importorskip("sentry_sdk")

import sentry_sdk
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import HistogramDataPoint, InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from sentry_sdk.envelope import Envelope
from sentry_sdk.transport import Transport

import l0
import l0.testing
from l0.monitoring import OpenTelemetry, Sentry, combine
from tests._sources import Raise, Script, boom

SECONDS = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92]
TOKENS = [4**k for k in range(14)]  # 1, 4, 16, ... 67108864
INSTRUMENTS = {
    "gen_ai.client.operation.duration": ("s", SECONDS),
    "gen_ai.client.token.usage": ("{token}", TOKENS),
    "gen_ai.client.operation.time_to_first_chunk": ("s", SECONDS),
    "gen_ai.client.operation.time_per_output_chunk": ("s", SECONDS),
}
# The gen_ai registry names l0 may send; anything else under gen_ai.* would be made up.
REGISTRY = {
    "gen_ai.operation.name",
    "gen_ai.provider.name",
    "gen_ai.request.model",
    "gen_ai.request.stream",
    "gen_ai.response.model",
    "gen_ai.response.finish_reasons",
    "gen_ai.response.time_to_first_chunk",
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.output_tokens",
    "gen_ai.token.type",
    "gen_ai.tool.name",
    "gen_ai.tool.call.id",
    "gen_ai.tool.call.arguments",
}
DEPRECATED = {"gen_ai.system", "gen_ai.usage.prompt_tokens", "gen_ai.usage.completion_tokens"}
CONTEXT = {"model": "gpt-4o", "provider": "openai", "fallback_models": ["gpt-4o-mini"]}


class Keep(Transport):
    def __init__(self, options: dict[str, Any] | None = None) -> None:
        super().__init__(options)
        self.envelopes: list[Envelope] = []

    def capture_envelope(self, envelope: Envelope) -> None:
        self.envelopes.append(envelope)


class Both:
    def __init__(self) -> None:
        self.spans = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])
        self.transport = Keep()
        self.client = sentry_sdk.Client(
            dsn="http://public@sentry.invalid/1",
            transport=self.transport,
            traces_sample_rate=1.0,
            default_integrations=False,
        )
        self.sink = combine(
            OpenTelemetry(self.tracer_provider, self.meter_provider), Sentry(self.client)
        )

    def metrics(self) -> dict[str, Any]:
        data = self.reader.get_metrics_data()
        assert data is not None
        return {
            metric.name: metric
            for rm in data.resource_metrics
            for sm in rm.scope_metrics
            for metric in sm.metrics
        }

    def close(self) -> None:
        self.tracer_provider.shutdown()
        self.meter_provider.shutdown()
        self.client.close()


@pytest.fixture
def both() -> Iterator[Both]:
    b = Both()
    yield b
    b.close()


async def run_streams(sink: Any) -> None:
    """A completed stream that reports usage, after a fallback; and a failed one."""
    usage = l0.testing.TokenUsage(prompt_tokens=11)
    answer = l0.testing.FakeProvider(l0.testing.Script(text="one two three four", usage=usage))
    await l0.run(
        Script([Raise(boom)]),
        fallbacks=[answer],
        adapter=l0.testing.FakeAdapter(),
        retry=None,
        on_event=sink,
        context=CONTEXT,
    ).read()
    with pytest.raises(l0.AllStreamsExhausted):
        await l0.run(Script([Raise(boom)]), retry=None, on_event=sink, context=CONTEXT).read()


def gen_ai_keys(mapping: Any) -> set[str]:
    return {key for key in mapping if key.startswith("gen_ai.")}


async def test_metrics_names_units_buckets_and_attributes(both: Both) -> None:
    """Each GenAI client metric has its name, unit and advised buckets, and the attributes the
    conventions require: operation and provider on all, token type on usage, error.type on
    the duration of a failure; response model after the fallback."""
    await run_streams(both.sink)
    metrics = both.metrics()
    for name, (unit, buckets) in INSTRUMENTS.items():
        metric = metrics[name]
        assert metric.unit == unit, name
        points = metric.data.data_points
        assert points, name
        for point in points:
            assert isinstance(point, HistogramDataPoint)
            assert list(point.explicit_bounds) == buckets, name
            attrs: dict[str, Any] = dict(point.attributes or {})
            assert attrs["gen_ai.operation.name"] == "chat"
            assert attrs["gen_ai.provider.name"] == "openai"
            assert attrs["gen_ai.request.model"] == "gpt-4o"
            assert gen_ai_keys(attrs) <= REGISTRY
    usage = {p.attributes["gen_ai.token.type"]: p.sum for p in metrics[
        "gen_ai.client.token.usage"].data.data_points}  # fmt: skip
    assert usage == {"input": 11, "output": 4}
    durations = metrics["gen_ai.client.operation.duration"].data.data_points
    failed = [p for p in durations if "error.type" in p.attributes]
    (ok,) = [p for p in durations if "error.type" not in p.attributes]
    assert [p.attributes["error.type"] for p in failed] == ["STREAM_ERROR"]
    assert ok.attributes["gen_ai.response.model"] == "gpt-4o-mini"
    for point in metrics["gen_ai.client.operation.time_to_first_chunk"].data.data_points:
        assert point.attributes["gen_ai.response.model"] == "gpt-4o-mini"


async def test_span_names_kind_and_attribute_names(both: Both) -> None:
    """Stream spans: ``{operation} {model}``, kind CLIENT, only registry gen_ai.* names and
    none deprecated, usage and time to first chunk on the completed one; the same names in
    the Sentry transactions' data."""
    await run_streams(both.sink)
    spans = list(both.spans.get_finished_spans())
    streams = [s for s in spans if s.name != "l0.attempt"]
    assert [s.name for s in streams] == ["chat gpt-4o", "chat gpt-4o"]
    assert all(s.kind == SpanKind.CLIENT for s in streams)
    seen: set[str] = set()
    for span in spans:
        seen |= gen_ai_keys(span.attributes or {})
        for event in span.events:
            seen |= gen_ai_keys(event.attributes or {})
    assert seen <= REGISTRY
    assert not seen & DEPRECATED
    done = dict(streams[0].attributes or {})
    assert (done["gen_ai.usage.input_tokens"], done["gen_ai.usage.output_tokens"]) == (11, 4)
    assert done["gen_ai.request.stream"] is True
    assert isinstance(done["gen_ai.response.time_to_first_chunk"], float)
    sentry_keys: set[str] = set()
    for envelope in both.transport.envelopes:
        for item in envelope.items:
            if item.headers.get("type") == "transaction" and item.payload.json is not None:
                tx = item.payload.json
                sentry_keys |= gen_ai_keys(tx["contexts"]["trace"].get("data", {}))
                for span in tx["spans"]:
                    sentry_keys |= gen_ai_keys(span.get("data", {}))
    assert {"gen_ai.provider.name", "gen_ai.usage.input_tokens"} <= sentry_keys <= REGISTRY
    assert "gen_ai.system" not in json.dumps(
        [item.payload.json for e in both.transport.envelopes for item in e.items], default=str
    )


@pytest.mark.filterwarnings("ignore:Async generator:ResourceWarning")  # the SDK's, on trio
async def test_usage_from_the_openai_sdk_reaches_spans_and_metrics(both: Both) -> None:
    """The real openai SDK through ``l0.wrap``, asked for usage: the provider's token counts
    (not zeros) are the span's gen_ai.usage.* and the token histogram, and Metrics has them."""
    openai = pytest.importorskip("openai")
    counts = l0.monitoring.Metrics()
    async with (
        l0.testing.FakeServer() as server,
        openai.AsyncOpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0) as sdk,
    ):
        usage = l0.testing.TokenUsage(prompt_tokens=9)
        server.enqueue(l0.testing.Script(text="four words of text", usage=usage))
        client = l0.wrap(sdk, on_event=combine(both.sink, counts))  # model, provider: wrap's
        stream = await client.chat.completions.create(
            model="gpt-4o",
            messages=[{"role": "user", "content": "Say four words."}],
            stream=True,
            stream_options={"include_usage": True},
        )
        assert await stream.read() == "four words of text"
    (span,) = [s for s in both.spans.get_finished_spans() if s.name != "l0.attempt"]
    attrs = dict(span.attributes or {})
    assert (attrs["gen_ai.usage.input_tokens"], attrs["gen_ai.usage.output_tokens"]) == (9, 4)
    assert attrs["gen_ai.response.finish_reasons"] == ("stop",)
    assert (attrs["gen_ai.provider.name"], attrs["gen_ai.request.model"]) == ("openai", "gpt-4o")
    points = both.metrics()["gen_ai.client.token.usage"].data.data_points
    assert {p.attributes["gen_ai.token.type"]: p.sum for p in points} == {"input": 9, "output": 4}
    snap = counts.snapshot()
    assert (snap.input_tokens, snap.output_tokens) == (9, 4)
