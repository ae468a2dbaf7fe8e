"""The sink protocol, :func:`combine`, and the machinery every sink shares.

A sink is anything callable with one observability event, so it can be given straight to
``on_event``. The sinks of this package route an event through one dictionary lookup on its
class (an event they don't care about costs that and nothing else), never let an exception
escape into the stream, and keep per-stream state in a bounded :class:`StreamTable` that is
emptied when each stream ends.
"""

from __future__ import annotations

import inspect
import logging
import threading
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Any, Generic, Protocol, TypeVar, runtime_checkable

from l0._errors import ErrorCode, L0Error
from l0._events import _observability as obs

__all__ = [
    "Handlers",
    "Sink",
    "StreamTable",
    "call_guarded",
    "category_of",
    "combine",
    "is_terminal",
    "logger",
]

logger = logging.getLogger("l0.monitoring")
"""Where sinks report their own failures (a sink never raises into the stream)."""

T = TypeVar("T")

Handlers = Mapping[type[obs.ObservabilityEvent], Callable[[Any], None]]
"""Event class → handler; classes that are absent are ignored."""


@runtime_checkable
class Sink(Protocol):
    """Anything that takes an observability event: ``l0.run(..., on_event=sink)``.

    It may return an awaitable (an ``async def`` sink); l0 awaits it in the consumer's task.

    .. versionadded:: 0.1
    """

    def __call__(self, event: obs.ObservabilityEvent, /) -> object:
        """Receive one event."""
        ...


def call_guarded(handlers: Handlers, event: obs.ObservabilityEvent, owner: object) -> None:
    """Run the handler for ``event``'s class, if there is one; log what it raises."""
    handler = handlers.get(type(event))
    if handler is None:
        return
    try:
        handler(event)
    except Exception:
        logger.exception(
            "%s failed on %s; the stream goes on", type(owner).__name__, type(event).__name__
        )


def is_terminal(event: obs.ObservabilityEvent) -> bool:
    """Whether ``event`` is a stream's last one: COMPLETE, ABORT_COMPLETED or the final ERROR."""
    if isinstance(event, obs.Error):
        return event.recovery_strategy == "halt"
    return isinstance(event, (obs.Complete, obs.AbortCompleted))


def category_of(code: str | None) -> str | None:
    """The :class:`~l0.ErrorCategory` value of an error code, if it is one of l0's codes."""
    if code is None:
        return None
    try:
        error_code = ErrorCode(code)
    except ValueError:
        return None
    return L0Error("", code=error_code).category.value


class _Combined:
    """Several sinks as one; see :func:`combine`."""

    __slots__ = ("sinks",)

    def __init__(self, sinks: tuple[Sink, ...]) -> None:
        self.sinks = sinks

    def __call__(self, event: obs.ObservabilityEvent, /) -> Awaitable[None] | None:
        pending: list[Awaitable[Any]] = []
        for sink in self.sinks:
            try:
                result = sink(event)
            except Exception:
                logger.exception(
                    "sink %r failed on %s; the stream goes on", sink, type(event).__name__
                )
                continue
            if inspect.isawaitable(result):
                pending.append(result)
        if pending:
            return _await_all(pending, event)
        return None

    def __repr__(self) -> str:
        return f"combine({', '.join(map(repr, self.sinks))})"


async def _await_all(pending: list[Awaitable[Any]], event: obs.ObservabilityEvent) -> None:
    for awaitable in pending:
        await _await_guarded(awaitable, event)


async def _await_guarded(awaitable: Awaitable[Any], event: obs.ObservabilityEvent) -> None:
    try:
        await awaitable
    except Exception:
        logger.exception("an async sink failed on %s; the stream goes on", type(event).__name__)


def combine(*sinks: Sink | None) -> Sink:
    """One sink that hands every event to each of ``sinks`` in order (``None`` are skipped).

    A sink that raises is logged (logger ``l0.monitoring``) and the others still get the
    event. Sync sinks run at once; if any sink returns an awaitable, the combined sink
    returns one that awaits them in order.

    .. versionadded:: 0.1
    """
    flat: list[Sink] = []
    for sink in sinks:
        if sink is None:
            continue
        if not callable(sink):
            raise TypeError(f"a sink must be callable with an event, got {type(sink).__name__}")
        flat.extend(sink.sinks if isinstance(sink, _Combined) else (sink,))
    return _Combined(tuple(flat))


class StreamTable(Generic[T]):
    """Per-stream state keyed by stream id, at most ``max_streams`` at once.

    When it is full, adding a stream first evicts the oldest one through ``on_evict``: a
    stream whose end a sink never saw (a consumer cancelled by a runtime that emits nothing,
    a sink attached halfway) costs a bounded amount of memory, never a leak. Thread-safe.
    """

    __slots__ = ("_items", "_lock", "_on_evict", "max_streams")

    def __init__(self, max_streams: int, on_evict: Callable[[T], None]) -> None:
        if max_streams < 1:
            raise ValueError(f"max_streams must be at least 1, got {max_streams}")
        self.max_streams = max_streams
        self._items: dict[str, T] = {}
        self._on_evict = on_evict
        self._lock = threading.Lock()

    def add(self, stream_id: str, value: T) -> None:
        """Track ``value`` for ``stream_id`` (evicting the oldest stream if full)."""
        evicted: list[T] = []
        with self._lock:
            old = self._items.pop(stream_id, None)
            if old is not None:
                evicted.append(old)
            while len(self._items) >= self.max_streams:
                oldest = next(iter(self._items))
                evicted.append(self._items.pop(oldest))
            self._items[stream_id] = value
        for item in evicted:
            self._on_evict(item)

    def get(self, stream_id: str) -> T | None:
        """The state of ``stream_id``, or ``None`` if it is not tracked."""
        return self._items.get(stream_id)

    def pop(self, stream_id: str) -> T | None:
        """Stop tracking ``stream_id``; returns its state if it was tracked."""
        with self._lock:
            return self._items.pop(stream_id, None)

    def drain(self) -> list[T]:
        """Stop tracking every stream; returns their states, oldest first."""
        with self._lock:
            items = list(self._items.values())
            self._items.clear()
        return items

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._items))
