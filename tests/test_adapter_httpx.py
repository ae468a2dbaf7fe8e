"""The httpx SSE path against the fault-injecting server, on asyncio and trio (MockClock for
the timing tests): every fault recovers or fails with its typed error, and connections close."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx
import pytest

import l0
from l0.adapters._errors import ProviderError, StreamProtocolError
from l0.adapters._httpx import HttpxSSEAdapter, SSEFactory, SSERequest, openai_sse
from l0.testing import (
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
from tests._sources import assert_slept, is_mock_clock

l0_server = pytest_plugin.l0_server  # the plugin's fixture, without the entry point

BODY = {"model": "gpt-test", "messages": [{"role": "user", "content": "Say hello"}]}


@pytest.fixture
async def client(l0_server: FakeServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=l0_server.base_url, timeout=None) as http:
        yield http


def sse(client: httpx.AsyncClient, **kwargs: Any) -> SSEFactory:
    return openai_sse(client, json=BODY, **kwargs)


async def closed(server: FakeServer, index: int, within: float = 10) -> None:
    """Wait until the connection that carried request ``index`` is closed."""

    def done() -> bool:
        request = server.requests[index] if len(server.requests) > index else None
        return request is not None and not server.connections[request.connection].open

    with anyio.fail_after(within):
        await server.wait_until(done)


# -- the happy path -----------------------------------------------------------------------------


async def test_clean_stream_and_connection_reuse(
    l0_server: FakeServer, client: httpx.AsyncClient
) -> None:
    """Text arrives exactly; after [DONE] the connection goes back to the pool and is reused."""
    l0_server.enqueue(Script(text="Hello there, world"), Script(text="again"))
    first = l0.run(sse(client))
    tokens = [e.text async for e in first if e.is_token]
    assert tokens == ["Hello", " there,", " world"]
    assert (first.state.content, first.state.finish_reason) == ("Hello there, world", "stop")
    assert await l0.run(sse(client)).read() == "again"
    assert len(l0_server.connections) == 1
    assert l0_server.requests[0].json == {**BODY, "stream": True}


async def test_tool_calls_and_usage(l0_server: FakeServer, client: httpx.AsyncClient) -> None:
    """Tool-call deltas arrive as whole ToolCall events; the usage chunk fills state.usage."""
    calls = [FunctionCall(name="weather", arguments={"city": "Paris"}, split=4),
             FunctionCall(name="time", arguments="{}", id="t1")]  # fmt: skip
    l0_server.enqueue(Script(text="Checking.", tool_calls=calls,
                             usage=TokenUsage(prompt_tokens=7)))  # fmt: skip
    stream = l0.run(sse(client))
    events = [e async for e in stream]
    assert [e for e in events if isinstance(e, l0.ToolCall)] == [
        l0.ToolCall(id="call_0", name="weather", arguments={"city": "Paris"}),
        l0.ToolCall(id="t1", name="time", arguments={}),
    ]
    assert stream.state.finish_reason == "tool_calls"
    assert stream.state.usage == {"input_tokens": 7, "output_tokens": 1, "total_tokens": 8}


async def test_body_factory_gets_the_attempt_context(
    l0_server: FakeServer, client: httpx.AsyncClient, zero_backoff: None
) -> None:
    """json= may be a function of the AttemptContext: each attempt builds its own request."""
    l0_server.enqueue(Script(text="a b c", faults=[Drop(after=2)]), Script(text="a b c"))

    def body(context: l0.AttemptContext) -> dict[str, Any]:
        return {**BODY, "model": f"attempt-{context.attempt}"}

    stream = l0.run(openai_sse(client, json=body), adapter=HttpxSSEAdapter())
    assert await stream.read() == "a b c"
    assert [r.json["model"] for r in l0_server.requests] == ["attempt-1", "attempt-2"]


async def test_an_sse_request_can_be_built_by_hand(
    l0_server: FakeServer, client: httpx.AsyncClient
) -> None:
    """A factory of one's own may return an SSERequest (here with a full URL and headers)."""
    l0_server.enqueue(Script(text="by hand"))
    url = f"{l0_server.base_url}/chat/completions"

    def factory() -> SSERequest:
        return SSERequest(client=client, url=url, json={**BODY, "stream": True},
                          headers={"authorization": "Bearer k"})  # fmt: skip

    assert await l0.run(factory).read() == "by hand"
    assert l0_server.requests[0].headers["authorization"] == "Bearer k"


