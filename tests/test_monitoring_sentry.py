"""l0.monitoring.Sentry with the real sentry-sdk and a transport that keeps envelopes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anyio
import pytest

pytest.importorskip("sentry_sdk")

import sentry_sdk
from sentry_sdk.envelope import Envelope
from sentry_sdk.transport import Transport

import l0
from l0.monitoring import Logging, Sentry, combine
from tests._sources import Raise, Script, Stall, boom, collect_until_error, paced

SECRET = "s3cr3t-payload"
CONTEXT = {"model": "gpt-4o", "provider": "openai", "request": "r-1"}


class Recording(Transport):  # type: ignore[misc]
    """Keeps every envelope in memory."""

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        super().__init__(options)
        self.envelopes: list[Envelope] = []

    def capture_envelope(self, envelope: Envelope) -> None:
        self.envelopes.append(envelope)

    def payloads(self, kind: str) -> list[dict[str, Any]]:
        return [
            item.payload.json
            for envelope in self.envelopes
            for item in envelope.items
            if item.headers.get("type") == kind and item.payload.json is not None
        ]

    def chat_spans(self) -> list[dict[str, Any]]:
        """The gen_ai.chat child spans, in the transaction or (sentry-sdk >= 2.4x, where
        stream_gen_ai_spans is on) as span items of their own; as (id, parent, name)."""
        found = [
            {
                "span_id": s["span_id"],
                "parent_span_id": s["parent_span_id"],
                "name": s["description"],
            }
            for tx in self.payloads("transaction")
            for s in tx["spans"]
            if s["op"] == "gen_ai.chat"
        ]
        for batch in self.payloads("span"):
            found.extend(
                {"span_id": s["span_id"], "parent_span_id": s["parent_span_id"], "name": s["name"]}
                for s in batch["items"]
                if s["attributes"]["sentry.op"]["value"] == "gen_ai.chat"
            )
        return found

    def dump(self) -> str:
        kinds = ("event", "transaction", "span")
        return json.dumps([p for kind in kinds for p in self.payloads(kind)], default=str)


@pytest.fixture
def transport() -> Recording:
    return Recording()


@pytest.fixture
def client(transport: Recording) -> Iterator[Any]:
    c = sentry_sdk.Client(
        dsn="http://public@sentry.invalid/1",
        transport=transport,
        traces_sample_rate=1.0,
        default_integrations=False,
    )
    yield c
    c.close()


def only(items: list[Any]) -> Any:
    assert len(items) == 1, items
    return items[0]


def status_of(span: dict[str, Any]) -> str:
    """A span's status (older sentry-sdk versions keep it in the span's tags only)."""
    return span.get("status") or span["tags"]["status"]


def spans_of(transaction: dict[str, Any], op: str) -> list[dict[str, Any]]:
    return [s for s in transaction["spans"] if s["op"] == op]


async def test_success_is_one_transaction_with_attempt_spans(
    client: Any, transport: Recording
) -> None:
    """A completed stream: a gen_ai.chat transaction (status ok) with its attempt span."""
    sink = Sentry(client)
    await l0.run(Script(paced("a", "b")), on_event=sink, context=CONTEXT).read()
    tx = only(transport.payloads("transaction"))
    assert tx["transaction"] == "chat gpt-4o"
    trace = tx["contexts"]["trace"]
    assert (trace["op"], trace["status"]) == ("gen_ai.chat", "ok")
    data = trace["data"]
    assert data["gen_ai.request.model"] == "gpt-4o"
    assert data["gen_ai.provider.name"] == "openai"
    assert data["gen_ai.response.model"] == "gpt-4o"
    assert data["l0.outcome"] == "completed"
    attempt = only(spans_of(tx, "l0.attempt"))
    assert attempt["parent_span_id"] == trace["span_id"]
    assert status_of(attempt) == "ok"
    assert transport.payloads("event") == []
    assert sink.open_streams == 0


async def test_final_error_is_captured_once_with_context_and_breadcrumbs(
    client: Any, transport: Recording, zero_backoff: None
) -> None:
    """Failure after two retries: one error event (not three), with the stream's facts, the
    user's context, tags, the lifecycle breadcrumbs and a link to the transaction."""
    sink = Sentry(client)
    stream = l0.run(
        Script([Raise(boom)]), retry=l0.Retry(attempts=2), on_event=sink, context=CONTEXT
    )
    with pytest.raises(l0.AllStreamsExhausted):
        await stream.read()
    event = only(transport.payloads("event"))
    assert event["level"] == "error"
    assert event["message"] == "l0 stream failed: STREAM_ERROR"
    assert event["tags"]["l0.error_code"] == "STREAM_ERROR"
    assert event["tags"]["l0.error_category"] == "provider"
    assert event["tags"]["gen_ai.request.model"] == "gpt-4o"
    facts = event["contexts"]["l0"]
    assert facts["stream_id"] == stream.stream_id
    assert (facts["l0.retries"], facts["l0.outcome"]) == (2, "failed")
    assert event["contexts"]["l0.context"] == CONTEXT
    crumbs = [c["message"] for c in event["breadcrumbs"]["values"]]
    assert crumbs[0] == "l0 stream started: chat gpt-4o"
    assert crumbs.count("l0.retry") == 2
    assert "l0 attempt 3 failed: STREAM_ERROR" in crumbs
    assert crumbs[-1] == "l0 stream failed"
    tx = only(transport.payloads("transaction"))
    assert tx["contexts"]["trace"]["status"] == "internal_error"
    assert event["contexts"]["trace"]["trace_id"] == tx["contexts"]["trace"]["trace_id"]
    attempts = spans_of(tx, "l0.attempt")
    assert [s["data"]["l0.attempt"] for s in attempts] == [1, 2, 3]
    assert all(status_of(s) == "internal_error" for s in attempts)


