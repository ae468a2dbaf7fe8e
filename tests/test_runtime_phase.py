"""The lifecycle phase: the engine's own state, in ``stream.state.phase``, with ``on_phase``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

import l0
from tests._sources import Raise, Script


async def test_phases_through_retry_fallback_and_completion(zero_backoff: None) -> None:
    changes: list[tuple[str, str]] = []
    primary = Script(["a", Raise(ConnectionResetError("drop"))])
    stream = l0.run(
        primary,
        fallbacks=[Script(["b", "c"])],
        retry=l0.Retry(attempts=1, max_retries=1),
        on_phase=lambda old, new: changes.append((old, new)),
    )
    assert stream.state.phase == "init"
    seen_while_streaming = [
        stream.state.phase async for event in stream if isinstance(event, l0.Token)
    ]
    assert stream.state.phase == "completed"
    assert changes == [
        ("init", "connecting"),
        ("connecting", "streaming"),
        ("streaming", "retrying"),
        ("retrying", "connecting"),
        ("connecting", "streaming"),
        ("streaming", "falling_back"),
        ("falling_back", "connecting"),
        ("connecting", "streaming"),
        ("streaming", "completed"),
    ]
    assert set(seen_while_streaming) == {"streaming"}


async def test_failed_and_aborted_phases() -> None:
    async def async_cb(old: str, new: str) -> None:
        changes.append(new)

    changes: list[str] = []
    failing = l0.run(Script([Raise(ConnectionResetError("x"))]), retry=None, on_phase=async_cb)
    with pytest.raises(l0.L0Error):
        await failing.read()
    assert failing.state.phase == "failed"
    assert changes == ["connecting", "failed"]

    stream = l0.run(Script(["a", "b", "c"]))
    async with stream:
        async for _ in stream:
            break  # the consumer stops early
        assert stream.state.phase == "streaming"  # suspended, not finished
    assert stream.state.phase == "aborted"  # closed without an outcome


async def test_resuming_phase(zero_backoff: None) -> None:
    changes: list[str] = []
    attempts = 0

    async def source() -> AsyncIterator[str]:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            for word in ("one ", "two ", "three "):
                yield word
            raise ConnectionResetError("drop")
        for word in ("three ", "four"):
            yield word

    stream = l0.run(
        source,
        continue_from_last_good_token=True,
        check_intervals=l0.CheckIntervals(checkpoint=1),
        on_phase=lambda _old, new: changes.append(new),
    )
    assert await stream.read() == "one two three four"
    assert changes == ["connecting", "streaming", "retrying", "resuming", "streaming", "completed"]


def test_phase_is_part_of_the_public_surface() -> None:
    phases: Any = l0.Phase
    assert "streaming" in phases.__args__