def test_openai_sse_checks_its_arguments() -> None:
    """A client that is not an httpx.AsyncClient, or a body that is not a mapping, is refused."""
    with pytest.raises(l0.ConfigError, match="AsyncClient"):
        openai_sse(object(), json=BODY)  # type: ignore[arg-type]
    with pytest.raises(l0.ConfigError, match="mapping"):
        openai_sse(httpx.AsyncClient(), json=["not", "a", "body"])  # type: ignore[arg-type]


# -- faults -------------------------------------------------------------------------------------


async def test_drop_after_k_tokens_recovers_with_exact_text(
    l0_server: FakeServer, client: httpx.AsyncClient, zero_backoff: None
) -> None:
    """A dropped connection is a NetworkError; the retry's text is exact, after a Reset."""
    l0_server.enqueue(Script(text="one two three four", faults=[Drop(after=2, reset=True)]),
                      Script(text="one two three four"))  # fmt: skip
    stream = l0.run(sse(client))
    events = [e async for e in stream]
    assert stream.state.content == "one two three four"
    resets = [e for e in events if isinstance(e, l0.Reset)]
    assert [r.discarded for r in resets] == [len("one two")]
    (error,) = stream.state.errors
    assert isinstance(error, l0.NetworkError)
    assert error.adapter == "httpx-sse"


async def test_truncation_is_retried(
    l0_server: FakeServer, client: httpx.AsyncClient, zero_backoff: None
) -> None:
    """A body that ends without finish_reason/[DONE] is StreamTruncated, and retried."""
    l0_server.enqueue(Script(text="cut short here", faults=[Truncate(after=2)]),
                      Script(text="whole"))  # fmt: skip
    stream = l0.run(sse(client))
    assert await stream.read() == "whole"
    (error,) = stream.state.errors
    assert isinstance(error, l0.StreamTruncated)


@pytest.mark.parametrize("status", [500, 503, 502, 408, 409])
async def test_server_errors_are_retried(
    l0_server: FakeServer,
    client: httpx.AsyncClient,
    zero_backoff: None,
    status: int,
) -> None:
    """5xx (and 408, 409) are transient: retried."""
    l0_server.enqueue(Script(faults=[HttpError(status=status)]), Script(text="recovered"))
    stream = l0.run(sse(client))
    assert await stream.read() == "recovered"
    (error,) = stream.state.errors
    assert isinstance(error, ProviderError)
    assert (error.status_code, error.retryable) == (status, True)
    assert error.counts_toward_limit is False


@pytest.mark.parametrize("status", [400, 401, 403, 404])
async def test_client_errors_are_not_retried(
    l0_server: FakeServer, client: httpx.AsyncClient, status: int
) -> None:
    """400/401/403/404 fail at once: the same request would fail the same way."""
    l0_server.enqueue(Script(faults=[HttpError(status=status, message="nope")]))
    stream = l0.run(sse(client))
    with pytest.raises(l0.AllStreamsExhausted) as caught:
        await stream.read()
    (error,) = caught.value.errors
    assert isinstance(error, ProviderError)
    assert (error.status_code, error.retryable) == (status, False)
    assert "nope" not in str(error)  # the provider's words are the detail, not the message
    assert "nope" in (error.detail or "")
    assert len(l0_server.requests) == 1


