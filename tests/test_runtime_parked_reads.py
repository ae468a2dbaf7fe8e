"""How a read that must wait is guarded (``_Read``): the cancel scope held while the task is parked.

The scope is entered only when a read parks, after any scope the source itself opened in that
read, and left as soon as the task wakes. These tests pin the cases that makes delicate: sources
that hold their own cancel scopes across the wait (as httpx/httpcore do around every socket
read), sources that swallow the cancellation, sources that spin on zero-length sleeps, and
cancellations that are not l0's (the caller's own scope) passing through untouched.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import anyio
import anyio.lowlevel
import pytest

import l0
from l0 import ErrorCode
from tests._sources import collect, collect_until_error


def _factory(make: Any) -> Any:
    """A factory whose generators record whether they were closed."""
    closed: list[bool] = []

    def factory() -> AsyncIterator[str]:
        closed.append(False)
        return make(closed, len(closed) - 1)

    factory.closed = closed  # type: ignore[attr-defined]
    return factory


@pytest.mark.timing
async def test_stall_inside_the_sources_own_scope_times_out_cleanly(zero_backoff: None) -> None:
    """The source waits inside its own (longer) fail_after: l0's shorter stall deadline wins,
    both scopes unwind in order, and the retry succeeds."""

    async def play(closed: list[bool], i: int) -> AsyncIterator[str]:
        try:
            yield "a"
            with anyio.fail_after(100):
                if i == 0:
                    await anyio.sleep(50)
            yield "b"
        finally:
            closed[i] = True

    factory = _factory(play)
    stream = l0.run(factory, timeout=l0.Timeout(inter_token=0.05))
    events = await collect(stream)
    errors = [e for e in events if isinstance(e, l0.ErrorEvent)]
    assert len(errors) == 1
    assert errors[0].error.code == ErrorCode.INTER_TOKEN_TIMEOUT
    assert stream.state.content == "ab"
    assert factory.closed == [True, True]
    # The task's scope stack is intact: more scoped work runs fine afterwards.
    with anyio.fail_after(1):
        await anyio.lowlevel.checkpoint()


@pytest.mark.timing
async def test_the_sources_own_shorter_timeout_is_its_failure(zero_backoff: None) -> None:
    """When the source's own scope fires first, its TimeoutError is the attempt's failure."""

    async def play(closed: list[bool], i: int) -> AsyncIterator[str]:
        try:
            yield "a"
            if i == 0:
                with anyio.fail_after(0.01):
                    await anyio.sleep(50)
            yield "b"
        finally:
            closed[i] = True

    factory = _factory(play)
    stream = l0.run(factory, timeout=l0.Timeout(inter_token=10))
    events = await collect(stream)
    errors = [e for e in events if isinstance(e, l0.ErrorEvent)]
    assert len(errors) == 1
    assert errors[0].error.code != ErrorCode.INTER_TOKEN_TIMEOUT
    assert isinstance(errors[0].error.__cause__, TimeoutError)
    assert stream.state.content == "ab"
    assert factory.closed == [True, True]


@pytest.mark.timing
async def test_a_read_waiting_several_times_keeps_one_deadline(zero_backoff: None) -> None:
    """A read that parks many times (short sleeps, no item) is held to the deadline of that
    wait as a whole, not re-armed at each park."""

    async def play(closed: list[bool], i: int) -> AsyncIterator[str]:
        try:
            yield "a"
            if i == 0:
                for _ in range(100):
                    await anyio.sleep(0.01)
            yield "b"
        finally:
            closed[i] = True

    factory = _factory(play)
    stream = l0.run(factory, timeout=l0.Timeout(inter_token=0.05))
    start = anyio.current_time()
    events = await collect(stream)
    assert anyio.current_time() - start < 0.5
    assert [e.error.code for e in events if isinstance(e, l0.ErrorEvent)] == [
        ErrorCode.INTER_TOKEN_TIMEOUT
    ]
    assert stream.state.content == "ab"


@pytest.mark.timing
async def test_a_source_swallowing_the_cancellation_still_times_out(zero_backoff: None) -> None:
    """A source that catches the cancellation and carries on does not escape the deadline: its
    late item belongs to a timed-out attempt."""

    async def play(closed: list[bool], i: int) -> AsyncIterator[str]:
        try:
            yield "a"
            if i == 0:
                with contextlib.suppress(BaseException):  # the misbehaviour under test
                    await anyio.sleep(50)
                yield "late"
            yield "b"
        finally:
            closed[i] = True

    factory = _factory(play)
    stream = l0.run(factory, timeout=l0.Timeout(inter_token=0.05))
    events = await collect(stream)
    assert [e.error.code for e in events if isinstance(e, l0.ErrorEvent)] == [
        ErrorCode.INTER_TOKEN_TIMEOUT
    ]
    assert stream.state.content == "ab"
    assert factory.closed == [True, True]


async def test_a_source_spinning_on_zero_sleeps_times_out(zero_backoff: None) -> None:
    """A source that only ever yields to the loop (never waits on anything) is still cut at its
    deadline (real clock: a busy source never lets a mock clock jump)."""

    async def play(closed: list[bool], i: int) -> AsyncIterator[str]:
        try:
            yield "a"
            if i == 0:
                while True:
                    await anyio.lowlevel.checkpoint()
            yield "b"
        finally:
            closed[i] = True

    factory = _factory(play)
    stream = l0.run(factory, timeout=l0.Timeout(inter_token=0.05))
    with anyio.fail_after(5):
        events = await collect(stream)
    assert [e.error.code for e in events if isinstance(e, l0.ErrorEvent)] == [
        ErrorCode.INTER_TOKEN_TIMEOUT
    ]
    assert stream.state.content == "ab"
    assert factory.closed == [True, True]


async def test_tokens_paced_by_zero_sleeps_are_not_cut() -> None:
    """Items arriving after zero-length sleeps never trip a deadline."""

    async def play(closed: list[bool], i: int) -> AsyncIterator[str]:
        try:
            for n in range(200):
                await anyio.lowlevel.checkpoint()
                yield f"{n} "
        finally:
            closed[i] = True

    factory = _factory(play)
    text = await l0.run(factory, timeout=l0.Timeout(initial_token=0.5, inter_token=0.5)).read()
    assert text == "".join(f"{n} " for n in range(200))


@pytest.mark.timing
async def test_the_callers_own_cancellation_passes_through_a_parked_read() -> None:
    """The caller's scope cancelling while a read is parked (inside the source's own scope) is
    not mistaken for l0's deadline: it propagates, and the source is closed."""

    async def play(closed: list[bool], i: int) -> AsyncIterator[str]:
        try:
            yield "a"
            with anyio.fail_after(100):
                await anyio.sleep(50)
            yield "b"
        finally:
            closed[i] = True

    factory = _factory(play)
    stream = l0.run(factory, timeout=l0.Timeout(inter_token=10))
    seen: list[l0.StreamEvent] = []
    with anyio.move_on_after(1) as scope:
        async for event in stream:
            seen.append(event)  # noqa: PERF401 - what was seen before the cancellation
    assert scope.cancelled_caught
    assert [type(e) for e in seen] == [l0.Token]
    assert factory.closed == [True]
    with pytest.raises(l0.StreamClosed):
        await stream.read()


