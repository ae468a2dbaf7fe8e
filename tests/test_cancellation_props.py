"""Cancellation at any point, as properties (Hypothesis), on asyncio and trio (MockClock).

Hypothesis draws the source (tokens, pauses, failures that are retried after a backoff) and
the point where the cancel strikes: after any number of events, from another task at any
moment, inside any callback (sync or async) on any of its calls, during a backoff sleep, around
a whole session of streams, or around a composition (race, parallel). Whatever it draws:

* the cancellation propagates: it is never swallowed, never turned into an error, never
  retried (no factory call after it);
* every source that was opened is closed, and no task is left behind;
* no callback fires once the stream (or session, or composition) is closed;
* ``KeyboardInterrupt`` raised by a source or a callback propagates too, and is not retried.

``L0_HYPOTHESIS_PROFILE=soak`` (registered in tests/conftest.py) runs many more examples.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import anyio
import anyio.lowlevel
import pytest
from hypothesis import given
from hypothesis import strategies as st

import l0
from tests._profile import examples
from tests._sources import Raise, Script, Stall, boom

pytestmark = pytest.mark.timing  # asyncio (tiny real pauses) and trio with a MockClock

# How many factory calls may still happen after the cancel: one (the next attempt's factory
# is called before the first checkpoint of that attempt, which then cancels it, so it never
# sends anything). test_no_attempt_starts_after_a_cancel pins the stricter behaviour.
AFTER_CANCEL = 1

CALLBACKS = ("on_start", "on_token", "on_event", "on_error", "on_retry", "on_complete")


# -- strategies --------------------------------------------------------------------------------

pauses = st.sampled_from([0.0, 0.0, 0.001, 0.003])
tokens = st.text(alphabet="abc ", min_size=1, max_size=3).filter(str.strip)


@st.composite
def attempts(draw: st.DrawFn, *, fail: bool) -> list[Any]:
    """One attempt's steps: tokens with pauses, then the end (or a retryable failure)."""
    steps: list[Any] = []
    for _ in range(draw(st.integers(0 if fail else 1, 5))):
        pause = draw(pauses)
        if pause:
            steps.append(Stall(pause))
        steps.append(draw(tokens))
    if fail:
        steps.append(Raise(boom))
    return steps


@st.composite
def sources(draw: st.DrawFn) -> Script:
    """A source whose first attempts may fail (retried), the last one completes."""
    failing = draw(st.lists(attempts(fail=True), max_size=2))
    return Script(*failing, draw(attempts(fail=False)))


def final_text(source: Script) -> str:
    """The text of the source's last (completing) attempt."""
    return "".join(step for step in source.scripts[-1] if isinstance(step, str))


def retry_policy(backoff: float) -> l0.Retry:
    return l0.Retry(attempts=3, max_retries=3, strategy="fixed", base_delay=backoff, max_delay=1)


class Log:
    """Callbacks that record their calls, and notice any call after :meth:`close`."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.closed = False
        self.late: list[str] = []

    def record(self, name: str) -> None:
        self.calls.append(name)
        if self.closed:
            self.late.append(name)

    def callbacks(self, hook: Callable[[str, int], Any] | None = None) -> dict[str, Any]:
        """Every callback; ``hook(name, n)`` runs on the n-th call of ``name`` (async if it
        returns an awaitable)."""

        def make(name: str) -> Callable[..., Any]:
            def callback(*_args: Any) -> Any:
                self.record(name)
                if hook is not None:
                    return hook(name, self.calls.count(name))
                return None

            return callback

        return {name: make(name) for name in CALLBACKS}

    async def close(self) -> None:
        """From now on, nothing may call back; let anything left run, to catch it."""
        self.closed = True
        for _ in range(3):
            await anyio.wait_all_tasks_blocked()
            await anyio.lowlevel.checkpoint()
        assert self.late == [], self.late


async def read_or_fail_fast(stream: l0.Stream) -> None:
    """Read ``stream``; a retry that would start after the caller's deadline fails at once
    with the last error (a typed l0 error, never a swallowed cancellation)."""
    try:
        await stream.read()
    except l0.AllStreamsExhausted:
        near = anyio.current_effective_deadline() <= anyio.current_time() + 0.01
    else:
        near = True
    assert near, "failed fast although the deadline was far"


def task_count() -> int:
    return len(anyio.get_running_tasks())


async def check_clean(sources_: Sequence[Script], log: Log, tasks_before: int) -> None:
    await log.close()
    for source in sources_:
        assert source.all_closed, (source.started, source.closed)
    assert task_count() == tasks_before


# -- the consumer ------------------------------------------------------------------------------


@examples(40)
@given(source=sources(), after=st.integers(0, 12), backoff=st.sampled_from([0.0, 0.002]))
async def test_cancelling_the_consumer_after_any_event(
    source: Script, after: int, backoff: float
) -> None:
    """The consumer's scope is cancelled in its loop body after `after` events."""
    log, before = Log(), task_count()
    stream = l0.run(source, retry=retry_policy(backoff), **log.callbacks())
    seen: list[l0.StreamEvent] = []
    finished = False
    with anyio.CancelScope() as scope:
        async for event in stream:
            seen.append(event)
            if len(seen) > after:
                scope.cancel()
                calls = source.calls
        finished = True
    if scope.cancelled_caught:
        # Cancelled: it propagated out of the loop (nothing after it ran), nothing retried.
        assert not finished
        assert source.calls <= calls + AFTER_CANCEL
        assert stream.done
        with pytest.raises(l0.StreamClosed):
            await stream.read()
    else:
        # The stream ended before the cancel point, or the cancel came with the last event
        # and no checkpoint followed: either way it completed, whole.
        assert finished
        assert isinstance(seen[-1], l0.Complete)
        assert stream.state.content == final_text(source)
    await check_clean([source], log, before)


