"""The ``Stream``: pulls from the source in the consumer's own task, under the engine's rules.

Each read of the source is first stepped synchronously: an item that is already there costs no
cancel scope, timer or clock read. A read that must wait gets a cancel scope with the engine's
deadline for that wait (first token, stall, or total), held only while the task is parked (see
``_Read``), so it always nests correctly with scopes the source opened itself, and a timer never
straddles a ``yield`` to the consumer. No task is started, so a bare ``async for`` needs no
``async with``, and nothing is left behind when it ends. The one task there can be is the
guardrail checker of asynchronous rules, and only under a task group the consumer opened
(``async with l0.session()`` or ``async with stream``): see l0/_runtime/_checker.py.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Generator
from types import AsyncGeneratorType, TracebackType
from typing import TYPE_CHECKING, Any, cast

import anyio
import anyio.lowlevel

from l0 import _testing_mode
from l0._budget import source_key
from l0._context import freeze_context, new_seed, new_stream_id
from l0._engine import Engine, Fail, Finish, StartAttempt
from l0._engine._checks import Checks
from l0._errors import ConfigError, StreamClosed
from l0._events._stream import StreamEvent, Token
from l0._runtime._checker import CheckerTask, check_async
from l0._runtime._dispatch import Dispatcher
from l0._runtime._options import AttemptContext, Options, wants_context
from l0._runtime._read import (
    CLEANUP_TIMEOUT,
    Guard,
    Read,
    aclose_forcefully,
    aclose_gracefully,
    pump_items,
)
from l0.adapters._base import Adapter
from l0.adapters._registry import classify_failure, resolve

if TYPE_CHECKING:
    from anyio.abc import TaskGroup

    from l0._record._recorder import Recorder
    from l0._state import State

__all__ = ["Stream"]

_END = object()  # the source finished
_CUT = object()  # the read was cancelled (deadline or abort)
_FAILED = object()  # the engine found a failure on the token path (guardrail, drift)


def _is_awaitable(obj: object) -> bool:
    return isinstance(obj, Awaitable)


class _Lifecycle:
    """Everything a stream is, except the generator that runs it.

    :class:`Stream` owns this and the generator of :meth:`run`; the generator refers to this
    object only, never to the ``Stream``. So there is no reference cycle: when a consumer drops
    a stream (or breaks out of ``async for`` over a temporary one), the generator is finalized
    at once and its source closed by the event loop's async-generator finalizer, without
    waiting for the cyclic garbage collector.
    """

    def __init__(self, options: Options) -> None:
        if options.stream is None:
            raise ConfigError("run() needs stream=<factory>: a callable returning a stream")
        self.options = options
        self.factories = (options.stream, *options.fallbacks)
        self.wants_context = tuple(wants_context(f) for f in self.factories)
        self.dispatch = Dispatcher(options.callbacks)
        self.seed: int = options.seed if options.seed is not None else new_seed()
        """The seed of the backoff-jitter RNG (record it to replay the stream exactly)."""
        self.stream_id: str = new_stream_id()
        """This stream's id (UUID v7), on every observability event."""
        testing = _testing_mode.current()
        engine_type: type[Engine] = Engine
        if options.record is not None:
            from l0._record._recorder import RecordingEngine  # noqa: PLC0415 - when recording

            engine_type = RecordingEngine
        self.engine = engine_type(
            sources=len(self.factories),
            retry=_testing_mode.apply(options.retry),
            timeout=options.timeout,
            rng=self.seed,
            stream_id=self.stream_id,
            context=freeze_context(options.context),
            observed=self.dispatch.observed,
            zero_backoff=testing.enabled,
            clock=anyio.current_time,
            continuation=options.continue_from_last_good_token,
            checkpoint_every=options.check_intervals.checkpoint,
            checks=(
                Checks(options.guardrails, options.drift)
                if options.guardrails or options.drift
                else None
            ),
            guardrails_every=options.check_intervals.guardrails,
            drift_every=options.check_intervals.drift,
            tools=options.tools,
            tool_calls=options.tool_calls,
            phase_observed=options.callbacks.get("on_phase") is not None,
            budget=options.retry_budget,
            breaker=options.circuit_breaker,
            source_keys=tuple(source_key(f) for f in self.factories),
        )
        self.recorder: Recorder | None = None
        """Records the engine's inputs and events to ``options.record`` (l0.record)."""
        if options.record is not None:
            from l0._record._recorder import Recorder  # noqa: PLC0415 - when recording

            self.recorder = Recorder(options.record, self.engine, seed=self.seed, options=options)
        self.guard = Guard()
        self.source: Any = None
        self.closed = False
        self.close_pending = False
        self.owner: int | None = None
        self.interrupted = False
        self.raw_tap: deque[Any] | None = (
            deque(maxlen=options.keep_raw) if options.keep_raw else None
        )
        """The current attempt's raw items (``keep_raw``)."""
        self.task_group: TaskGroup | None = None
        """Where the guardrail checker task runs: the session's, or ``async with stream``'s."""
        self.checker: CheckerTask | None = None
        """The guardrail checker task (asynchronous rules, with a task group), once started."""

    def _stopped(self) -> StartAttempt | Finish | Fail:
        """The outcome once a stop was requested: aborted, or closed from another task."""
        if self.close_pending:
            raise StreamClosed("the stream was closed by another task while it was being read")
        return self.engine.abort(anyio.current_time())

    async def _flush(self) -> None:
        engine = self.engine
        notices = engine.outbox
        engine.outbox = []
        await self.dispatch.deliver(notices)
        if self.recorder is not None and self.recorder.due:
            await self.recorder.flush()
        checker = self.checker
        if checker is not None and checker.ready:
            checker.take()  # the checker task's verdicts, in order
            if engine.outbox:
                await self._flush()
                return
        if engine.async_due:
            await self._check_async(end=False)

    async def _check_async(self, *, end: bool, complete: bool = True) -> None:
        """The asynchronous guardrail rules' turn (see :func:`check_async`)."""
        self.checker = await check_async(
            self.engine, self.task_group, self.checker, end=end, complete=complete
        )
        if self.engine.outbox:
            await self._flush()

    async def _sleep(self, delay: float) -> None:
        with anyio.CancelScope() as scope:
            self.guard.scope = scope
            if self.guard.aborted:
                scope.cancel()
            await anyio.sleep(delay)
        self.guard.scope = None

    def _begin(self, action: StartAttempt) -> StartAttempt | Finish | Fail | None:
        """The attempt of ``action`` begins now, unless its source's circuit is open: then
        the engine's next action instead."""
        engine = self.engine
        if engine.breaker is not None:
            skipped = engine.admit(anyio.current_time(), action)
            if skipped is not None:
                return skipped
        engine.begin_attempt(anyio.current_time(), action)
        if self.checker is not None:
            self.checker.reset()
        if self.raw_tap is not None:
            self.raw_tap.clear()
        return None

    async def _open(self, action: StartAttempt) -> tuple[Adapter, Any]:
        """Call the factory and find its adapter, inside the first-token deadline."""
        index = action.source_index
        factory = self.factories[index]
        engine = self.engine
        obj: Any
        if self.guard.aborted:
            raise _Interrupted
        # A cancellation already delivered to the consumer (say, on the previous attempt's
        # ErrorEvent) stops the stream here: no factory is called after it.
        await anyio.lowlevel.checkpoint_if_cancelled()
        if self.wants_context[index]:
            state = engine.state
            checkpoint = state.checkpoint if engine.resuming else ""
            continuation = engine.continuation
            ctx = AttemptContext(
                attempt=action.attempt,
                source_index=index,
                is_retry=action.is_retry,
                is_fallback=action.is_fallback,
                checkpoint=checkpoint,
                continuation_prompt=(
                    continuation.prompt(checkpoint) if continuation and checkpoint else ""
                ),
                error=state.errors[-1] if state.errors else None,
            )
            obj = factory(ctx)
        else:
            obj = factory()
        if not hasattr(obj, "__aiter__") and _is_awaitable(obj):
            # An async factory: its wait for the stream is under the first-token deadline.
            deadline = engine.wait_deadline(anyio.current_time())
            with anyio.CancelScope(deadline=deadline) as scope:
                self.guard.scope = scope
                if self.guard.aborted:
                    scope.cancel()
                obj = await cast("Awaitable[object]", obj)
            self.guard.scope = None
            if scope.cancelled_caught:
                raise _Interrupted
        adapter = resolve(obj, self.options.adapter)
        source = adapter.open(obj)
        engine.attempt_ready(
            anyio.current_time(),
            adapter=adapter.name,
            stream_type=type(cast("object", obj)).__name__,
            requires_finish=adapter.requires_finish,
        )
        return adapter, source

    async def run(self) -> AsyncGenerator[StreamEvent, None]:
        engine = self.engine
        now = anyio.current_time()
        engine.wall_offset = time.time() - now
        deadline = anyio.current_effective_deadline()
        engine.outer_deadline = deadline if deadline != -math.inf else now
        action: StartAttempt | Finish | Fail = engine.start(now)
        adapter: Adapter | None = None
        dispatch = self.dispatch
        events: list[StreamEvent] = []
        try:
            while True:
                if engine.outbox:
                    await self._flush()
                pending = engine.pending
                while pending:
                    yield pending.pop(0)
                    if self.close_pending:
                        self._stopped()
                if isinstance(action, Finish):
                    yield action.event
                    return
                if isinstance(action, Fail):
                    raise action.error  # noqa: TRY301 - the outcome the engine decided
                # Start an attempt (after its backoff).
                if action.delay > 0:
                    await self._sleep(action.delay)
                if self.guard.aborted:
                    action = self._stopped()
                    continue
                skipped = self._begin(action)
                if skipped is not None:
                    action = skipped  # the source's circuit is open: what follows from that
                    continue
                if engine.outbox:
                    await self._flush()
                adapter = None
                try:
                    adapter, source = await self._open(action)
                except _Interrupted:
                    now = anyio.current_time()
                    action = self._stopped() if self.guard.aborted else engine.timed_out(now)
                    continue
                except Exception as exc:
                    now = anyio.current_time()
                    action = engine.source_failed(
                        classify_failure(exc, adapter, self.options.adapter), now
                    )
                    continue
                self.source = source
                if engine.outbox:
                    await self._flush()
                on_token = dispatch.on_token
                on_text = engine.on_text
                parts = engine.parts
                append = parts.append
                convert = adapter.convert
                tap = self.raw_tap
                # Text items go straight to the engine unless something must see each one.
                fast = (
                    on_token is None
                    and tap is None
                    and not engine.resuming
                    and self.recorder is None  # a recording engine sees every text delta
                )
                text_of = type(adapter).plain_text if fast and not adapter.text_items else None
                fast_text = fast and (adapter.text_items or text_of is not None)
                guard = self.guard
                pump = pump_items(source, isinstance(source, AsyncGeneratorType), text_of)
                step: Callable[[None], object] = pump.send
                outcome: Any = None
                while True:
                    # The token path: the pump steps the read synchronously, so an item that
                    # is already there costs no cancel scope, timer or clock read; only a read
                    # that must wait gets the engine's deadline for it (see Read).
                    try:
                        value = step(None)
                        kind: type = type(value)
                        if kind is str and fast_text:
                            if value:
                                # Engine.on_text, inlined (see Engine.parts).
                                append(value)  # pyright: ignore[reportArgumentType] - kind is str
                                if len(parts) >= engine.check_at:
                                    engine.text_check(value)  # pyright: ignore[reportArgumentType]
                                    if engine.outbox:
                                        await self._flush()
                                        if engine.failure is not None:
                                            outcome = _FAILED
                                            break
                                yield Token(value=value)  # pyright: ignore[reportArgumentType]
                                if guard.aborted:
                                    break
                            continue
                        if kind is not str and kind is not tuple:
                            read = Read(pump, value, engine, guard)
                            value = await read
                            if read.cut:
                                outcome = _CUT
                                break
                    except StopAsyncIteration:
                        outcome = _END
                        break
                    except Exception as exc:
                        outcome = exc
                        break
                    # An item that is not plain text, or that something must see first.
                    # (A bare str from a plain_text pump is text it extracted, after a wait.)
                    extracted = text_of is not None and type(value) is str
                    item = cast("tuple[object]", value)[0] if type(value) is tuple else value
                    if tap is not None:
                        tap.append(item)
                    if extracted or (
                        adapter.text_items and isinstance(item, str) and not engine.resuming
                    ):
                        if item:
                            token = on_text(cast("str", item))
                            if engine.outbox:
                                await self._flush()
                                if engine.failure is not None:
                                    outcome = _FAILED
                                    break
                            if on_token is not None:
                                await dispatch.call("on_token", on_token, (item,))
                            yield token
                    else:
                        outcome = engine.on_item(item, convert, events)
                        if engine.outbox:
                            await self._flush()
                        if outcome is None and engine.failure is not None:
                            events.clear()
                            outcome = _FAILED
                            break
                        for event in events:
                            if on_token is not None and type(event) is Token:
                                await dispatch.call("on_token", on_token, (event.value,))
                            yield event
                            if guard.aborted:
                                break
                        events.clear()
                        if outcome is not None:
                            break
                    if guard.aborted:
                        break
                if guard.aborted:
                    action = self._stopped()
                else:
                    now = anyio.current_time()
                    if outcome is _END:
                        if engine.has_async_rules and engine.failure is None:
                            # A truncated body gets no completion checks (see source_ended).
                            await self._check_async(end=True, complete=not engine.truncated)
                            now = anyio.current_time()
                        action = engine.source_ended(now)
                    elif outcome is _CUT:
                        action = engine.timed_out(now)
                    elif outcome is _FAILED:
                        action = engine.take_failure(now)
                    else:
                        action = engine.source_failed(
                            classify_failure(
                                cast("Exception", outcome), adapter, self.options.adapter
                            ),
                            now,
                        )
                pump.close()
                # The attempt is over, one way or another: close its source.
                source, self.source = self.source, None
                if isinstance(action, Finish):
                    await aclose_gracefully(source)
                else:
                    await aclose_forcefully(source)
        except BaseException:
            # Cancellation, KeyboardInterrupt, or aclose() while suspended: not an outcome the
            # engine decided, so the stream can't be read as if it had one.
            if not engine.finished:
                self.interrupted = True
                # Observers still see the stream end (as aborted): delivered shielded and
                # bounded, since the consumer's scope may be cancelled.
                engine.interrupt(anyio.current_time())
                with anyio.move_on_after(CLEANUP_TIMEOUT, shield=True):
                    await self._flush()
            raise
        finally:
            if self.checker is not None:
                self.checker.close()
            source, self.source = self.source, None
            if source is not None:
                await aclose_forcefully(source)
            if self.recorder is not None:
                with anyio.move_on_after(CLEANUP_TIMEOUT, shield=True):
                    await self.recorder.aclose()


