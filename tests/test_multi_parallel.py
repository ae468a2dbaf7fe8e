"""parallel, sequential, batched: results and errors by index, fail_fast, telemetry."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest

import l0
from l0._multi import ParallelResult, TasksFailed, batched, parallel, sequential
from tests._sources import Raise, Script, ScriptWithContext, Stall, assert_slept, boom, paced


def running_tasks() -> set[int]:
    """Ids of the tasks alive in the event loop now."""
    return {task.id for task in anyio.get_running_tasks()}


def statuses(result: ParallelResult) -> list[str]:
    return [o.status for o in result.outcomes]


class Gauge:
    """Counts how many async jobs run at once."""

    def __init__(self) -> None:
        self.now = 0
        self.peak = 0
        self.order: list[int] = []

    def job(self, value: int, seconds: float = 0.01) -> Any:
        async def run() -> int:
            self.now += 1
            self.peak = max(self.peak, self.now)
            self.order.append(value)
            try:
                await anyio.sleep(seconds)
            finally:
                self.now -= 1
            return value * 10

        return run


# -- what a task can be ---------------------------------------------------------------------------


async def test_results_by_index_for_every_kind_of_task(zero_backoff: None) -> None:
    """Streams, factories (sync, async-generator, context-taking) and async callables mix."""

    async def agen() -> AsyncIterator[str]:
        yield "from agen"

    async def compute() -> dict[str, int]:
        await anyio.lowlevel.checkpoint()
        return {"n": 1}

    async def make_stream() -> l0.Stream:
        return l0.run(Script(["built"]))

    with_ctx = ScriptWithContext([Raise(boom)], ["ctx ok"])
    result = await parallel(
        [
            l0.run(Script(["stream"])),
            Script(["factory"]),
            agen,
            with_ctx,
            compute,
            make_stream,
            lambda: "plain value",
        ],
        retry=l0.Retry(attempts=2),
    )
    assert result.results == [
        "stream",
        "factory",
        "from agen",
        "ctx ok",
        {"n": 1},
        "built",
        "plain value",
    ]
    assert result.errors == [None] * 7
    assert result.ok
    assert len(result) == 7
    assert [c.attempt for c in with_ctx.contexts] == [1, 2]  # the run options applied


async def test_a_factory_is_called_again_for_a_retry(zero_backoff: None) -> None:
    """A plain callable returning a model stream is a factory: attempt 2 calls it again."""
    src = Script([Raise(boom)], ["second time"])
    result = await parallel([src], retry=l0.Retry(attempts=2))
    assert result.results == ["second time"]
    assert src.calls == 2
    assert src.all_closed


class ProviderStream:
    """Stands for an SDK stream object (an open HTTP response): closed with aclose()."""

    def __init__(self, *items: str) -> None:
        self.items = list(items)
        self.closed = False

    def __aiter__(self) -> ProviderStream:
        return self

    async def __anext__(self) -> str:
        if not self.items:
            raise StopAsyncIteration
        return self.items.pop(0)

    async def aclose(self) -> None:
        self.closed = True


async def test_an_async_callable_returning_a_provider_stream_is_read_and_closed() -> None:
    """``async def make(): return await client.create(stream=True)`` works as a task."""
    made: list[ProviderStream] = []

    async def make() -> ProviderStream:
        made.append(ProviderStream("sdk ", "text"))
        return made[-1]

    result = await parallel([make])
    assert result.results == ["sdk text"]
    assert [m.closed for m in made] == [True]


@pytest.mark.timing
async def test_a_provider_stream_made_but_never_read_is_closed(anyio_backend: Any) -> None:
    """Cancelled after the task made its stream but before l0 read it: it is still closed."""
    made = ProviderStream("never read")

    async def make() -> ProviderStream:
        return made

    seen: list[Any] = []

    async def slow_observer(event: Any) -> None:
        seen.append(event)
        if len(seen) == 1:
            await anyio.sleep(10)  # the first observability event: before the first attempt

    with anyio.move_on_after(0.05):
        await parallel([make], on_event=slow_observer)
    assert made.items == ["never read"]
    assert made.closed


async def test_errors_by_index_and_the_others_still_run() -> None:
    """Without fail_fast, a failure is recorded at its index and everything else completes."""

    async def broken() -> None:
        raise KeyError("nope")

    ok = Script([Stall(0.02), "fine"])
    result = await parallel([broken, ok, Script([Raise(boom)])], retry=None)
    assert statuses(result) == ["failed", "ok", "failed"]
    assert result.results == [None, "fine", None]
    errors = result.errors
    assert isinstance(errors[0], KeyError)
    assert errors[1] is None
    assert isinstance(errors[2], l0.L0Error)
    assert result.ok is False
    assert sorted(result.failed) == [0, 2]


# -- concurrency ----------------------------------------------------------------------------------


async def test_concurrency_caps_the_tasks_running_at_once() -> None:
    """With concurrency=2 no more than two tasks run at once, started in index order."""
    gauge = Gauge()
    result = await parallel([gauge.job(i) for i in range(7)], concurrency=2)
    assert gauge.peak == 2
    assert gauge.order == list(range(7))
    assert result.results == [i * 10 for i in range(7)]


async def test_no_cap_runs_all_at_once() -> None:
    """concurrency=None runs every task concurrently."""
    gauge = Gauge()
    await parallel([gauge.job(i) for i in range(5)])
    assert gauge.peak == 5


@pytest.mark.timing
async def test_concurrency_wall_time(anyio_backend: Any) -> None:
    """Six 0.2-second tasks, three at a time, take 0.4 seconds."""
    gauge = Gauge()
    start = anyio.current_time()
    result = await parallel([gauge.job(i, 0.2) for i in range(6)], concurrency=3)
    assert_slept(anyio_backend, anyio.current_time() - start, 0.4)
    assert_slept(anyio_backend, result.telemetry.duration, 0.4)
    assert_slept(anyio_backend, result.telemetry.average_duration, 0.2)


# -- fail_fast ------------------------------------------------------------------------------------


@pytest.mark.timing
async def test_fail_fast_cancels_running_tasks_and_closes_their_streams(
    anyio_backend: Any,
) -> None:
    """The first failure cancels what runs (sources closed) and skips what has not started."""
    before = running_tasks()
    failing = Script([Stall(0.05), Raise(boom)])
    slow = Script(paced("partial", Stall(10), "never"))
    pending = Script(["never started"])
    start = anyio.current_time()
    result = await parallel([failing, slow, pending], concurrency=2, fail_fast=True, retry=None)
    assert_slept(anyio_backend, anyio.current_time() - start, 0.05)
    assert statuses(result) == ["failed", "cancelled", "skipped"]
    assert slow.closed == [True]
    assert failing.closed == [True]
    assert pending.calls == 0
    assert result.outcomes[1].state is not None
    assert result.outcomes[1].state.content == "partial"
    assert result.outcomes[2].duration is None
    assert result.telemetry.cancelled == 1
    assert result.telemetry.skipped == 1
    assert running_tasks() == before


async def test_fail_fast_cancels_async_callables_too() -> None:
    """A running plain async task is cancelled (its finally runs) when another fails."""
    cleaned: list[bool] = []

    async def long() -> None:
        try:
            await anyio.sleep(10)
        finally:
            cleaned.append(True)

    async def fails() -> None:
        await anyio.sleep(0.01)
        raise RuntimeError("first failure")

    result = await parallel([long, fails], fail_fast=True)
    assert statuses(result) == ["cancelled", "failed"]
    assert cleaned == [True]


async def test_without_fail_fast_a_failure_cancels_nothing() -> None:
    """The default runs every task to its end."""
    slow = Script([Stall(0.05), "slow"])
    result = await parallel([Script([Raise(boom)]), slow], retry=None)
    assert statuses(result) == ["failed", "ok"]


# -- progress and telemetry ---------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_on_progress_is_called_after_each_task(kind: str) -> None:
    """on_progress(done, total), sync or async, once per ended task, failures included."""
    seen: list[tuple[int, int]] = []

    def sync_hook(done: int, total: int) -> None:
        seen.append((done, total))

    async def async_hook(done: int, total: int) -> None:
        await anyio.lowlevel.checkpoint()
        seen.append((done, total))

    hook = sync_hook if kind == "sync" else async_hook
    await parallel(
        [Script(["a"]), Script([Raise(boom)]), Script(["c"])], on_progress=hook, retry=None
    )
    assert seen == [(1, 3), (2, 3), (3, 3)]


async def test_a_raising_progress_hook_is_logged_not_fatal(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A hook that raises does not stop the tasks."""

    def hook(done: int, total: int) -> None:
        raise RuntimeError("hook broke")

    result = await parallel([Script(["a"]), Script(["b"])], on_progress=hook)
    assert result.ok
    assert "on_progress" in caplog.text


