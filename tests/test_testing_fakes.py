"""Scripts and the in-process fakes of l0.testing (fake_stream, FakeProvider, FakeAdapter)."""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import aclosing
from typing import Any

import anyio
import httpx
import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

import l0
import l0.testing
from l0.adapters import Fault, Finish, Usage
from l0.testing import (
    DEFAULT_TEXT,
    Drop,
    FakeAdapter,
    FakeProvider,
    FakeServer,
    FakeStream,
    FunctionCall,
    HttpError,
    InBandError,
    KeepAlive,
    Malformed,
    Script,
    SlowHeaders,
    Stall,
    TokenUsage,
    Truncate,
    fake_stream,
    pytest_plugin,
    split_tokens,
)
from l0.testing._script import End, MalformedLine, Sleep, TextDelta, ToolDelta, compile_plan
from tests._sources import assert_slept

l0_fake_stream = pytest_plugin.l0_fake_stream  # the plugin's fixture, without the entry point


async def drain(stream: FakeStream) -> list[Any]:
    """Every item of ``stream``."""
    return [item async for item in stream]


# -- scripts -----------------------------------------------------------------------------------


@given(st.text())
def test_split_tokens_joins_back_exactly(text: str) -> None:
    """split_tokens loses nothing, and each token holds exactly one word (or is all space)."""
    tokens = split_tokens(text)
    assert "".join(tokens) == text
    for token in tokens:
        assert len(token.split()) <= 1
        assert token
    if text and not text.isspace():
        assert all(t.strip() for t in tokens)


def test_split_tokens_examples() -> None:
    """Whitespace goes with the following word; trailing whitespace with the last token."""
    assert split_tokens("Hello  big world\n") == ["Hello", "  big", " world\n"]
    assert split_tokens("  ") == ["  "]
    assert split_tokens("") == []
    assert Script().tokens() == ["Hello", " from", " the", " l0", " test", " server."]
    assert Script(text=["a", "", "b"]).tokens() == ["a", "", "b"]


def test_script_json_round_trip() -> None:
    """A script survives JSON (the x-l0-script header), faults tagged by "type", ASCII only."""
    script = Script(
        text="héllo wörld",
        model="m",
        tool_calls=[FunctionCall(name="f", arguments={"a": [1, 2]}, split=2)],
        faults=[
            Stall(seconds=1.5, after=1),
            SlowHeaders(seconds=0.5),
            Drop(after=2, reset=True),
            Truncate(),
            Malformed(),
            InBandError(code="x"),
            KeepAlive(interval=2, count=3),
            HttpError(status=429, retry_after=1, retry_after_ms=1000),
        ],
        delay=0.1,
        finish_reason="length",
        usage=TokenUsage(prompt_tokens=3),
    )
    encoded = script.to_json()
    assert encoded.isascii()
    assert Script.from_json(encoded) == script
    assert json.loads(encoded)["faults"][0] == {"type": "stall", "seconds": 1.5, "after": 1}
    handwritten = '{"text": "a b", "faults": [{"type": "drop", "after": 1}], "usage": true}'
    assert Script.from_json(handwritten) == Script(text="a b", faults=[Drop(after=1)], usage=True)


@pytest.mark.parametrize(
    "make",
    [
        lambda: Stall(seconds=-1),
        lambda: Stall(seconds=1, after=-1),
        lambda: SlowHeaders(seconds=-1),
        lambda: Drop(after=-1),
        lambda: Truncate(after=-1),
        lambda: Malformed(after=-1),
        lambda: Malformed(line="two\nlines"),
        lambda: InBandError(after=-1),
        lambda: KeepAlive(interval=0),
        lambda: KeepAlive(count=-1),
        lambda: KeepAlive(after=-1),
        lambda: HttpError(status=200),
        lambda: HttpError(retry_after=-1),
        lambda: HttpError(retry_after_ms=-1),
        lambda: FunctionCall(name="f", split=0),
        lambda: Script(delay=-1),
    ],
)
def test_invalid_scripts_raise_config_errors(make: Callable[[], object]) -> None:
    """Out-of-range values are rejected when the script is built, as l0.ConfigError."""
    with pytest.raises(l0.ConfigError):
        make()


def test_invalid_script_json_is_a_validation_error() -> None:
    """Decoding checks the same rules (and unknown fields)."""
    with pytest.raises(msgspec.ValidationError):
        Script.from_json('{"faults": [{"type": "stall", "seconds": -1}]}')
    with pytest.raises(msgspec.ValidationError):
        Script.from_json('{"txt": "typo"}')
    with pytest.raises(msgspec.ValidationError):
        Script.from_json('{"faults": [{"type": "drop", "aftr": 2}]}')


