"""Callbacks: which fire, with what arguments, in what order; failures in them; bad callbacks."""

from __future__ import annotations

import logging
from typing import Any

import pytest

import l0
from tests._sources import Raise, Recorder, Script, collect

CALLBACKS = (
    "on_start",
    "on_complete",
    "on_error",
    "on_event",
    "on_retry",
    "on_fallback",
    "on_tool_call",
    "on_token",
)


pytestmark = pytest.mark.usefixtures("zero_backoff")


def scenario(rec: Recorder, kind: str) -> tuple[l0.Stream, Script, Script]:
    """Primary fails twice (one retry), then the fallback sends a tool call and one token."""
    primary = Script([Raise(lambda: RuntimeError("boom"))])
    fallback = Script([l0.ToolCall(id="t1", name="get", arguments={"q": 1}), "hi"])
    callbacks = {name: rec.make(name, kind) for name in CALLBACKS}
    stream = l0.run(primary, fallbacks=[fallback], retry=l0.Retry(attempts=1), **callbacks)
    return stream, primary, fallback


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_callbacks_fire_with_their_arguments(kind: str) -> None:
    """Each on_* callback gets the arguments documented for it."""
    rec = Recorder()
    stream, _, _ = scenario(rec, kind)
    assert await stream.read() == "hi"
    assert rec.args("on_start") == [(1, False, False), (2, True, False), (1, False, True)]
    errors = rec.args("on_error")
    assert [(type(e), retry, fallback) for e, retry, fallback in errors] == [
        (l0.SourceError, True, False),
        (l0.SourceError, False, True),
    ]
    assert [e.attempt for e, _, _ in errors] == [1, 2]
    assert rec.args("on_retry") == [(2, "Stream error")]
    assert rec.args("on_fallback") == [(0, "Retries exhausted")]
    assert rec.args("on_tool_call") == [("get", "t1", {"q": 1})]
    assert rec.args("on_token") == [("hi",)]
    assert rec.args("on_complete") == [(stream.state,)]
    assert stream.state.completed is True
    events = [args[0] for args in rec.args("on_event")]
    assert all(isinstance(e, l0.events.ObservabilityEvent) for e in events)
    assert events[0].event_type == l0.events.EventType.SESSION_START
    assert events[-1].event_type == l0.events.EventType.COMPLETE


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_callbacks_fire_in_lifecycle_order(kind: str) -> None:
    """Callbacks (sync, or async and awaited one by one) fire in lifecycle order."""
    rec = Recorder()
    stream, _, _ = scenario(rec, kind)
    await stream.read()
    names = [n for n in rec.names() if n != "on_event"]
    assert names == [
        "on_start",
        "on_error",
        "on_retry",
        "on_start",
        "on_error",
        "on_fallback",
        "on_start",
        "on_token",
        "on_tool_call",  # buffered: once the attempt succeeded
        "on_complete",
    ]


async def test_async_callbacks_finish_before_the_consumer_gets_the_event() -> None:
    """An async on_token is awaited before its token reaches the consumer."""
    rec = Recorder()
    stream = l0.run(Script(["a", "b"]), on_token=rec.async_("on_token"))
    async for event in stream:
        if isinstance(event, l0.Token):
            rec.log.append(("consumer", (event.value,)))
    assert rec.log == [
        ("on_token", ("a",)),
        ("consumer", ("a",)),
        ("on_token", ("b",)),
        ("consumer", ("b",)),
    ]


async def test_on_token_gets_text_from_every_kind_of_source_item() -> None:
    """on_token receives the text of str items, Token events and token dicts alike."""
    rec = Recorder()
    src = Script(["a", l0.Token(value="b"), {"type": "token", "value": "c"}])
    assert await l0.run(src, on_token=rec.sync("on_token")).read() == "abc"
    assert rec.args("on_token") == [("a",), ("b",), ("c",)]