async def test_client_error_falls_back(l0_server: FakeServer, client: httpx.AsyncClient) -> None:
    """A non-retryable provider error still lets a fallback run."""
    l0_server.enqueue(Script(faults=[HttpError(status=401)]), Script(text="from the fallback"))
    stream = l0.run(sse(client), fallbacks=[sse(client)])
    assert await stream.read() == "from the fallback"
    assert stream.state.fallback_index == 1


@pytest.mark.timing
@pytest.mark.parametrize(
    "fault",
    [HttpError(status=429, retry_after=0.5), HttpError(status=429, retry_after_ms=300)],
    ids=["retry-after", "retry-after-ms"],
)
async def test_429_retry_after_is_honoured(
    l0_server: FakeServer,
    client: httpx.AsyncClient,
    anyio_backend: Any,
    fault: HttpError,
) -> None:
    """A 429 is a rate limit: the retry waits what Retry-After (or retry-after-ms) says."""
    l0_server.enqueue(Script(faults=[fault]), Script(text="ok"))
    stream = l0.run(sse(client), retry=l0.Retry(base_delay=0, max_delay=0))
    start = anyio.current_time()
    assert await stream.read() == "ok"
    elapsed = anyio.current_time() - start
    (error,) = stream.state.errors
    expected = 0.5 if fault.retry_after is not None else 0.3
    assert isinstance(error, ProviderError)
    assert (error.status_code, error.retry_reason, error.retry_after) == (
        429,
        "rate_limit",
        expected,
    )
    if is_mock_clock(anyio_backend):
        assert elapsed == pytest.approx(expected)
    else:
        assert expected <= elapsed < expected + 1


async def test_malformed_line_is_a_typed_error(
    l0_server: FakeServer, client: httpx.AsyncClient, zero_backoff: None
) -> None:
    """A data line of broken JSON fails the attempt with StreamProtocolError (retried); the
    abandoned connection is closed."""
    l0_server.enqueue(Script(text="a b c", faults=[Malformed(after=1)]), Script(text="clean"))
    stream = l0.run(sse(client))
    assert await stream.read() == "clean"
    (error,) = stream.state.errors
    assert isinstance(error, StreamProtocolError)
    assert error.retryable is True
    await closed(l0_server, 0)


async def test_in_band_error_fails_the_attempt(
    l0_server: FakeServer, client: httpx.AsyncClient, zero_backoff: None
) -> None:
    """An error event inside the stream fails the attempt with a ProviderError (no status)."""
    fault = InBandError(after=2, error_type="server_error")
    l0_server.enqueue(Script(text="a b c", faults=[fault]), Script(text="second"))
    stream = l0.run(sse(client))
    assert await stream.read() == "second"
    (error,) = stream.state.errors
    assert isinstance(error, ProviderError)
    assert (error.status_code, error.error_type, error.retryable) == (None, "server_error", True)


async def test_in_band_invalid_request_is_not_retried(
    l0_server: FakeServer, client: httpx.AsyncClient
) -> None:
    """An error event whose type says the request is invalid is not retried."""
    l0_server.enqueue(Script(faults=[InBandError(error_type="invalid_request_error")]))
    with pytest.raises(l0.AllStreamsExhausted):
        await l0.run(sse(client)).read()
    assert len(l0_server.requests) == 1


async def test_a_json_answer_is_not_an_event_stream(
    l0_server: FakeServer, client: httpx.AsyncClient
) -> None:
    """ "stream": false gets a JSON completion: a clear, non-retryable StreamProtocolError."""
    factory = openai_sse(client, json={**BODY, "stream": False})
    with pytest.raises(l0.AllStreamsExhausted) as caught:
        await l0.run(factory).read()
    (error,) = caught.value.errors
    assert isinstance(error, StreamProtocolError)
    assert error.retryable is False
    assert l0_server.requests[0].json["stream"] is False