def test_http_error_defaults() -> None:
    """HttpError bodies default to what OpenAI sends for the status."""
    assert HttpError(status=429).body()["error"]["code"] == "rate_limit_exceeded"
    assert HttpError(status=503).body()["error"]["type"] == "server_error"
    assert HttpError(status=400).body()["error"]["type"] == "invalid_request_error"
    assert HttpError(status=429).headers() == []
    assert HttpError(retry_after=1.25, retry_after_ms=1250).headers() == [
        ("retry-after", "1.25"),
        ("retry-after-ms", "1250"),
    ]


def test_function_call_fragments() -> None:
    """Arguments are split into `split` near-equal fragments, or taken as given."""
    assert FunctionCall(name="f", arguments="abcdefg", split=3).fragments() == ["abc", "def", "g"]
    assert FunctionCall(name="f", arguments="ab", split=5).fragments() == ["a", "b"]
    assert FunctionCall(name="f", arguments="").fragments() == [""]
    assert FunctionCall(name="f", arguments=[]).fragments() == [""]
    assert FunctionCall(name="f", arguments={"x": 1}).arguments_text() == '{"x":1}'


def test_plan_positions() -> None:
    """Faults happen after `after` content chunks, in list order; too large means 'at the end'."""
    script = Script(
        text="a b c",
        delay=0.5,
        faults=[
            Stall(seconds=2, after=1),
            Malformed(after=1, line="x"),
            Stall(seconds=3, after=99),
        ],
    )
    plan = compile_plan(script)
    assert plan.steps == (
        TextDelta("a"),
        Sleep(2),
        MalformedLine("x"),
        Sleep(0.5),
        TextDelta(" b"),
        Sleep(0.5),
        TextDelta(" c"),
        Sleep(3),
        End("stop", None),
    )


def test_plan_ends_at_the_first_terminal_fault() -> None:
    """Drop, truncate, error and keep-alive end the plan; later faults are ignored."""
    plan = compile_plan(Script(text="a b", faults=[Drop(after=1), InBandError(after=0)]))
    assert plan.steps == (InBandError(after=0),)
    plan = compile_plan(Script(text="a b", faults=[Truncate(), Drop(after=2)]))
    assert plan.steps == (TextDelta("a"), TextDelta(" b"), Truncate())


def test_plan_tool_calls_count_as_content_chunks() -> None:
    """Each tool-call fragment is one content chunk: a drop can cut a call in half."""
    call = FunctionCall(name="f", arguments=["{", "}"])
    plan = compile_plan(Script(text="x", tool_calls=[call], faults=[Drop(after=2)]))
    assert plan.steps == (
        TextDelta("x"),
        ToolDelta(0, "call_0", "f", "{", first=True, last=False, arguments="{}"),
        Drop(after=2),
    )


def test_plan_usage_and_headers() -> None:
    """Usage counts text tokens unless given; SlowHeaders and HttpError apply to the response."""
    plan = compile_plan(Script(text="a b", usage=True))
    assert plan.steps[-1] == End("stop", TokenUsage(prompt_tokens=0, completion_tokens=2))
    plan = compile_plan(Script(text="a"), include_usage=True)
    assert plan.steps[-1] == End("stop", TokenUsage(prompt_tokens=0, completion_tokens=1))
    fault = HttpError(status=503)
    plan = compile_plan(Script(faults=[SlowHeaders(seconds=1), SlowHeaders(seconds=2), fault]))
    assert (plan.headers_delay, plan.http_error) == (3, fault)


# -- fake_stream, l0 shape ---------------------------------------------------------------------


async def test_fake_stream_yields_tokens_then_finish() -> None:
    """The default script: its tokens as str, then Finish; the stream then counts as closed."""
    stream = fake_stream()
    items = await drain(stream)
    assert items == [*Script().tokens(), Finish(reason="stop")]
    assert "".join(i for i in items if isinstance(i, str)) == DEFAULT_TEXT
    assert (stream.started, stream.ended, stream.error, stream.aclose_called) == (
        True,
        True,
        None,
        False,
    )
    assert stream.closed
    assert stream.items == items
    assert await drain(stream) == []