@examples(40)
@given(source=sources(), at=st.sampled_from([0.0, 0.0005, 0.001, 0.002, 0.004, 0.008, 0.02]))
async def test_cancelling_the_consumer_from_another_task_at_any_moment(
    source: Script, at: float
) -> None:
    """Another task cancels the consumer's scope after `at` seconds, wherever the stream is
    (reading, pausing, calling back, backing off)."""
    log, before = Log(), task_count()
    stream = l0.run(source, retry=retry_policy(0.002), **log.callbacks())
    result: list[str] = []
    calls_at_cancel: list[int] = []

    async def cancel_later(scope: anyio.CancelScope) -> None:
        await anyio.sleep(at)
        calls_at_cancel.append(source.calls)
        scope.cancel()

    async with anyio.create_task_group() as tg:
        with anyio.CancelScope() as scope:
            tg.start_soon(cancel_later, scope)
            result.append(await stream.read())
        tg.cancel_scope.cancel()
    if scope.cancelled_caught:
        assert result == []
        assert stream.done
        assert source.calls <= calls_at_cancel[0] + AFTER_CANCEL  # not retried
    else:
        assert result == [final_text(source)]
    await check_clean([source], log, before)


@examples(50)
@given(
    source=sources(),
    where=st.sampled_from(CALLBACKS),
    nth=st.integers(1, 4),
    is_async=st.booleans(),
)
async def test_cancelling_inside_any_callback(
    source: Script, where: str, nth: int, is_async: bool
) -> None:
    """A callback (sync, or async and awaiting after the cancel) cancels the consumer's scope
    on its n-th call: the cancellation reaches the consumer; it is not swallowed as a
    callback error."""
    log, before = Log(), task_count()
    scope = anyio.CancelScope()
    struck: list[int] = []

    def hook(name: str, n: int) -> Any:
        if name != where or n != nth:
            return None
        struck.append(source.calls)
        scope.cancel()
        if not is_async:
            return None

        async def then_wait() -> None:
            await anyio.sleep(1)  # cancelled right here: must propagate, not be logged

            raise AssertionError("a cancelled callback went on")

        return then_wait()

    stream = l0.run(source, retry=retry_policy(0.001), **log.callbacks(hook))
    finished = False
    with scope:
        await stream.read()
        finished = True
    if scope.cancelled_caught:
        assert struck
        assert not finished
        assert source.calls <= struck[0] + AFTER_CANCEL
    else:
        # Never cancelled, or cancelled when no checkpoint was left:
        # either way the stream completed, whole.
        assert finished
        assert stream.state.content == final_text(source)
    await check_clean([source], log, before)


@examples(20)
@given(failures=st.integers(1, 3), at=st.floats(0, 0.05), backoff=st.sampled_from([0.01, 0.03]))
async def test_cancelling_during_a_backoff_sleep(failures: int, at: float, backoff: float) -> None:
    """Every attempt fails and is retried after `backoff`; the cancel strikes at `at`,
    usually in a backoff sleep: it ends the sleep at once, and no attempt follows it."""
    source = Script(*[["x", Raise(boom)]] * failures, ["done"])
    log, before = Log(), task_count()
    stream = l0.run(source, retry=retry_policy(backoff), **log.callbacks())
    failed: list[l0.L0Error] = []
    with anyio.move_on_after(at) as scope:
        deadline = anyio.current_effective_deadline()
        try:
            await stream.read()
        except l0.AllStreamsExhausted as exc:
            # Backoff never sleeps past the caller's deadline: when the next attempt would
            # start after it (or it has passed already), the stream fails at once with the
            # last error instead of sleeping into the cancellation.
            failed.append(exc)
            assert anyio.current_time() + backoff >= deadline
    calls = source.calls
    await anyio.sleep(backoff * 2)  # anything still scheduled would have happened by now
    assert source.calls == calls
    # done, or never started (read() in an already cancelled scope raises at once)
    assert stream.done or calls == 0
    if not scope.cancelled_caught and not failed:
        assert stream.state.content == "done"
    await check_clean([source], log, before)


