"""Abort, and closing sources on every path: async with, aclose, GC, sessions, cancellation."""

from __future__ import annotations

import gc
import warnings
import weakref
from collections.abc import AsyncIterator
from typing import Any

import anyio
import anyio.lowlevel
import pytest

import l0
import l0.testing
from l0 import ErrorCode
from l0.events import EventType
from tests._sources import (
    Raise,
    Recorder,
    Script,
    Stall,
    assert_slept,
    boom,
    collect,
    collect_until_error,
    no_resource_warnings,
    paced,
)


async def _abort_after(stream: l0.Stream, delay: float) -> None:
    await anyio.sleep(delay)
    stream.abort()


# -- abort -------------------------------------------------------------------------------------


@pytest.mark.timing
@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_abort_from_another_task_cancels_a_pending_read(
    anyio_backend: Any, kind: str
) -> None:
    """abort() from another task ends a read waiting on a stalled source at once."""
    rec = Recorder()
    observed: list[Any] = []
    src = Script([*paced("a", "bc"), Stall(10), "late"])
    stream = l0.run(src, on_abort=rec.make("on_abort", kind), on_event=observed.append)
    start = anyio.current_time()
    async with anyio.create_task_group() as tg:
        tg.start_soon(_abort_after, stream, 0.05)
        got, error = await collect_until_error(stream)
    elapsed = anyio.current_time() - start
    assert isinstance(error, l0.StreamAborted)
    assert error.code == ErrorCode.STREAM_ABORTED
    assert got == [l0.Token(value="a"), l0.Token(value="bc")]
    assert src.closed == [True]
    assert rec.args("on_abort") == [(2, 3)]
    types = [e.event_type for e in observed]
    assert types.count(EventType.ABORT_REQUESTED) == 1
    assert types.count(EventType.ABORT_COMPLETED) == 1
    assert types.index(EventType.ABORT_REQUESTED) < types.index(EventType.ABORT_COMPLETED)
    assert stream.state.aborted is True
    assert stream.state.error is error
    assert stream.done is True
    assert_slept(anyio_backend, elapsed, 0.05)


@pytest.mark.timing
async def test_abort_during_a_backoff_sleep_ends_it_at_once(anyio_backend: Any) -> None:
    """abort() during a 10 s backoff sleep ends the stream at once, without retrying."""
    src = Script([Raise(boom)], ["never"])
    stream = l0.run(src, retry=l0.Retry(strategy="fixed", base_delay=10))
    start = anyio.current_time()
    async with anyio.create_task_group() as tg:
        tg.start_soon(_abort_after, stream, 0.05)
        got, error = await collect_until_error(stream)
    assert isinstance(error, l0.StreamAborted)
    assert [type(e) for e in got] == [l0.ErrorEvent]
    assert src.calls == 1
    assert_slept(anyio_backend, anyio.current_time() - start, 0.05)


@pytest.mark.timing
async def test_abort_during_a_slow_factory(anyio_backend: Any) -> None:
    """abort() while an async factory is still connecting ends the stream at once."""

    async def factory() -> list[str]:
        await anyio.sleep(10)
        return ["never"]

    stream = l0.run(factory)
    start = anyio.current_time()
    async with anyio.create_task_group() as tg:
        tg.start_soon(_abort_after, stream, 0.05)
        with pytest.raises(l0.StreamAborted):
            await stream.read()
    assert_slept(anyio_backend, anyio.current_time() - start, 0.05)


async def test_abort_inside_the_loop_body_ends_the_stream_at_the_next_step() -> None:
    """abort() called by the consumer itself: the next step raises StreamAborted."""
    rec = Recorder()
    src = Script(paced("a", "b", "c"))
    stream = l0.run(src, on_abort=rec.sync("on_abort"))
    got, error = await collect_until_error(stream, lambda _event: stream.abort())
    assert isinstance(error, l0.StreamAborted)
    assert got == [l0.Token(value="a")]
    assert src.closed == [True]
    assert len(rec.args("on_abort")) == 1