async def test_telemetry_is_filled_from_the_streams(zero_backoff: None) -> None:
    """Tokens, retries and fallbacks are summed over the tasks' stream states."""
    retried = Script(["x", Raise(boom)], ["a", "b"])
    primary = Script([Raise(boom)])
    fallback = Script(["c", "d", "e"])

    async def not_a_stream() -> int:
        return 1

    result = await parallel(
        [
            retried,
            l0.run(primary, fallbacks=[fallback], retry=None),
            not_a_stream,
        ],
        retry=l0.Retry(attempts=1),
    )
    assert result.ok
    telemetry = result.telemetry
    assert telemetry.tasks == 3
    assert telemetry.succeeded == 3
    assert telemetry.streams == 2
    assert telemetry.total_tokens == 5
    assert telemetry.retries == 1
    assert telemetry.fallbacks == 1
    assert telemetry.failed == 0


# -- cancellation of the caller ----------------------------------------------------------------


@pytest.mark.timing
async def test_cancelling_the_caller_closes_every_stream_and_leaks_nothing(
    anyio_backend: Any,
) -> None:
    """A caller cancelled mid-run: every started source closed, no task left behind."""
    before = running_tasks()
    sources = [Script([Stall(10), "x"]) for _ in range(4)]
    with anyio.move_on_after(0.1) as scope:
        await parallel(sources, concurrency=2, retry=None)
    assert scope.cancelled_caught
    assert [s.calls for s in sources] == [1, 1, 0, 0]
    assert all(s.all_closed for s in sources)
    assert running_tasks() == before