async def test_fake_stream_tool_calls_usage_and_in_band_error() -> None:
    """Tool calls come whole as l0.ToolCall, usage as Usage, an in-band error as a Fault."""
    script = Script(
        text=["Hi"],
        tool_calls=[FunctionCall(name="f", arguments={"x": 1}, id="c1")],
        usage=TokenUsage(prompt_tokens=4),
    )
    assert await drain(fake_stream(script)) == [
        "Hi",
        l0.ToolCall(id="c1", name="f", arguments={"x": 1}),
        Finish(reason="tool_calls"),
        Usage(input_tokens=4, output_tokens=1, total_tokens=5),
    ]
    items = await drain(fake_stream(Script(text="a b", faults=[InBandError(after=1)])))
    assert items[0] == "a"
    assert isinstance(items[1], Fault)
    assert isinstance(items[1].error, l0.SourceError)
    assert len(items) == 2


async def test_fake_stream_tool_call_arguments_must_be_an_object() -> None:
    """In the l0 shape a tool call's arguments must parse to a JSON object."""
    stream = fake_stream(Script(text=[], tool_calls=[FunctionCall(name="f", arguments="[1]")]))
    with pytest.raises(TypeError, match="not a JSON object"):
        await drain(stream)


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (Drop(after=2), ConnectionResetError),
        (Malformed(after=2), json.JSONDecodeError),
        (Malformed(after=2, line='data: {"valid": true}'), json.JSONDecodeError),
    ],
)
async def test_fake_stream_failures_after_k_tokens(fault: Any, error: type[Exception]) -> None:
    """Drop and malformed lines raise after exactly k tokens; the stream is then closed."""
    stream = fake_stream(Script(text="a b c", faults=[fault]))
    with pytest.raises(error):
        await drain(stream)
    assert stream.items == ["a", " b"]
    assert isinstance(stream.error, error)
    assert stream.closed


async def test_fake_stream_http_error() -> None:
    """HttpError raises httpx.HTTPStatusError with the status, Retry-After and JSON body."""
    stream = fake_stream(Script(faults=[HttpError(status=429, retry_after=2, retry_after_ms=2000)]))
    with pytest.raises(httpx.HTTPStatusError) as caught:
        await drain(stream)
    response = caught.value.response
    assert response.status_code == 429
    assert (response.headers["retry-after"], response.headers["retry-after-ms"]) == ("2", "2000")
    assert response.json()["error"]["code"] == "rate_limit_exceeded"


async def test_fake_stream_truncate_ends_without_finish() -> None:
    """Truncate ends the iteration with no Finish chunk."""
    assert await drain(fake_stream(Script(text="a b c", faults=[Truncate(after=1)]))) == ["a"]


@pytest.mark.timing
async def test_fake_stream_time_faults(anyio_backend: Any) -> None:
    """Stalls, slow headers, trickle delay and keep-alives take their time (anyio.sleep)."""
    script = Script(
        text="a b",
        delay=0.05,
        faults=[
            SlowHeaders(seconds=0.1),
            Stall(seconds=0.2, after=1),
            KeepAlive(interval=0.1, count=2, after=2),
        ],
    )
    start = anyio.current_time()
    assert await drain(fake_stream(script)) == ["a", " b"]
    assert_slept(anyio_backend, anyio.current_time() - start, 0.55)


async def test_fake_stream_aclose_and_cancellation() -> None:
    """aclose() is idempotent and recorded; a cancelled read leaves the stream open."""
    stream = fake_stream(Script(text="a b", faults=[Stall(seconds=3600, after=1)]))
    assert await stream.__anext__() == "a"
    with anyio.move_on_after(0.01):
        await stream.__anext__()
    assert not stream.closed
    async with aclosing(stream):
        pass
    await stream.aclose()
    assert (stream.closed, stream.aclose_called, stream.ended) == (True, True, False)
    assert await drain(stream) == []
    assert repr(stream) == "<FakeStream l0 closed, 1 items>"


async def test_fake_stream_accepts_text_or_tokens() -> None:
    """A string is split into tokens; a list of strings is used as the tokens."""
    assert await drain(fake_stream("x y")) == ["x", " y", Finish()]
    assert await drain(fake_stream(["x y", "!"])) == ["x y", "!", Finish()]


async def test_fixture_gives_the_factory(l0_fake_stream: Callable[..., FakeStream]) -> None:
    """The l0_fake_stream fixture is fake_stream."""
    assert await drain(l0_fake_stream("ok")) == ["ok", Finish()]


# -- fake_stream, openai shape -----------------------------------------------------------------


def _server_payloads(raw: str) -> list[Any]:
    return [
        json.loads(line[6:])
        for line in raw.splitlines()
        if line.startswith("data: {") and not line.startswith("data: {oops")
    ]


