"""pool: bounded workers, a cancelled caller cancels only its own operation, clean exits."""

from __future__ import annotations

from typing import Any

import anyio
import anyio.abc
import anyio.lowlevel
import pytest

import l0
from l0._multi import Pool, PoolClosed, pool
from tests._sources import Raise, Script, Stall, assert_slept, boom


def running_tasks() -> set[int]:
    """Ids of the tasks alive in the event loop now."""
    return {task.id for task in anyio.get_running_tasks()}


async def test_run_returns_the_text_and_counts_it() -> None:
    """pool.run(factory) gives the stream's text; stats count it."""

    async def seven() -> int:
        await anyio.lowlevel.checkpoint()
        return 7

    async with pool(workers=2, retry=None) as p:
        assert await p.run(Script(["pooled ", "text"])) == "pooled text"
        assert await p.run(seven) == 7
        stats = p.stats
    assert stats.completed == 2
    assert stats.failed == 0
    assert stats.total_tokens == 2
    assert stats.workers == 2


async def test_async_callables_and_per_run_options(zero_backoff: None) -> None:
    """Async callables run as they are; run options given to run() override the pool's."""

    async def compute() -> str:
        return "computed"

    flaky = Script([Raise(boom)], ["second"])
    async with pool(workers=1, retry=None) as p:
        assert await p.run(compute) == "computed"
        assert await p.run(flaky, retry=l0.Retry(attempts=1)) == "second"
        with pytest.raises(l0.L0Error):
            await p.run(Script([Raise(boom)]))  # the pool's retry=None


@pytest.mark.timing
async def test_workers_bound_the_concurrency_and_the_queue_is_visible(anyio_backend: Any) -> None:
    """With 2 workers and 5 jobs of 0.2 s: 2 run, 3 wait; all done after 0.6 s."""
    running = 0
    peak = 0
    results: list[int] = []

    def job(i: int) -> Any:
        async def run() -> int:
            nonlocal running, peak
            running += 1
            peak = max(peak, running)
            await anyio.sleep(0.2)
            running -= 1
            return i

        return run

    start = anyio.current_time()
    async with pool(workers=2) as p:

        async def call(i: int) -> None:
            results.append(await p.run(job(i)))

        async with anyio.create_task_group() as tg:
            for i in range(5):
                tg.start_soon(call, i)
            await anyio.sleep(0.1)
            assert (p.active, p.queue_length) == (2, 3)
            assert p.stats.queued == 3
    assert_slept(anyio_backend, anyio.current_time() - start, 0.6)
    assert peak == 2
    assert sorted(results) == [0, 1, 2, 3, 4]
    assert (p.active, p.queue_length) == (0, 0)
    assert_slept(anyio_backend, p.stats.average_duration, 0.2)


@pytest.mark.timing
async def test_a_cancelled_caller_cancels_only_its_own_running_operation(
    anyio_backend: Any,
) -> None:
    """Cancelling one waiting caller closes its stream; the others finish; the pool goes on."""
    victim = Script([Stall(10), "never"])
    other = Script([Stall(0.3), "other done"])
    outcome: dict[str, Any] = {}
    async with pool(workers=2, retry=None) as p:

        async def cancelled_caller() -> None:
            with anyio.move_on_after(0.1) as scope:
                await p.run(victim)
            outcome["cancelled"] = scope.cancelled_caught
            # The caller's cancellation only went on once its stream had been closed.
            outcome["closed_when_cancelled"] = list(victim.closed)

        async def other_caller() -> None:
            outcome["other"] = await p.run(other)

        async with anyio.create_task_group() as tg:
            tg.start_soon(cancelled_caller)
            tg.start_soon(other_caller)
        assert await p.run(Script(["still working"])) == "still working"
        stats = p.stats
    assert outcome == {"cancelled": True, "closed_when_cancelled": [True], "other": "other done"}
    assert stats.cancelled == 1
    assert stats.completed == 2


