"""``stream.raw()``: the provider's items as they arrive, with Reset between attempts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

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