async def test_on_error_for_the_final_failure() -> None:
    """on_error is called for the last failure too, with will_retry and will_fallback False."""
    rec = Recorder()
    stream = l0.run(Script([Raise(RuntimeError)]), retry=None, on_error=rec.sync("on_error"))
    with pytest.raises(l0.AllStreamsExhausted) as info:
        await stream.read()
    errors = rec.args("on_error")
    assert len(errors) == 1
    error, will_retry, will_fallback = errors[0]
    assert (will_retry, will_fallback) == (False, False)
    assert error is info.value.errors[0]


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_a_raising_callback_is_logged_and_the_stream_goes_on(
    kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A callback that raises is logged on the "l0" logger; the stream still completes."""

    def sync_bad(text: str) -> None:
        raise ValueError(f"bad callback for {text!r}")

    async def async_bad(text: str) -> None:
        raise ValueError(f"bad callback for {text!r}")

    src = Script(["a", "b"])
    caplog.set_level(logging.ERROR, logger="l0")
    on_token = sync_bad if kind == "sync" else async_bad
    on_complete_calls: list[Any] = []
    stream = l0.run(src, on_token=on_token, on_complete=on_complete_calls.append)
    assert await stream.read() == "ab"
    records = [r for r in caplog.records if r.name == "l0"]
    assert len(records) == 2
    assert all(r.levelno == logging.ERROR for r in records)
    assert all("on_token" in r.getMessage() for r in records)
    assert [type(r.exc_info[1]) for r in records if r.exc_info] == [ValueError, ValueError]
    assert on_complete_calls == [stream.state]


async def test_raising_on_event_does_not_stop_other_callbacks(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A failing on_event is logged for each event; on_complete still fires."""

    def bad(_event: Any) -> None:
        raise RuntimeError("observer broke")

    caplog.set_level(logging.ERROR, logger="l0")
    done: list[Any] = []
    stream = l0.run(Script(["x"]), on_event=bad, on_complete=done.append)
    assert await stream.read() == "x"
    assert done == [stream.state]
    records = [r for r in caplog.records if r.name == "l0"]
    assert len(records) >= 2
    assert all("on_event" in r.getMessage() for r in records)


def test_unknown_callback_name_is_a_type_error() -> None:
    """An unknown on_* keyword is a call error naming it (and a type-checker error first)."""
    with pytest.raises(TypeError, match="on_finished"):
        l0.run(Script(["a"]), on_finished=print)  # type: ignore[call-arg]


def test_unknown_callback_name_in_a_session_is_a_type_error() -> None:
    """An unknown on_* keyword to l0.session is a call error naming it."""
    with pytest.raises(TypeError, match="on_finished"):
        l0.session(on_finished=print)  # type: ignore[call-arg]


@pytest.mark.parametrize("name", ["on_token", "on_event", "on_error", "on_complete"])
def test_non_callable_callback_is_a_config_error(name: str) -> None:
    """A callback that is not callable raises ConfigError naming it."""
    with pytest.raises(l0.ConfigError, match=name):
        l0.run(Script(["a"]), **{name: 42})  # type: ignore[arg-type]


async def test_none_callback_is_allowed() -> None:
    """A callback set to None is simply not called."""
    assert await l0.run(Script(["a"]), on_token=None, on_event=None).read() == "a"


async def test_tool_call_events_fire_on_tool_call_per_call() -> None:
    """Every ToolCall from the source fires on_tool_call(name, id, args) in order."""
    rec = Recorder()
    src = Script(
        [
            l0.ToolCall(id="a1", name="search", arguments={"q": "x"}),
            {"type": "tool_call", "id": "a2", "name": "fetch", "arguments": {}},
        ]
    )
    stream = l0.run(src, on_tool_call=rec.sync("on_tool_call"))
    events = await collect(stream)
    assert [type(e) for e in events] == [l0.ToolCall, l0.ToolCall, l0.Complete]
    assert rec.args("on_tool_call") == [("search", "a1", {"q": "x"}), ("fetch", "a2", {})]
    assert [c.id for c in stream.state.tool_calls] == ["a1", "a2"]
