"""OpenAI chunks as l0 chunks, provider errors by status, and the openai SDK adapter end to end.

The SDK tests run on whichever openai is installed (2.x and 3.x are both tested:
``uv run --with 'openai>=3' ...`` and ``--with 'openai>=2,<3'``) and skip without one.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import types
from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx
import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

import l0
from l0.adapters import Fault, Finish, ToolCallDelta, Usage
from l0.adapters._errors import (
    ProviderError,
    StreamProtocolError,
    payload_error,
    retry_after_from,
    status_error,
    transport_error,
)
from l0.adapters._openai import (
    OpenAIAdapter,
    convert_chunk,
    convert_sse_event,
    map_openai_error,
    plain_text,
)
from l0.adapters._sse import ServerSentEvent
from l0.testing import (
    Drop,
    FakeServer,
    FunctionCall,
    HttpError,
    InBandError,
    KeepAlive,
    Malformed,
    Script,
    Stall,
    Truncate,
    pytest_plugin,
)

l0_server = pytest_plugin.l0_server  # the plugin's fixture, without the entry point

REASONING = {"type": "reasoning"}


def chunk(delta: dict[str, Any] | None = None, finish: str | None = None, **extra: Any) -> dict:
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
    return {"id": "c", "object": "chat.completion.chunk", "choices": choices, **extra}


# -- conversion ---------------------------------------------------------------------------------


def test_text_delta_is_a_plain_string() -> None:
    """The common chunk converts to its text alone (the token path)."""
    assert convert_chunk(chunk({"content": "Hi"})) == "Hi"


def test_role_only_and_empty_chunks_give_nothing() -> None:
    """The first chunk (role, empty content) and a chunk without choices give nothing."""
    assert convert_chunk(chunk({"role": "assistant", "content": ""})) is None
    assert convert_chunk(chunk(None)) is None
    assert convert_chunk({"choices": None}) is None


def test_finish_reason_and_usage() -> None:
    """finish_reason becomes Finish; a usage chunk (no choices) becomes Usage."""
    assert convert_chunk(chunk({}, "length")) == Finish(reason="length")
    usage = {"prompt_tokens": 3, "completion_tokens": 5, "total_tokens": 8}
    assert convert_chunk(chunk(None, usage=usage)) == Usage(
        input_tokens=3, output_tokens=5, total_tokens=8
    )
    both = convert_chunk(chunk({"content": "x"}, "stop", usage=usage))
    assert both == [
        "x",
        Finish(reason="stop"),
        Usage(input_tokens=3, output_tokens=5, total_tokens=8),
    ]


def test_tool_call_deltas() -> None:
    """tool_calls become ToolCallDelta fragments; a missing index is the list position."""
    first = {"index": 0, "id": "call_1", "type": "function",
             "function": {"name": "get", "arguments": '{"q":'}}  # fmt: skip
    assert convert_chunk(chunk({"tool_calls": [first]})) == ToolCallDelta(
        index=0, id="call_1", name="get", arguments='{"q":'
    )
    rest = {"index": 0, "function": {"arguments": "1}"}}
    assert convert_chunk(chunk({"tool_calls": [rest]})) == ToolCallDelta(index=0, arguments="1}")
    no_index = [{"id": "a", "function": {"name": "f", "arguments": "{}"}},
                {"id": "b", "function": {"name": "g", "arguments": "{}"}}]  # fmt: skip
    assert convert_chunk(chunk({"tool_calls": no_index})) == [
        ToolCallDelta(index=0, id="a", name="f", arguments="{}"),
        ToolCallDelta(index=1, id="b", name="g", arguments="{}"),
    ]


def test_legacy_function_call() -> None:
    """The deprecated function_call delta is tool call 0."""
    assert convert_chunk(chunk({"function_call": {"name": "f", "arguments": "{"}})) == (
        ToolCallDelta(index=0, name="f", arguments="{")
    )


def test_refusal_is_text() -> None:
    """A refusal is the model's answer: text."""
    assert convert_chunk(chunk({"refusal": "I can't help with that."})) == (
        "I can't help with that."
    )


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
def test_reasoning_is_data(field: str) -> None:
    """Reasoning deltas are Data events (not text), tagged as reasoning."""
    assert convert_chunk(chunk({field: "thinking", "content": None})) == (
        l0.Data(payload="thinking", mime_type="text/plain", metadata=REASONING)
    )
    assert convert_chunk(chunk({field: "hmm", "content": "A"})) == [
        l0.Data(payload="hmm", mime_type="text/plain", metadata=REASONING),
        "A",
    ]