async def test_abort_inside_the_body_after_a_failed_factory() -> None:
    """abort() on the ErrorEvent of a failed factory call ends the stream before any retry."""
    calls: list[int] = []

    def factory() -> list[str]:
        calls.append(1)
        raise RuntimeError("no connection")

    with l0.testing.set_testing():
        stream = l0.run(factory)
    got, error = await collect_until_error(stream, lambda _event: stream.abort())
    assert isinstance(error, l0.StreamAborted)
    assert [type(e) for e in got] == [l0.ErrorEvent]
    assert calls == [1]


async def test_abort_before_iterating_never_calls_the_factory() -> None:
    """abort() before the stream starts: reading raises StreamAborted, no source is opened."""
    src = Script(["never"])
    stream = l0.run(src)
    stream.abort()
    with pytest.raises(l0.StreamAborted):
        await stream.read()
    assert src.calls == 0


async def test_abort_after_completion_changes_nothing() -> None:
    """abort() on a completed stream is a no-op: its state stays completed."""
    stream = l0.run(Script(["done"]))
    assert await stream.read() == "done"
    stream.abort()
    assert stream.state.completed is True
    assert stream.state.aborted is False
    assert stream.state.error is None


# -- async with / aclose -----------------------------------------------------------------------


async def test_async_with_and_break_closes_the_source() -> None:
    """Leaving 'async with' after a break closes the source."""
    src = Script(paced("a", "b", "c"))
    async with l0.run(src) as stream:
        async for _ in stream:
            break
        assert src.closed == [False]
    assert src.closed == [True]
    assert stream.done is True


async def test_aclose_is_idempotent_and_later_use_raises_stream_closed() -> None:
    """aclose() twice is fine; iterating or reading afterwards raises StreamClosed."""
    src = Script(paced("a", "b", "c"))
    stream = l0.run(src)
    async for _ in stream:
        break
    assert src.closed == [False]
    await stream.aclose()
    await stream.aclose()
    assert src.closed == [True]
    with pytest.raises(l0.StreamClosed) as info:
        async for _ in stream:
            pass
    assert info.value.code == ErrorCode.STREAM_CLOSED
    with pytest.raises(l0.StreamClosed):
        await stream.read()


async def test_aclose_before_iterating_never_opens_the_source() -> None:
    """aclose() on a stream never iterated: the factory is never called, later use raises."""
    src = Script(["a"])
    stream = l0.run(src)
    await stream.aclose()
    with pytest.raises(l0.StreamClosed):
        await stream.read()
    assert src.calls == 0


@pytest.mark.timing
async def test_aclose_from_another_task_while_the_consumer_waits(anyio_backend: Any) -> None:
    """aclose() from another task while a read waits ends the consumer's loop with an error."""
    src = Script(["a", Stall(10), "late"])
    stream = l0.run(src)
    start = anyio.current_time()

    async def close_soon() -> None:
        await anyio.sleep(0.05)
        await stream.aclose()

    async with anyio.create_task_group() as tg:
        tg.start_soon(close_soon)
        got, error = await collect_until_error(stream)
    assert isinstance(error, l0.L0Error)
    assert got == [l0.Token(value="a")]
    assert src.closed == [True]
    assert_slept(anyio_backend, anyio.current_time() - start, 0.05)


@pytest.mark.timing
async def test_aclose_from_another_task_while_the_consumer_is_busy() -> None:
    """aclose() while the consumer is in its loop body: its next step raises StreamClosed."""
    src = Script(paced("a", "b", "c"))
    stream = l0.run(src)
    closed = anyio.Event()

    async def close_now() -> None:
        await stream.aclose()
        closed.set()

    async with anyio.create_task_group() as tg:

        async def body(_event: l0.StreamEvent) -> None:
            tg.start_soon(close_now)
            await closed.wait()

        got, error = await collect_until_error(stream, body)
    assert isinstance(error, l0.StreamClosed), f"the loop ended with {error!r} after {got}"
    assert got == [l0.Token(value="a")]
    assert src.closed == [True]


