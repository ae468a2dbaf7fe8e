"""Deadlines: first-token and stall timeouts, the total timeout, and backoff vs deadlines."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest

import l0
from l0 import ErrorCode
from tests._sources import (
    Raise,
    Recorder,
    Script,
    Stall,
    assert_slept,
    boom,
    collect,
    collect_until_error,
    is_mock_clock,
)

pytestmark = pytest.mark.timing


# -- first token and stall timeouts ------------------------------------------------------------


async def test_initial_token_timeout_is_retried_and_the_source_closed(
    anyio_backend: Any, zero_backoff: None
) -> None:
    """A source stalling before its first token fails with INITIAL_TOKEN_TIMEOUT and is retried."""
    src = Script([Stall(10), "late"], ["ok"])
    stream = l0.run(src, timeout=l0.Timeout(initial_token=0.05))
    start = anyio.current_time()
    events = await collect(stream)
    elapsed = anyio.current_time() - start
    assert [type(e) for e in events] == [l0.ErrorEvent, l0.Token, l0.Complete]
    error = events[0].error  # type: ignore[attr-defined]
    assert isinstance(error, l0.StreamTimeout)
    assert isinstance(error, TimeoutError)
    assert error.code == ErrorCode.INITIAL_TOKEN_TIMEOUT
    assert events[0].will_retry is True  # type: ignore[attr-defined]
    assert stream.state.content == "ok"
    assert src.closed == [True, True]
    assert_slept(anyio_backend, elapsed, 0.05)


async def test_inter_token_timeout_after_some_tokens(
    anyio_backend: Any, zero_backoff: None
) -> None:
    """A stall after two tokens fails with INTER_TOKEN_TIMEOUT; the partial output is reset."""
    src = Script(["a", "b", Stall(10), "c"], ["ok"])
    stream = l0.run(src, timeout=l0.Timeout(inter_token=0.05))
    start = anyio.current_time()
    events = await collect(stream)
    elapsed = anyio.current_time() - start
    assert [type(e) for e in events] == [
        l0.Token,
        l0.Token,
        l0.ErrorEvent,
        l0.Reset,
        l0.Token,
        l0.Complete,
    ]
    error = events[2].error  # type: ignore[attr-defined]
    assert isinstance(error, TimeoutError)
    assert error.code == ErrorCode.INTER_TOKEN_TIMEOUT
    assert events[3].discarded == 2  # type: ignore[attr-defined]
    assert stream.state.content == "ok"
    assert src.closed == [True, True]
    assert_slept(anyio_backend, elapsed, 0.05)


async def test_inter_token_timer_restarts_with_each_token(anyio_backend: Any) -> None:
    """Tokens arriving every 0.03 s never trip a 0.05 s stall timeout, however long in total."""
    script = [step for i in range(8) for step in (Stall(0.03), str(i))]
    text = await l0.run(Script(script), timeout=l0.Timeout(inter_token=0.05), retry=None).read()
    assert text == "01234567"


@pytest.mark.parametrize(
    "keepalive", ["", l0.Progress(message="still working")], ids=["empty-string", "progress"]
)
async def test_keepalives_do_not_count_as_content(keepalive: Any) -> None:
    """Empty strings and Progress events during a stall do not reset the stall timeout."""
    script = ["a", *[step for _ in range(5) for step in (Stall(0.02), keepalive)], "late"]
    src = Script(script)
    with pytest.raises(l0.AllStreamsExhausted) as info:
        await l0.run(src, timeout=l0.Timeout(inter_token=0.05), retry=None).read()
    assert [e.code for e in info.value.errors] == [ErrorCode.INTER_TOKEN_TIMEOUT]
    assert src.closed == [True]


@pytest.mark.parametrize(
    "keepalive", ["", l0.Progress(message="queued")], ids=["empty-string", "progress"]
)
async def test_keepalives_before_the_first_token_do_not_count(keepalive: Any) -> None:
    """Keep-alives before any content do not stop the first-token timeout."""
    script = [*[step for _ in range(5) for step in (keepalive, Stall(0.02))], "late"]
    src = Script(script)
    with pytest.raises(l0.AllStreamsExhausted) as info:
        await l0.run(src, timeout=l0.Timeout(initial_token=0.05), retry=None).read()
    assert [e.code for e in info.value.errors] == [ErrorCode.INITIAL_TOKEN_TIMEOUT]


async def test_slow_factory_is_covered_by_the_initial_timeout(
    anyio_backend: Any, zero_backoff: None
) -> None:
    """An async factory that takes too long fails the attempt with INITIAL_TOKEN_TIMEOUT."""
    src = Script(["ok"])
    calls: list[int] = []

    async def factory() -> AsyncIterator[Any]:
        calls.append(1)
        if len(calls) == 1:
            await anyio.sleep(10)
        return src()

    stream = l0.run(factory, timeout=l0.Timeout(initial_token=0.05))
    start = anyio.current_time()
    events = await collect(stream)
    elapsed = anyio.current_time() - start
    assert [type(e) for e in events] == [l0.ErrorEvent, l0.Token, l0.Complete]
    assert events[0].error.code == ErrorCode.INITIAL_TOKEN_TIMEOUT  # type: ignore[attr-defined]
    assert calls == [1, 1]
    assert_slept(anyio_backend, elapsed, 0.05)


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_on_timeout_is_called_with_kind_and_elapsed(
    anyio_backend: Any, zero_backoff: None, kind: str
) -> None:
    """on_timeout(kind, elapsed_seconds) is called for first-token and stall timeouts."""
    rec = Recorder()
    src = Script([Stall(10)], ["a", Stall(10)], ["ok"])
    stream = l0.run(
        src,
        timeout=l0.Timeout(initial_token=0.05, inter_token=0.08),
        on_timeout=rec.make("on_timeout", kind),
    )
    assert await stream.read() == "ok"
    calls = rec.args("on_timeout")
    assert [c[0] for c in calls] == ["initial", "inter"]
    for (_, elapsed), expected in zip(calls, [0.05, 0.08], strict=True):
        assert_slept(anyio_backend, elapsed, expected)


async def test_timeout_none_disables_deadlines() -> None:
    """timeout=None: a 0.2 s stall completes, even where the session sets a short timeout."""
    script = ["a", Stall(0.2), "b"]
    assert await l0.run(Script(script), timeout=None, retry=None).read() == "ab"
    async with l0.session(timeout=l0.Timeout(inter_token=0.05), retry=None) as s:
        assert await s.run(Script(script), timeout=None).read() == "ab"


async def test_the_same_stall_fails_with_a_short_timeout() -> None:
    """The 0.2 s stall above does fail under a 0.05 s stall timeout (the control case)."""
    script = ["a", Stall(0.2), "b"]
    async with l0.session(timeout=l0.Timeout(inter_token=0.05), retry=None) as s:
        with pytest.raises(l0.AllStreamsExhausted) as info:
            await s.run(Script(script)).read()
    assert info.value.errors[0].code == ErrorCode.INTER_TOKEN_TIMEOUT


# -- total timeout -----------------------------------------------------------------------------


async def test_total_timeout_mid_stream_is_fatal(anyio_backend: Any) -> None:
    """When the total deadline passes mid-stream, StreamTimeout(TOTAL_TIMEOUT) is raised as is."""
    src = Script(["a", Stall(10), "b"], ["never"])
    stream = l0.run(
        src,
        timeout=l0.Timeout(total=0.1, initial_token=None, inter_token=None),
        retry=l0.Retry(base_delay=0),
    )
    start = anyio.current_time()
    events, error = await collect_until_error(stream)
    elapsed = anyio.current_time() - start
    assert isinstance(error, l0.StreamTimeout)
    assert error.code == ErrorCode.TOTAL_TIMEOUT
    assert isinstance(error, TimeoutError)
    assert events == [l0.Token(value="a")]
    assert src.calls == 1
    assert src.closed == [True]
    assert_slept(anyio_backend, elapsed, 0.1)


async def test_total_timeout_during_a_slow_factory_is_fatal(anyio_backend: Any) -> None:
    """The total deadline also bounds the factory call, and is not retried."""
    calls: list[int] = []

    async def factory() -> list[str]:
        calls.append(1)
        await anyio.sleep(10)
        return ["never"]

    stream = l0.run(
        factory,
        timeout=l0.Timeout(total=0.1, initial_token=None, inter_token=None),
        retry=l0.Retry(base_delay=0),
    )
    start = anyio.current_time()
    with pytest.raises(l0.StreamTimeout) as info:
        await stream.read()
    assert info.value.code == ErrorCode.TOTAL_TIMEOUT
    assert calls == [1]
    assert_slept(anyio_backend, anyio.current_time() - start, 0.1)


# -- backoff vs deadlines ----------------------------------------------------------------------


async def test_backoff_does_not_sleep_past_the_callers_deadline(anyio_backend: Any) -> None:
    """Under move_on_after(2), a 5 s backoff is not attempted: the stream fails fast."""
    src = Script([Raise(boom)], ["ok"])
    retry = l0.Retry(strategy="fixed", base_delay=5)
    start = anyio.current_time()
    with anyio.move_on_after(2) as scope:
        with pytest.raises(l0.AllStreamsExhausted) as info:
            await l0.run(src, retry=retry).read()
    elapsed = anyio.current_time() - start
    assert scope.cancelled_caught is False
    assert elapsed < 1
    if is_mock_clock(anyio_backend):
        assert elapsed == 0
    assert src.calls == 1
    assert len(info.value.errors) == 1


async def test_backoff_within_the_callers_deadline_is_taken(anyio_backend: Any) -> None:
    """Under move_on_after(2), a 0.05 s backoff fits and the retry happens."""
    src = Script([Raise(boom)], ["ok"])
    with anyio.move_on_after(2) as scope:
        text = await l0.run(src, retry=l0.Retry(strategy="fixed", base_delay=0.05)).read()
    assert scope.cancelled_caught is False
    assert text == "ok"
    assert_slept(anyio_backend, src.call_times[1] - src.call_times[0], 0.05)


async def test_backoff_does_not_sleep_past_the_total_timeout(anyio_backend: Any) -> None:
    """With Timeout(total=2), a 5 s backoff is not attempted: the stream fails fast."""
    src = Script([Raise(boom)], ["ok"])
    stream = l0.run(
        src, retry=l0.Retry(strategy="fixed", base_delay=5), timeout=l0.Timeout(total=2)
    )
    start = anyio.current_time()
    with pytest.raises(l0.AllStreamsExhausted) as info:
        await stream.read()
    elapsed = anyio.current_time() - start
    assert elapsed < 1
    if is_mock_clock(anyio_backend):
        assert elapsed == 0
    assert src.calls == 1
    assert len(info.value.errors) == 1


async def test_initial_timeout_counts_the_factory_call(anyio_backend: Any) -> None:
    """The first-token deadline runs from the start of the attempt, factory call included."""

    async def factory() -> Any:
        await anyio.sleep(0.03)
        return Script([Stall(0.03), "late"])()

    start = anyio.current_time()
    with pytest.raises(l0.AllStreamsExhausted) as info:
        await l0.run(factory, timeout=l0.Timeout(initial_token=0.05), retry=None).read()
    assert [e.code for e in info.value.errors] == [ErrorCode.INITIAL_TOKEN_TIMEOUT]
    assert_slept(anyio_backend, anyio.current_time() - start, 0.05)


async def test_timeouts_use_max_retries_not_attempts(zero_backoff: None) -> None:
    """Timeouts are retried within max_retries even when attempts=0."""
    src = Script([Stall(10)])
    retry = l0.Retry(attempts=0, max_retries=2)
    with pytest.raises(l0.AllStreamsExhausted) as info:
        await l0.run(src, timeout=l0.Timeout(initial_token=0.05), retry=retry).read()
    assert src.calls == 3
    assert [e.code for e in info.value.errors] == [ErrorCode.INITIAL_TOKEN_TIMEOUT] * 3
    assert src.closed == [True, True, True]


async def test_a_slow_consumer_does_not_cause_a_stall_timeout() -> None:
    """Time the consumer spends on an event does not count against the stall timeout."""
    src = Script([step for t in "abcd" for step in (Stall(0.01), t)])
    stream = l0.run(src, timeout=l0.Timeout(inter_token=0.05), retry=None)
    got: list[str] = []
    async for event in stream:
        if isinstance(event, l0.Token):
            got.append(event.value)
            await anyio.sleep(0.1)
    assert "".join(got) == "abcd"
