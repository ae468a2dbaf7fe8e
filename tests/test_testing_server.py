"""The fault-injecting test server (l0.testing.FakeServer), driven by a real HTTP client (httpx)."""

from __future__ import annotations

import itertools
import json
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, aclosing, asynccontextmanager
from typing import Any

import anyio
import httpx
import pytest

from l0.testing import (
    DEFAULT_TEXT,
    SCRIPT_HEADER,
    Drop,
    FakeServer,
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
    pytest_plugin,
)
from tests._sources import is_mock_clock

l0_server = pytest_plugin.l0_server  # the plugin's fixture, without the entry point

CHAT = "/chat/completions"
DEFAULT_TOKENS = ["Hello", " from", " the", " l0", " test", " server."]


def assert_slept(anyio_backend: Any, actual: float, expected: float) -> None:
    """A client saw a gap of ``actual`` for a server sleep of ``expected`` seconds.

    Exact on trio's MockClock; on a real clock the client's own latency can shorten or
    lengthen the gap it sees by a little.
    """
    if is_mock_clock(anyio_backend):
        assert actual == pytest.approx(expected, abs=1e-6)
    else:
        assert expected - 0.05 <= actual < expected + 0.5, f"{actual=}, {expected=}"


def body(*, stream: bool = True, model: str = "gpt-test", **extra: Any) -> dict[str, Any]:
    """A chat completion request body."""
    return {
        "model": model,
        "messages": [{"role": "user", "content": "Say hello"}],
        "stream": stream,
        **extra,
    }