async def test_bare_async_for_with_break_closes_the_source_once_dropped() -> None:
    """A bare 'async for ... break' (no async with): dropping the stream closes its source.

    The stream and its generator form no reference cycle, so dropping the stream finalizes the
    generator at once (no gc.collect() needed; the collector is off here to prove it); the
    backend's async-generator finalizer then runs aclose() on it in a task of its own, which
    closes the source a few scheduler turns later. trio emits its own ResourceWarnings
    ("Async generator ... was garbage collected before it had been exhausted"): on trio, use
    ``async with`` or ``aclose()``.
    """
    src = Script(paced("a", "b", "c"))
    stream = l0.run(src)
    ref = weakref.ref(stream)
    async for _ in stream:
        break
    assert src.closed == [False]
    gc.disable()
    try:
        with warnings.catch_warnings(record=True):
            warnings.simplefilter("always")
            del stream
            assert ref() is None
            for _ in range(10):
                if src.closed[0]:
                    break
                await anyio.lowlevel.checkpoint()
    finally:
        gc.enable()
    assert src.closed == [True]


async def test_bare_async_for_over_a_temporary_stream_closes_it_after_break() -> None:
    """``async for e in l0.run(...): break``: the source is closed within a few scheduler
    turns, without the garbage collector."""
    src = Script(paced("a", "b", "c"))
    gc.disable()
    try:
        with warnings.catch_warnings(record=True):
            warnings.simplefilter("always")
            async for _ in l0.run(src):
                break
            for _ in range(10):
                if src.closed[0]:
                    break
                await anyio.lowlevel.checkpoint()
    finally:
        gc.enable()
    assert src.closed == [True]


async def test_completed_stream_dropped_without_closing_does_not_warn() -> None:
    """A stream iterated to its end needs no close: dropping it emits no ResourceWarning."""
    src = Script(["a"])
    stream = l0.run(src)
    assert await stream.read() == "a"
    with no_resource_warnings():
        del stream
    assert src.closed == [True]


async def test_stream_ended_by_keyboard_interrupt_is_done_and_drops_quietly() -> None:
    """A stream whose iteration ended by KeyboardInterrupt is done, and dropping it is quiet."""
    src = Script(["a", Raise(KeyboardInterrupt)])
    stream = l0.run(src)
    ref = weakref.ref(stream)
    try:
        await stream.read()
    except KeyboardInterrupt as exc:
        exc.__traceback__ = None
    assert src.closed == [True]
    done = stream.done
    if not done:
        await stream.aclose()  # fail here, not with a stray warning in a later test
    assert done is True
    with no_resource_warnings():
        del stream
    assert ref() is None


# -- sessions ----------------------------------------------------------------------------------


async def test_session_exit_closes_its_open_streams() -> None:
    """Leaving 'async with l0.session()' closes the streams still open, and their sources."""
    first, second = Script(paced("a", "b", "c")), Script(paced("d", "e", "f"))
    async with l0.session() as s:
        stream_1, stream_2 = s.run(first), s.run(second)
        async for _ in stream_1:
            break
        async for _ in stream_2:
            break
        assert (first.closed, second.closed) == ([False], [False])
    assert (first.closed, second.closed) == ([True], [True])
    with pytest.raises(l0.StreamClosed):
        await stream_1.read()


# -- consumer cancellation ---------------------------------------------------------------------