# -- sequential ---------------------------------------------------------------------------------


async def test_sequential_runs_in_order_one_at_a_time() -> None:
    """sequential is parallel with concurrency 1."""
    gauge = Gauge()
    result = await sequential([gauge.job(i) for i in range(4)])
    assert gauge.peak == 1
    assert gauge.order == [0, 1, 2, 3]
    assert result.results == [0, 10, 20, 30]


async def test_sequential_stops_at_the_first_error_and_raises_one_error() -> None:
    """stop_on_error=True: the tasks after the failure are skipped; one TasksFailed says why."""
    third = Script(["never"])
    with pytest.raises(TasksFailed) as caught:
        await sequential([Script(["a"]), Script([Raise(boom)]), third], retry=None)
    error = caught.value
    assert isinstance(error, l0.L0Error)
    assert list(error.errors) == [1]
    assert isinstance(error.errors[1], l0.AllStreamsExhausted)
    assert error.__cause__ is error.errors[1]
    assert statuses(error.result) == ["ok", "failed", "skipped"]
    assert error.result.results[0] == "a"
    assert third.calls == 0


async def test_sequential_can_continue_after_errors_and_reports_each() -> None:
    """stop_on_error=False: every task runs; the error carries every failure by index."""
    with pytest.raises(TasksFailed) as caught:
        await sequential(
            [Script([Raise(boom)]), Script(["b"]), Script([Raise(boom)])],
            stop_on_error=False,
            retry=None,
        )
    error = caught.value
    assert sorted(error.errors) == [0, 2]
    assert statuses(error.result) == ["failed", "ok", "failed"]
    assert error.result.results == [None, "b", None]
    assert error.__cause__ is error.errors[0]


async def test_sequential_raises_no_exception_group_for_a_plain_failure() -> None:
    """A task raising a plain exception comes back inside one TasksFailed, not a group."""

    async def broken() -> None:
        raise KeyError("missing")

    with pytest.raises(TasksFailed) as caught:
        await sequential([broken])
    assert isinstance(caught.value.errors[0], KeyError)


# -- batched ------------------------------------------------------------------------------------


@pytest.mark.timing
async def test_batched_waits_for_each_batch_before_the_next(anyio_backend: Any) -> None:
    """Batches of 2: a batch starts only when the previous one has wholly ended."""
    starts: dict[int, float] = {}
    durations = {0: 0.1, 1: 0.3, 2: 0.1, 3: 0.1, 4: 0.2}
    origin = anyio.current_time()

    async def handle(item: int) -> str:
        starts[item] = anyio.current_time() - origin
        await anyio.sleep(durations[item])
        return f"item {item}"

    result = await batched(range(5), handle, 2)
    assert result.results == [f"item {i}" for i in range(5)]
    for item, expected in {0: 0.0, 1: 0.0, 2: 0.3, 3: 0.3, 4: 0.4}.items():
        assert_slept(anyio_backend, starts[item], expected)