@asynccontextmanager
async def client_for(server: FakeServer) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client for the server (timeouts longer than any scripted stall)."""
    async with httpx.AsyncClient(base_url=server.base_url, timeout=60) as client:
        yield client


async def stream_lines(
    client: httpx.AsyncClient, *, headers: dict[str, str] | None = None, **extra: Any
) -> list[str]:
    """Every line of a streamed chat completion, empty lines (event ends) included."""
    async with client.stream("POST", CHAT, json=body(**extra), headers=headers) as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
        async with aclosing(response.aiter_lines()) as lines:
            return [line async for line in lines]


def data(lines: list[str]) -> list[Any]:
    """The decoded ``data:`` payloads (``"[DONE]"`` kept as a string)."""
    payloads: list[Any] = []
    for line in lines:
        if line.startswith("data: "):
            text = line.removeprefix("data: ")
            payloads.append(text if text == "[DONE]" else json.loads(text))
    return payloads


def contents(payloads: list[Any]) -> list[str]:
    """The text deltas of the chunks."""
    return [
        p["choices"][0]["delta"]["content"]
        for p in payloads
        if isinstance(p, dict) and p.get("choices") and p["choices"][0]["delta"].get("content")
    ]


def finish_reasons(payloads: list[Any]) -> list[str]:
    """The finish reasons sent."""
    return [
        p["choices"][0]["finish_reason"]
        for p in payloads
        if isinstance(p, dict) and p.get("choices") and p["choices"][0]["finish_reason"]
    ]


async def timed_lines(client: httpx.AsyncClient) -> list[tuple[str, float]]:
    """(what, when) for each data line of a stream: "role", a text delta, or "other"."""
    stamps: list[tuple[str, float]] = []
    async with (
        client.stream("POST", CHAT, json=body()) as response,
        aclosing(response.aiter_lines()) as lines,
    ):
        async for line in lines:
            if line.startswith("data: {"):
                delta = json.loads(line[6:])["choices"][0]["delta"]
                what = "role" if "role" in delta else delta.get("content", "other")
                stamps.append((what, anyio.current_time()))
    return stamps


async def read_texts(client: httpx.AsyncClient, texts: list[str]) -> None:
    """Stream a completion, appending its text deltas to ``texts`` as they arrive."""
    async with (
        client.stream("POST", CHAT, json=body()) as response,
        aclosing(response.aiter_lines()) as lines,
    ):
        async for line in lines:
            texts.extend(contents(data([line])))


async def raw_exchange(server: FakeServer, request: bytes) -> bytes:
    """Send raw bytes on a new connection; everything received until the server closes."""
    async with await anyio.connect_tcp("127.0.0.1", server.port) as sock:
        await sock.send(request)
        with anyio.fail_after(10):
            return b"".join([chunk async for chunk in sock])


# -- the happy path ----------------------------------------------------------------------------


async def test_default_script_streams_openai_sse(l0_server: FakeServer) -> None:
    """By default a streamed completion says DEFAULT_TEXT: role chunk, tokens, finish, [DONE]."""
    async with client_for(l0_server) as client:
        lines = await stream_lines(client)
    payloads = data(lines)
    assert lines[1::2] == [""] * (len(lines) // 2)  # every event ends with an empty line
    assert payloads[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert contents(payloads) == DEFAULT_TOKENS
    assert "".join(contents(payloads)) == DEFAULT_TEXT
    assert finish_reasons(payloads) == ["stop"]
    assert payloads[-1] == "[DONE]"
    chunk = payloads[1]
    assert chunk["object"] == "chat.completion.chunk"
    assert chunk["model"] == "gpt-test"
    assert chunk["id"] == "chatcmpl-l0-0"


async def test_non_stream_completion(l0_server: FakeServer) -> None:
    """Without "stream": true the answer is one chat.completion JSON document."""
    async with client_for(l0_server) as client:
        response = await client.post(CHAT, json=body(stream=False))
    assert response.status_code == 200
    completion = response.json()
    assert completion["object"] == "chat.completion"
    assert completion["choices"][0]["message"] == {
        "role": "assistant",
        "content": DEFAULT_TEXT,
        "refusal": None,
    }
    assert completion["choices"][0]["finish_reason"] == "stop"
    assert completion["usage"] == {"prompt_tokens": 0, "completion_tokens": 6, "total_tokens": 6}


async def test_models_endpoint_lists_registered_scripts(l0_server: FakeServer) -> None:
    """GET /v1/models lists the default model and every registered script name."""
    l0_server.register("flaky", Script(faults=[Drop(after=1)]))
    async with client_for(l0_server) as client:
        response = await client.get("/models")
    assert response.status_code == 200
    assert [m["id"] for m in response.json()["data"]] == ["l0-test", "flaky"]


async def test_unknown_route_and_wrong_method(l0_server: FakeServer) -> None:
    """Unknown paths answer 404, wrong methods 405, invalid JSON bodies 400 (OpenAI errors)."""
    async with client_for(l0_server) as client:
        missing = await client.get("/nope")
        wrong = await client.get(CHAT)
        wrong_models = await client.post("/models")
        bad_json = await client.post(CHAT, content=b"{not json")
    assert (missing.status_code, wrong.status_code, wrong_models.status_code) == (404, 405, 405)
    assert bad_json.status_code == 400
    assert bad_json.json()["error"]["type"] == "invalid_request_error"


# -- choosing the script -----------------------------------------------------------------------


async def test_script_selection_order(l0_server: FakeServer) -> None:
    """Header (JSON or name) beats the model name, which beats the queue, then the default."""
    l0_server.register("named", "by name")
    l0_server.register("model-x", "by model")
    l0_server.enqueue("queued one", Script(text=["queued", " two"]))

    async def text(model: str = "m", header: str | None = None) -> str:
        headers = {SCRIPT_HEADER: header} if header is not None else None
        lines = await stream_lines(client, headers=headers, model=model)
        return "".join(contents(data(lines)))

    async with client_for(l0_server) as client:
        assert await text(header=Script(text="by json").to_json(), model="model-x") == "by json"
        assert await text(header="named", model="model-x") == "by name"
        assert await text(model="model-x") == "by model"
        assert await text() == "queued one"
        assert l0_server.queued == 1
        assert await text() == "queued two"
        assert await text() == DEFAULT_TEXT
        l0_server.default = "new default"
        assert await text() == "new default"
    assert [r.script.text if r.script else None for r in l0_server.requests] == [
        "by json",
        "by name",
        "by model",
        "queued one",
        ["queued", " two"],
        DEFAULT_TEXT,
        "new default",
    ]


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("missing", "no script registered as 'missing'"),
        ('{"text": 1}', "invalid script"),
        ('{"faults": [{"type": "nope"}]}', "invalid script"),
        ('{"text": [', "not valid JSON"),
    ],
)
async def test_bad_script_header_is_a_400(l0_server: FakeServer, header: str, message: str) -> None:
    """An unknown script name or invalid script JSON is answered 400 with a clear message."""
    async with client_for(l0_server) as client:
        response = await client.post(CHAT, json=body(), headers={SCRIPT_HEADER: header})
    assert response.status_code == 400
    assert message in response.json()["error"]["message"]


# -- recording ---------------------------------------------------------------------------------


async def test_requests_are_recorded(l0_server: FakeServer) -> None:
    """Each request is recorded: method, path, lower-case headers, raw and parsed body, script."""
    messages = [{"role": "user", "content": "Continue from: Hello"}]
    async with client_for(l0_server) as client:
        await client.post(CHAT, json=body(stream=False, messages=messages), headers={"X-Tag": "a"})
        await client.get("/models")
    first, second = l0_server.requests
    assert (first.index, first.method, first.path) == (0, "POST", "/v1/chat/completions")
    assert first.headers["x-tag"] == "a"
    assert first.json["messages"] == messages
    assert first.messages == messages
    assert json.loads(first.body) == first.json
    assert first.script == Script()
    assert (second.method, second.path, second.json, second.script) == (
        "GET",
        "/v1/models",
        None,
        None,
    )
    assert second.messages == []
    assert first.connection == second.connection == 0


async def test_keep_alive_connection_serves_several_requests(l0_server: FakeServer) -> None:
    """An httpx client reuses one connection; closing the client closes it (seen as client EOF)."""
    async with client_for(l0_server) as client:
        for _ in range(3):
            await stream_lines(client)
        assert l0_server.open_connections == 1
    with anyio.fail_after(10):
        await l0_server.wait_idle()
    (connection,) = l0_server.connections
    assert connection.requests == [0, 1, 2]
    assert (connection.closed_by, connection.reason, connection.abandoned) == (
        "client",
        "eof",
        False,
    )
    assert connection.closed_at is not None
    assert not connection.open


async def test_connection_close_is_honoured(l0_server: FakeServer) -> None:
    """A request with "Connection: close" gets that header back and the server closes."""
    async with client_for(l0_server) as client:
        response = await client.post(CHAT, json=body(stream=False), headers={"Connection": "close"})
        assert response.headers["connection"] == "close"
    with anyio.fail_after(10):
        await l0_server.wait_idle()
    assert (l0_server.connections[0].closed_by, l0_server.connections[0].reason) == (
        "server",
        "connection-close",
    )


# -- malformed HTTP ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GARBAGE\r\n\r\n", 400),
        (b"GET /v1/models HTTP/1.1 extra\r\n\r\n", 400),
        (b"G(T /v1/models HTTP/1.1\r\n\r\n", 400),
        (b"GET /v1/models HTTX/1.1\r\n\r\n", 400),
        (b"GET /v1/models HTTP/2.0\r\n\r\n", 505),
        (b"GET /v1/models HTTP/1.1\r\nNo colon here\r\n\r\n", 400),
        (b"GET /v1/models HTTP/1.1\r\nBad Name: x\r\n\r\n", 400),
        (b"GET /v1/models HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", 400),
        (b"POST /v1/chat/completions HTTP/1.1\r\nContent-Length: abc\r\n\r\n", 400),
        (b"POST /v1/chat/completions HTTP/1.1\r\nContent-Length: 1, 2\r\n\r\nx", 400),
        (b"POST /v1/chat/completions HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 501),
        (b"GET " + b"/x" * 40_000 + b" HTTP/1.1\r\n\r\n", 431),
        (b"GET /v1/models HTTP/1.1\r\nX: " + b"y" * 70_000, 431),
    ],
)
async def test_malformed_requests_are_rejected(
    l0_server: FakeServer, request_bytes: bytes, status: int
) -> None:
    """A malformed request is answered with an error status and the server closes."""
    received = await raw_exchange(l0_server, request_bytes)
    head, _, payload = received.partition(b"\r\n\r\n")
    assert head.split(b"\r\n")[0].startswith(b"HTTP/1.1 %d " % status)
    assert b"connection: close" in head.lower()
    assert json.loads(payload)["error"]["type"] == "invalid_request_error"
    with anyio.fail_after(10):
        await l0_server.wait_idle()
    assert (l0_server.connections[0].closed_by, l0_server.connections[0].reason) == (
        "server",
        "bad-request",
    )


async def test_pipelined_requests_on_one_connection(l0_server: FakeServer) -> None:
    """Several requests sent at once on one connection are all answered, in order."""
    get = b"GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n"
    payload = json.dumps(body(stream=False)).encode()
    post = b"POST /v1/chat/completions HTTP/1.1\r\nContent-Length: %d\r\n\r\n%s" % (
        len(payload),
        payload,
    )
    last = b"GET /v1/models HTTP/1.0\r\n\r\n"  # HTTP/1.0: the server closes after it
    received = await raw_exchange(l0_server, b"\r\n" + get + post + last)
    assert received.count(b"HTTP/1.1 200 OK\r\n") == 3
    assert [r.path for r in l0_server.requests] == [
        "/v1/models",
        "/v1/chat/completions",
        "/v1/models",
    ]
    assert l0_server.connections[0].reason == "connection-close"


# -- faults while streaming --------------------------------------------------------------------


@pytest.mark.timing
async def test_stall_before_first_token(l0_server: FakeServer, anyio_backend: Any) -> None:
    """Stall(after=0): headers and the role chunk come at once, the first token `seconds` later."""
    l0_server.enqueue(Script(text="a b", faults=[Stall(seconds=0.3)]))
    async with client_for(l0_server) as client:
        stamps = await timed_lines(client)
    assert [line for line, _ in stamps][:3] == ["role", "a", " b"]
    assert_slept(anyio_backend, stamps[1][1] - stamps[0][1], 0.3)


@pytest.mark.timing
async def test_stall_after_k_tokens_and_trickle(l0_server: FakeServer, anyio_backend: Any) -> None:
    """Stall(after=2) pauses after two tokens; delay spaces every pair of tokens."""
    script = Script(text="a b c d", delay=0.05, faults=[Stall(seconds=0.3, after=2)])
    l0_server.enqueue(script)
    async with client_for(l0_server) as client:
        stamps = [
            (text, t) for text, t in await timed_lines(client) if text not in {"role", "other"}
        ]
    assert [t for t, _ in stamps] == ["a", " b", " c", " d"]
    gaps = [later - earlier for (_, earlier), (_, later) in itertools.pairwise(stamps)]
    assert_slept(anyio_backend, gaps[0], 0.05)
    assert_slept(anyio_backend, gaps[1], 0.35)  # the stall, then the trickle delay
    assert_slept(anyio_backend, gaps[2], 0.05)


@pytest.mark.timing
async def test_slow_headers(l0_server: FakeServer, anyio_backend: Any) -> None:
    """SlowHeaders delays the response itself: the request only returns `seconds` later."""
    l0_server.enqueue(Script(faults=[SlowHeaders(seconds=0.3)]))
    start = anyio.current_time()
    async with (
        client_for(l0_server) as client,
        client.stream("POST", CHAT, json=body()) as response,
    ):
        elapsed = anyio.current_time() - start
        await response.aread()
    assert_slept(anyio_backend, elapsed, 0.3)


@pytest.mark.parametrize("reset", [False, True])
async def test_drop_after_k_tokens(l0_server: FakeServer, reset: bool) -> None:
    """Drop closes the socket after k tokens: the client gets k tokens, then a transport error."""
    l0_server.enqueue(Script(text="a b c d", faults=[Drop(after=2, reset=reset)]))
    texts: list[str] = []
    async with client_for(l0_server) as client:
        with pytest.raises(httpx.TransportError):
            await read_texts(client, texts)
    assert texts == ["a", " b"]
    with anyio.fail_after(10):
        await l0_server.wait_idle()
    (connection,) = l0_server.connections
    assert (connection.closed_by, connection.reason, connection.abandoned) == (
        "server",
        "drop",
        False,
    )


async def test_truncate_ends_cleanly_without_finish_or_done(l0_server: FakeServer) -> None:
    """Truncate ends the body properly but sends no finish_reason and no [DONE]."""
    l0_server.enqueue(Script(text="a b c", faults=[Truncate(after=2)]), Script(faults=[Truncate()]))
    async with client_for(l0_server) as client:
        first = data(await stream_lines(client))
        second = data(await stream_lines(client))  # the connection is still usable
    assert contents(first) == ["a", " b"]
    assert contents(second) == DEFAULT_TOKENS
    for payloads in (first, second):
        assert finish_reasons(payloads) == []
        assert "[DONE]" not in payloads
    assert len(l0_server.connections) == 1


async def test_malformed_line_then_the_stream_goes_on(l0_server: FakeServer) -> None:
    """Malformed sends its line verbatim after k tokens, then the rest of the stream."""
    l0_server.enqueue(Script(text="a b", faults=[Malformed(after=1, line="data: {oops")]))
    l0_server.enqueue(Script(text="a b", faults=[Malformed(after=5)]))
    async with client_for(l0_server) as client:
        custom = await stream_lines(client)
        default = await stream_lines(client)
    assert contents(data(custom[2:3])) == ["a"]
    assert custom[3:6] == ["", "data: {oops", ""]
    assert contents(data(custom[6:])) == [" b"]
    assert custom[-2:] == ["data: [DONE]", ""]
    broken = default.index('data: {"id": "chatcmpl-broken", "choices": [{"delta": {"content": "bro')
    assert contents(data(default[:broken])) == ["a", " b"]
    assert finish_reasons(data([default[broken + 2]])) == ["stop"]


async def test_in_band_error_event(l0_server: FakeServer) -> None:
    """InBandError sends data: {"error": ...} after k tokens and ends without [DONE]."""
    fault = InBandError(after=1, message="overloaded", error_type="server_error", code="busy")
    l0_server.enqueue(Script(text="a b", faults=[fault]))
    async with client_for(l0_server) as client:
        payloads = data(await stream_lines(client))
    assert contents(payloads) == ["a"]
    assert payloads[-1] == {
        "error": {"message": "overloaded", "type": "server_error", "param": None, "code": "busy"}
    }


@pytest.mark.timing
async def test_keep_alive_comments_only(l0_server: FakeServer, anyio_backend: Any) -> None:
    """KeepAlive sends only ': keep-alive' comments every interval, then ends (no [DONE])."""
    l0_server.enqueue(Script(faults=[KeepAlive(interval=0.1, count=3)]))
    async with client_for(l0_server) as client:
        start = anyio.current_time()
        lines = await stream_lines(client)
        elapsed = anyio.current_time() - start
    assert lines[2:] == [": keep-alive", ""] * 3
    assert contents(data(lines)) == []
    assert_slept(anyio_backend, elapsed, 0.3)


async def test_tool_call_deltas(l0_server: FakeServer) -> None:
    """Tool calls stream as OpenAI tool_calls deltas: id and name first, arguments in pieces."""
    calls = [
        FunctionCall(name="get_weather", arguments={"city": "Paris", "unit": "C"}),
        FunctionCall(name="noop", arguments=['{"a"', ":1}"], id="call_x"),
    ]
    l0_server.enqueue(Script(text="Checking.", tool_calls=calls))
    async with client_for(l0_server) as client:
        payloads = data(await stream_lines(client))
    deltas = [
        p["choices"][0]["delta"]["tool_calls"][0]
        for p in payloads
        if isinstance(p, dict) and p["choices"] and "tool_calls" in p["choices"][0]["delta"]
    ]
    assert deltas[0] == {
        "index": 0,
        "id": "call_0",
        "type": "function",
        "function": {"name": "get_weather", "arguments": deltas[0]["function"]["arguments"]},
    }
    assert all(set(d) == {"index", "function"} for d in deltas[1:3])
    assert "".join(d["function"]["arguments"] for d in deltas[:3]) == (
        '{"city":"Paris","unit":"C"}'
    )
    noop = {"name": "noop", "arguments": '{"a"'}
    assert deltas[3:] == [
        {"index": 1, "id": "call_x", "type": "function", "function": noop},
        {"index": 1, "function": {"arguments": ":1}"}},
    ]
    assert contents(payloads) == ["Checking."]
    assert finish_reasons(payloads) == ["tool_calls"]


async def test_usage_chunk(l0_server: FakeServer) -> None:
    """A usage chunk (no choices) comes after the finish chunk: by script or include_usage."""
    l0_server.enqueue(Script(text="a b c", usage=TokenUsage(prompt_tokens=7)), Script(text="x"))
    async with client_for(l0_server) as client:
        scripted = data(await stream_lines(client))
        asked = data(await stream_lines(client, stream_options={"include_usage": True}))
        plain = data(await stream_lines(client))
    assert scripted[-2]["choices"] == []
    assert scripted[-2]["usage"] == {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}
    assert finish_reasons(scripted[-3:-2]) == ["stop"]
    assert asked[-2]["usage"] == {"prompt_tokens": 0, "completion_tokens": 1, "total_tokens": 1}
    assert all("usage" not in p for p in plain if isinstance(p, dict))


async def test_model_and_finish_reason_overrides(l0_server: FakeServer) -> None:
    """Script.model names the model in every chunk; finish_reason can be anything."""
    l0_server.enqueue(Script(text=["x"], model="other-model", finish_reason="length"))
    async with client_for(l0_server) as client:
        payloads = data(await stream_lines(client))
    assert {p["model"] for p in payloads if isinstance(p, dict)} == {"other-model"}
    assert finish_reasons(payloads) == ["length"]


@pytest.mark.parametrize(
    ("fault", "headers", "error_type"),
    [
        (
            HttpError(status=429, retry_after=2, retry_after_ms=1500),
            {"retry-after": "2", "retry-after-ms": "1500"},
            "requests",
        ),
        (HttpError(status=429, retry_after=0.5), {"retry-after": "0.5"}, "requests"),
        (HttpError(status=500), {}, "server_error"),
        (
            HttpError(status=503, message="busy", retry_after=1),
            {"retry-after": "1"},
            "server_error",
        ),
    ],
)
@pytest.mark.parametrize("stream", [True, False])
async def test_http_errors(
    l0_server: FakeServer,
    fault: HttpError,
    headers: dict[str, str],
    error_type: str,
    stream: bool,
) -> None:
    """HttpError answers its status, Retry-After headers and an OpenAI-style JSON error body."""
    l0_server.enqueue(Script(faults=[fault]))
    async with client_for(l0_server) as client:
        response = await client.post(CHAT, json=body(stream=stream))
    assert response.status_code == fault.status
    assert response.headers["content-type"] == "application/json"
    for name, value in headers.items():
        assert response.headers[name] == value
    if not headers:
        assert "retry-after" not in response.headers
    error = response.json()["error"]
    assert error["type"] == error_type
    if fault.message:
        assert error["message"] == fault.message


# -- faults without streaming ------------------------------------------------------------------


async def test_non_stream_faults(l0_server: FakeServer) -> None:
    """Non-stream answers play the same faults: truncated, in-band error, malformed, drop."""
    l0_server.enqueue(
        Script(text="a b c", faults=[Truncate(after=1)]),
        Script(faults=[InBandError(message="bad")]),
        Script(faults=[Malformed(after=1)]),
        Script(text="a b", faults=[Drop(after=1)]),
    )
    async with client_for(l0_server) as client:
        truncated = (await client.post(CHAT, json=body(stream=False))).json()
        error = await client.post(CHAT, json=body(stream=False))
        malformed = await client.post(CHAT, json=body(stream=False))
        with pytest.raises(httpx.RemoteProtocolError):
            await client.post(CHAT, json=body(stream=False))
    assert truncated["choices"][0]["message"]["content"] == "a"
    assert truncated["choices"][0]["finish_reason"] is None
    assert (error.status_code, error.json()["error"]["message"]) == (500, "bad")
    with pytest.raises(json.JSONDecodeError):
        malformed.json()


async def test_non_stream_tool_calls(l0_server: FakeServer) -> None:
    """A non-stream answer carries the complete tool calls."""
    call = FunctionCall(name="f", arguments={"x": 1})
    l0_server.enqueue(Script(text=[], tool_calls=[call]))
    async with client_for(l0_server) as client:
        completion = (await client.post(CHAT, json=body(stream=False))).json()
    message = completion["choices"][0]["message"]
    assert message["content"] is None
    assert message["tool_calls"] == [
        {"id": "call_0", "type": "function", "function": {"name": "f", "arguments": '{"x":1}'}}
    ]
    assert completion["choices"][0]["finish_reason"] == "tool_calls"


# -- clients that go away ----------------------------------------------------------------------


async def test_abandoning_a_stream_is_seen_as_client_closed(l0_server: FakeServer) -> None:
    """Closing a response mid-stream (the server is stalled) is recorded as abandoned."""
    l0_server.enqueue(Script(text="a b c", faults=[Stall(seconds=3600, after=1)]))
    async with client_for(l0_server) as client:
        async with client.stream("POST", CHAT, json=body()) as response:
            assert response.status_code == 200
            # Leaving the block closes the unfinished response (httpx drops the connection).
        with anyio.fail_after(10):
            await l0_server.wait_until(lambda: not l0_server.connections[0].open)
    (connection,) = l0_server.connections
    assert (connection.closed_by, connection.abandoned) == ("client", True)
    # A client closing with unread data in its buffer sends a TCP reset, not a FIN.
    assert connection.reason in {"eof", "reset"}
    assert l0_server.open_connections == 0


async def test_cancelled_client_abandons_a_keep_alive_stream(l0_server: FakeServer) -> None:
    """A client cancelled while only keep-alives arrive closes the connection: abandoned."""
    l0_server.enqueue(Script(faults=[KeepAlive(interval=0.01)]))
    async with client_for(l0_server) as client:
        with anyio.move_on_after(0.2):
            await stream_lines(client)
    with anyio.fail_after(10):
        await l0_server.wait_idle()
    assert l0_server.connections[0].abandoned is True
    assert l0_server.connections[0].closed_by == "client"


async def test_server_exit_closes_open_connections() -> None:
    """Leaving `async with FakeServer()` cancels handlers and closes every socket."""
    async with FakeServer() as server:
        sock = await anyio.connect_tcp("127.0.0.1", server.port)
        with anyio.fail_after(10):
            await server.wait_until(lambda: len(server.connections) == 1)
    async with sock:
        with pytest.raises((anyio.EndOfStream, anyio.BrokenResourceError)):
            await sock.receive()
    (connection,) = server.connections
    assert (connection.closed_by, connection.reason) == ("server", "shutdown")
    assert server.open_connections == 0
    with pytest.raises(RuntimeError, match="not running"):
        server.base_url  # noqa: B018


async def test_body_exception_is_not_wrapped_in_a_group() -> None:
    """An exception raised in the `async with` body comes out as itself, not an ExceptionGroup."""
    with pytest.raises(ValueError, match="mine"):
        async with FakeServer():
            raise ValueError("mine")


async def test_server_starts_once_and_has_its_address() -> None:
    """port/base_url exist only while running; a server cannot be started twice."""
    server = FakeServer(default="hi", scripts={"s": "registered"})
    with pytest.raises(RuntimeError):
        server.port  # noqa: B018
    async with server:
        assert server.base_url == f"http://127.0.0.1:{server.port}/v1"
        assert repr(server) == f"<FakeServer {server.base_url}>"
        assert server.default == Script(text="hi")
    assert repr(server) == "<FakeServer not running>"
    with pytest.raises(RuntimeError, match="only once"):
        async with server:
            pass


# -- real SDK, command line --------------------------------------------------------------------


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_openai_sdk_streams_from_the_server(l0_server: FakeServer) -> None:
    """The openai SDK streams text, tool calls and usage from the server and sees a 429."""
    openai = pytest.importorskip("openai")
    async with openai.AsyncOpenAI(base_url=l0_server.base_url, api_key="x", max_retries=0) as sdk:
        l0_server.enqueue(Script(text="Hi there", usage=True))
        stream = await sdk.chat.completions.create(
            model="gpt-test", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        chunks = [chunk async for chunk in stream]
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert text == "Hi there"
        assert chunks[-1].usage.completion_tokens == 2
        l0_server.enqueue(Script(faults=[HttpError(status=429, retry_after=3)]))
        with pytest.raises(openai.RateLimitError) as caught:
            await sdk.chat.completions.create(
                model="gpt-test", messages=[{"role": "user", "content": "hi"}]
            )
        assert caught.value.response.headers["retry-after"] == "3"
    with anyio.fail_after(10):
        await l0_server.wait_idle()


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT delivery to a child process")
@pytest.mark.parametrize("backend", ["asyncio", "trio"])
async def test_command_line_server(backend: str) -> None:
    """`python -m l0.testing.server` prints its URL, serves, and exits 0 on Ctrl+C."""
    command = [sys.executable, "-m", "l0.testing.server", "--backend", backend]
    async with AsyncExitStack() as stack:
        process = await stack.enter_async_context(await anyio.open_process(command))
        assert process.stdout is not None
        with anyio.fail_after(30):
            first = b""
            while not first.endswith(b"\n"):
                first += await process.stdout.receive()
            base_url = first.decode().split(": ", 1)[1].strip()
            assert base_url.startswith("http://127.0.0.1:")
            async with httpx.AsyncClient(base_url=base_url) as client:
                response = await client.post(CHAT, json=body(stream=False))
            assert response.json()["choices"][0]["message"]["content"] == DEFAULT_TEXT
            process.send_signal(signal.SIGINT)
            assert await process.wait() == 0
            rest = b"".join([chunk async for chunk in process.stdout])
            assert process.stderr is not None
            errors = b"".join([chunk async for chunk in process.stderr])
        assert rest == b"l0 test server: stopped\n"
        assert errors == b""