def test_only_choice_zero_is_read_and_content_parts_are_joined() -> None:
    """Choices other than index 0 are ignored; a list of text parts is text."""
    other = {"choices": [{"index": 1, "delta": {"content": "no"}, "finish_reason": None}]}
    assert convert_chunk(other) is None
    parts = [{"type": "text", "text": "a"}, {"type": "thinking", "text": "x"}, {"text": "b"}]
    assert convert_chunk(chunk({"content": parts})) == "ab"


def test_in_band_error_is_a_fault() -> None:
    """{"error": {...}} in the stream is a Fault with a ProviderError."""
    fault = convert_chunk({"error": {"message": "overloaded", "type": "server_error"}})
    assert isinstance(fault, Fault)
    error = fault.error
    assert isinstance(error, ProviderError)
    assert (error.status_code, error.retryable, error.retry_reason) == (None, True, "server_error")
    assert "overloaded" in (error.detail or "")
    assert "overloaded" not in str(error)


def test_a_dict_of_the_wrong_shape_is_a_protocol_fault() -> None:
    """Valid JSON that is not a chunk gives a StreamProtocolError fault, not a crash."""
    fault = convert_chunk({"choices": "nope"})
    assert isinstance(fault, Fault)
    assert isinstance(fault.error, StreamProtocolError)


def test_sse_events() -> None:
    """Raw SSE: JSON data, [DONE] and blank data, malformed data, and `event: error`."""
    assert convert_sse_event(ServerSentEvent(data=json.dumps(chunk({"content": "x"})))) == "x"
    assert convert_sse_event(ServerSentEvent(data="[DONE]")) is None
    assert convert_sse_event(ServerSentEvent(data="  ")) is None
    bad = convert_sse_event(ServerSentEvent(data='{"choices": [{"delta": {"content": "bro'))
    assert isinstance(bad, Fault)
    assert isinstance(bad.error, StreamProtocolError)
    assert bad.error.retryable is True
    assert isinstance(bad.error.__cause__, msgspec.DecodeError)
    err = convert_sse_event(ServerSentEvent(event="error", data='{"error": {"code": 429}}'))
    assert isinstance(err, Fault)
    assert err.error.retry_reason == "rate_limit"
    text = convert_sse_event(ServerSentEvent(event="error", data="upstream died"))
    assert isinstance(text, Fault)
    assert "upstream died" in (text.error.detail or "")


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
_KEYS = st.sampled_from(["choices", "delta", "content", "tool_calls", "index", "function",
                         "usage", "error", "finish_reason", "refusal", "reasoning"])  # fmt: skip
_CHUNKISH = st.recursive(
    _JSON,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_KEYS, inner, max_size=5),
    max_leaves=20,
)
_VALID = (str, Finish, Usage, Fault, ToolCallDelta, l0.Data)


@given(_CHUNKISH)
def test_convert_never_raises_and_yields_only_chunks(value: Any) -> None:
    """Any JSON value, as a dict chunk or as SSE data, converts to l0 chunks without raising."""
    for result in (
        convert_chunk({"choices": value} if not isinstance(value, dict) else value),
        convert_sse_event(ServerSentEvent(data=json.dumps(value))),
    ):
        items = result if isinstance(result, list) else [] if result is None else [result]
        assert all(isinstance(item, _VALID) for item in items), items


