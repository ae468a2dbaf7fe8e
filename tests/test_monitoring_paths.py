"""Every way a stream can end closes its span, in both tracing sinks (the real OpenTelemetry SDK
and the real sentry-sdk): a consumer that breaks out of ``async for``, ``l0.session()`` streams
(also when the session closes them half-read), race losers, ``parallel(fail_fast=True)``,
consensus; and the Metrics sink counted per session and globally."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import Any

import anyio
import anyio.lowlevel
import pytest

pytest.importorskip("opentelemetry.sdk")
pytest.importorskip("sentry_sdk")

import sentry_sdk
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sentry_sdk.envelope import Envelope
from sentry_sdk.transport import Transport

import l0
from l0.monitoring import Metrics, OpenTelemetry, Sentry, combine
from tests._sources import Raise, Script, Stall, boom, paced


class Keep(Transport):
    """A sentry-sdk transport that keeps the envelopes."""

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        super().__init__(options)
        self.envelopes: list[Envelope] = []

    def capture_envelope(self, envelope: Envelope) -> None:
        self.envelopes.append(envelope)


class Traced:
    """One tracing sink and what it exported: the outcome of each stream whose span ended."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.exporter = InMemorySpanExporter()
        self.provider = TracerProvider()
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.transport = Keep()
        self.client = sentry_sdk.Client(
            dsn="http://public@sentry.invalid/1",
            transport=self.transport,
            traces_sample_rate=1.0,
            default_integrations=False,
        )
        self.sink: OpenTelemetry | Sentry = (
            OpenTelemetry(self.provider) if kind == "otel" else Sentry(self.client)
        )

    def outcomes(self) -> list[str]:
        """The ``l0.outcome`` of every stream span that ended, sorted."""
        if self.kind == "otel":
            found = [
                str(dict(s.attributes or {})["l0.outcome"])
                for s in self.exporter.get_finished_spans()
                if s.name != "l0.attempt"
            ]
        else:
            found = [
                item.payload.json["contexts"]["trace"]["data"]["l0.outcome"]
                for envelope in self.transport.envelopes
                for item in envelope.items
                if item.headers.get("type") == "transaction" and item.payload.json is not None
            ]
        return sorted(found)

    def attempts_ended(self) -> int:
        """How many attempt spans ended (OpenTelemetry) or were sent (Sentry)."""
        if self.kind == "otel":
            return sum(s.name == "l0.attempt" for s in self.exporter.get_finished_spans())
        return sum(
            s["op"] == "l0.attempt"
            for envelope in self.transport.envelopes
            for item in envelope.items
            if item.headers.get("type") == "transaction" and item.payload.json is not None
            for s in item.payload.json["spans"]
        )

    def close(self) -> None:
        self.provider.shutdown()
        self.client.close()


@pytest.fixture(params=["otel", "sentry"])
def traced(request: pytest.FixtureRequest) -> Iterator[Traced]:
    t = Traced(request.param)
    yield t
    t.close()


async def settle() -> None:
    """Let the event loop run what it has scheduled (an abandoned generator's finalizer)."""
    gc.collect()
    for _ in range(5):
        await anyio.lowlevel.checkpoint()
    await anyio.wait_all_tasks_blocked()


# -- a consumer that stops early -------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:Async generator:ResourceWarning")
async def test_break_out_of_async_for_without_async_with(traced: Traced) -> None:
    """``break`` in a plain ``async for`` (no ``async with``): once the abandoned stream is
    finalized, its span and its attempt's have ended as aborted."""
    source = Script(paced("a", "b", "c"))
    async for event in l0.run(source, on_event=traced.sink):
        if isinstance(event, l0.Token):
            break
    await settle()
    assert traced.outcomes() == ["aborted"]
    assert traced.attempts_ended() == 1
    assert traced.sink.open_streams == 0
    assert source.all_closed


async def test_break_then_aclose(traced: Traced) -> None:
    """``break`` and then ``aclose()`` on a stream that is kept: ended at once, as aborted."""
    stream = l0.run(Script(paced("a", "b", "c")), on_event=traced.sink)
    async for event in stream:
        if isinstance(event, l0.Token):
            break
    assert traced.sink.open_streams == 1  # still open: the stream may be read on
    await stream.aclose()
    assert traced.outcomes() == ["aborted"]
    assert traced.sink.open_streams == 0