class Stream:
    """A reliable stream of events from a model.

    Iterate it (``async for event in stream``), or ``await stream.read()`` for the final text.
    ``async with stream:`` closes it on exit; a plain ``async for`` needs no ``async with``.
    Failures that end the stream are raised from the iteration (and from :meth:`read`).
    """

    __slots__ = ("__weakref__", "_gen", "_life", "_tg")

    def __init__(self, options: Options) -> None:
        self._life = _Lifecycle(options)
        self._gen: AsyncGenerator[StreamEvent, None] | None = None
        self._tg: TaskGroup | None = None

    @property
    def seed(self) -> int:
        """The seed of the backoff-jitter RNG (record it to replay the stream exactly)."""
        return self._life.seed

    @property
    def stream_id(self) -> str:
        """This stream's id (UUID v7), on every observability event."""
        return self._life.stream_id

    # -- public surface -------------------------------------------------------------------

    @property
    def state(self) -> State:
        """The live :class:`~l0.State`: content so far, counters, final error."""
        return self._life.engine.state

    @property
    def done(self) -> bool:
        """Whether the stream has ended (completed, failed, aborted, interrupted) or been closed."""
        return self._life.closed or self._life.interrupted or self._life.engine.finished

    def __aiter__(self) -> AsyncIterator[StreamEvent]:
        # The lifecycle generator itself: ``async for`` steps it with no Python call between.
        return self._events()

    def __anext__(self) -> Awaitable[StreamEvent]:
        gen = self._gen
        if gen is None or self._life.closed or self._life.interrupted:
            gen = self._events()
        return gen.__anext__()

    def __await__(self) -> Generator[Any, None, Stream]:
        """``await l0.run(...)`` gives the stream itself (for code written that way)."""
        return self._self().__await__()

    async def _self(self) -> Stream:
        return self

    async def __aenter__(self) -> Stream:
        life = self._life
        checks = life.engine.checks
        if life.task_group is None and checks is not None and checks.async_names:
            # Asynchronous guardrail rules run in a checker task of this scope's own.
            tg = anyio.create_task_group()
            await tg.__aenter__()
            self._tg = life.task_group = tg
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            await self.aclose()
        finally:
            tg, self._tg = self._tg, None
            if tg is not None:
                # The checker task is stopped by now; what the body raised propagates as is.
                tg.cancel_scope.cancel()
                await tg.__aexit__(None, None, None)

    async def read(self) -> str:
        """Consume the stream and return its final text (raises what ended it, if it failed).

        A checkpoint, like every anyio/trio operation: in a cancelled scope it raises the
        cancellation, even when the source never has to wait."""
        await anyio.lowlevel.checkpoint_if_cancelled()
        async for _ in self:
            pass
        state = self._life.engine.state
        if state.error is not None:
            raise state.error
        return state.content

    def abort(self) -> None:
        """Stop the stream now: a pending read or backoff sleep is cancelled at once, the source
        is closed, and the iteration ends by raising :class:`~l0.StreamAborted`."""
        self._life.guard.aborted = True
        scope = self._life.guard.scope
        if scope is not None:
            scope.cancel()

    async def aclose(self) -> None:
        """Close the stream and its source (idempotent); later use raises ``StreamClosed``."""
        if self._life.closed:
            return
        self._life.closed = True
        if self._life.checker is not None:
            self._life.checker.close()
        gen = self._gen
        if gen is None:
            return
        if getattr(gen, "ag_running", False):
            # Another task is inside the iteration right now: make it stop and clean up.
            self.abort()
            return
        if anyio.get_current_task().id != self._life.owner:
            # The consumer, in another task, is in its loop body: close the source now; its
            # next step raises StreamClosed.
            self._life.close_pending = True
            self._life.guard.aborted = True
            source, self._life.source = self._life.source, None
            if source is not None:
                await aclose_forcefully(source)
            return
        with anyio.move_on_after(CLEANUP_TIMEOUT, shield=True):
            await gen.aclose()

    def raw(self) -> list[Any]:
        """The provider's raw items (before adaptation) of the current attempt — once the
        stream has ended, of the attempt that produced the result (or failed last).

        Kept only with ``keep_raw=True`` (the last 10,000 items of the attempt) or
        ``keep_raw=N`` (the last ``N``); otherwise this raises :class:`~l0.ConfigError`.
        Keeping them costs a little per item: the runtime then hands every item through the
        slow lane of the token path.
        """
        tap = self._life.raw_tap
        if tap is None:
            raise ConfigError("stream.raw() needs keep_raw=True (or a number of items) in run()")
        return list(tap)

    # -- the lifecycle --------------------------------------------------------------------

    def _events(self) -> AsyncGenerator[StreamEvent, None]:
        if self._life.closed:
            raise StreamClosed("the stream is closed")
        if self._life.interrupted:
            raise StreamClosed(
                "the stream was interrupted (cancelled or KeyboardInterrupt) before it finished"
            )
        if self._gen is None:
            self._gen = self._life.run()
            self._life.owner = anyio.get_current_task().id
        return self._gen


class _Interrupted(Exception):
    """The factory call was cancelled by the engine's deadline or by abort()."""