@pytest.mark.timing
async def test_a_caller_cancelled_while_queued_never_starts(anyio_backend: Any) -> None:
    """A queued operation whose caller gives up is dropped: its factory is never called."""
    blocker = Script([Stall(0.3), "blocker"])
    queued = Script(["queued"])
    async with pool(workers=1) as p:
        async with anyio.create_task_group() as tg:
            tg.start_soon(p.run, blocker)
            await anyio.sleep(0.1)
            with anyio.move_on_after(0.1):
                await p.run(queued)
            assert p.queue_length == 0
        await p.drain()
        stats = p.stats
    assert queued.calls == 0
    assert (stats.completed, stats.cancelled) == (1, 1)


async def test_a_failing_operation_raises_in_its_caller_only() -> None:
    """The task's error is raised to its caller; stats count it; the pool goes on."""

    async def broken() -> None:
        raise KeyError("missing")

    async with pool(workers=1) as p:
        with pytest.raises(KeyError):
            await p.run(broken)
        assert await p.run(Script(["fine"])) == "fine"
        assert (p.stats.failed, p.stats.completed) == (1, 1)


@pytest.mark.timing
async def test_leaving_waits_for_in_flight_work_by_default(anyio_backend: Any) -> None:
    """on_exit='wait': callers outside the block get their results after it is left."""
    results: list[str] = []
    start = anyio.current_time()
    async with anyio.create_task_group() as outer:
        async with pool(workers=1) as p:

            async def call(text: str) -> None:
                results.append(await p.run(Script([Stall(0.2), text])))

            outer.start_soon(call, "first")
            outer.start_soon(call, "second")
            await anyio.sleep(0.1)
        # Leaving the pool waited for both (one after the other on one worker).
        assert_slept(anyio_backend, anyio.current_time() - start, 0.4)
    assert sorted(results) == ["first", "second"]


@pytest.mark.timing
async def test_leaving_with_cancel_ends_everything_with_pool_closed(anyio_backend: Any) -> None:
    """on_exit='cancel': running and queued operations end now, their callers get PoolClosed."""
    running = Script([Stall(10), "running"])
    waiting = Script(["waiting"])
    errors: list[BaseException] = []
    before = running_tasks()
    start = anyio.current_time()
    async with anyio.create_task_group() as outer, pool(workers=1, on_exit="cancel") as p:

        async def call(src: Script) -> None:
            try:
                await p.run(src)
            except PoolClosed as exc:
                errors.append(exc)

        outer.start_soon(call, running)
        await anyio.sleep(0.1)
        outer.start_soon(call, waiting)
        await anyio.sleep(0.1)
        assert (p.active, p.queue_length) == (1, 1)
    assert_slept(anyio_backend, anyio.current_time() - start, 0.2)
    assert len(errors) == 2
    assert running.closed == [True]
    assert waiting.calls == 0
    assert running_tasks() == before


@pytest.mark.timing
async def test_closing_with_cancel_also_ends_callers_waiting_for_queue_room(
    anyio_backend: Any,
) -> None:
    """A caller blocked on a full queue when the pool closes gets PoolClosed, not a hang."""
    outcomes: list[str] = []
    async with (
        anyio.create_task_group() as outer,
        pool(workers=1, queue_size=1, on_exit="cancel") as p,
    ):

        async def call(seconds: float) -> None:
            try:
                outcomes.append(await p.run(Script([Stall(seconds), "done"])))
            except PoolClosed:
                outcomes.append("closed")

        for _ in range(3):  # running, queued, waiting for room
            outer.start_soon(call, 10)
            await anyio.sleep(0.01)
        assert (p.active, p.queue_length) == (1, 2)
    assert outcomes == ["closed", "closed", "closed"]


async def test_an_error_in_the_block_cancels_the_work_and_propagates_unwrapped() -> None:
    """If the body raises, in-flight work is cancelled and the error is raised as itself."""
    src = Script([Stall(10), "x"])
    errors: list[BaseException] = []

    async def call(p: Pool) -> None:
        try:
            await p.run(src)
        except PoolClosed as exc:
            errors.append(exc)

    async def body(outer: anyio.abc.TaskGroup) -> None:
        async with pool(workers=1) as p:
            outer.start_soon(call, p)
            await anyio.sleep(0.01)
            raise ValueError("body failed")

    async with anyio.create_task_group() as outer:
        try:
            await body(outer)
        except ValueError as exc:  # as itself, not an ExceptionGroup
            errors.append(exc)
    assert sorted(type(e).__name__ for e in errors) == ["PoolClosed", "ValueError"]
    assert src.closed == [True]