async def test_batched_handler_may_return_factories_or_values() -> None:
    """handler(item) can give a stream factory (its text is the result) or a plain value."""

    def handler(item: int) -> Any:
        return Script([f"text {item}"]) if item % 2 else item

    result = await batched([1, 2, 3], handler, 2)
    assert result.results == ["text 1", 2, "text 3"]


async def test_batched_fail_fast_skips_later_batches() -> None:
    """fail_fast=True: the failing batch is cancelled and later batches never start."""
    called: list[int] = []

    async def handle(item: int) -> int:
        called.append(item)
        if item == 1:
            raise ValueError("bad item")
        await anyio.sleep(0.05 if item == 0 else 0)
        return item

    result = await batched(range(6), handle, 2, fail_fast=True)
    assert statuses(result) == ["cancelled", "failed", "skipped", "skipped", "skipped", "skipped"]
    assert called == [0, 1]


# -- bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize("concurrency", [0, -1, True, 1.5])
async def test_bad_concurrency_is_a_config_error(concurrency: Any) -> None:
    """concurrency must be a positive int."""
    src = Script(["x"])
    with pytest.raises(l0.ConfigError, match="concurrency"):
        await parallel([src], concurrency=concurrency)
    assert src.calls == 0


async def test_empty_and_bad_inputs_are_config_errors() -> None:
    """Empty task lists, bad batch sizes, unknown run options fail at once."""
    with pytest.raises(l0.ConfigError, match="at least one"):
        await parallel([])
    with pytest.raises(l0.ConfigError, match="at least one"):
        await sequential([])
    with pytest.raises(l0.ConfigError, match="at least one"):
        await batched([], lambda x: x, 2)
    with pytest.raises(l0.ConfigError, match="batch_size"):
        await batched([1], lambda x: x, 0)
    with pytest.raises(l0.ConfigError, match="handler"):
        await batched([1], "nope", 1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="retries"):
        await parallel([Script(["x"])], retries=2)  # type: ignore[call-arg]
    with pytest.raises(l0.ConfigError, match="list of tasks"):
        await parallel("abc")  # type: ignore[arg-type]


async def test_a_task_that_is_not_runnable_fails_at_its_index() -> None:
    """A list item that is neither a stream, a callable nor an awaitable is that task's error."""
    result = await parallel([Script(["ok"]), 42])  # type: ignore[list-item]
    assert statuses(result) == ["ok", "failed"]
    assert isinstance(result.errors[1], l0.ConfigError)


async def test_session_streams_are_used_when_given() -> None:
    """With session=..., factories run from the session (its defaults apply)."""
    seen: list[Any] = []
    async with l0.session(on_complete=seen.append) as s:
        result = await parallel([Script(["a"]), Script(["b"])], session=s)
    assert result.results == ["a", "b"]
    assert len(seen) == 2


# -- tasks given as run options ------------------------------------------------------------------


async def test_a_mapping_of_run_options_is_a_task(zero_backoff: None) -> None:
    """{"stream": factory, **options}: run with the call's options overridden by its own."""
    flaky = Script([Raise(boom)], ["second try"])
    plain = Script(["plain"])
    seen: list[Any] = []
    result = await parallel(
        [
            {
                "stream": flaky,
                "retry": l0.Retry(attempts=1),
                "on_start": lambda *args: seen.append(args),
            },
            plain,
        ],
        retry=None,
    )
    assert result.results == ["second try", "plain"]
    assert flaky.calls == 2
    assert len(seen) >= 1  # the task's own callback
    assert result.telemetry.retries == 1


@pytest.mark.parametrize(
    ("task", "message"),
    [
        ({"retry": None}, "task 1.*'stream' factory"),
        ({"stream": "not callable"}, "task 1.*'stream' factory"),
        ({"stream": Script(["x"]), "retries": 3}, "retries"),
    ],
)
async def test_a_bad_mapping_task_is_refused_before_anything_runs(
    task: dict[str, Any], message: str
) -> None:
    """A task mapping without a factory, or with an unknown option, fails the call at once."""
    first = Script(["never"])
    with pytest.raises((l0.ConfigError, TypeError), match=message):
        await parallel([first, task])
    assert first.calls == 0