@pytest.mark.timing
async def test_consumer_cancellation_closes_the_source_and_propagates(anyio_backend: Any) -> None:
    """An outer cancel scope firing during a slow read closes the source; no L0Error is raised."""
    src = Script([*paced("a", "b"), Stall(10), "late"], ["never"])
    errors: list[Any] = []
    stream = l0.run(src, on_error=lambda *args: errors.append(args))
    got: list[l0.StreamEvent] = []
    start = anyio.current_time()
    with anyio.move_on_after(0.05) as scope:
        async for event in stream:
            got.append(event)  # noqa: PERF401 - keep what arrived before the cancellation
    assert scope.cancelled_caught is True
    assert got == [l0.Token(value="a"), l0.Token(value="b")]
    assert src.calls == 1
    assert src.closed == [True]
    assert errors == []
    assert_slept(anyio_backend, anyio.current_time() - start, 0.05)
    await stream.aclose()


@pytest.mark.timing
async def test_consumer_cancellation_during_backoff_is_not_an_error(anyio_backend: Any) -> None:
    """The caller's scope cancelled (by another task) during a backoff sleep: cancellation
    propagates, no retry happens, and no L0Error is raised."""
    src = Script([Raise(boom)], ["never"])
    stream = l0.run(src, retry=l0.Retry(strategy="fixed", base_delay=10))
    got: list[l0.StreamEvent] = []
    start = anyio.current_time()
    async with anyio.create_task_group() as tg:
        with anyio.CancelScope() as scope:

            async def cancel_soon() -> None:
                await anyio.sleep(0.05)
                scope.cancel()

            tg.start_soon(cancel_soon)
            async for event in stream:
                got.append(event)  # noqa: PERF401 - keep what arrived before the cancellation
    assert scope.cancelled_caught is True
    assert [type(e) for e in got] == [l0.ErrorEvent]
    assert src.calls == 1
    assert_slept(anyio_backend, anyio.current_time() - start, 0.05)
    await stream.aclose()


@pytest.mark.timing
async def test_stream_ended_by_cancellation_is_done_and_not_readable_as_success() -> None:
    """After the caller cancelled a read, the stream is done and reading it again raises
    (instead of returning the partial text as if the stream had completed)."""
    src = Script([*paced("par", "tial"), Stall(10), "rest"])
    stream = l0.run(src)
    with anyio.move_on_after(0.05):
        await stream.read()
    assert src.closed == [True]
    done = stream.done
    try:
        reread: Any = await stream.read()
    except l0.L0Error as exc:
        reread = exc
    await stream.aclose()
    assert done is True
    assert isinstance(reread, l0.L0Error), f"read() after cancellation returned {reread!r}"


async def test_async_factory_stream_is_closed_on_failure() -> None:
    """Sources returned by async factories are closed after a failed attempt too."""
    src = Script(["x", Raise(boom)], ["ok"])

    async def factory() -> AsyncIterator[Any]:
        return src()

    with l0.testing.set_testing():
        assert await l0.run(factory).read() == "ok"
    assert src.closed == [True, True]


async def test_source_closed_after_a_fatal_error() -> None:
    """A fatal failure (INVALID_STREAM) still closes the source."""
    src = Script(["a", 42, "more"])
    with pytest.raises(l0.InvalidStream):
        await collect(l0.run(src))
    assert src.closed == [True]


# -- latency -----------------------------------------------------------------------------------


@pytest.mark.timing
async def test_tokens_before_a_stall_are_delivered_before_it_ends(anyio_backend: Any) -> None:
    """Tokens that already arrived are handed to the consumer at once, not after the next stall."""
    src = Script(["a", "b", Stall(0.2), "c"])
    stream = l0.run(src)
    start = anyio.current_time()
    arrivals = [
        (event.value, anyio.current_time() - start)
        async for event in stream
        if isinstance(event, l0.Token)
    ]
    assert [value for value, _ in arrivals] == ["a", "b", "c"]
    assert arrivals[0][1] < 0.1
    assert arrivals[1][1] < 0.1
    assert_slept(anyio_backend, arrivals[2][1], 0.2)