async def test_a_line_over_the_limit_is_a_typed_error(
    l0_server: FakeServer, client: httpx.AsyncClient
) -> None:
    """Lines longer than max_line_length fail with StreamProtocolError, not unbounded memory."""
    l0_server.enqueue(Script(text="x" * 500), Script(text="x" * 500))
    stream = l0.run(sse(client, max_line_length=100), retry=l0.Retry(attempts=0, max_retries=0))
    with pytest.raises(l0.AllStreamsExhausted) as caught:
        await stream.read()
    assert isinstance(caught.value.errors[0], StreamProtocolError)
    await closed(l0_server, 0)


# -- deadlines (trio runs these on a MockClock) -------------------------------------------------


@pytest.mark.timing
async def test_stall_before_first_token_times_out_and_retries(
    l0_server: FakeServer,
    client: httpx.AsyncClient,
    zero_backoff: None,
    anyio_backend: Any,
) -> None:
    """A stall before the first token is an initial-token timeout; the retry recovers."""
    l0_server.enqueue(Script(text="late", faults=[Stall(seconds=60)]), Script(text="on time"))
    stream = l0.run(sse(client), timeout=l0.Timeout(initial_token=0.5))
    start = anyio.current_time()
    assert await stream.read() == "on time"
    (error,) = stream.state.errors
    assert error.code == l0.ErrorCode.INITIAL_TOKEN_TIMEOUT
    assert_slept(anyio_backend, anyio.current_time() - start, 0.5)


@pytest.mark.timing
async def test_slow_headers_count_against_the_first_token(
    l0_server: FakeServer,
    client: httpx.AsyncClient,
    zero_backoff: None,
    anyio_backend: Any,
) -> None:
    """The request itself (waiting for headers) is under the initial-token deadline."""
    l0_server.enqueue(Script(faults=[SlowHeaders(seconds=60)]), Script(text="quick"))
    stream = l0.run(sse(client), timeout=l0.Timeout(initial_token=0.5))
    assert await stream.read() == "quick"
    assert stream.state.errors[0].code == l0.ErrorCode.INITIAL_TOKEN_TIMEOUT


@pytest.mark.timing
async def test_stall_mid_stream_is_an_inter_token_timeout(
    l0_server: FakeServer,
    client: httpx.AsyncClient,
    zero_backoff: None,
    anyio_backend: Any,
) -> None:
    """A stall after some tokens is an inter-token timeout; the retry's text is exact."""
    l0_server.enqueue(Script(text="a b c d", faults=[Stall(seconds=60, after=2)]),
                      Script(text="a b c d"))  # fmt: skip
    stream = l0.run(sse(client), timeout=l0.Timeout(inter_token=0.5))
    assert await stream.read() == "a b c d"
    assert stream.state.errors[0].code == l0.ErrorCode.INTER_TOKEN_TIMEOUT


@pytest.mark.timing
async def test_keep_alives_only_is_an_initial_token_timeout(
    l0_server: FakeServer,
    client: httpx.AsyncClient,
    zero_backoff: None,
    anyio_backend: Any,
) -> None:
    """Keep-alive comments are not content: the first-token deadline fires through them."""
    l0_server.enqueue(Script(faults=[KeepAlive(interval=0.1)]), Script(text="finally"))
    stream = l0.run(sse(client), timeout=l0.Timeout(initial_token=1.0))
    start = anyio.current_time()
    assert await stream.read() == "finally"
    (error,) = stream.state.errors
    assert error.code == l0.ErrorCode.INITIAL_TOKEN_TIMEOUT
    assert_slept(anyio_backend, anyio.current_time() - start, 1.0)


@pytest.mark.timing
async def test_slow_trickle_within_deadlines_completes(
    l0_server: FakeServer,
    client: httpx.AsyncClient,
    anyio_backend: Any,
) -> None:
    """A slow but steady stream (0.2 s per token, deadline 0.5 s) is not a stall."""
    l0_server.enqueue(Script(text="slow and steady wins", delay=0.2))
    stream = l0.run(sse(client), timeout=l0.Timeout(initial_token=0.5, inter_token=0.5))
    assert await stream.read() == "slow and steady wins"
    assert stream.state.errors == []


