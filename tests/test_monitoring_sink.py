"""The sink protocol, combine(), the bounded per-stream table, lazy extras, the public surface."""

from __future__ import annotations

import logging
import subprocess
import sys
from typing import Any

import pytest

import l0
import l0.monitoring
from l0 import events as ev
from l0.monitoring._sink import StreamTable, is_terminal
from tests._sources import Script, paced


def session_start(stream_id: str = "s1", ts: float = 1.0) -> ev.SessionStart:
    return ev.SessionStart(ts=ts, stream_id=stream_id, attempt=1, is_retry=False, is_fallback=False)


def test_public_surface() -> None:
    """``l0.monitoring.__all__`` is sorted, complete, and its names say ``l0.monitoring``."""
    names = l0.monitoring.__all__
    assert names == sorted(names)
    public = {n for n in vars(l0.monitoring) if not n.startswith("_") and n.isidentifier()}
    assert set(names) == public
    for name in names:
        obj = getattr(l0.monitoring, name)
        assert obj.__module__ == "l0.monitoring", name


def test_import_does_not_load_the_extras() -> None:
    """``import l0.monitoring`` (and building Metrics/Logging) imports neither OTel nor Sentry."""
    code = (
        "import sys, l0, l0.monitoring as m; m.Metrics(); m.Logging(); "
        "print(sorted(x for x in ('opentelemetry', 'sentry_sdk') if x in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize(
    ("factory", "module", "extra"),
    [
        (l0.monitoring.OpenTelemetry, "opentelemetry", "l0[otel]"),
        (l0.monitoring.Sentry, "sentry_sdk", "l0[sentry]"),
    ],
    ids=["otel", "sentry"],
)
def test_missing_extra_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, factory: Any, module: str, extra: str
) -> None:
    """Without the package, the sink raises FeatureNotEnabled naming the extra to install."""
    monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(l0.FeatureNotEnabled) as info:
        factory()
    assert extra in str(info.value)
    assert info.value.code == l0.ErrorCode.FEATURE_NOT_ENABLED


def test_sinks_satisfy_the_protocol() -> None:
    """Every sink, a plain function and combine() are Sinks."""
    assert isinstance(l0.monitoring.Metrics(), l0.monitoring.Sink)
    assert isinstance(l0.monitoring.Logging(), l0.monitoring.Sink)
    assert isinstance(l0.monitoring.combine(), l0.monitoring.Sink)
    assert isinstance(print, l0.monitoring.Sink)


def test_combine_calls_each_sink_in_order_and_isolates_failures(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A raising sink is logged; the sinks after it still get the event."""
    seen: list[str] = []

    def broken(event: ev.ObservabilityEvent) -> None:
        raise RuntimeError("sink bug")

    sink = l0.monitoring.combine(
        lambda e: seen.append("a"), None, broken, lambda e: seen.append("b")
    )
    with caplog.at_level(logging.ERROR, logger="l0.monitoring"):
        assert sink(session_start()) is None
    assert seen == ["a", "b"]
    assert "sink bug" in caplog.text


def test_combine_flattens_and_rejects_non_callables() -> None:
    """combine(combine(a), b) is one flat list; a non-callable is a TypeError."""
    a, b = l0.monitoring.Metrics(), l0.monitoring.Metrics()
    combined = l0.monitoring.combine(l0.monitoring.combine(a), b)
    assert combined.sinks == (a, b)  # type: ignore[attr-defined]
    with pytest.raises(TypeError):
        l0.monitoring.combine(42)  # type: ignore[arg-type]


async def test_combine_awaits_async_sinks_in_the_stream() -> None:
    """An async sink inside combine() is awaited by the stream; one that raises is logged."""
    seen: list[str] = []

    async def slow(event: ev.ObservabilityEvent) -> None:
        seen.append(f"async:{event.event_type.value}")

    async def broken(event: ev.ObservabilityEvent) -> None:
        raise RuntimeError("async sink bug")

    metrics = l0.monitoring.Metrics()
    sink = l0.monitoring.combine(slow, broken, metrics)
    await l0.run(Script(paced("a", "b")), on_event=sink).read()
    assert seen[0] == "async:SESSION_START"
    assert seen[-1] == "async:COMPLETE"
    assert metrics.snapshot().completed == 1


async def test_a_sink_that_raises_never_breaks_the_stream(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A sink's own bug is logged under l0.monitoring; the stream completes normally."""
    metrics = l0.monitoring.Metrics()

    def explode(event: Any) -> None:
        raise ZeroDivisionError("bug")

    metrics._handlers = dict.fromkeys(metrics._handlers, explode)  # type: ignore[misc]
    with caplog.at_level(logging.ERROR, logger="l0.monitoring"):
        text = await l0.run(Script(["ok"]), on_event=metrics).read()
    assert text == "ok"
    assert "Metrics failed on SessionStart" in caplog.text


def test_terminal_events() -> None:
    """COMPLETE, ABORT_COMPLETED and a halting ERROR end a stream; a retried ERROR doesn't."""

    def error(strategy: Any) -> ev.Error:
        return ev.Error(
            ts=1,
            stream_id="s",
            error="x",
            failure_type="unknown",
            recovery_strategy=strategy,
            policy={},
        )

    assert is_terminal(ev.Complete(ts=1, stream_id="s", token_count=1, content_length=1))
    assert is_terminal(ev.AbortCompleted(ts=1, stream_id="s", token_count=0, content_length=0))
    assert is_terminal(error("halt"))
    assert not is_terminal(error("retry"))
    assert not is_terminal(ev.SessionEnd(ts=1, stream_id="s"))


def test_stream_table_evicts_the_oldest_when_full() -> None:
    """At capacity, adding a stream evicts the oldest one through on_evict."""
    evicted: list[str] = []
    table: StreamTable[str] = StreamTable(2, evicted.append)
    table.add("a", "A")
    table.add("b", "B")
    table.add("c", "C")
    assert evicted == ["A"]
    assert list(table) == ["b", "c"]
    table.add("b", "B2")  # the same id again replaces (and evicts) the old state
    assert evicted == ["A", "B"]
    assert table.pop("b") == "B2"
    assert table.pop("b") is None
    assert table.drain() == ["C"]
    assert len(table) == 0
    with pytest.raises(ValueError):
        StreamTable(0, evicted.append)