# -- sessions --------------------------------------------------------------------------------


async def test_session_streams_and_the_session_closing_a_half_read_one(
    traced: Traced, zero_backoff: None
) -> None:
    """A session's ``on_event`` sink sees each of its streams: one completes, one fails, and
    the half-read one is ended (aborted) by the session's exit; one never read opens none."""
    async with l0.session(on_event=traced.sink, retry=None) as session:
        assert await session.run(Script(paced("a", "b"))).read() == "ab"
        with pytest.raises(l0.AllStreamsExhausted):
            await session.run(Script([Raise(boom)])).read()
        half = session.run(Script(["x", Stall(30), "y"]))
        async for event in half:
            if isinstance(event, l0.Token):
                break
        session.run(Script(["never read"]))
        assert traced.sink.open_streams == 1
    assert traced.outcomes() == ["aborted", "completed", "failed"]
    assert traced.attempts_ended() == 3
    assert traced.sink.open_streams == 0


async def test_cancelling_the_session_owner_ends_its_streams(traced: Traced) -> None:
    """A cancelled scope around a session with a stalled stream: the span still ends."""
    with anyio.move_on_after(0.05) as scope:
        async with l0.session(on_event=traced.sink, timeout=None) as session:
            await session.run(Script(["x", Stall(30), "y"])).read()
    assert scope.cancelled_caught
    assert traced.outcomes() == ["aborted"]
    assert traced.sink.open_streams == 0


# -- many streams (l0._multi) -----------------------------------------------------------------


async def test_race_winner_completes_and_losers_end_as_aborted(traced: Traced) -> None:
    """race(): the winner's span completes, each cancelled loser's span ends as aborted."""
    fast = Script(paced("win", "ner"))
    slow = Script(["lo", Stall(30), "ser"])
    result = await l0.race([fast, slow, slow], on_event=traced.sink, timeout=None)
    assert result.text == "winner"
    assert traced.outcomes() == ["aborted", "aborted", "completed"]
    assert traced.sink.open_streams == 0


async def test_parallel_fail_fast_ends_every_started_stream(traced: Traced) -> None:
    """parallel(fail_fast=True): the failure ends its span as failed, the streams it cancels
    end theirs as aborted; a task that never started opens no span."""
    tasks = [
        Script(["a", Stall(30), "b"]),
        Script(["c", Stall(30), "d"]),
        Script(paced("x", "y", Raise(boom))),  # fails once the two others are streaming
        Script(["never started"]),
    ]
    await l0.parallel(
        tasks, concurrency=3, fail_fast=True, retry=None, timeout=None, on_event=traced.sink
    )
    assert traced.outcomes() == ["aborted", "aborted", "failed"]
    assert traced.sink.open_streams == 0


async def test_consensus_streams_each_get_a_span(traced: Traced) -> None:
    """consensus(): each task's stream is traced and ended; the consensus's own events (with
    their own stream id) open nothing."""
    tasks = [Script(paced("same", " answer")) for _ in range(3)]
    result = await l0.consensus(tasks, on_event=traced.sink)
    assert result.output == "same answer"
    assert traced.outcomes() == ["completed"] * 3
    assert traced.sink.open_streams == 0


# -- metrics per session and global ----------------------------------------------------------


async def test_metrics_per_session_and_global(zero_backoff: None) -> None:
    """One Metrics for the process and one per session (combined): each session counts its
    own streams, the global one counts them all; reset() clears only its own."""
    everything = Metrics()
    per_session = [Metrics(), Metrics()]
    for index, mine in enumerate(per_session):
        async with l0.session(on_event=combine(everything, mine)) as session:
            for _ in range(index + 1):
                await session.run(Script([Raise(boom)], paced("o", "k"))).read()
    assert [m.snapshot().completed for m in per_session] == [1, 2]
    assert [m.snapshot().retries for m in per_session] == [1, 2]
    snap = everything.snapshot()
    assert (snap.requests, snap.completed, snap.retries, snap.tokens) == (3, 3, 3, 6)
    per_session[0].reset()
    assert per_session[0].snapshot().requests == 0
    assert everything.snapshot().requests == 3
