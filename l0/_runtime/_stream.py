"""The ``Stream``: pulls from the source in the consumer's own task, under the engine's rules.

Each read of the source runs in its own cancel scope whose deadline is the engine's for that
wait (first token, stall, or total). The scope is entered before the source's code runs, so
scopes the source opens itself nest inside it, and it is left before anything is yielded to the
consumer: a timer never straddles a ``yield``. No task is started, so a bare ``async for`` needs
no ``async with``, and nothing is left behind when it ends.
"""

from __future__ import annotations

import contextlib
import math
import os
import random
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Generator
from types import AsyncGeneratorType, TracebackType
from typing import TYPE_CHECKING, Any, cast

import anyio

from l0 import _testing_mode
from l0._context import freeze_context, new_stream_id
from l0._engine import Engine, Fail, Finish, StartAttempt, classify
from l0._errors import ConfigError, L0Error, StreamClosed
from l0._events._stream import Reset, StreamEvent, Token
from l0._runtime._dispatch import Dispatcher
from l0._runtime._options import AttemptContext, Options, wants_context
from l0.adapters._base import Adapter
from l0.adapters._registry import registered, resolve

if TYPE_CHECKING:
    from l0._state import State

__all__ = ["Stream"]

CLEANUP_TIMEOUT = 5.0
"""Seconds a graceful close of a provider stream may take before it is abandoned."""

_END = object()  # the source finished
_CUT = object()  # the read was cancelled (deadline or abort)


class _Resume:
    """Awaits the rest of a read whose first step already ran synchronously and yielded
    ``first`` (the thing it waits on), forwarding everything between the loop and the read."""

    __slots__ = ("_first", "_it")

    def __init__(self, it: Generator[Any, Any, Any], first: Any) -> None:
        self._it = it
        self._first = first

    def __await__(self) -> Generator[Any, Any, Any]:
        it = self._it
        value = self._first
        while True:
            try:
                sent = yield value
            except GeneratorExit:  # noqa: PERF203 - this loop is the await itself
                it.close()
                raise
            except BaseException as exc:  # forwarded into the read; it re-raises if unhandled
                try:
                    value = it.throw(exc)
                except StopIteration as stop:
                    return stop.value
            else:
                try:
                    value = it.send(sent)
                except StopIteration as stop:
                    return stop.value


async def _aclose_forcefully(source: Any) -> None:
    """Close an abandoned source at once: its cleanup runs in an already cancelled scope."""
    aclose = getattr(source, "aclose", None)
    if aclose is None:
        return
    with anyio.CancelScope(shield=True) as scope, contextlib.suppress(Exception):
        # The attempt already failed; an error while closing its source changes nothing.
        scope.cancel()
        await aclose()


async def _aclose_gracefully(source: Any) -> None:
    """Close a source that ended, giving its cleanup a bounded, shielded moment."""
    aclose = getattr(source, "aclose", None)
    if aclose is None:
        return
    with anyio.move_on_after(CLEANUP_TIMEOUT, shield=True), contextlib.suppress(Exception):
        # The outcome is already decided; an error while closing changes nothing.
        await aclose()