@pytest.mark.timing
async def test_cancelling_the_block_closes_the_work(anyio_backend: Any) -> None:
    """A cancelled pool block cancels its operations and leaks no task."""
    src = Script([Stall(10), "x"])
    before = running_tasks()
    with anyio.move_on_after(0.1):
        async with pool(workers=2) as p:
            await p.run(src)
    assert src.closed == [True]
    assert running_tasks() == before


async def test_run_outside_or_after_the_block_is_pool_closed() -> None:
    """A pool takes operations only while its async with is open."""
    p = pool(workers=1)
    with pytest.raises(PoolClosed):
        await p.run(Script(["x"]))
    async with p:
        pass
    assert p.closed
    with pytest.raises(PoolClosed):
        await p.run(Script(["x"]))
    with pytest.raises(l0.ConfigError):
        async with p:
            pass


@pytest.mark.timing
async def test_drain_waits_until_idle(anyio_backend: Any) -> None:
    """drain() returns once nothing is queued or running."""
    start = anyio.current_time()
    async with pool(workers=3) as p, anyio.create_task_group() as tg:
        for seconds in (0.1, 0.2, 0.3):
            tg.start_soon(p.run, Script([Stall(seconds), "x"]))
        await anyio.sleep(0.01)
        await p.drain()
        assert_slept(anyio_backend, anyio.current_time() - start, 0.3)
        assert (p.active, p.queue_length) == (0, 0)
        await p.drain()  # idle already: returns at once


@pytest.mark.timing
async def test_a_full_queue_makes_run_wait(anyio_backend: Any) -> None:
    """With queue_size=1 and one busy worker, a third caller waits to enqueue."""
    async with pool(workers=1, queue_size=1) as p, anyio.create_task_group() as tg:
        tg.start_soon(p.run, Script([Stall(0.3), "a"]))
        await anyio.sleep(0.01)
        tg.start_soon(p.run, Script(["b"]))
        await anyio.sleep(0.01)
        assert p.queue_length == 1
        with anyio.move_on_after(0.1) as scope:
            await p.run(Script(["c"]))
        assert scope.cancelled_caught  # it could not even be queued
        assert p.queue_length == 1


async def test_repr_and_properties() -> None:
    """The pool says what it is."""
    async with pool(workers=3) as p:
        assert isinstance(p, Pool)
        assert p.workers == 3
        assert repr(p) == "Pool(workers=3, queued=0, active=0, closed=False)"
        assert p.on_exit == "wait"


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"workers": 0}, l0.ConfigError),
        ({"workers": True}, l0.ConfigError),
        ({"queue_size": 0}, l0.ConfigError),
        ({"on_exit": "abandon"}, l0.ConfigError),
        ({"retries": 1}, TypeError),
    ],
)
def test_bad_pool_options(kwargs: dict[str, Any], error: type[Exception]) -> None:
    """Invalid options fail when the pool is made."""
    with pytest.raises(error):
        pool(**kwargs)


# -- nested operations (an operation that submits to its own pool) -------------------------------


async def test_nested_run_on_a_one_worker_pool_does_not_deadlock() -> None:
    """workers=1: an operation awaiting another on the same pool runs it in its own place."""
    async with pool(workers=1, retry=None) as p:

        async def outer() -> str:
            inner = await p.run(Script(["inner"]))
            return f"outer({inner})"

        with anyio.fail_after(5):
            assert await p.run(outer) == "outer(inner)"
        stats = p.stats
    assert (stats.completed, stats.failed, stats.queued, stats.active) == (2, 0, 0, 0)


