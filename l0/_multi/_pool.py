"""``pool``: a fixed set of workers serving a bounded queue of operations.

The workers live in a task group that belongs to the pool's ``async with``. ``pool.run(task)``
puts a job on a bounded memory stream (waiting while it is full) and waits for its result. A
caller cancelled while it waits cancels only its own job: a queued job is dropped when a worker
reaches it, a running one has its own cancel scope cancelled (its stream is closed in the
worker), and the caller waits, shielded and bounded, until that cleanup is done. Every job ends
with a result, an error, or :class:`~l0.PoolClosed`: nobody waits forever.

An operation may submit to its own pool (a context variable tells ``run`` that it is called
from inside one of this pool's jobs). Such a nested job never waits for a worker that only its
caller could free: it runs in its caller's place (in the caller's task: the caller's worker is
waiting for it anyway), one nested job at a time per caller; the caller's other nested jobs go
on the queue without waiting for room, and run on whichever comes first, a free worker or the
caller's place once it is free again. So nesting cannot deadlock the pool, even with
``workers=1``, and what runs stays bounded by the workers and the callers that wait.
"""

from __future__ import annotations

import contextvars
import math
from collections.abc import Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, cast

import anyio
import attrs

from l0._errors import ConfigError
from l0._multi._errors import PoolClosed
from l0._multi._tasks import (
    Task,
    check_count,
    check_options,
    check_task_options,
    now,
    run_task,
)
from l0._runtime._stream import CLEANUP_TIMEOUT, Stream

if TYPE_CHECKING:
    from anyio.abc import TaskGroup
    from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
    from typing_extensions import Unpack

    from l0._runtime._api import Session
    from l0._runtime._options import RunOptions

__all__ = ["Pool", "PoolStats", "pool"]

OnExit = Literal["wait", "cancel"]

_running: contextvars.ContextVar[tuple[Pool, _Job] | None] = contextvars.ContextVar(
    "l0_pool_job", default=None
)
"""The pool and job whose operation the current task (or its parent) is running."""


@attrs.frozen(kw_only=True)
class PoolStats:
    """A snapshot of a pool.

    ``queued``: operations waiting for a worker; ``active``: operations running; ``completed``,
    ``failed``, ``cancelled``: operations that ended so; ``average_duration``: mean seconds of
    the completed and failed ones; ``total_tokens``: tokens of their streams.

    .. versionadded:: 0.1
    """

    workers: int
    queued: int
    active: int
    completed: int
    failed: int
    cancelled: int
    average_duration: float
    total_tokens: int


class _Job:
    __slots__ = (
        "cancelled",
        "done",
        "error",
        "lent",
        "options",
        "parent",
        "scope",
        "state",
        "stream",
        "task",
        "value",
        "wake",
    )

    def __init__(self, task: Task, options: Mapping[str, Any]) -> None:
        self.task = task
        self.options = options
        self.state: Literal["queued", "running", "done"] = "queued"
        self.cancelled = False
        self.scope: anyio.CancelScope | None = None
        self.done = anyio.Event()
        self.value: Any = None
        self.error: BaseException | None = None
        self.stream: Stream | None = None
        self.parent: _Job | None = None
        """The running job that submitted this one to the same pool (nested), if any."""
        self.lent = False
        """Whether a nested job is running in this job's place (in a task of its caller)."""
        self.wake = anyio.Event()
        """Set (and renewed) when this job's slot is free again or a nested job of it ends."""

    def set_stream(self, stream: Stream) -> None:
        self.stream = stream

    def notify(self) -> None:
        """Wake the nested callers of this job (its slot is free, or one of them ended)."""
        self.wake.set()
        self.wake = anyio.Event()


