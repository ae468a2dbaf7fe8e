"""Streamed tool calls: fragments assembled by index, delivered whole, never half across a retry."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import l0
from l0.adapters import Finish, ToolCallDelta
from tests._sources import Recorder, Script, collect


def _deltas(index: int, call_id: str, name: str, *pieces: str) -> list[ToolCallDelta]:
    first = ToolCallDelta(index=index, id=call_id, name=name, arguments=pieces[0])
    return [first, *(ToolCallDelta(index=index, arguments=p) for p in pieces[1:])]


async def test_fragments_are_joined_by_index_and_delivered_at_the_finish() -> None:
    """Interleaved fragments of two calls come out as two whole ToolCall events, in index order,
    with on_tool_call fired once per call with the parsed arguments."""
    a = _deltas(0, "call_a", "get_weather", '{"ci', 'ty": "Par', 'is"}')
    b = _deltas(1, "call_b", "get_time", '{"tz":', ' "UTC"}')
    steps: list[Any] = [a[0], b[0], a[1], b[1], a[2], Finish(reason="tool_calls")]
    rec = Recorder()
    seen: list[Any] = []
    stream = l0.run(Script(steps), on_tool_call=rec.sync("on_tool_call"), on_event=seen.append)
    events = await collect(stream)
    calls = [e for e in events if isinstance(e, l0.ToolCall)]
    assert calls == [
        l0.ToolCall(id="call_a", name="get_weather", arguments={"city": "Paris"}),
        l0.ToolCall(id="call_b", name="get_time", arguments={"tz": "UTC"}),
    ]
    assert rec.args("on_tool_call") == [
        ("get_weather", "call_a", {"city": "Paris"}),
        ("get_time", "call_b", {"tz": "UTC"}),
    ]
    assert stream.state.tool_calls == calls
    assert stream.state.finish_reason == "tool_calls"
    requested = [e for e in seen if e.event_type == l0.events.EventType.TOOL_REQUESTED]
    assert [e.tool_call_id for e in requested] == ["call_a", "call_b"]


async def test_a_tool_call_only_response_is_not_zero_output() -> None:
    """A response with no text but a tool call completes (tool calls are output)."""
    steps = [*_deltas(0, "c1", "search", '{"q": "l0"}'), Finish(reason="tool_calls")]
    stream = l0.run(Script(steps), retry=None)
    events = await collect(stream)
    assert [type(e) for e in events] == [l0.ToolCall, l0.Complete]
    assert stream.state.content == ""


async def test_calls_are_delivered_when_the_source_ends_without_a_finish() -> None:
    """With an adapter that does not require a finish signal, the end of the source delivers."""
    steps = _deltas(0, "c1", "search", '{"q":', ' "x"}')
    events = await collect(l0.run(Script(steps), retry=None))
    assert [type(e) for e in events] == [l0.ToolCall, l0.Complete]


async def test_a_retry_never_shows_half_a_tool_call(zero_backoff: None) -> None:
    """The first attempt streams half a call and dies: the consumer sees no ToolCall from it;
    the retry's whole call is delivered once."""
    broken: list[Any] = [
        ToolCallDelta(index=0, id="c1", name="search", arguments='{"q": "ha'),
        "text ",
        ConnectionResetError("drop"),
    ]
    good: list[Any] = [*_deltas(0, "c2", "search", '{"q": "whole"}'), Finish(reason="tool_calls")]

    async def play(steps: list[Any]) -> AsyncIterator[Any]:
        for step in steps:
            if isinstance(step, BaseException):
                raise step
            yield step

    scripts = iter([broken, good])
    stream = l0.run(lambda: play(next(scripts)))
    events = await collect(stream)
    calls = [e for e in events if isinstance(e, l0.ToolCall)]
    assert calls == [l0.ToolCall(id="c2", name="search", arguments={"q": "whole"})]
    assert stream.state.tool_calls == calls
    assert any(isinstance(e, l0.Reset) for e in events)


async def test_invalid_arguments_fail_the_attempt_and_are_retried(zero_backoff: None) -> None:
    """Arguments that are not valid JSON: TOOL_ERROR, the attempt fails with TOOL_CALL_INVALID
    (retryable), and the retry's valid call is delivered."""
    bad = [*_deltas(0, "c1", "search", '{"q": '), Finish(reason="tool_calls")]
    good = [*_deltas(0, "c2", "search", '{"q": 1}'), Finish(reason="tool_calls")]
    seen: list[Any] = []
    stream = l0.run(Script(bad, good), on_event=seen.append)
    events = await collect(stream)
    errors = [e for e in events if isinstance(e, l0.ErrorEvent)]
    assert len(errors) == 1
    assert isinstance(errors[0].error, l0.ToolCallError)
    assert errors[0].error.code == l0.ErrorCode.TOOL_CALL_INVALID
    assert errors[0].will_retry
    assert [e for e in events if isinstance(e, l0.ToolCall)] == [
        l0.ToolCall(id="c2", name="search", arguments={"q": 1})
    ]
    tool_errors = [e for e in seen if e.event_type == l0.events.EventType.TOOL_ERROR]
    assert [e.tool_call_id for e in tool_errors] == ["c1"]
    completed = [e for e in seen if e.event_type == l0.events.EventType.TOOL_COMPLETED]
    assert [(e.tool_call_id, e.status) for e in completed] == [("c1", "error")]


async def test_a_call_without_a_name_or_with_non_object_arguments_is_invalid() -> None:
    """Both are TOOL_CALL_INVALID: with no retries the stream fails, and no call is delivered."""
    cases: list[list[Any]] = [
        [ToolCallDelta(index=0, id="c1", arguments="{}"), Finish(reason="tool_calls")],
        [*_deltas(0, "c1", "f", "[1, 2]"), Finish(reason="tool_calls")],
    ]
    for steps in cases:
        stream = l0.run(Script(steps), retry=None)
        events: list[Any] = []
        error: Exception | None = None
        try:
            async for event in stream:
                events.append(event)  # noqa: PERF401 - events seen before the failure
        except l0.L0Error as exc:
            error = exc
        assert isinstance(error, l0.L0Error)
        causes = [error, *getattr(error, "errors", [])]
        assert any(isinstance(e, l0.ToolCallError) for e in causes)
        assert not [e for e in events if isinstance(e, l0.ToolCall)]


async def test_empty_arguments_mean_no_arguments() -> None:
    """A call streamed with no argument text has ``{}`` as its arguments."""
    steps = [ToolCallDelta(index=0, id="c1", name="now"), Finish(reason="tool_calls")]
    events = await collect(l0.run(Script(steps), retry=None))
    assert events[0] == l0.ToolCall(id="c1", name="now", arguments={})