async def test_deep_nesting_with_a_full_queue_does_not_deadlock() -> None:
    """Five levels deep, two workers, a queue of one: every level completes."""
    async with pool(workers=2, queue_size=1, retry=None) as p:

        async def level(n: int) -> str:
            if n == 0:
                return await p.run(Script(["bottom"]))
            return await p.run(lambda: level(n - 1))

        with anyio.fail_after(5):
            assert await p.run(lambda: level(4)) == "bottom"
        assert p.stats.completed == 6  # five levels and the bottom


@pytest.mark.timing
async def test_nested_fan_out_uses_free_workers_and_stays_bounded(anyio_backend: Any) -> None:
    """An operation fanning out 6 nested jobs of 0.1 s on a 3-worker pool: the 2 free workers
    and the caller's own slot run them, 3 at a time, in 0.2 s."""
    running = 0
    peak = 0

    def job(i: int) -> Any:
        async def run() -> int:
            nonlocal running, peak
            running += 1
            peak = max(peak, running)
            try:
                await anyio.sleep(0.1)
            finally:
                running -= 1
            return i

        return run

    async with pool(workers=3) as p:

        async def fan_out() -> list[int]:
            results: list[int] = []

            async def one(i: int) -> None:
                results.append(await p.run(job(i)))

            async with anyio.create_task_group() as tg:
                for i in range(6):
                    tg.start_soon(one, i)
            return sorted(results)

        start = anyio.current_time()
        with anyio.fail_after(5):
            assert await p.run(fan_out) == [0, 1, 2, 3, 4, 5]
        elapsed = anyio.current_time() - start
    assert peak == 3
    assert_slept(anyio_backend, elapsed, 0.2)


@pytest.mark.timing
async def test_a_cancelled_nested_caller_cancels_only_its_nested_job(anyio_backend: Any) -> None:
    """The outer operation gives up on a nested job: that job's stream is closed, the outer
    operation and the pool go on."""
    victim = Script([Stall(10), "never"])
    async with pool(workers=1, retry=None) as p:

        async def outer() -> str:
            with anyio.move_on_after(0.1):
                await p.run(victim)
            assert victim.closed == [True]
            return await p.run(Script(["after"]))

        assert await p.run(outer) == "after"
        stats = p.stats
    assert (stats.completed, stats.cancelled) == (2, 1)


@pytest.mark.timing
async def test_nested_runs_still_work_while_the_pool_is_closing(anyio_backend: Any) -> None:
    """on_exit="wait": an operation still running when the block ends may still nest; a new
    operation from outside is refused."""
    results: list[Any] = []
    async with anyio.create_task_group() as tg:
        async with pool(workers=1, retry=None) as p:

            async def outer() -> None:
                await anyio.sleep(0.1)  # the block has ended by now: the pool is closing
                results.append(p.closed)
                results.append(await p.run(Script(["nested"])))

            tg.start_soon(p.run, outer)
            await anyio.sleep(0.01)
        with pytest.raises(PoolClosed):
            await p.run(Script(["outside"]))
    assert results == [True, "nested"]


async def test_a_mapping_of_run_options_is_a_task() -> None:
    """pool.run({"stream": factory, **options}): the task's options override the pool's."""
    flaky = Script([Raise(boom)], ["second"])
    async with pool(workers=1, retry=None) as p:
        with l0.testing.set_testing():
            assert await p.run({"stream": flaky, "retry": l0.Retry(attempts=1)}) == "second"
        with pytest.raises(l0.ConfigError, match="'stream' factory"):
            await p.run({"retry": None})


@pytest.mark.timing
async def test_no_task_is_left_after_the_pool_or_a_cancelled_pool(anyio_backend: Any) -> None:
    """Leaving the block (normally, or cancelled mid-work) leaves no worker running."""
    before = running_tasks()
    async with pool(workers=3, retry=None) as p:
        assert await p.run(Script(["x"])) == "x"
    assert running_tasks() == before
    source = Script([Stall(10), "never"])
    with anyio.move_on_after(0.1):
        async with pool(workers=3, retry=None) as p:
            await p.run(source)
    assert source.closed == [True]
    assert running_tasks() == before