@pytest.mark.parametrize(
    "script",
    [
        Script(),
        Script(text="a b", usage=True, model="m2", finish_reason="length"),
        Script(text="x", tool_calls=[FunctionCall(name="f", arguments={"k": "v"})]),
        Script(text="a b", faults=[InBandError(after=1, code="c")]),
        Script(text="a b c", faults=[Truncate(after=2)]),
    ],
)
async def test_openai_shape_matches_the_server(script: Script) -> None:
    """shape="openai" yields exactly the chunk dicts the server sends for the same script."""
    in_process = await drain(fake_stream(script, shape="openai"))
    async with FakeServer() as server:
        server.enqueue(script)
        async with httpx.AsyncClient(base_url=server.base_url) as client:
            request = {"model": "l0-test", "messages": [], "stream": True}
            response = await client.post("/chat/completions", json=request)
    over_http = _server_payloads(response.text)
    for chunk in over_http:
        if "id" in chunk:
            chunk["id"] = "chatcmpl-l0-fake"
    assert in_process == over_http


async def test_openai_shape_failures() -> None:
    """In the openai shape, faults fail the same way as in the l0 shape."""
    stream = fake_stream(Script(text="a b", faults=[Drop(after=1)]), shape="openai")
    with pytest.raises(ConnectionResetError):
        await drain(stream)
    assert [c["choices"][0]["delta"] for c in stream.items] == [
        {"role": "assistant", "content": ""},
        {"content": "a"},
    ]
    with pytest.raises(httpx.HTTPStatusError):
        await drain(fake_stream(Script(faults=[HttpError()]), shape="openai"))


# -- with l0.run -------------------------------------------------------------------------------


async def test_provider_drives_l0_retries(zero_backoff: None) -> None:
    """FakeProvider plays its scripts per call: l0 retries a drop and an in-band error."""
    provider = FakeProvider(
        Script(text="a b", faults=[Drop(after=1)]),
        Script(text="a b", faults=[InBandError(after=1)]),
        "all good",
    )
    stream = l0.run(provider)
    events = [event async for event in stream]
    assert stream.state.content == "all good"
    assert provider.calls == 3
    assert provider.all_closed
    errors = [e.error for e in events if isinstance(e, l0.ErrorEvent)]
    assert [type(e) for e in errors] == [l0.NetworkError, l0.SourceError]
    assert isinstance(errors[0].__cause__, ConnectionResetError)
    assert [c.attempt for c in provider.contexts] == [1, 2, 3]


async def test_fake_adapter_detects_truncation_and_passes_usage(zero_backoff: None) -> None:
    """With FakeAdapter a missing Finish is a truncated stream, and Usage chunks are read."""
    provider = FakeProvider(
        Script(text="a b", faults=[Truncate()]), Script(text="done", usage=True)
    )
    stream = l0.run(provider, adapter=FakeAdapter())
    events = [event async for event in stream]
    assert stream.state.content == "done"
    errors = [e.error for e in events if isinstance(e, l0.ErrorEvent)]
    assert [type(e) for e in errors] == [l0.StreamTruncated]
    assert provider.all_closed
    assert FakeAdapter().detect(fake_stream()) is True
    assert FakeAdapter().detect("text") is False


@pytest.mark.timing
async def test_provider_stall_hits_the_initial_token_timeout(zero_backoff: None) -> None:
    """A stalled fake stream is cut by l0's first-token timeout and closed, then retried."""
    provider = FakeProvider(Script(faults=[Stall(seconds=3600)]), "fast")
    stream = l0.run(provider, timeout=l0.Timeout(initial_token=0.05))
    assert await stream.read() == "fast"
    assert provider.streams[0].aclose_called
    assert provider.all_closed


def test_provider_defaults_and_direct_calls() -> None:
    """With no scripts a provider plays the default; called directly it records no context."""
    provider = FakeProvider()
    assert provider.scripts == [Script()]
    first, second = provider(), provider()
    assert first is not second
    assert (provider.calls, provider.contexts) == (2, [])
    assert provider.all_closed  # none was started


def test_public_names_say_l0_testing() -> None:
    """Re-exported names have public module paths, and __all__ lists exactly them."""
    # (pytest's assertion rewriting adds "@py_..." names to plugin packages.)
    public = {n for n in vars(l0.testing) if n.isidentifier() and not n.startswith("_")}
    public -= {"pytest_plugin", "server"}  # submodules, imported on demand
    public -= {"Any", "Sequence"}  # what the re-exported Structs' annotations name
    assert sorted(l0.testing.__all__) == sorted(public)
    assert Script.__module__ == "l0.testing"
    assert FakeServer.__module__ == "l0.testing"
    assert repr(Stall(seconds=1)) == "Stall(seconds=1, after=0)"
