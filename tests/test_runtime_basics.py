"""Runtime basics: iteration, read(), factories, and the kinds of source l0 reads."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

import l0
from l0 import ErrorCode
from tests._sources import Raise, Script, ScriptWithContext, collect


async def test_iteration_yields_tokens_then_one_complete() -> None:
    """Iterating yields one Token per text chunk, then exactly one final Complete."""
    src = Script(["Hel", "lo", "!"])
    events = await collect(l0.run(src))
    assert [type(e) for e in events] == [l0.Token, l0.Token, l0.Token, l0.Complete]
    assert [e.value for e in events[:3]] == ["Hel", "lo", "!"]  # type: ignore[attr-defined]
    assert events[-1].state.content == "Hello!"  # type: ignore[attr-defined]
    assert src.calls == 1
    assert src.closed == [True]


async def test_read_returns_the_text() -> None:
    """await stream.read() consumes the stream and returns the final text."""
    src = Script(["a", "b", "c"])
    assert await l0.run(src).read() == "abc"
    assert src.closed == [True]


async def test_await_run_gives_the_stream() -> None:
    """await l0.run(...) returns the Stream itself, which can then be read."""
    stream = l0.run(Script(["x", "y"]))
    awaited = await stream
    assert awaited is stream
    assert isinstance(awaited, l0.Stream)
    assert await awaited.read() == "xy"


async def test_state_tracks_content_and_token_count() -> None:
    """stream.state has the content and the number of text tokens once the stream completed."""
    stream = l0.run(Script(["one ", "two ", "three"]))
    await stream.read()
    assert stream.state.content == "one two three"
    assert stream.state.token_count == 3
    assert stream.state.completed is True
    assert stream.state.error is None
    assert stream.done is True


async def test_async_factory_is_awaited() -> None:
    """An async factory (async def returning a stream) is awaited and its stream read."""
    src = Script(["as", "ync"])

    async def factory() -> AsyncIterator[Any]:
        return src()

    assert await l0.run(factory).read() == "async"
    assert src.closed == [True]


async def test_factory_returning_an_awaitable_of_a_stream() -> None:
    """A sync factory that returns an awaitable of a stream works like an async factory."""
    src = Script(["aw", "ait"])

    async def make() -> AsyncIterator[Any]:
        return src()

    def factory() -> Any:
        return make()

    assert await l0.run(factory).read() == "await"


async def test_async_generator_function_as_factory() -> None:
    """An async generator function can be passed directly as the factory."""

    async def gen() -> AsyncIterator[str]:
        yield "g"
        yield "en"

    assert await l0.run(gen).read() == "gen"


async def test_plain_list_and_sync_generator_sources() -> None:
    """A factory may return a plain list or a sync generator of items."""

    def sync_gen() -> Any:
        yield "s"
        yield {"type": "token", "value": "g"}

    assert await l0.run(lambda: ["li", "st"]).read() == "list"
    assert await l0.run(sync_gen).read() == "sg"


async def test_factory_with_a_parameter_receives_the_attempt_context(zero_backoff: None) -> None:
    """A factory taking one positional parameter receives an AttemptContext for each attempt."""
    primary = ScriptWithContext([Raise(lambda: RuntimeError("p1"))], [Raise(RuntimeError)])
    fallback = ScriptWithContext(["ok"])
    stream = l0.run(primary, fallbacks=[fallback], retry=l0.Retry(attempts=1))
    assert await stream.read() == "ok"
    contexts = primary.contexts + fallback.contexts
    assert all(isinstance(c, l0.AttemptContext) for c in contexts)
    assert [(c.attempt, c.source_index, c.is_retry, c.is_fallback) for c in contexts] == [
        (1, 0, False, False),
        (2, 0, True, False),
        (1, 1, False, True),
    ]
    assert contexts[0].error is None
    assert isinstance(contexts[1].error, l0.SourceError)
    assert isinstance(contexts[1].error.__cause__, RuntimeError)
    assert str(contexts[1].error.__cause__) == "p1"


async def test_factory_without_parameters_is_called_without_arguments() -> None:
    """A factory with only defaulted parameters is called with no arguments."""
    received: list[Any] = []

    def factory(marker: Any = "default") -> list[str]:
        received.append(marker)
        return ["ok"]

    assert await l0.run(factory).read() == "ok"
    assert received == ["default"]


async def test_source_of_l0_events() -> None:
    """A source may yield l0 events: Token, Data, ToolCall and Progress are delivered (tool
    calls once the attempt has succeeded: buffered, the default)."""
    data = l0.Data(payload={"k": 1}, mime_type="application/json")
    call = l0.ToolCall(id="t1", name="lookup", arguments={"q": "x"})
    progress = l0.Progress(percent=50.0, message="half")
    stream = l0.run(Script([l0.Token(value="a"), data, call, progress, "b"]))
    events = await collect(stream)
    assert events[:5] == [l0.Token(value="a"), data, progress, l0.Token(value="b"), call]
    assert type(events[5]) is l0.Complete
    assert len(events) == 6
    state = stream.state
    assert state.content == "ab"
    assert state.token_count == 2
    assert state.data == [data]
    assert state.tool_calls == [call]
    assert state.progress == progress


async def test_source_of_event_dicts() -> None:
    """A source may yield event dicts: token/text dicts, data, tool calls and a done marker."""
    stream = l0.run(
        Script(
            [
                {"type": "token", "value": "x"},
                {"text": "y"},
                {"type": "data", "payload": [1, 2]},
                {"type": "tool_call", "id": "c1", "name": "f", "arguments": {"a": 1}},
                {"type": "done", "reason": "length"},
            ]
        )
    )
    events = await collect(stream)
    assert events[:4] == [
        l0.Token(value="x"),
        l0.Token(value="y"),
        l0.Data(payload=[1, 2]),
        l0.ToolCall(id="c1", name="f", arguments={"a": 1}),
    ]
    assert type(events[4]) is l0.Complete
    assert len(events) == 5
    assert stream.state.content == "xy"
    assert stream.state.finish_reason == "length"


async def test_empty_strings_are_not_delivered() -> None:
    """Empty text chunks are skipped: no empty Token reaches the consumer."""
    events = await collect(l0.run(Script(["", "a", "", {"type": "token", "value": ""}, "b"])))
    assert events[:-1] == [l0.Token(value="a"), l0.Token(value="b")]


@pytest.mark.parametrize("bad_item", [42, 4.5, b"bytes", {"type": "nope"}, object()])
async def test_unreadable_item_is_fatal_invalid_stream(bad_item: Any) -> None:
    """An item l0 cannot read fails the stream with INVALID_STREAM at once (no retry)."""
    src = Script(["a", bad_item], ["never"])
    stream = l0.run(src, retry=l0.Retry(base_delay=0))
    with pytest.raises(l0.L0Error) as info:
        await stream.read()
    assert isinstance(info.value, l0.InvalidStream)
    assert info.value.code == ErrorCode.INVALID_STREAM
    assert src.calls == 1
    assert src.closed == [True]


@pytest.mark.parametrize("returned", [42, None, "a string", {"type": "token", "value": "x"}])
async def test_factory_returning_a_non_stream_is_invalid_stream(returned: Any) -> None:
    """A factory returning something that is not a stream raises InvalidStream (no retry)."""
    calls: list[int] = []

    def factory() -> Any:
        calls.append(1)
        return returned

    with pytest.raises(l0.InvalidStream) as info:
        await l0.run(factory, retry=l0.Retry(base_delay=0)).read()
    assert info.value.code == ErrorCode.INVALID_STREAM
    assert calls == [1]


async def test_factory_that_raises_is_retried(zero_backoff: None) -> None:
    """A factory raising an ordinary exception fails that attempt, which is retried."""
    calls: list[int] = []

    def factory() -> list[str]:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("cannot connect yet")
        return ["fine"]

    stream = l0.run(factory)
    events = await collect(stream)
    assert [type(e) for e in events] == [l0.ErrorEvent, l0.Token, l0.Complete]
    error = events[0].error  # type: ignore[attr-defined]
    assert isinstance(error, l0.SourceError)
    assert isinstance(error.__cause__, RuntimeError)
    assert stream.state.content == "fine"
    assert calls == [1, 1]