class Pool:
    """Workers that run operations from a bounded queue; see :func:`pool`.

    .. versionadded:: 0.1
    """

    def __init__(
        self,
        workers: int,
        queue_size: int | None,
        on_exit: OnExit,
        session: Session | None,
        options: Mapping[str, Any],
    ) -> None:
        self._workers = workers
        self._queue_size = queue_size
        self.on_exit: OnExit = on_exit
        """What leaving the ``async with`` does with the operations not yet ended."""
        self._session = session
        self._options = dict(options)
        self._tg: TaskGroup | None = None
        self._send: MemoryObjectSendStream[_Job] | None = None
        self._recv: MemoryObjectReceiveStream[_Job] | None = None
        self._closing = False
        self._queued = 0
        self._active = 0
        self._completed = 0
        self._failed = 0
        self._cancelled = 0
        self._durations = 0.0
        self._tokens = 0
        self._idle = anyio.Event()
        self._idle.set()

    # -- the context ----------------------------------------------------------------------

    async def __aenter__(self) -> Pool:
        if self._tg is not None or self._closing:
            raise ConfigError("a pool can be entered only once")
        size = math.inf if self._queue_size is None else self._queue_size
        self._send, self._recv = anyio.create_memory_object_stream[_Job](size)
        tg = anyio.create_task_group()
        await tg.__aenter__()
        self._tg = tg
        for _ in range(self._workers):
            tg.start_soon(self._worker, self._recv.clone())
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        tg, send, recv = self._tg, self._send, self._recv
        if tg is None or send is None or recv is None:
            raise ConfigError("the pool was not entered")
        self._closing = True
        if exc_type is not None or self.on_exit == "cancel":
            tg.cancel_scope.cancel()
        send.close()  # the workers stop once the queue is empty
        try:
            # The body's own exception is not handed to the task group: it would come out
            # wrapped in an ExceptionGroup. The workers raise nothing but cancellation.
            await tg.__aexit__(None, None, None)
        finally:
            # Whatever is still queued (the pool was cancelled) ends now, so nobody waits.
            while True:
                try:
                    job = recv.receive_nowait()
                except (anyio.WouldBlock, anyio.EndOfStream):
                    break
                self._drop(job)
            recv.close()

    # -- public ---------------------------------------------------------------------------

    async def run(self, task: Task, **run_options: Unpack[RunOptions]) -> Any:
        """Run ``task`` on a worker and return its result (a stream's or factory's text).

        Waits while the queue is full. ``run_options`` override the pool's own for this task.
        Raises what the task raised, or :class:`~l0.PoolClosed` if the pool closed before it
        ended. Cancelling the caller cancels this operation only; its stream is closed before
        the cancellation goes on.

        Called from inside one of this pool's operations (nested), it runs the operation in
        its caller's place, or (while another nested operation of the same caller is there)
        queues it without waiting for room, for a free worker or that place, whichever comes
        first: nesting never deadlocks.
        """
        send = self._send
        running = _running.get()
        nested = (
            running is not None
            and running[0] is self
            and running[1].state == "running"  # not a stale context outliving its job
            and send is not None
        )
        if send is None or (self._closing and not nested):
            raise PoolClosed("the pool is not open: use it inside 'async with l0.pool(...)'")
        check_options(run_options, "Pool.run()")
        if isinstance(task, Mapping):
            check_task_options(cast("Mapping[str, Any]", task), "Pool.run()")
        options = {**self._options, **run_options} if run_options else self._options
        job = _Job(cast("Task", task), options)
        if running is not None and nested:
            job.parent = running[1]
            return await self._run_nested(job, send)
        self._queued += 1
        self._busy()
        try:
            await send.send(job)
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            self._unqueue(job)
            raise PoolClosed("the pool closed before the operation was queued") from None
        except BaseException:  # cancelled while the queue was full: it was never queued
            self._unqueue(job)
            raise
        try:
            await job.done.wait()
        finally:
            if not job.done.is_set():
                # This caller was cancelled: cancel its job only, and let it clean up.
                self._cancel(job)
                with anyio.move_on_after(CLEANUP_TIMEOUT, shield=True):
                    await job.done.wait()
        if job.error is not None:
            raise job.error
        return job.value

    async def _run_nested(self, job: _Job, send: MemoryObjectSendStream[_Job]) -> Any:
        parent = job.parent
        assert parent is not None
        self._queued += 1
        self._busy()
        queued = False
        try:
            while job.state != "done":
                if job.state == "queued" and not parent.lent:
                    # The caller's worker waits for this job: run it in the caller's place.
                    parent.lent = True
                    try:
                        await self._execute(job)
                    finally:
                        parent.lent = False
                        parent.notify()
                    break
                if job.state == "queued" and not queued:
                    try:
                        send.send_nowait(job)  # a free worker may take it first
                        queued = True
                    except (anyio.WouldBlock, anyio.ClosedResourceError):
                        pass  # full or closing: it waits for the caller's slot instead
                await parent.wake.wait()
        finally:
            if job.state != "done":
                # This caller was cancelled while its job was queued or in a worker.
                self._cancel(job)
                with anyio.move_on_after(CLEANUP_TIMEOUT, shield=True):
                    await job.done.wait()
        if job.error is not None:
            raise job.error
        return job.value

    async def drain(self) -> None:
        """Wait until the queue is empty and no operation is running."""
        while not self._is_idle():
            await self._idle.wait()

    @property
    def workers(self) -> int:
        """The number of workers."""
        return self._workers

    @property
    def queue_length(self) -> int:
        """Operations waiting for a worker (callers still waiting for room in a full queue
        included)."""
        return self._queued

    @property
    def active(self) -> int:
        """Operations running now."""
        return self._active

    @property
    def closed(self) -> bool:
        """Whether the pool no longer takes operations."""
        return self._closing

    @property
    def stats(self) -> PoolStats:
        """A :class:`PoolStats` snapshot."""
        ended = self._completed + self._failed
        return PoolStats(
            workers=self._workers,
            queued=self._queued,
            active=self._active,
            completed=self._completed,
            failed=self._failed,
            cancelled=self._cancelled,
            average_duration=self._durations / ended if ended else 0.0,
            total_tokens=self._tokens,
        )

    def __repr__(self) -> str:
        return (
            f"Pool(workers={self._workers}, queued={self._queued}, active={self._active}, "
            f"closed={self._closing})"
        )

    # -- internals ------------------------------------------------------------------------

    def _is_idle(self) -> bool:
        return self._queued == 0 and self._active == 0

    def _busy(self) -> None:
        if self._idle.is_set():
            self._idle = anyio.Event()

    def _check_idle(self) -> None:
        if self._is_idle():
            self._idle.set()

    def _unqueue(self, job: _Job) -> None:
        # A worker that still receives it skips it: it is no longer "queued".
        self._queued -= 1
        job.state = "done"
        self._check_idle()

    def _cancel(self, job: _Job) -> None:
        job.cancelled = True
        if job.state == "queued":
            # A worker will skip it; it no longer counts as waiting.
            self._queued -= 1
            self._cancelled += 1
            job.state = "done"
            job.done.set()
            self._check_idle()
        elif job.scope is not None:
            job.scope.cancel()

    def _drop(self, job: _Job) -> None:
        if job.state != "queued":
            return
        self._queued -= 1
        self._cancelled += 1
        job.state = "done"
        job.error = PoolClosed("the pool closed before the operation started")
        job.done.set()
        if job.parent is not None:
            job.parent.notify()
        self._check_idle()

    async def _worker(self, recv: MemoryObjectReceiveStream[_Job]) -> None:
        with recv:
            async for job in recv:
                if job.state != "queued":
                    continue  # its caller gave up while it was queued
                await self._execute(job)

    async def _execute(self, job: _Job) -> None:
        self._queued -= 1
        self._active += 1
        job.state = "running"
        started = now()
        ended = False
        token = _running.set((self, job))
        try:
            with anyio.CancelScope() as scope:
                job.scope = scope
                try:
                    job.value = await run_task(job.task, job.options, self._session, job.set_stream)
                except Exception as exc:
                    job.error = exc
                ended = True
            if ended:
                self._durations += now() - started
                if job.error is None:
                    self._completed += 1
                else:
                    self._failed += 1
        finally:
            if not ended:
                # Cancelled: by its caller (who no longer listens), or by the pool closing.
                self._cancelled += 1
                job.error = PoolClosed("the pool closed while the operation was running")
            if job.stream is not None:
                self._tokens += job.stream.state.token_count
            _running.reset(token)
            self._active -= 1
            job.state = "done"
            job.done.set()
            if job.parent is not None:
                job.parent.notify()
            self._check_idle()


def pool(
    workers: int = 4,
    *,
    queue_size: int | None = None,
    on_exit: OnExit = "wait",
    session: Session | None = None,
    **run_options: Unpack[RunOptions],
) -> Pool:
    """A pool of ``workers``: ``async with l0.pool(workers=4) as p: text = await p.run(f)``.

    Operations are the tasks of :func:`parallel` (streams, factories, async callables);
    ``run_options`` apply to every factory run in the pool (each ``run`` may override them).
    ``queue_size`` bounds the waiting operations (``run`` waits while it is full); ``None``:
    unbounded.

    Leaving the ``async with`` stops taking new operations, then with ``on_exit="wait"`` (the
    default) waits for the queued and running ones to end; with ``on_exit="cancel"`` cancels
    them (their callers get :class:`~l0.PoolClosed`). If the block itself raises or is
    cancelled, the operations are cancelled either way.

    .. versionadded:: 0.1
    """
    check_count(workers, "workers", allow_none=False)
    check_count(queue_size, "queue_size")
    if on_exit not in ("wait", "cancel"):
        raise ConfigError(f"on_exit must be 'wait' or 'cancel', got {on_exit!r}")
    check_options(run_options, "pool()")
    return Pool(workers, queue_size, on_exit, session, run_options)
