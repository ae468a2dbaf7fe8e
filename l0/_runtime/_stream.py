"""The ``Stream``: pulls from the source in the consumer's own task, under the engine's rules.

Each read of the source is first stepped synchronously: an item that is already there costs no
cancel scope, timer or clock read. A read that must wait gets a cancel scope with the engine's
deadline for that wait (first token, stall, or total), held only while the task is parked (see
``_Read``), so it always nests correctly with scopes the source opened itself, and a timer never
straddles a ``yield`` to the consumer. No task is started, so a bare ``async for`` needs no
``async with``, and nothing is left behind when it ends.
"""

from __future__ import annotations

import contextlib
import math
import os
import random
import sys
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


class _Cut(BaseException):
    """Thrown into a read that only yields to the loop (never waits) once its deadline passed."""


def _is_immediate(value: object) -> bool:
    """Whether a read yielded to the loop only to be run again at once (asyncio's bare
    ``yield``; trio's cancel-shielded checkpoint): no wait, and nothing registered to wake it."""
    if value is None:
        return True
    traps = sys.modules.get("trio._core._traps")
    return traps is not None and value is getattr(traps, "CancelShieldedCheckpoint", None)


class _Guard:
    """What :meth:`Stream.abort` needs to reach a read: the request, and the scope of a wait."""

    __slots__ = ("aborted", "scope")

    def __init__(self) -> None:
        self.aborted = False
        self.scope: anyio.CancelScope | None = None


def _pump(source: Any, direct: bool) -> Generator[Any, Any, None]:
    """Reads ``source`` for one attempt, one item per step.

    It awaits the source's ``__anext__`` with ``yield from``, so whatever the read hands the
    event loop to wait on comes out of this generator's ``send`` like an item would, and the
    runtime can tell them apart: an item comes out as a ``str`` or wrapped in a 1-tuple, never
    what a loop waits on (asyncio: ``None`` or a future; trio: its trap objects). The end of
    the source and its errors are raised out of ``send``. Driving this generator costs less
    per item than stepping each ``__anext__`` by hand (no ``StopIteration`` per item).
    """
    anext: Any = type(cast("AsyncIterator[object]", source)).__anext__
    item: object
    if direct:  # an async generator's __anext__ object is its own iterator
        step = cast("Callable[[object], Generator[object, object, object]]", anext)
        while True:
            item = yield from step(source)
            yield item if type(item) is str else (item,)
    else:
        awaitable = cast("Callable[[object], Awaitable[object]]", anext)
        while True:
            item = yield from awaitable(source).__await__()
            yield item if type(item) is str else (item,)