@pytest.mark.timing
async def test_abort_while_parked_in_the_sources_scope() -> None:
    """abort() from another task while the read is parked inside the source's own scope ends
    the stream with STREAM_ABORTED at once and closes the source."""

    async def play(closed: list[bool], i: int) -> AsyncIterator[str]:
        try:
            yield "a"
            with anyio.fail_after(100):
                await anyio.sleep(50)
            yield "b"
        finally:
            closed[i] = True

    factory = _factory(play)
    stream = l0.run(factory, timeout=l0.Timeout(inter_token=10))
    result: list[Any] = []

    async def consume() -> None:
        result.append(await collect_until_error(stream))

    start = anyio.current_time()
    async with anyio.create_task_group() as tg:
        tg.start_soon(consume)
        await anyio.sleep(1)
        stream.abort()
    events, error = result[0]
    assert anyio.current_time() - start < 5
    assert [type(e) for e in events] == [l0.Token]
    assert isinstance(error, l0.StreamAborted)
    assert factory.closed == [True]


async def test_the_callers_cancellation_reaches_a_source_yielding_to_the_loop() -> None:
    """The caller's scope cancelling while the source only yields to the loop (``sleep(0)``
    spinning) is passed on into the source, which sees it and is closed."""
    seen_cancel: list[bool] = []

    async def play(closed: list[bool], i: int) -> AsyncIterator[str]:
        try:
            yield "a"
            try:
                while True:
                    await anyio.lowlevel.checkpoint()
            except anyio.get_cancelled_exc_class():
                seen_cancel.append(True)
                raise
        finally:
            closed[i] = True

    factory = _factory(play)
    stream = l0.run(factory, timeout=l0.Timeout(inter_token=60))
    with anyio.move_on_after(0.05) as scope:
        async for _ in stream:
            pass
    assert scope.cancelled_caught
    assert seen_cancel == [True]
    assert factory.closed == [True]
