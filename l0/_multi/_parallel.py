"""``parallel``, ``sequential`` and ``batched``: many tasks, results by index.

At most ``concurrency`` worker tasks run in one task group owned by the call; each takes the
next task index in order, so ten thousand tasks cost ``concurrency`` anyio tasks, not ten
thousand. ``fail_fast`` cancels the group's scope at the first failure: the running tasks are
cancelled (their streams closed in their own ``async with``) and the rest never start.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast

import anyio
import anyio.lowlevel

from l0._errors import ConfigError
from l0._multi._errors import TasksFailed
from l0._multi._results import ParallelResult, TaskRecord, TaskTelemetry
from l0._multi._tasks import (
    Deferred,
    Runnable,
    Task,
    call_hook,
    check_count,
    check_options,
    check_task_options,
    now,
    run_task,
)

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from l0._runtime._api import Session
    from l0._runtime._options import RunOptions

__all__ = ["TaskObserver", "batched", "parallel", "prepare_tasks", "run_all", "sequential"]

T = TypeVar("T")

ProgressHook = Callable[[int, int], Any]
"""``on_progress(done, total)``, sync or async: called after each task ends."""


class TaskObserver(Protocol):
    """Told when each task starts and ends (consensus turns these into events)."""

    def started(self, record: TaskRecord) -> Awaitable[None]:
        """Task ``record.index`` is about to start."""
        ...

    def ended(self, record: TaskRecord) -> Awaitable[None]:
        """Task ``record.index`` ended (``ok`` or ``failed``; not called when cancelled)."""
        ...


class _Runner:
    """Runs the tasks at some indexes, sharing the records and progress of one call."""

    def __init__(
        self,
        tasks: Sequence[Runnable],
        options: Mapping[str, Any],
        session: Session | None,
        on_progress: ProgressHook | None,
        observer: TaskObserver | None = None,
    ) -> None:
        self.tasks = tasks
        self.observer = observer
        self.options = options
        self.session = session
        self.on_progress = on_progress
        self.records = [TaskRecord(i) for i in range(len(tasks))]
        self.done = 0
        self.progress_lock = anyio.Lock()
        self.failed = False

    async def run(self, indexes: Iterable[int], concurrency: int, fail_fast: bool) -> None:
        """Run the tasks at ``indexes`` in order, ``concurrency`` at a time."""
        todo = iter(indexes)
        async with anyio.create_task_group() as tg:
            for _ in range(concurrency):
                tg.start_soon(self._worker, todo, tg.cancel_scope, fail_fast)

    async def _worker(self, todo: Iterator[int], scope: anyio.CancelScope, fail_fast: bool) -> None:
        for index in todo:
            # A task may finish without ever reaching a checkpoint (its items were all there):
            # make sure a cancellation (fail_fast, or the caller's) stops the next one starting.
            await anyio.lowlevel.checkpoint_if_cancelled()
            record = self.records[index]
            record.status = "running"
            record.started_at = now()
            if self.observer is not None:
                await self.observer.started(record)
            try:
                record.value = await run_task(
                    self.tasks[index], self.options, self.session, record.set_stream
                )
            except Exception as exc:
                record.error = exc
                record.status = "failed"
                self.failed = True
                if fail_fast:
                    scope.cancel()
            else:
                record.status = "ok"
            record.ended_at = now()
            if self.observer is not None:
                await self.observer.ended(record)
            if self.on_progress is not None:
                # One call at a time, so an async hook sees done = 1, 2, 3... in order.
                async with self.progress_lock:
                    self.done += 1
                    await call_hook("on_progress", self.on_progress, self.done, len(self.tasks))

    def result(self, started: float) -> ParallelResult:
        at = now()
        outcomes = tuple(r.freeze(at) for r in self.records)
        return ParallelResult(outcomes=outcomes, telemetry=TaskTelemetry.of(outcomes, at - started))


def prepare_tasks(tasks: Iterable[Task], where: str) -> list[Task]:
    if isinstance(tasks, (str, bytes)) or not isinstance(tasks, Iterable):  # pyright: ignore[reportUnnecessaryIsInstance]
        raise ConfigError(f"{where} takes a list of tasks, got {type(tasks).__name__}")
    listed = list(tasks)
    if not listed:
        raise ConfigError(f"{where} needs at least one task")
    for i, task in enumerate(listed):
        if isinstance(task, Mapping):
            check_task_options(cast("Mapping[str, Any]", task), f"{where} task {i}")
    return listed


async def run_all(
    tasks: Sequence[Task],
    *,
    concurrency: int | None,
    fail_fast: bool,
    on_progress: ProgressHook | None,
    session: Session | None,
    options: Mapping[str, Any],
    observer: TaskObserver | None = None,
    records: list[TaskRecord] | None = None,
) -> ParallelResult:
    """The shared implementation of :func:`parallel` (arguments already checked).

    ``records``, if given, receives the live task records at once (so a caller that is
    cancelled can still see which tasks were running).
    """
    runner = _Runner(tasks, options, session, on_progress, observer)
    if records is not None:
        records.extend(runner.records)
    started = now()
    workers = len(tasks) if concurrency is None else min(concurrency, len(tasks))
    await runner.run(range(len(tasks)), workers, fail_fast)
    return runner.result(started)


async def parallel(
    tasks: Iterable[Task],
    *,
    concurrency: int | None = None,
    fail_fast: bool = False,
    on_progress: ProgressHook | None = None,
    session: Session | None = None,
    **run_options: Unpack[RunOptions],
) -> ParallelResult:
    """Run ``tasks`` concurrently; results and errors by index.

    A task is an :class:`~l0.Stream`, a stream factory, a mapping of run options with a
    ``"stream"`` factory, or any async callable (see :doc:`/many-streams`); streams and
    factories give their text. ``concurrency`` caps how many
    run at once (``None``: all). ``fail_fast=True`` cancels the running tasks and skips the
    rest at the first failure. ``on_progress(done, total)`` (sync or async) is called after
    each task ends. ``run_options`` (the keywords of :func:`l0.run`) apply to the factories;
    with ``session``, streams are started from it.

    Task failures are not raised (with ``fail_fast`` too): they are in ``result.errors``
    (``result.ok`` is false); no ``ExceptionGroup`` ever comes out. Bad input (no tasks, a
    bad ``concurrency``, an unknown run option, a task mapping without a factory) raises
    :class:`~l0.ConfigError` or ``TypeError`` before anything runs. The call returns once
    every task has ended; cancelling the caller cancels them all, and every stream they
    started is closed before the cancellation goes on.

    .. versionadded:: 0.1
    """
    listed = prepare_tasks(tasks, "parallel()")
    check_count(concurrency, "concurrency")
    check_options(run_options, "parallel()")
    return await run_all(
        listed,
        concurrency=concurrency,
        fail_fast=fail_fast,
        on_progress=on_progress,
        session=session,
        options=run_options,
    )


async def sequential(
    tasks: Iterable[Task],
    *,
    stop_on_error: bool = True,
    on_progress: ProgressHook | None = None,
    session: Session | None = None,
    **run_options: Unpack[RunOptions],
) -> ParallelResult:
    """Run ``tasks`` one after the other, in order; every one must succeed.

    Returns the :class:`~l0.ParallelResult` when they all did. Otherwise raises one
    :class:`~l0.TasksFailed` carrying each failed task's error by index (``errors``), the
    result so far (``result``), and the first error as ``__cause__``. With
    ``stop_on_error=True`` (the default) the first failure ends the run (the remaining tasks
    are ``skipped``); with ``False`` every task runs whatever the others did, and the error
    carries every failure.

    .. versionadded:: 0.1
    """
    listed = prepare_tasks(tasks, "sequential()")
    check_options(run_options, "sequential()")
    result = await run_all(
        listed,
        concurrency=1,
        fail_fast=stop_on_error,
        on_progress=on_progress,
        session=session,
        options=run_options,
    )
    failed = result.failed
    if failed:
        first = min(failed)
        error = failed[first]
        raise TasksFailed(
            f"sequential(): {len(failed)} of {len(result)} tasks failed; the first, task "
            f"{first}: {type(error).__name__}: {error}",
            errors=failed,
            result=result,
        ) from error
    return result


async def batched(
    items: Iterable[T],
    handler: Callable[[T], Task],
    batch_size: int,
    *,
    fail_fast: bool = False,
    on_progress: ProgressHook | None = None,
    session: Session | None = None,
    **run_options: Unpack[RunOptions],
) -> ParallelResult:
    """Run ``handler(item)`` for each item, ``batch_size`` at a time, batch after batch.

    Unlike ``parallel(concurrency=n)`` (a sliding window), a batch starts only once the
    previous one has ended entirely. ``handler(item)`` may return any task (a stream, a
    factory, an awaitable, a value). Results are by item index. ``fail_fast=True`` cancels
    the current batch at the first failure and skips the later ones.

    .. versionadded:: 0.1
    """
    listed = list(items)
    if not listed:
        raise ConfigError("batched() needs at least one item")
    check_count(batch_size, "batch_size", allow_none=False)
    if not callable(handler):
        raise ConfigError(f"batched() handler must be callable, got {type(handler).__name__}")
    check_options(run_options, "batched()")

    tasks: list[Runnable] = [_bind(handler, item) for item in listed]
    runner = _Runner(tasks, run_options, session, on_progress)
    started = now()
    for start in range(0, len(tasks), batch_size):
        batch = range(start, min(start + batch_size, len(tasks)))
        await runner.run(batch, len(batch), fail_fast)
        if fail_fast and runner.failed:
            break
    return runner.result(started)


def _bind(handler: Callable[[T], Task], item: T) -> Deferred:
    return Deferred(lambda: handler(item))