class _Read:
    """The rest of a read that did not produce its item at once: it must wait.

    ``first`` is what the read handed the loop to wait on. Each time the read parks like this,
    a cancel scope with the engine's deadline for this wait is entered, and it is left the
    moment the task wakes, before the read's own code runs again. While the task is parked
    nothing else runs in it, so that scope is always the innermost one: scopes the source
    opened during its steps nest correctly around it. A read that never parks (the item was
    already there) costs no scope, no timer and no clock read at all.

    When the scope fires (deadline or :meth:`Stream.abort`), the cancellation is passed on into
    the read so that its own cleanup runs, and the read ends as cut (``cut`` is set; the result
    is ``None``). A read that only yields to the loop (``sleep(0)``) gets no scope; once its
    deadline has passed, :class:`_Cut` is thrown into it instead, so a source spinning that way
    cannot escape. The result is the pump's next item (a ``str`` or a 1-tuple).
    """

    __slots__ = ("_engine", "_first", "_guard", "_it", "cut")

    def __init__(
        self, it: Generator[Any, Any, Any], first: object, engine: Engine, guard: _Guard
    ) -> None:
        self._it = it
        self._first = first
        self._engine = engine
        self._guard = guard
        self.cut = False

    def _ends(self, error: BaseException) -> bool:
        """Whether ``error``, raised by the read, is our own cut coming back out."""
        return isinstance(error, _Cut) or (
            self.cut and isinstance(error, anyio.get_cancelled_exc_class())
        )

    def __await__(self) -> Generator[Any, Any, Any]:
        it = self._it
        value: object = self._first
        guard = self._guard
        deadline = self._engine.wait_deadline(anyio.current_time())
        while True:
            kind: type = type(value)
            if kind is str or kind is tuple:
                return value
            if _is_immediate(value):
                if (
                    self.cut
                    or guard.aborted
                    or (deadline != math.inf and anyio.current_time() >= deadline)
                ):
                    self.cut = True
                    try:
                        value = it.throw(_Cut())
                    except BaseException as error:
                        if self._ends(error):
                            return None
                        raise
                    continue
                try:
                    sent = yield value
                except GeneratorExit:
                    it.close()
                    raise
                except BaseException as exc:
                    value = it.throw(exc)
                    continue
                value = it.send(sent)
                continue
            scope = anyio.CancelScope(deadline=deadline)
            scope.__enter__()
            guard.scope = scope
            if self.cut or guard.aborted:
                scope.cancel()
            try:
                sent = yield value
            except GeneratorExit:
                guard.scope = None
                scope.__exit__(None, None, None)
                it.close()
                raise
            except BaseException as exc:
                # asyncio delivers a cancellation by throwing it in.
                guard.scope = None
                if scope.__exit__(type(exc), exc, exc.__traceback__):
                    self.cut = True  # our own deadline or abort
                try:
                    value = it.throw(exc)
                except BaseException as error:
                    if self._ends(error):
                        return None
                    raise
            else:
                # trio wakes a cancelled task normally, with the cancellation as the value it
                # raises when the read unwraps it.
                guard.scope = None
                if scope.cancel_called:
                    self.cut = True
                scope.__exit__(None, None, None)
                try:
                    value = it.send(sent)
                except BaseException as error:
                    if self._ends(error):
                        return None
                    raise


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
        self._guard = _Guard()
        self._source: Any = None
        self._closed = False
        self._close_pending = False
        self._owner: int | None = None
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

    def __aiter__(self) -> AsyncIterator[StreamEvent]:
        # The lifecycle generator itself: ``async for`` steps it with no Python call between.
        return self._events()

    def __anext__(self) -> Awaitable[StreamEvent]:
        gen = self._gen
        if gen is None or self._closed or self._interrupted:
            gen = self._events()
        return gen.__anext__()

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
        self._guard.aborted = True
        scope = self._guard.scope
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
        if anyio.get_current_task().id != self._owner:
            # The consumer, in another task, is in its loop body: close the source now; its
            # next step raises StreamClosed.
            self._close_pending = True
            self._guard.aborted = True
            source, self._source = self._source, None
            if source is not None:
                await _aclose_forcefully(source)
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
            self._owner = anyio.get_current_task().id
        return self._gen

    def _stopped(self) -> StartAttempt | Finish | Fail:
        """The outcome once a stop was requested: aborted, or closed from another task."""
        if self._close_pending:
            raise StreamClosed("the stream was closed by another task while it was being read")
        return self._engine.abort(anyio.current_time())

    async def _flush(self) -> None:
        engine = self._engine
        notices = engine.outbox
        engine.outbox = []
        await self._dispatch.deliver(notices)

    async def _sleep(self, delay: float) -> None:
        with anyio.CancelScope() as scope:
            self._guard.scope = scope
            if self._guard.aborted:
                scope.cancel()
            await anyio.sleep(delay)
        self._guard.scope = None

    async def _open(self, action: StartAttempt) -> tuple[Adapter, Any]:
        """Call the factory and find its adapter, inside the first-token deadline."""
        index = action.source_index
        factory = self._factories[index]
        engine = self._engine
        obj: Any = None
        adapter: Adapter | None = None
        source: Any = None
        with anyio.CancelScope(deadline=engine.wait_deadline(anyio.current_time())) as scope:
            self._guard.scope = scope
            if self._guard.aborted:
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
        self._guard.scope = None
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
                    if self._close_pending:
                        self._stopped()
                if isinstance(action, Finish):
                    yield action.event
                    return
                if isinstance(action, Fail):
                    raise action.error  # noqa: TRY301 - the outcome the engine decided
                # Start an attempt (after its backoff).
                if action.delay > 0:
                    await self._sleep(action.delay)
                if self._guard.aborted:
                    action = self._stopped()
                    continue
                engine.begin_attempt(anyio.current_time(), action)
                if engine.outbox:
                    await self._flush()
                adapter = None
                try:
                    adapter, source = await self._open(action)
                except _Interrupted:
                    now = anyio.current_time()
                    action = self._stopped() if self._guard.aborted else engine.timed_out(now)
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
                tap = self._raw_tap
                # Text items go straight to the engine unless something must see each one.
                fast_text = adapter.text_items and on_token is None and tap is None
                guard = self._guard
                pump = _pump(source, isinstance(source, AsyncGeneratorType))
                step: Callable[[None], object] = pump.send
                outcome: Any = None
                while True:
                    # The token path: the pump steps the read synchronously, so an item that
                    # is already there costs no cancel scope, timer or clock read; only a read
                    # that must wait gets the engine's deadline for it (see _Read).
                    try:
                        value = step(None)
                        kind: type = type(value)
                        if kind is str and fast_text:
                            if value:
                                token = on_text(value)  # pyright: ignore[reportArgumentType] - kind is str
                                if engine.outbox:
                                    await self._flush()
                                yield token
                                if guard.aborted:
                                    break
                            continue
                        if kind is not str and kind is not tuple:
                            read = _Read(pump, value, engine, guard)
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
                    item = cast("tuple[object]", value)[0] if type(value) is tuple else value
                    if tap is not None:
                        tap.append(item)
                    if adapter.text_items and isinstance(item, str):
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
                        action = engine.source_ended(now)
                    elif outcome is _CUT:
                        action = engine.timed_out(now)
                    else:
                        action = engine.source_failed(
                            self._classify(cast("Exception", outcome), adapter), now
                        )
                pump.close()
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
