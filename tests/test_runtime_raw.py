"""``stream.raw()``: the provider's items of the attempt that produced the result (keep_raw)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio
import anyio.lowlevel
import pytest

import l0
import l0.testing


async def test_raw_keeps_the_items_of_the_attempt_that_produced_the_result() -> None:
    """keep_raw=True: raw() is the successful attempt's items, as the provider sent them."""
    attempts = 0

    async def source() -> AsyncIterator[Any]:
        nonlocal attempts
        attempts += 1
        yield {"type": "token", "value": f"a{attempts}"}
        if attempts == 1:
            raise ConnectionResetError("dropped")
        yield "b"

    with l0.testing.set_testing():
        stream = l0.run(source, keep_raw=True)
        assert await stream.read() == "a2b"
    assert stream.raw() == [{"type": "token", "value": "a2"}, "b"]


async def test_raw_is_bounded_and_live() -> None:
    """keep_raw=N keeps the attempt's last N items; raw() may be read mid-stream."""

    async def source() -> AsyncIterator[str]:
        for i in range(10):
            yield f"{i} "

    stream = l0.run(source, keep_raw=3)
    seen = [stream.raw() async for event in stream if getattr(event, "value", None) == "1 "]
    assert seen == [["0 ", "1 "]]
    assert stream.raw() == ["7 ", "8 ", "9 "]


async def test_raw_without_keep_raw_is_a_config_error() -> None:
    stream = l0.run(_one)
    assert await stream.read() == "x"
    with pytest.raises(l0.ConfigError, match="keep_raw"):
        stream.raw()
    with pytest.raises(l0.ConfigError, match="keep_raw"):
        l0.run(_one, keep_raw=-1)


async def _one() -> AsyncIterator[str]:
    yield "x"


async def test_sources_that_open_their_own_cancel_scopes() -> None:
    """A source whose reads open (and wait inside) their own cancel scopes, as SDKs do with
    their own timeouts, nests cleanly inside l0's per-read scope on both backends."""

    async def source() -> AsyncIterator[str]:
        yield "ready "
        for word in ("after ", "waiting"):
            with anyio.move_on_after(10):
                await anyio.sleep(0.01)
            with anyio.fail_after(10):
                await anyio.lowlevel.checkpoint()
            yield word

    stream = l0.run(source, timeout=l0.Timeout(initial_token=1, inter_token=1))
    assert await stream.read() == "ready after waiting"
