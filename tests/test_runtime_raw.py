"""``stream.raw()``: the provider's items as they arrive, with Reset between attempts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio
import anyio.lowlevel

import l0
import l0.testing


async def test_raw_yields_items_and_resets() -> None:
    """Raw items of every attempt, in order, with a Reset where an attempt was discarded."""
    attempts = 0

    async def source() -> AsyncIterator[Any]:
        nonlocal attempts
        attempts += 1
        yield {"type": "token", "value": f"a{attempts}"}
        if attempts == 1:
            raise ConnectionResetError("dropped")
        yield "b"

    with l0.testing.set_testing():
        stream = l0.run(source)
        items = [item async for item in stream.raw()]
    assert items[0] == {"type": "token", "value": "a1"}
    assert isinstance(items[1], l0.Reset)
    assert items[2:] == [{"type": "token", "value": "a2"}, "b"]
    assert stream.state.content == "a2b"


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