# -- closing ------------------------------------------------------------------------------------


async def test_cancelling_the_consumer_closes_the_connection(
    l0_server: FakeServer, client: httpx.AsyncClient
) -> None:
    """Cancelling the consumer mid-stream closes the connection at once."""
    l0_server.enqueue(Script(text="a b c", faults=[Stall(seconds=3600, after=1)]))
    got: list[str] = []
    with anyio.CancelScope() as scope:
        async for event in l0.run(sse(client)):
            got.append(event.text)
            scope.cancel()
    assert got == ["a"]
    await closed(l0_server, 0)
    assert l0_server.connections[0].abandoned is True


async def test_every_abandoned_connection_is_closed(
    l0_server: FakeServer, client: httpx.AsyncClient, zero_backoff: None
) -> None:
    """After a run of faulty attempts, only the pooled connection of the clean one is open."""
    l0_server.enqueue(
        Script(text="a b c", faults=[Malformed(after=1)]),
        Script(text="a b c", faults=[Drop(after=1)]),
        Script(text="a b c", faults=[InBandError(after=1)]),
        Script(text="a b c"),
    )
    stream = l0.run(sse(client))
    assert await stream.read() == "a b c"
    assert len(stream.state.errors) == 3
    last = l0_server.requests[-1].connection
    with anyio.fail_after(10):
        await l0_server.wait_until(
            lambda: all(not c.open for c in l0_server.connections if c.id != last)
        )
    assert l0_server.connections[last].open is True  # back in the pool, ready for reuse


_CUTS = {
    "stall": Script(text="a b", faults=[Stall(seconds=3600)]),
    "slow-headers": Script(faults=[SlowHeaders(seconds=3600)]),
    "keep-alive": Script(faults=[KeepAlive(interval=0.1)]),
    "stall-mid-stream": Script(text="a b c", faults=[Stall(seconds=3600, after=1)]),
}


@pytest.mark.timing
@pytest.mark.parametrize("case", sorted(_CUTS))
async def test_a_timed_out_attempt_closes_its_connection(
    l0_server: FakeServer,
    client: httpx.AsyncClient,
    zero_backoff: None,
    anyio_backend: Any,
    case: str,
) -> None:
    """When a deadline cuts an attempt, the server sees its connection closed at once."""
    l0_server.enqueue(_CUTS[case], Script(text="next"))
    timeout = l0.Timeout(initial_token=0.5, inter_token=0.5)
    assert await l0.run(sse(client), timeout=timeout).read() == "next"
    await closed(l0_server, 0, within=1)
    assert l0_server.connections[0].abandoned is True


async def test_abort_between_events_closes_the_connection(
    l0_server: FakeServer, client: httpx.AsyncClient
) -> None:
    """stream.abort() from the consumer's loop closes the connection at once."""
    l0_server.enqueue(Script(text="a b c", faults=[Stall(seconds=3600, after=1)]))
    stream = l0.run(sse(client))

    async def consume() -> None:
        async for _ in stream:
            stream.abort()

    with pytest.raises(l0.StreamAborted):
        await consume()
    await closed(l0_server, 0, within=1)


async def test_abort_while_parked_closes_the_connection(
    l0_server: FakeServer, client: httpx.AsyncClient
) -> None:
    """stream.abort() while the read waits for the stalled server closes the connection."""
    l0_server.enqueue(Script(text="a b c", faults=[Stall(seconds=3600, after=1)]))
    first = anyio.Event()
    stream = l0.run(sse(client), on_token=lambda _text: first.set())
    async with anyio.create_task_group() as tg:

        async def abort_when_parked() -> None:
            with anyio.fail_after(10):
                await first.wait()
            await anyio.sleep(0.05)  # the read is now waiting for the stalled server
            stream.abort()

        tg.start_soon(abort_when_parked)
        with pytest.raises(l0.StreamAborted):
            await stream.read()
    await closed(l0_server, 0, within=1)
