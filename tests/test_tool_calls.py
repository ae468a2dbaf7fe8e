"""Streamed tool calls: fragments assembled by index, delivered whole, never half across a retry."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

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


# --------------------------------------------------------------------------- schemas

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "unit": {"enum": ["c", "f"]},
                "days": {"type": "integer", "minimum": 1, "maximum": 7},
            },
            "required": ["city"],
            "additionalProperties": False,
        },
    },
}


def _call(arguments: str, name: str = "get_weather") -> list[Any]:
    return [*_deltas(0, "c1", name, arguments), Finish(reason="tool_calls")]


async def test_arguments_are_validated_against_the_tool_schema(zero_backoff: None) -> None:
    """A call whose arguments break its tool's schema fails the attempt with the canonical
    issue codes and paths; the retry's valid call is delivered."""
    bad = _call('{"unit": "k", "days": 9, "extra": true}')
    good = _call('{"city": "Oslo", "days": 2}')
    stream = l0.run(Script(bad, good), tools=[WEATHER])
    events = await collect(stream)
    [error_event] = [e for e in events if isinstance(e, l0.ErrorEvent)]
    error = error_event.error
    assert isinstance(error, l0.ToolCallError)
    assert error.code == l0.ErrorCode.TOOL_CALL_INVALID
    issues = error.metadata["issues"]
    by_code = {issue["code"]: issue for issue in issues}
    assert set(by_code) == {
        "MISSING_REQUIRED_ARGUMENT",
        "INVALID_ENUM_VALUE",
        "VALUE_OUT_OF_RANGE",
        "UNEXPECTED_ARGUMENT",
    }
    assert by_code["VALUE_OUT_OF_RANGE"]["path"] == ["arguments", "days"]
    assert by_code["MISSING_REQUIRED_ARGUMENT"]["path"] == ["arguments", "city"]
    assert [e for e in events if isinstance(e, l0.ToolCall)] == [
        l0.ToolCall(id="c1", name="get_weather", arguments={"city": "Oslo", "days": 2})
    ]


async def test_a_tool_that_was_not_offered_is_invalid() -> None:
    """With tools given, a call to another name fails with TOOL_CALL_INVALID naming both."""
    stream = l0.run(Script(_call("{}", name="rm_rf")), tools=[WEATHER], retry=None)
    try:
        await stream.read()
    except l0.L0Error as exc:
        causes = [exc, *getattr(exc, "errors", [])]
        [tool_error] = [e for e in causes if isinstance(e, l0.ToolCallError)]
        assert "rm_rf" in tool_error.message
        assert "get_weather" in tool_error.message
    else:
        raise AssertionError("the call should have been rejected")


def test_tool_definitions_in_every_common_shape() -> None:
    """OpenAI, flat, Anthropic and name->schema forms; bad definitions fail at construction."""
    from l0._engine._tools import ToolSchemas  # noqa: PLC0415

    schema = {"type": "object", "required": ["q"]}
    for tools in (
        [{"type": "function", "function": {"name": "s", "parameters": schema}}],
        [{"name": "s", "parameters": schema}],
        [{"name": "s", "input_schema": schema}],
        {"s": schema},
    ):
        schemas = ToolSchemas(tools)
        assert schemas.names == ("s",)
        assert schemas.check(l0.ToolCall(id="1", name="s", arguments={"q": 1})) is None
        assert schemas.check(l0.ToolCall(id="1", name="s", arguments={})) is not None
    for bad in ([{"parameters": schema}], ["s"], "s", [{"name": "s", "parameters": 3}]):
        with pytest.raises(l0.ConfigError, match="tools"):
            l0.run(Script(["x"]), tools=bad)  # pyright: ignore[reportArgumentType]


# --------------------------------------------------------------------------- modes


async def test_buffered_calls_wait_for_the_attempt_to_succeed(zero_backoff: None) -> None:
    """Buffered (the default): a call of an attempt that then fails its completion guardrail
    is never delivered, and on_tool_call never fires for it."""
    steps_bad = ["forbidden ", *_deltas(0, "c1", "f", "{}"), Finish(reason="tool_calls")]
    steps_good = ["fine ", *_deltas(0, "c2", "f", "{}"), Finish(reason="tool_calls")]
    rule = l0.Rule.completion(
        "no-forbidden", lambda text: "forbidden word" if "forbidden" in text else None
    )
    rec = Recorder()
    stream = l0.run(Script(steps_bad, steps_good), guardrails=[rule],
                    on_tool_call=rec.sync("on_tool_call"))  # fmt: skip
    events = await collect(stream)
    assert [e.id for e in events if isinstance(e, l0.ToolCall)] == ["c2"]
    assert rec.args("on_tool_call") == [("f", "c2", {})]
    # Delivered after the text, right before Complete.
    assert [type(e) for e in events[-2:]] == [l0.ToolCall, l0.Complete]


async def test_eager_calls_are_delivered_as_each_completes() -> None:
    """Eager: call 0 comes out when call 1 starts, before the rest of the stream."""
    a = _deltas(0, "a", "f", '{"x":', " 1}")
    b = _deltas(1, "b", "g", "{}")
    steps: list[Any] = [*a, "between ", *b, "after", Finish(reason="tool_calls")]
    events = await collect(l0.run(Script(steps), tool_calls="eager", retry=None))
    kinds = [(type(e).__name__, getattr(e, "id", None)) for e in events]
    assert kinds == [
        ("Token", None),
        ("ToolCall", "a"),
        ("Token", None),
        ("ToolCall", "b"),
        ("Complete", None),
    ]


async def test_eager_refuses_a_fragment_of_a_delivered_call() -> None:
    """Interleaving after delivery cannot be handled eagerly: a typed error, not a bad call."""
    steps: list[Any] = [
        ToolCallDelta(index=0, id="a", name="f", arguments="{}"),
        ToolCallDelta(index=1, id="b", name="g", arguments="{}"),
        ToolCallDelta(index=0, arguments=" "),
        Finish(reason="tool_calls"),
    ]
    stream = l0.run(Script(steps), tool_calls="eager", retry=None)
    try:
        await stream.read()
    except l0.L0Error as exc:
        causes = [exc, *getattr(exc, "errors", [])]
        assert any(isinstance(e, l0.ToolCallError) for e in causes)
    else:
        raise AssertionError("expected a ToolCallError")


def test_tool_calls_mode_is_checked() -> None:
    with pytest.raises(l0.ConfigError, match="tool_calls"):
        l0.run(Script(["x"]), tool_calls="later")  # pyright: ignore[reportArgumentType]
