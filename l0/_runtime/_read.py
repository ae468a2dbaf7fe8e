"""Reading a source under the engine's deadlines without a cancel scope per item, and closing it.

A per-attempt :func:`pump_items` steps the source synchronously; only a read that must wait gets a
cancel scope, held while the task is parked (:class:`Read`). See the module docstring of
``l0._runtime._stream`` for where this sits in the lifecycle.
"""

from __future__ import annotations

import contextlib
import math
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Generator
from typing import TYPE_CHECKING, Any, cast

import anyio

if TYPE_CHECKING:
    from l0._engine import Engine

__all__ = [
    "CLEANUP_GRACE",
    "CLEANUP_TIMEOUT",
    "Guard",
    "Read",
    "aclose_forcefully",
    "aclose_gracefully",
    "pump_items",
]

CLEANUP_GRACE = 0.1
"""Seconds a cut read's own cleanup may take (e.g. an SDK closing its connection)."""

CLEANUP_TIMEOUT = 5.0
"""Seconds a graceful close of a provider stream may take before it is abandoned."""


async def aclose_forcefully(source: Any) -> None:
    """Close an abandoned source at once: its cleanup runs in an already cancelled scope."""
    aclose = getattr(source, "aclose", None)
    if aclose is None:
        return
    with anyio.CancelScope(shield=True) as scope, contextlib.suppress(Exception):
        # The attempt already failed; an error while closing its source changes nothing.
        scope.cancel()
        await aclose()


async def aclose_gracefully(source: Any) -> None:
    """Close a source that ended, giving its cleanup a bounded, shielded moment."""
    if getattr(source, "ag_frame", True) is None:
        return  # an async generator that has run to its end: nothing left to close
    aclose = getattr(source, "aclose", None)
    if aclose is None:
        return
    with anyio.move_on_after(CLEANUP_TIMEOUT, shield=True), contextlib.suppress(Exception):
        # The outcome is already decided; an error while closing changes nothing.
        await aclose()


class _Cut(BaseException):
    """Thrown into a read that only yields to the loop (never waits) once its deadline passed."""


def _is_immediate(value: object) -> bool:
    """Whether a read yielded to the loop only to be run again at once (asyncio's bare
    ``yield``; trio's cancel-shielded checkpoint): no wait, and nothing registered to wake it."""
    if value is None:
        return True
    traps = sys.modules.get("trio._core._traps")
    return traps is not None and value is getattr(traps, "CancelShieldedCheckpoint", None)


class Guard:
    """What :meth:`Stream.abort` needs to reach a read: the request, and the scope of a wait."""

    __slots__ = ("aborted", "scope")

    def __init__(self) -> None:
        self.aborted = False
        self.scope: anyio.CancelScope | None = None


def pump_items(
    source: Any, direct: bool, text_of: Callable[[Any], str | None] | None = None
) -> Generator[Any, Any, None]:
    """Reads ``source`` for one attempt, one item per step.

    It awaits the source's ``__anext__`` with ``yield from``, so whatever the read hands the
    event loop to wait on comes out of this generator's ``send`` like an item would, and the
    runtime can tell them apart: an item comes out as a ``str`` or wrapped in a 1-tuple, never
    what a loop waits on (asyncio: ``None`` or a future; trio: its trap objects). The end of
    the source and its errors are raised out of ``send``. Driving this generator costs less
    per item than stepping each ``__anext__`` by hand (no ``StopIteration`` per item).

    With ``text_of`` (an adapter's ``plain_text``), every item goes through it: an item that
    is plain text comes out as its ``str``, any other item (a ``str`` included) wrapped.
    """
    item: object
    if text_of is not None:
        anext = cast(
            "Callable[[object], Awaitable[object]]",
            type(cast("AsyncIterator[object]", source)).__anext__,
        )
        while True:
            item = yield from anext(source).__await__()
            text = text_of(item)
            yield (item,) if text is None else text
    if direct:
        # An async generator's asend object is its own iterator; the bound asend(None) is the
        # cheapest way to get one (cheaper than type(source).__anext__(source)).
        step = cast("Callable[[None], Generator[object, object, object]]", source.asend)
        while True:
            item = yield from step(None)
            yield item if type(item) is str else (item,)
    else:
        # Looked up on the type, as ``async for`` does.
        anext = cast(
            "Callable[[object], Awaitable[object]]",
            type(cast("AsyncIterator[object]", source)).__anext__,
        )
        while True:
            item = yield from anext(source).__await__()
            yield item if type(item) is str else (item,)


class Read:
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

    __slots__ = ("_engine", "_first", "_guard", "_it", "_until", "cut")

    def __init__(
        self, it: Generator[Any, Any, Any], first: object, engine: Engine, guard: Guard
    ) -> None:
        self._it = it
        self._first = first
        self._engine = engine
        self._guard = guard
        self.cut = False
        self._until = math.inf  # once cut: how long the read's own cleanup may still take

    def _mark_cut(self, now: float) -> None:
        """The read is cut: its own cleanup (an SDK closing its connection, often shielded)
        gets a short grace from now on, instead of being cut again at every wait."""
        if not self.cut:
            self.cut = True
            self._until = now + CLEANUP_GRACE

    def _ends(self, error: BaseException) -> bool:
        """Whether ``error``, raised by the read, is our own cut coming back out."""
        return isinstance(error, _Cut) or (
            self.cut and isinstance(error, anyio.get_cancelled_exc_class())
        )

    def __await__(self) -> Generator[Any, Any, Any]:
        it = self._it
        value: object = self._first
        guard = self._guard
        now = anyio.current_time
        deadline = self._engine.wait_deadline(now())
        while True:
            kind: type = type(value)
            if kind is str or kind is tuple:
                return value
            if _is_immediate(value):
                t = now()
                if (
                    t >= self._until
                    if self.cut
                    else guard.aborted or (deadline != math.inf and t >= deadline)
                ):
                    self._mark_cut(t)
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
                    try:
                        value = it.throw(exc)
                    except BaseException as error:
                        if self._ends(error):
                            return None
                        raise
                    continue
                try:
                    value = it.send(sent)
                except BaseException as error:
                    if self._ends(error):
                        return None
                    raise
                continue
            scope = anyio.CancelScope(deadline=self._until if self.cut else deadline)
            scope.__enter__()
            guard.scope = scope
            if not self.cut and guard.aborted:
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
                    self._mark_cut(now())  # our own deadline or abort
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
                    self._mark_cut(now())
                scope.__exit__(None, None, None)
                try:
                    value = it.send(sent)
                except BaseException as error:
                    if self._ends(error):
                        return None
                    raise
