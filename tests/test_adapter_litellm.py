"""litellm streams against the fault-injecting server (asyncio), and the refusal under trio.

Skipped without litellm (``uv run --group test --with litellm pytest ...``). litellm is slow
to import, so it is imported inside the tests, once, never at module level.
"""

from __future__ import annotations

import gc
import importlib.util
import os
import types
from typing import Any

import anyio
import pytest

import l0
from l0.adapters._errors import ProviderError, StreamProtocolError
from l0.adapters._litellm import LiteLLMAdapter, map_litellm_error
from l0.testing import (
    Drop,
    FakeServer,
    FunctionCall,
    HttpError,
    InBandError,
    Malformed,
    Script,
    Stall,
    Truncate,
    pytest_plugin,
)

l0_server = pytest_plugin.l0_server  # the plugin's fixture, without the entry point

needs_litellm = pytest.mark.skipif(
    importlib.util.find_spec("litellm") is None, reason="litellm is not installed"
)
asyncio_only = pytest.mark.parametrize("anyio_backend", ["asyncio"])


def _litellm() -> Any:
    # Use the cost map shipped with litellm instead of fetching one (there is no network).
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm  # noqa: PLC0415 - slow import, only when a test needs it

    litellm.suppress_debug_info = True
    return litellm


@pytest.fixture
async def litellm(l0_server: FakeServer) -> Any:
    return _litellm()


def factory(litellm: Any, server: FakeServer, **extra: Any) -> Any:
    async def create() -> Any:
        return await litellm.acompletion(
            model="openai/gpt-test",
            api_base=server.base_url,
            api_key="x",
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
            num_retries=0,
            max_retries=0,
            **extra,
        )

    return create


# -- without litellm ----------------------------------------------------------------------------


def _fake(module: str, name: str) -> object:
    cls = types.new_class(name)
    cls.__module__ = module
    return cls()


def test_detect_by_type_without_importing_litellm() -> None:
    """The adapter recognises litellm's CustomStreamWrapper by its class, importing nothing."""
    adapter = LiteLLMAdapter()
    wrapper = "litellm.litellm_core_utils.streaming_handler"
    assert adapter.detect(_fake(wrapper, "CustomStreamWrapper")) is True
    assert adapter.detect(_fake("mylib", "CustomStreamWrapper")) is False
    assert adapter.backends == frozenset({"asyncio"})
    assert map_litellm_error(ValueError("not litellm's")) is None


# -- with litellm -------------------------------------------------------------------------------


@needs_litellm
@asyncio_only
async def test_text_tools_and_finish(l0_server: FakeServer, litellm: Any) -> None:
    """Text and tool calls stream through litellm; the adapter is detected by type."""
    call = FunctionCall(name="lookup", arguments={"q": "l0"})
    l0_server.enqueue(Script(text="Hello from litellm", tool_calls=[call]))
    stream = l0.run(factory(litellm, l0_server))
    events = [e async for e in stream]
    assert stream.state.content == "Hello from litellm"
    assert [e for e in events if isinstance(e, l0.ToolCall)] == [
        l0.ToolCall(id="call_0", name="lookup", arguments={"q": "l0"})
    ]
    assert stream.state.finish_reason == "tool_calls"
    assert stream.state.errors == []


@needs_litellm
@asyncio_only
@pytest.mark.parametrize(
    ("fault", "kind"),
    [
        (Drop(after=2), l0.NetworkError),
        (Truncate(after=2), l0.StreamTruncated),
        (Malformed(after=1), StreamProtocolError),
        (InBandError(after=1, error_type="server_error"), ProviderError),
    ],
    ids=["drop", "truncate", "malformed", "in-band"],
)
async def test_mid_stream_faults_are_classified_by_their_cause(
    l0_server: FakeServer,
    litellm: Any,
    zero_backoff: None,
    fault: Any,
    kind: type,
) -> None:
    """Every mid-stream fault reaches l0 as MidStreamFallbackError (a 500); l0 classifies it
    by what lies under it, and the retry's text is exact."""
    l0_server.enqueue(Script(text="one two three", faults=[fault]), Script(text="fine now"))
    stream = l0.run(factory(litellm, l0_server))
    assert await stream.read() == "fine now"
    (error,) = stream.state.errors
    assert isinstance(error, kind), repr(error)
    assert type(error.__cause__).__name__ != "MidStreamFallbackError" or kind is l0.NetworkError


@needs_litellm
@asyncio_only
async def test_in_band_invalid_request_is_not_retried(l0_server: FakeServer, litellm: Any) -> None:
    """An error event saying the request is invalid is not retried, even through litellm."""
    l0_server.enqueue(
        Script(text="a b", faults=[InBandError(after=1, error_type="invalid_request_error")])
    )
    with pytest.raises(l0.AllStreamsExhausted) as caught:
        await l0.run(factory(litellm, l0_server)).read()
    (error,) = caught.value.errors
    assert isinstance(error, ProviderError)
    assert error.retryable is False


@needs_litellm
@asyncio_only
async def test_429_has_retry_after_and_401_is_not_retried(
    l0_server: FakeServer, litellm: Any
) -> None:
    """Before the stream starts, litellm's exceptions map by status, with Retry-After."""
    l0_server.enqueue(Script(faults=[HttpError(status=429, retry_after=0.2)]), Script(text="ok"))
    stream = l0.run(factory(litellm, l0_server), retry=l0.Retry(base_delay=0, max_delay=0))
    start = anyio.current_time()
    assert await stream.read() == "ok"
    assert anyio.current_time() - start >= 0.2
    (rate,) = stream.state.errors
    assert isinstance(rate, ProviderError)
    assert (rate.status_code, rate.retry_reason, rate.retry_after) == (429, "rate_limit", 0.2)

    l0_server.enqueue(Script(faults=[HttpError(status=401)]), Script(text="never"))
    failed = l0.run(factory(litellm, l0_server))
    with pytest.raises(l0.AllStreamsExhausted):
        await failed.read()
    (auth,) = failed.state.errors
    assert isinstance(auth, ProviderError)
    assert (auth.status_code, auth.retryable) == (401, False)


@needs_litellm
@asyncio_only
async def test_cancelled_consumer_closes_the_connection(
    l0_server: FakeServer, litellm: Any
) -> None:
    """Cancelling the consumer mid-stream closes litellm's connection."""
    l0_server.enqueue(Script(text="a b c", faults=[Stall(seconds=3600, after=1)]))
    got: list[str] = []
    with anyio.CancelScope() as scope:
        async for event in l0.run(factory(litellm, l0_server)):
            got.append(event.text)
            scope.cancel()
    assert got == ["a"]
    with anyio.fail_after(10):
        await l0_server.wait_until(lambda: not l0_server.connections[0].open)


@needs_litellm
@pytest.mark.parametrize("anyio_backend", ["trio"])
# litellm under trio drops a coroutine it never awaited: its leak, collected here.
@pytest.mark.filterwarnings("ignore:coroutine .* was never awaited:RuntimeWarning")
async def test_trio_is_refused_clearly_and_not_retried(l0_server: FakeServer, litellm: Any) -> None:
    """Under trio litellm fails before sending anything, looking like a retryable 500; l0
    raises a non-retryable AdapterNotFound that names the backend instead."""
    stream = l0.run(factory(litellm, l0_server))
    with pytest.raises(l0.AdapterNotFound, match="trio") as caught:
        await stream.read()
    assert caught.value.retryable is False
    assert len(stream.state.errors) == 1
    assert l0_server.requests == []
    del stream, caught
    gc.collect()