# -- statuses, headers and payloads ------------------------------------------------------------


def test_retry_after_headers() -> None:
    """retry-after-ms wins; Retry-After in seconds or as an HTTP date; garbage is ignored."""
    assert retry_after_from({"retry-after": "3"}) == 3.0
    assert retry_after_from({"retry-after-ms": "250", "retry-after": "3"}) == 0.25
    assert retry_after_from({"retry-after": "Wed, 21 Oct 2015 07:28:10 GMT"}, now=1445412480) == 10
    assert retry_after_from({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, now=1445412490) == 0
    assert retry_after_from({"retry-after": "soon"}) is None
    assert retry_after_from({"retry-after": "-5"}) == 0.0
    assert retry_after_from({"retry-after": "nan"}) is None
    assert retry_after_from(None) is None
    assert retry_after_from(httpx.Headers({"Retry-After": "1.5"})) == 1.5


@pytest.mark.parametrize(
    ("status", "retryable", "reason", "counts"),
    [
        (429, True, "rate_limit", False),
        (408, True, "timeout", False),
        (409, True, "server_error", False),
        (500, True, "server_error", False),
        (503, True, "server_error", False),
        (400, False, "unknown", True),
        (401, False, "unknown", True),
        (403, False, "unknown", True),
        (404, False, "unknown", True),
        (422, False, "unknown", True),
    ],
)
def test_status_policy(status: int, retryable: bool, reason: str, counts: bool) -> None:
    """Rate limits, timeouts and server errors are retried (off the attempts budget); other
    4xx are not."""
    error = status_error(status, headers={"retry-after": "2"}, provider="p")
    assert (error.status_code, error.retryable, error.retry_reason) == (status, retryable, reason)
    assert error.counts_toward_limit is counts
    assert error.retry_after == 2.0
    assert error.metadata["status_code"] == status
    assert str(error).startswith(f"p: HTTP {status}")


def test_status_error_message_from_the_body() -> None:
    """The provider's message and type/code are taken from its error body."""
    body = {"error": {"message": "model not found", "type": "invalid_request_error", "code": "x"}}
    error = status_error(404, body=body)
    assert "model not found" in (error.detail or "")
    assert (error.error_type, error.error_code, error.body) == ("invalid_request_error", "x", body)


@pytest.mark.parametrize(
    ("payload", "retryable", "reason"),
    [
        ({"error": {"message": "m", "type": "server_error"}}, True, "server_error"),
        ({"error": {"message": "m", "code": "rate_limit_exceeded"}}, True, "rate_limit"),
        ({"error": {"message": "m", "type": "invalid_request_error"}}, False, "unknown"),
        ({"error": {"message": "m", "code": 401}}, False, "unknown"),
        ({"error": {"message": "m", "code": 503}}, True, "server_error"),
        ({"message": "bare object"}, True, "server_error"),
        ("just text", True, "server_error"),
    ],
)
def test_in_band_payload_policy(payload: Any, retryable: bool, reason: str) -> None:
    """Error events are classified by their type/code fields (or a numeric status code)."""
    error = payload_error(payload)
    assert (error.retryable, error.retry_reason, error.status_code) == (retryable, reason, None)


def test_httpx_transport_errors() -> None:
    """httpx transport errors are network errors (a timeout flagged); a status error by status."""
    request = httpx.Request("POST", "http://x")
    read = transport_error(httpx.ReadError("reset", request=request))
    assert isinstance(read, l0.NetworkError)
    assert read.retry_reason == "network_error"
    timeout = transport_error(httpx.ReadTimeout("slow", request=request))
    assert isinstance(timeout, l0.NetworkError)
    assert (timeout.retry_reason, timeout.failure_type) == ("timeout", "timeout")
    response = httpx.Response(429, headers={"retry-after": "4"}, request=request)
    status = transport_error(httpx.HTTPStatusError("429", request=request, response=response))
    assert isinstance(status, ProviderError)
    assert (status.status_code, status.retry_after) == (429, 4.0)
    assert transport_error(ValueError("x")) is None
    # The openai adapter maps raw httpx errors too (openai 2.x lets them through mid-stream).
    assert isinstance(map_openai_error(httpx.RemoteProtocolError("eof")), l0.NetworkError)


# -- detection without importing openai --------------------------------------------------------


def _fake_stream_type(module: str, name: str = "AsyncStream") -> object:
    cls = types.new_class(name)
    cls.__module__ = module
    return cls()


def test_detect_by_type_without_importing_openai() -> None:
    """The openai adapter recognises openai.AsyncStream by its class, importing nothing."""
    adapter = OpenAIAdapter()
    assert adapter.detect(_fake_stream_type("openai")) is True
    assert adapter.detect(_fake_stream_type("openai._streaming")) is True
    assert adapter.detect(_fake_stream_type("openaix")) is False
    assert adapter.detect(_fake_stream_type("openai", "Stream")) is False


def test_import_l0_imports_no_sdk() -> None:
    """`import l0` and the provider adapters import no SDK (nor httpx, until it is used)."""
    code = (
        "import sys, l0, l0.adapters._providers\n"
        "print(sorted(m for m in ('openai', 'litellm', 'httpx', 'httpx2') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# -- the real SDK against the fake server ------------------------------------------------------

# The SDK tests do not run on trio's MockClock: the SDK waits on a worker thread on its first
# request, and a mock clock jumps ahead during the wait.
# Under trio the openai SDK itself leaves async generators for the garbage collector (its
# AsyncStream breaks out of its event loop at [DONE]); trio warns about each. Not l0's to fix.
sdk_leaks = pytest.mark.filterwarnings("ignore:Async generator:ResourceWarning")


def _openai() -> Any:
    return pytest.importorskip("openai")


def _sdk_httpx() -> Any:
    openai = _openai()
    return importlib.import_module(
        "httpx2" if int(openai.__version__.split(".")[0]) >= 3 else "httpx"
    )


@pytest.fixture
async def sdk(l0_server: FakeServer) -> AsyncIterator[Any]:
    openai = _openai()
    async with openai.AsyncOpenAI(
        base_url=l0_server.base_url, api_key="x", max_retries=0, timeout=60
    ) as client:
        yield client


def factory(client: Any, **extra: Any) -> Any:
    async def create() -> Any:
        return await client.chat.completions.create(
            model="gpt-test", messages=[{"role": "user", "content": "hi"}], stream=True, **extra
        )

    return create


def test_sdk_error_mapping() -> None:
    """SDK exceptions map by type and status; retry-after comes from the response headers."""
    openai = _openai()
    h = _sdk_httpx()
    request = h.Request("POST", "http://x/v1/chat/completions")
    response = h.Response(429, headers={"retry-after-ms": "1500"}, request=request)
    body = {"message": "slow down", "type": "requests", "code": "rate_limit_exceeded"}
    rate = map_openai_error(openai.RateLimitError("Error code: 429", response=response, body=body))
    assert isinstance(rate, ProviderError)
    assert (rate.status_code, rate.retry_reason, rate.retry_after) == (429, "rate_limit", 1.5)
    assert "slow down" in (rate.detail or "")
    auth = map_openai_error(
        openai.AuthenticationError("no", response=h.Response(401, request=request), body=None)
    )
    assert isinstance(auth, ProviderError)
    assert auth.retryable is False
    timeout = map_openai_error(openai.APITimeoutError(request=request))
    assert isinstance(timeout, l0.NetworkError)
    assert timeout.retry_reason == "timeout"
    conn = map_openai_error(openai.APIConnectionError(request=request))
    assert isinstance(conn, l0.NetworkError)
    assert conn.retryable is True
    in_band = map_openai_error(openai.APIError("boom", request, body={"type": "server_error"}))
    assert isinstance(in_band, ProviderError)
    assert (in_band.status_code, in_band.retryable) == (None, True)
    assert map_openai_error(ValueError("not mine")) is None


@sdk_leaks
async def test_sdk_text_tools_usage_and_reuse(l0_server: FakeServer, sdk: Any) -> None:
    """Text, tool calls and usage come through the SDK; the adapter is detected by type."""
    call = FunctionCall(name="lookup", arguments={"q": "l0"})
    l0_server.enqueue(Script(text="Hello there", tool_calls=[call], usage=True))
    stream = l0.run(factory(sdk))
    events = [e async for e in stream]
    assert stream.state.content == "Hello there"
    assert [e for e in events if isinstance(e, l0.ToolCall)] == [
        l0.ToolCall(id="call_0", name="lookup", arguments={"q": "l0"})
    ]
    assert stream.state.finish_reason == "tool_calls"
    assert stream.state.usage == {"input_tokens": 0, "output_tokens": 2, "total_tokens": 2}
    assert stream.state.errors == []


@sdk_leaks
@pytest.mark.parametrize(
    ("fault", "kind"),
    [
        (Drop(after=2), l0.NetworkError),
        (Truncate(after=2), l0.StreamTruncated),
        (Malformed(after=1), StreamProtocolError),
        (InBandError(after=1), ProviderError),
        (HttpError(status=503), ProviderError),
    ],
    ids=["drop", "truncate", "malformed", "in-band", "503"],
)
async def test_sdk_faults_are_retried_with_exact_text(
    l0_server: FakeServer, sdk: Any, zero_backoff: None, fault: Any, kind: type
) -> None:
    """Each mid-stream fault fails the attempt with its typed error; the retry's text is exact."""
    l0_server.enqueue(Script(text="one two three", faults=[fault]), Script(text="fine now"))
    stream = l0.run(factory(sdk))
    assert await stream.read() == "fine now"
    (error,) = stream.state.errors
    assert isinstance(error, kind), repr(error)


@sdk_leaks
async def test_sdk_401_is_not_retried(l0_server: FakeServer, sdk: Any) -> None:
    """A 401 from the SDK is a non-retryable ProviderError: one attempt, then it fails."""
    l0_server.enqueue(Script(faults=[HttpError(status=401)]), Script(text="never"))
    stream = l0.run(factory(sdk))
    with pytest.raises(l0.AllStreamsExhausted):
        await stream.read()
    (error,) = stream.state.errors
    assert isinstance(error, ProviderError)
    assert (error.status_code, error.retryable) == (401, False)
    assert len(l0_server.requests) == 1


@sdk_leaks
async def test_sdk_429_retry_after_is_honoured(l0_server: FakeServer, sdk: Any) -> None:
    """A 429's Retry-After sets the wait before the retry."""
    l0_server.enqueue(Script(faults=[HttpError(status=429, retry_after=0.3)]), Script(text="ok"))
    stream = l0.run(factory(sdk), retry=l0.Retry(base_delay=0, max_delay=0))
    start = anyio.current_time()
    assert await stream.read() == "ok"
    elapsed = anyio.current_time() - start
    (error,) = stream.state.errors
    assert (error.retry_reason, error.retry_after) == ("rate_limit", 0.3)
    assert elapsed >= 0.3


@sdk_leaks
async def test_sdk_keep_alives_are_not_content(
    l0_server: FakeServer, sdk: Any, zero_backoff: None
) -> None:
    """Keep-alive comments only: the initial-token timeout fires; the retry recovers."""
    l0_server.enqueue(Script(faults=[KeepAlive(interval=0.05)]), Script(text="ok"))
    stream = l0.run(factory(sdk), timeout=l0.Timeout(initial_token=0.5))
    assert await stream.read() == "ok"
    (error,) = stream.state.errors
    assert error.code == l0.ErrorCode.INITIAL_TOKEN_TIMEOUT


@sdk_leaks
async def test_sdk_cancelled_consumer_closes_the_connection(
    l0_server: FakeServer, sdk: Any
) -> None:
    """Cancelling the consumer mid-stream closes the SDK's connection at once."""
    l0_server.enqueue(Script(text="a b c", faults=[Stall(seconds=3600, after=1)]))
    got: list[str] = []
    with anyio.move_on_after(10) as scope:
        async for event in l0.run(factory(sdk)):
            got.append(event.text)
            scope.cancel()
    assert got == ["a"]
    with anyio.fail_after(10):
        await l0_server.wait_until(lambda: not l0_server.connections[0].open)
    assert l0_server.connections[0].abandoned is True


def test_sdk_objects_are_read_without_attribute_misses() -> None:
    """The SDK's pydantic chunks: fields, and extra keys such as a provider's
    reasoning_content, are read from the model's own storage (a miss through pydantic's
    __getattr__ costs microseconds per chunk)."""
    from openai.types.chat import ChatCompletionChunk  # noqa: PLC0415

    from l0.adapters import convert_chunk  # noqa: PLC0415

    def chunk(delta: dict[str, object]) -> ChatCompletionChunk:
        return ChatCompletionChunk.model_validate({
            "id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
            "choices": [{"index": 0, "delta": delta, "finish_reason": None}],
        })  # fmt: skip

    assert convert_chunk(chunk({"content": "hi"})) == "hi"
    out = convert_chunk(chunk({"content": "hi", "reasoning_content": "think"}))
    assert isinstance(out, list)
    assert out[1] == "hi"
    assert out[0].payload == "think"  # pyright: ignore[reportAttributeAccessIssue]


# -- the fast lane for plain text deltas --------------------------------------------------------

_USAGE = {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}
_TWO = {"index": 1, "delta": {"content": "b"}, "finish_reason": None}
_ZERO = {"index": 0, "delta": {"content": "a"}, "finish_reason": None}
_PLAIN_CASES: list[tuple[dict[str, Any], bool]] = [
    (chunk({"content": "Hello"}), True),
    (chunk({"content": "Hi", "role": "assistant"}), True),
    (chunk({"content": ""}), False),
    (chunk({"role": "assistant"}), False),
    (chunk({"content": "end"}, finish="stop"), False),
    (chunk({"content": "x", "refusal": "no"}), False),
    (chunk({"content": "x", "tool_calls": [{"index": 0, "function": {"arguments": "{"}}]}), False),
    (chunk({"content": "x", "function_call": {"name": "f", "arguments": ""}}), False),
    (chunk({"content": "x", "reasoning_content": "hmm"}), False),
    (chunk({"content": "x"}, usage=_USAGE), False),
    (chunk({"content": "x"}, error={"message": "boom"}), False),
    (chunk(None), False),
    ({**chunk({"content": "a"}), "choices": [_TWO, _ZERO]}, False),
    ({**chunk({"content": "a"}), "choices": [_TWO]}, False),
]


@pytest.mark.parametrize(("data", "plain"), _PLAIN_CASES)
def test_plain_text_reads_exactly_what_convert_gives(data: dict[str, Any], plain: bool) -> None:
    """``plain_text`` (the token path's fast lane for SDK chunks) gives a text only for chunks
    that are nothing but a text delta, and then exactly what the full conversion gives."""
    openai = pytest.importorskip("openai")
    from openai._models import construct_type  # noqa: PLC0415
    from openai.types.chat import ChatCompletionChunk  # noqa: PLC0415

    del openai
    full = {"created": 0, "model": "m", **data}
    for item in (
        ChatCompletionChunk.model_validate(full),
        construct_type(type_=ChatCompletionChunk, value=full),  # how the SDK builds them
    ):
        text = plain_text(item)
        assert (text is not None) == plain
        if text is not None:
            assert convert_chunk(item) == text
    assert plain_text(full) is None  # a dict takes the full conversion
    assert plain_text("text") is None
