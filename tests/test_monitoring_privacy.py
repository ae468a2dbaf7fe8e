"""Privacy by default, with a canary: no prompt, output text, provider message quoting them, or
API key reaches what the sinks export (OpenTelemetry spans and metrics, Sentry envelopes, log
records at DEBUG, the Metrics snapshot) unless ``record_content=True``; the API key never.

Each test first checks that the canary did reach the sinks' input (the raw events), so a sink
that copied it out would be caught.
"""

from __future__ import annotations

import json
import logging
import traceback
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest

pytest.importorskip("opentelemetry.sdk")
pytest.importorskip("sentry_sdk")

import sentry_sdk
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sentry_sdk.envelope import Envelope
from sentry_sdk.transport import Transport

import l0
import l0.guardrails
import l0.testing
from l0.monitoring import Logging, Metrics, OpenTelemetry, Sentry, combine
from tests._sources import Raise, Script, paced

CANARY = "zq-canary-7f3a"  # stands for prompt and output text
API_KEY = "sk-l0-canary-key-0c9e8d7f6a5b"


class Keep(Transport):
    """A sentry-sdk transport that keeps the envelopes."""

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        super().__init__(options)
        self.envelopes: list[Envelope] = []

    def capture_envelope(self, envelope: Envelope) -> None:
        self.envelopes.append(envelope)