async def test_retry_then_fallback_then_success(
    client: Any, transport: Recording, zero_backoff: None
) -> None:
    """A network retry, a fallback, then an answer: one transaction (ok) with an attempt span
    per attempt, the fallback's model as the response model, and no error event."""
    sink = Sentry(client, scope_breadcrumbs=True)
    primary = Script([Raise(lambda: l0.NetworkError("reset"))])
    with sentry_sdk.isolation_scope() as isolation, sentry_sdk.new_scope() as scope:
        isolation.clear_breadcrumbs()  # where add_breadcrumb puts them; other tests' too
        scope.set_client(client)
        text = await l0.run(
            primary,
            fallbacks=[Script(paced("a", "b"))],
            retry=l0.Retry(attempts=1, max_retries=1),
            on_event=sink,
            context={**CONTEXT, "fallback_models": ["gpt-4o-mini"]},
        ).read()
        sentry_sdk.capture_message("the app's own event")
    assert text == "ab"
    tx = only(transport.payloads("transaction"))
    trace = tx["contexts"]["trace"]
    assert trace["status"] == "ok"
    assert trace["data"]["gen_ai.response.model"] == "gpt-4o-mini"
    assert (trace["data"]["l0.retries.network"], trace["data"]["l0.fallback.index"]) == (1, 1)
    attempts = spans_of(tx, "l0.attempt")
    assert [(s["data"]["l0.source_index"], status_of(s)) for s in attempts] == [
        (0, "internal_error"),
        (0, "internal_error"),
        (1, "ok"),
    ]
    assert [s["data"].get("gen_ai.request.model") for s in attempts] == [
        "gpt-4o",
        "gpt-4o",
        "gpt-4o-mini",
    ]
    (own,) = transport.payloads("event")  # no error event for the stream: only the app's
    crumbs = [c["message"] for c in own["breadcrumbs"]["values"]]
    assert crumbs.count("l0.retry") == 1
    assert crumbs.count("l0.fallback") == 1
    assert crumbs[-1] == "l0 stream completed"
    assert sink.open_streams == 0


async def test_abort_is_cancelled_not_an_error(client: Any, transport: Recording) -> None:
    """abort(): the transaction ends as cancelled and nothing is captured as an error."""
    sink = Sentry(client)
    stream = l0.run(Script(paced("a", "b", "c")), on_event=sink)
    _, error = await collect_until_error(stream, lambda e: stream.abort())
    assert isinstance(error, l0.StreamAborted)
    tx = only(transport.payloads("transaction"))
    assert tx["contexts"]["trace"]["status"] == "cancelled"
    assert transport.payloads("event") == []
    assert sink.open_streams == 0


@pytest.mark.timing
async def test_total_timeout_is_deadline_exceeded(
    anyio_backend: Any, client: Any, transport: Recording
) -> None:
    """A stream that runs out of time ends as deadline_exceeded."""
    stream = l0.run(
        Script(["a", Stall(5), "b"]),
        timeout=l0.Timeout(total=0.1, inter_token=None),
        on_event=Sentry(client),
    )
    with pytest.raises(l0.StreamTimeout):
        await stream.read()
    tx = only(transport.payloads("transaction"))
    assert tx["contexts"]["trace"]["status"] == "deadline_exceeded"
    assert only(transport.payloads("event"))["tags"]["l0.error_code"] == "TOTAL_TIMEOUT"


async def test_current_scope_and_parent_transaction(client: Any, transport: Recording) -> None:
    """Without a client argument the current scope is used, and a stream consumed inside a
    transaction becomes a child span of it instead of a transaction of its own."""
    with sentry_sdk.new_scope() as scope:
        scope.set_client(client)
        with sentry_sdk.start_transaction(name="handle-request", op="http.server") as request:
            await l0.run(Script(["x"]), on_event=Sentry(), context=CONTEXT).read()
    tx = only(transport.payloads("transaction"))
    assert tx["transaction"] == "handle-request"
    chat = only(transport.chat_spans())
    assert chat["parent_span_id"] == request.span_id
    assert chat["name"] == "chat gpt-4o"
    attempt = only(spans_of(tx, "l0.attempt"))
    assert attempt["parent_span_id"] == chat["span_id"]