# -- sessions and compositions -----------------------------------------------------------------


@examples(30)
@given(
    scripts=st.lists(sources(), min_size=1, max_size=4),
    at=st.sampled_from([0.0, 0.001, 0.003, 0.01, 0.05]),
)
async def test_cancelling_a_session_of_streams(scripts: list[Script], at: float) -> None:
    """Streams of one session are consumed in their own tasks; the scope around the session
    is cancelled at `at`: every source is closed, every task gone, nothing calls back."""
    log, before = Log(), task_count()
    with anyio.move_on_after(at):
        async with (
            l0.session(retry=retry_policy(0.002), **log.callbacks()) as session,
            anyio.create_task_group() as tg,
        ):
            for script in scripts:
                tg.start_soon(read_or_fail_fast, session.run(script))
    await check_clean(scripts, log, before)


@examples(30)
@given(
    scripts=st.lists(sources(), min_size=1, max_size=4),
    at=st.sampled_from([0.0, 0.001, 0.003, 0.01, 0.05]),
    kind=st.sampled_from(["race", "parallel"]),
)
async def test_cancelling_a_composition(scripts: list[Script], at: float, kind: str) -> None:
    """A race or a parallel run, cancelled from outside at `at`: the cancellation propagates
    (no error, no exception group), every source is closed, every task gone."""
    log, before = Log(), task_count()
    outcome: list[Any] = []
    with anyio.move_on_after(at) as scope:
        options: dict[str, Any] = {"retry": retry_policy(0.002), **log.callbacks()}
        try:
            if kind == "race":
                outcome.append(await l0.race(scripts, **options))
            else:
                outcome.append(await l0.parallel(scripts, **options))
        except l0.L0Error as exc:
            outcome.append(exc)  # a retry that would start after the deadline fails at once
    if scope.cancelled_caught:
        assert outcome == []
    await check_clean(scripts, log, before)


# -- KeyboardInterrupt -------------------------------------------------------------------------


@examples(40)
@given(
    before_ki=st.lists(tokens, max_size=4),
    where=st.sampled_from(["source", "on_token", "on_event", "on_start"]),
    nth=st.integers(1, 3),
)
async def test_keyboard_interrupt_is_never_swallowed_nor_retried(
    before_ki: list[str], where: str, nth: int
) -> None:
    """KeyboardInterrupt from the source, or from a callback on its n-th call, propagates out
    of the stream at once; the factory is not called again; the source is closed."""

    def interrupt(name: str, n: int) -> None:
        if name == where and n == nth:
            raise KeyboardInterrupt

    steps: list[Any] = [*before_ki, Raise(KeyboardInterrupt)] if where == "source" else [
        *before_ki, "end"]  # fmt: skip
    source = Script(steps, ["never"])
    log, before = Log(), task_count()
    stream = l0.run(source, retry=retry_policy(0), **log.callbacks(interrupt))
    try:
        await stream.read()
    except KeyboardInterrupt:
        interrupted = True
    else:
        interrupted = False
    if where == "source":
        assert interrupted
    if interrupted:
        assert source.calls <= 1
        assert stream.done
        assert log.calls.count("on_retry") == 0
    await check_clean([source], log, before)


# -- cancellation is seen before any new work --------------------------------------------------


async def test_no_attempt_starts_after_a_cancel() -> None:
    """The consumer cancels on the ErrorEvent of a failed attempt: no further attempt starts
    (its factory is not even called)."""
    source = Script([Raise(boom)], ["never"])
    with anyio.CancelScope() as scope:
        async for event in l0.run(source, retry=retry_policy(0)):
            if isinstance(event, l0.ErrorEvent):
                scope.cancel()
    assert scope.cancelled_caught
    assert source.calls == 1


async def test_read_is_a_checkpoint() -> None:
    """`await stream.read()` in a cancelled scope raises the cancellation, as every trio and
    anyio async operation does, even when the source never waits (flake8-async ASYNC910)."""
    source = Script(["a", "b"])
    reached = False
    with anyio.CancelScope() as scope:
        scope.cancel()
        await l0.run(source).read()
        reached = True
    assert not reached
    assert source.all_closed