class Stream:
    """A reliable stream of events from a model.

    Iterate it (``async for event in stream``), or ``await stream.read()`` for the final text.
    ``async with stream:`` closes it on exit; a plain ``async for`` needs no ``async with``.
    Failures that end the stream are raised from the iteration (and from :meth:`read`).
    """

    def __init__(self, options: Options) -> None:
        if options.stream is None:
            raise ConfigError("run() needs stream=<factory>: a callable returning a stream")
        self._options = options
        self._factories = (options.stream, *options.fallbacks)
        self._wants_context = tuple(wants_context(f) for f in self._factories)
        self._dispatch = Dispatcher(options.callbacks)
        self.seed: int = (
            options.seed if options.seed is not None else int.from_bytes(os.urandom(8), "big")
        )
        """The seed of the backoff-jitter RNG (record it to replay the stream exactly)."""
        self.stream_id: str = new_stream_id()
        """This stream's id (UUID v7), on every observability event."""
        testing = _testing_mode.current()
        self._engine = Engine(
            sources=len(self._factories),
            retry=_testing_mode.apply(options.retry),
            timeout=options.timeout,
            rng=random.Random(self.seed),
            stream_id=self.stream_id,
            context=freeze_context(options.context),
            observed=self._dispatch.observed,
            zero_backoff=testing.enabled,
        )
        self._gen: AsyncGenerator[StreamEvent, None] | None = None
        self._scope: anyio.CancelScope | None = None
        self._source: Any = None
        self._abort_requested = False
        self._closed = False
        self._interrupted = False
        self._raw_tap: list[Any] | None = None

    # -- public surface -------------------------------------------------------------------

    @property
    def state(self) -> State:
        """The live :class:`~l0.State`: content so far, counters, final error."""
        return self._engine.state

    @property
    def done(self) -> bool:
        """Whether the stream has ended (completed, failed, aborted, interrupted) or been closed."""
        return self._closed or self._interrupted or self._engine.finished

    def __aiter__(self) -> Stream:
        return self

    def __anext__(self) -> Awaitable[StreamEvent]:
        return self._events().__anext__()

    def __await__(self) -> Generator[Any, None, Stream]:
        """``await l0.run(...)`` gives the stream itself (for code written that way)."""
        return self._self().__await__()

    async def _self(self) -> Stream:
        return self

    async def __aenter__(self) -> Stream:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def read(self) -> str:
        """Consume the stream and return its final text (raises what ended it, if it failed)."""
        async for _ in self:
            pass
        state = self._engine.state
        if state.error is not None:
            raise state.error
        return state.content

    def abort(self) -> None:
        """Stop the stream now: a pending read or backoff sleep is cancelled at once, the source
        is closed, and the iteration ends by raising :class:`~l0.StreamAborted`."""
        self._abort_requested = True
        scope = self._scope
        if scope is not None:
            scope.cancel()

    async def aclose(self) -> None:
        """Close the stream and its source (idempotent); later use raises ``StreamClosed``."""
        if self._closed:
            return
        self._closed = True
        gen = self._gen
        if gen is None:
            return
        if getattr(gen, "ag_running", False):
            # Another task is inside the iteration right now: make it stop and clean up.
            self.abort()
            return
        with anyio.move_on_after(CLEANUP_TIMEOUT, shield=True):
            await gen.aclose()

    async def raw(self) -> AsyncIterator[Any]:
        """The provider's raw items as they arrive (before adaptation), with a
        :class:`~l0.Reset` between attempts. Drives the same reliable stream as iteration."""
        tap: list[Any] = []
        self._raw_tap = tap
        async for event in self:
            if tap:
                items = tap[:]
                tap.clear()
                for item in items:
                    yield item
            if isinstance(event, Reset):
                yield event

    # -- the lifecycle --------------------------------------------------------------------

    def _events(self) -> AsyncGenerator[StreamEvent, None]:
        if self._closed:
            raise StreamClosed("the stream is closed")
        if self._interrupted:
            raise StreamClosed(
                "the stream was interrupted (cancelled or KeyboardInterrupt) before it finished"
            )
        if self._gen is None:
            self._gen = self._run()
        return self._gen

    async def _flush(self) -> None:
        engine = self._engine
        notices = engine.outbox
        engine.outbox = []
        await self._dispatch.deliver(notices)

    async def _sleep(self, delay: float) -> None:
        with anyio.CancelScope() as scope:
            self._scope = scope
            if self._abort_requested:
                scope.cancel()
            await anyio.sleep(delay)
        self._scope = None

    async def _open(self, action: StartAttempt) -> tuple[Adapter, Any]:
        """Call the factory and find its adapter, inside the first-token deadline."""
        index = action.source_index
        factory = self._factories[index]
        engine = self._engine
        obj: Any = None
        adapter: Adapter | None = None
        source: Any = None
        with anyio.CancelScope(deadline=engine.wait_deadline(anyio.current_time())) as scope:
            self._scope = scope
            if self._abort_requested:
                scope.cancel()
            if self._wants_context[index]:
                state = engine.state
                ctx = AttemptContext(
                    attempt=action.attempt,
                    source_index=index,
                    is_retry=action.is_retry,
                    is_fallback=action.is_fallback,
                    checkpoint=state.checkpoint,
                    error=state.errors[-1] if state.errors else None,
                )
                obj = factory(ctx)
            else:
                obj = factory()
            if not hasattr(obj, "__aiter__") and isinstance(obj, Awaitable):
                obj = await cast("Awaitable[Any]", obj)
            adapter = resolve(obj, self._options.adapter)
            source = adapter.open(obj)
        self._scope = None
        if scope.cancelled_caught or adapter is None:
            raise _Interrupted
        engine.attempt_ready(
            anyio.current_time(),
            adapter=adapter.name,
            stream_type=type(cast("object", obj)).__name__,
            requires_finish=adapter.requires_finish,
        )
        return adapter, source

    def _classify(self, exc: Exception, adapter: Adapter | None) -> L0Error:
        # Before an adapter is known (the factory itself raised), every registered adapter may
        # recognise its provider's exception.
        error: L0Error | None = None
        for candidate in (adapter,) if adapter is not None else registered():
            error = candidate.map_error(exc)
            if error is not None:
                break
        if error is None:
            error = classify(exc)
        if error is not exc and error.__cause__ is None:
            error.__cause__ = exc
        return error

    async def _run(self) -> AsyncGenerator[StreamEvent, None]:
        engine = self._engine
        now = anyio.current_time()
        engine.wall_offset = time.time() - now
        deadline = anyio.current_effective_deadline()
        engine.outer_deadline = deadline if deadline != -math.inf else now
        action: StartAttempt | Finish | Fail = engine.start(now)
        adapter: Adapter | None = None
        dispatch = self._dispatch
        events: list[StreamEvent] = []
        try:
            while True:
                if engine.outbox:
                    await self._flush()
                pending = engine.pending
                while pending:
                    yield pending.pop(0)
                if isinstance(action, Finish):
                    yield action.event
                    return
                if isinstance(action, Fail):
                    raise action.error  # noqa: TRY301 - the outcome the engine decided
                # Start an attempt (after its backoff).
                if action.delay > 0:
                    await self._sleep(action.delay)
                if self._abort_requested:
                    action = engine.abort(anyio.current_time())
                    continue
                engine.begin_attempt(anyio.current_time(), action)
                if engine.outbox:
                    await self._flush()
                adapter = None
                try:
                    adapter, source = await self._open(action)
                except _Interrupted:
                    now = anyio.current_time()
                    action = engine.abort(now) if self._abort_requested else engine.timed_out(now)
                    continue
                except Exception as exc:
                    now = anyio.current_time()
                    action = engine.source_failed(self._classify(exc, adapter), now)
                    continue
                self._source = source
                if engine.outbox:
                    await self._flush()
                on_token = dispatch.on_token
                on_text = engine.on_text
                convert = adapter.convert
                text_items = adapter.text_items
                tap = self._raw_tap
                next_of = cast("Callable[[Any], Any]", type(source).__anext__)
                # An async generator's __anext__ object steps itself; other awaitables are
                # stepped through their __await__ iterator.
                direct = isinstance(source, AsyncGeneratorType)
                while True:
                    # The token path. Each read runs in its own cancel scope, entered before the
                    # source's code runs (scopes it opens nest inside ours) and left before
                    # anything is yielded. The read is first stepped synchronously: an item that
                    # is already there costs no timer and no clock read. Only a read that must
                    # wait gets the engine's deadline for that wait.
                    outcome: Any = None
                    item: Any = None
                    with anyio.CancelScope() as scope:
                        self._scope = scope
                        if self._abort_requested:
                            scope.cancel()
                        step = next_of(source)
                        if not direct:
                            step = step.__await__()
                        try:
                            first = step.send(None)
                        except StopIteration as stop:
                            item = stop.value
                        except StopAsyncIteration:
                            outcome = _END
                        except Exception as exc:
                            outcome = exc
                        else:
                            scope.deadline = engine.wait_deadline(anyio.current_time())
                            try:
                                item = await _Resume(step, first)
                            except StopAsyncIteration:
                                outcome = _END
                            except Exception as exc:
                                outcome = exc
                    self._scope = None
                    if scope.cancelled_caught:
                        outcome = _CUT
                    elif outcome is None:
                        if tap is not None:
                            tap.append(item)
                        if text_items and type(item) is str:
                            if item:
                                token = on_text(item)
                                if engine.outbox:
                                    await self._flush()
                                if on_token is not None:
                                    await dispatch.call("on_token", on_token, (item,))
                                yield token
                        else:
                            outcome = engine.on_item(item, convert, events)
                            if engine.outbox:
                                await self._flush()
                            for event in events:
                                if on_token is not None and type(event) is Token:
                                    await dispatch.call("on_token", on_token, (event.value,))
                                yield event
                                if self._abort_requested:
                                    break
                            events.clear()
                    if self._abort_requested:
                        action = engine.abort(anyio.current_time())
                        break
                    if outcome is None:
                        continue
                    now = anyio.current_time()
                    if outcome is _END:
                        action = engine.source_ended(now)
                    elif outcome is _CUT:
                        action = engine.timed_out(now)
                    else:
                        action = engine.source_failed(self._classify(outcome, adapter), now)
                    break
                # The attempt is over, one way or another: close its source.
                source, self._source = self._source, None
                if isinstance(action, Finish):
                    await _aclose_gracefully(source)
                else:
                    await _aclose_forcefully(source)
        except BaseException:
            # Cancellation, KeyboardInterrupt, or aclose() while suspended: not an outcome the
            # engine decided, so the stream can't be read as if it had one.
            if not engine.finished:
                self._interrupted = True
            raise
        finally:
            source, self._source = self._source, None
            if source is not None:
                await _aclose_forcefully(source)


class _Interrupted(Exception):
    """The factory call was cancelled by the engine's deadline or by abort()."""