async def test_scope_breadcrumbs_reach_your_own_events(client: Any, transport: Recording) -> None:
    """With scope_breadcrumbs=True the lifecycle is in the scope for your own captures."""
    with sentry_sdk.isolation_scope() as isolation, sentry_sdk.new_scope() as scope:
        isolation.clear_breadcrumbs()  # where add_breadcrumb puts them; other tests' too
        scope.set_client(client)
        await l0.run(Script(["x"]), on_event=Sentry(scope_breadcrumbs=True)).read()
        sentry_sdk.capture_message("later, in the app")
    event = only(transport.payloads("event"))
    crumbs = [c["message"] for c in event["breadcrumbs"]["values"]]
    assert crumbs == ["l0 stream started: chat", "l0 stream completed"]


async def test_capture_errors_off(client: Any, transport: Recording) -> None:
    """capture_errors=False: the failure is only in the transaction's status."""
    stream = l0.run(
        Script([Raise(boom)]), retry=None, on_event=Sentry(client, capture_errors=False)
    )
    with pytest.raises(l0.AllStreamsExhausted):
        await stream.read()
    assert transport.payloads("event") == []
    assert only(transport.payloads("transaction"))["contexts"]["trace"]["status"] == (
        "internal_error"
    )


async def test_no_content_or_error_text_unless_opted_in(
    client: Any, transport: Recording, zero_backoff: None
) -> None:
    """Output text and error messages are not sent by default; record_content sends them."""

    def secret_error() -> RuntimeError:
        return RuntimeError(f"provider said {SECRET}")

    src = Script([SECRET, Raise(secret_error)])
    with pytest.raises(l0.AllStreamsExhausted):
        await l0.run(src, retry=l0.Retry(attempts=1), on_event=Sentry(client)).read()
    assert transport.payloads("event")
    assert SECRET not in transport.dump()
    transport.envelopes.clear()
    with pytest.raises(l0.AllStreamsExhausted):
        await l0.run(
            Script([Raise(secret_error)]), retry=None, on_event=Sentry(client, record_content=True)
        ).read()
    assert SECRET in only(transport.payloads("event"))["message"]


async def test_no_leak_across_many_streams(
    client: Any, transport: Recording, zero_backoff: None
) -> None:
    """Completed, failed and aborted streams all release their state."""
    sink = Sentry(client)
    for i in range(600):
        if i % 3 == 0:
            await l0.run(Script(["x"]), on_event=sink).read()
        elif i % 3 == 1:
            with pytest.raises(l0.AllStreamsExhausted):
                await l0.run(Script([Raise(boom)]), retry=None, on_event=sink).read()
        else:
            stream = l0.run(Script(paced("a", "b")), on_event=sink)
            await collect_until_error(stream, lambda e, s=stream: s.abort())
        assert sink.open_streams == 0
    assert len(transport.payloads("transaction")) == 600
    assert len(transport.payloads("event")) == 200


async def test_consumer_cancellation_finishes_the_transaction(
    client: Any, transport: Recording
) -> None:
    """The consumer's scope is cancelled mid-stream: the transaction still finishes."""
    sink = Sentry(client)
    with anyio.CancelScope() as scope:
        async for event in l0.run(Script(["a", Stall(30), "b"]), on_event=sink):
            if isinstance(event, l0.Token):
                scope.cancel()
    assert only(transport.payloads("transaction"))["contexts"]["trace"]["status"] == "cancelled"
    assert sink.open_streams == 0


@pytest.mark.parametrize("order", ["logging-first", "sentry-first"])
async def test_a_logged_failure_is_not_captured_twice(order: str) -> None:
    """With Sentry's logging integration on, the Logging sink's ERROR record of a failure the
    Sentry sink captures is not a second event (in either order); without a capturing Sentry
    sink on the stream, the integration still reports the record."""
    from sentry_sdk.integrations.logging import LoggingIntegration  # noqa: PLC0415

    transport = Recording()
    client = sentry_sdk.Client(
        dsn="http://public@sentry.invalid/1",
        transport=transport,
        default_integrations=False,
        integrations=[LoggingIntegration()],
    )
    sinks = [Logging(), Sentry()]
    if order == "sentry-first":
        sinks.reverse()
    try:
        with sentry_sdk.new_scope() as scope:
            scope.set_client(client)
            for sink in (
                combine(*sinks),
                Logging(),
                combine(Logging(), Sentry(capture_errors=False)),
            ):
                with pytest.raises(l0.AllStreamsExhausted):
                    await l0.run(Script([Raise(boom)]), retry=None, on_event=sink).read()
    finally:
        client.close()
    events = transport.payloads("event")
    assert [e.get("logger") for e in events] == ["l0"] * 3
    messages = [e.get("message") or e["logentry"]["formatted"] for e in events]
    assert messages[0] == "l0 stream failed: STREAM_ERROR"  # the Sentry sink's own
    assert all("failed: STREAM_ERROR (provider" in m for m in messages[1:])  # the records