class Texts(logging.Handler):
    """Every record: its formatted message (with traceback) and all its attributes."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.texts: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.texts.append(logging.Formatter().format(record))
        self.texts.append(repr(vars(record)))


class Everything:
    """Every sink at once, and everything they exported, as one string."""

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
        self.logs = Texts()
        self.logger = logging.getLogger("l0.test-privacy")
        self.logger.addHandler(self.logs)
        self.logger.setLevel(logging.DEBUG)
        self.logger.propagate = False
        self.metrics = Metrics()
        self.events: list[l0.events.ObservabilityEvent] = []

    def sink(self, *, record_content: bool) -> l0.monitoring.Sink:
        context = {"model": "gpt-test", "provider": "openai"}
        otel = OpenTelemetry(
            self.tracer_provider,
            self.meter_provider,
            record_content=record_content,
            context_attributes=list(context),
        )
        sentry = Sentry(self.client, record_content=record_content, scope_breadcrumbs=False)
        logs = Logging(self.logger, logging.DEBUG, record_content=record_content)
        return combine(self.events.append, otel, sentry, logs, self.metrics)

    def exported(self) -> str:
        parts: list[str] = []
        for span in self.spans.get_finished_spans():
            parts.append(f"{span.name} {dict(span.attributes or {})} {span.status.description}")
            parts.extend(f"{e.name} {dict(e.attributes or {})}" for e in span.events)
        data = self.reader.get_metrics_data()
        if data is not None:
            parts.append(data.to_json())
        for envelope in self.transport.envelopes:
            parts.extend(
                json.dumps(item.payload.json, default=str)
                for item in envelope.items
                if item.payload.json is not None
            )
        parts.extend(self.logs.texts)
        parts.append(msgspec.json.encode(self.metrics.snapshot()).decode())
        return "\n".join(parts)

    def received(self) -> str:
        """What the sinks were given (the raw events)."""
        return "\n".join(msgspec.json.encode(e).decode() for e in self.events)

    def close(self) -> None:
        self.logger.removeHandler(self.logs)
        self.tracer_provider.shutdown()
        self.meter_provider.shutdown()
        self.client.close()


@pytest.fixture
def sinks() -> Iterator[Everything]:
    everything = Everything()
    yield everything
    everything.close()


def quoting(kind: type[Exception]) -> Any:
    return lambda: kind(f"the provider echoed your prompt: {CANARY}")


async def run_every_content_path(sink: l0.monitoring.Sink) -> None:
    """Streams whose output, checkpoints, tool arguments, guardrail matches and provider
    errors all hold the canary: one recovers and completes, one fails for good."""
    guard = l0.guardrails.custom_pattern_rule(
        "canary", [r"zq-canary-\w+"], severity="warning", message="found {match}"
    )
    tool = l0.ToolCall(id="call-1", name="search", arguments={"query": CANARY})
    recovers = Script(
        paced(f"Here is {CANARY} ", "and more ", Raise(quoting(ConnectionResetError))),
        paced(f"then {CANARY} again.", tool),
    )
    text = await l0.run(
        recovers,
        guardrails=[guard],
        continue_from_last_good_token=True,
        check_intervals=l0.CheckIntervals(guardrails=1, checkpoint=1),
        on_event=sink,
    ).read()
    assert CANARY in text
    fails = Script([f"partial {CANARY}", Raise(quoting(RuntimeError))])
    with pytest.raises(l0.AllStreamsExhausted):
        await l0.run(fails, retry=l0.Retry(attempts=1), on_event=sink).read()
    # Structured output that is not JSON, and a consensus with a failed task.
    with pytest.raises(l0.L0Error):
        await l0.structured({"type": "object"}, lambda: [f"no JSON, {CANARY}"], on_event=sink)
    votes = [Script(["same"]), Script(["same"]), Script([Raise(quoting(RuntimeError))])]
    await l0.consensus(votes, retry=None, on_event=sink)


@pytest.mark.parametrize("record_content", [False, True], ids=["default", "record_content"])
async def test_no_content_leaves_the_sinks_unless_opted_in(
    sinks: Everything, zero_backoff: None, record_content: bool
) -> None:
    """By default nothing the sinks export holds the canary, though the events they received
    did (in output, checkpoints, tool arguments, violations, errors); with record_content the
    error messages and the rest of the content do go out."""
    await run_every_content_path(sinks.sink(record_content=record_content))
    received = sinks.received()
    for field in ("checkpoint", "arguments", "violation", "contentPreview", "CONSENSUS_END"):
        assert field in received
    assert CANARY in received
    exported = sinks.exported()
    assert sinks.spans.get_finished_spans()
    assert sinks.transport.envelopes
    assert sinks.logs.texts
    assert (CANARY in exported) is record_content


@pytest.mark.filterwarnings("ignore:Async generator:ResourceWarning")  # the SDK's, on trio
async def test_wrapped_client_prompt_key_and_provider_errors(
    sinks: Everything, zero_backoff: None
) -> None:
    """Through ``l0.wrap`` of the real openai SDK: the prompt and the provider's error messages
    quote the canary and the API key travels in every request; none of it is exported by
    default, and the key not even with record_content."""
    openai = pytest.importorskip("openai")
    echo = f"Invalid prompt {CANARY!r}"
    request: dict[str, Any] = {
        "model": "gpt-test",
        "messages": [{"role": "user", "content": f"Repeat {CANARY}"}],
        "stream": True,
    }
    async with (
        l0.testing.FakeServer() as server,
        openai.AsyncOpenAI(base_url=server.base_url, api_key=API_KEY, max_retries=0) as sdk,
    ):
        server.enqueue(
            l0.testing.Script(faults=[l0.testing.HttpError(status=500, message=echo)]),
            l0.testing.Script(text=f"Hello {CANARY}"),
            l0.testing.Script(faults=[l0.testing.HttpError(status=400, message=echo)]),
        )
        client = l0.wrap(sdk, on_event=sinks.sink(record_content=False))
        stream = await client.chat.completions.create(**request)
        assert CANARY in await stream.read()  # after a retry
        stream = await client.chat.completions.create(**request)
        with pytest.raises(l0.L0Error):
            await stream.read()  # a 400 is not retried
        assert CANARY in sinks.received()
        assert CANARY not in sinks.exported()
        server.enqueue(
            l0.testing.Script(faults=[l0.testing.HttpError(status=400, message=echo)]),
        )
        client = l0.wrap(sdk, on_event=sinks.sink(record_content=True))
        with pytest.raises(l0.L0Error):
            await (await client.chat.completions.create(**request)).read()
    chats = [r for r in server.requests if r.path.endswith("/chat/completions")]
    assert len(chats) == 4
    assert all(r.headers["authorization"] == f"Bearer {API_KEY}" for r in chats)
    exported = sinks.exported()
    assert CANARY in exported  # the provider's message, recorded by choice
    assert API_KEY not in exported
    assert API_KEY not in sinks.received()


def error_texts(error: BaseException) -> str:
    """What an exception says about itself: message, repr, traceback, to_json, inner errors
    (without the provider's own exception, the ``__cause__``, which l0 does not write)."""
    texts = [str(error), repr(error), "".join(traceback.format_exception_only(error))]
    if isinstance(error, l0.L0Error):
        texts.append(json.dumps(error.to_json(), default=repr))
        texts.extend(error_texts(inner) for inner in getattr(error, "errors", ()))
    return "\n".join(texts)


async def test_l0_error_messages_quote_no_content(zero_backoff: None) -> None:
    """The messages l0 writes into its own exceptions hold no content by default."""
    failures: list[BaseException] = []
    with pytest.raises(l0.AllStreamsExhausted) as info:
        await l0.run(Script([Raise(quoting(RuntimeError))]), retry=None).read()
    failures.append(info.value)
    rule = l0.guardrails.custom_pattern_rule("canary", [r"zq-canary-\w+"], severity="fatal")
    with pytest.raises(l0.GuardrailViolationError) as info:
        await l0.run(lambda: [f"Here is {CANARY}."], guardrails=[rule]).read()
    failures.append(info.value)
    assert all(CANARY not in error_texts(f) for f in failures)
