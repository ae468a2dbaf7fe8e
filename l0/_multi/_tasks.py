"""What a "task" is, and how one is run: shared by parallel, pool, consensus and pipeline.

A task is one of:

* an :class:`~l0.Stream`: it is read to the end, the result is its text;
* a factory that takes the :class:`~l0.AttemptContext`, or an async generator function: it is
  run with :func:`l0.run` (and the composition's run options), the result is the text;
* any other callable: it is called with no arguments, and awaited if that gives an awaitable.
  If the outcome is an :class:`~l0.Stream` it is read; if it is an async iterable (a model's
  stream) it goes through :func:`l0.run` with the task as its factory (this first object is
  used for attempt 1, later attempts call the task again); anything else is the result;
* an awaitable: awaited, with the same treatment of what it gives;
* a mapping of :func:`l0.run` keywords with a ``"stream"`` factory (``{"stream": f, "retry":
  ...}``): run with the composition's options overridden by its own, the result is the text.

Each stream is read inside its own ``async with``, in the task that runs it, so it is closed
however the task ends.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, cast

import anyio

from l0._errors import ConfigError, L0Error, SourceError
from l0._runtime._api import run as l0_run
from l0._runtime._options import Options, merge, wants_context
from l0._runtime._stream import Stream

if TYPE_CHECKING:
    from l0._runtime._api import Session

__all__ = [
    "Deferred",
    "Runnable",
    "Task",
    "as_l0_error",
    "call_hook",
    "check_count",
    "check_options",
    "check_task_options",
    "run_task",
    "start_stream",
]

logger = logging.getLogger("l0")

Task = Stream | Callable[..., Any] | Awaitable[Any] | Mapping[str, Any]
"""A unit of work for :func:`~l0.parallel`, :func:`~l0.pool` and friends (see the module doc)."""

_BASE = Options()


def check_options(options: Mapping[str, Any], where: str) -> None:
    """Raise at once (``TypeError`` / :class:`~l0.ConfigError`) for bad run options."""
    if "stream" in options:
        raise TypeError(f"{where} got an unexpected keyword argument 'stream'")
    merge(_BASE, options, where=where)


def check_task_options(task: Mapping[str, Any], where: str) -> None:
    """Raise at once for a task given as run options without a callable ``stream``, or with
    bad options."""
    factory = task.get("stream")
    if not callable(factory):
        raise ConfigError(
            f"{where}: a task given as options needs a 'stream' factory, got {factory!r}"
        )
    merge(_BASE, {k: v for k, v in task.items() if k != "stream"}, where=where)


def check_count(value: object, name: str, *, allow_none: bool = True) -> None:
    """``value`` is a positive int (or ``None`` if allowed); else :class:`~l0.ConfigError`."""
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{name} must be an int >= 1, got {value!r}")


def start_stream(
    factory: Callable[..., Any], options: Mapping[str, Any], session: Session | None
) -> Stream:
    """``l0.run(factory, **options)``, or ``session.run(...)`` when a session is given."""
    if session is not None:
        return session.run(factory, **options)
    return l0_run(factory, **options)


class Deferred:
    """A task made only when it starts: ``make()`` gives the task, or a plain result."""

    __slots__ = ("make",)

    def __init__(self, make: Callable[[], Any]) -> None:
        self.make = make


Runnable = Task | Deferred
"""A task, or a :class:`Deferred` one."""


class _FirstThen:
    """A factory giving ``first`` (a stream the task already made) once, then calling ``task``
    for later attempts; :meth:`discard` closes ``first`` if the stream never took it."""

    __slots__ = ("_first", "_task")

    def __init__(self, first: object, task: Callable[[], Any] | None) -> None:
        self._first: object | None = first
        self._task = task

    def __call__(self) -> Any:
        first, self._first = self._first, None
        if first is not None:
            return first
        if self._task is None:
            raise SourceError("this task's stream can be read once only (it was an awaitable)")
        return self._task()

    async def discard(self) -> None:
        first, self._first = self._first, None
        aclose = getattr(first, "aclose", None)
        if aclose is None:
            return
        with anyio.CancelScope(shield=True) as scope, contextlib.suppress(Exception):
            scope.cancel()  # closed at once: its cleanup cannot block
            await aclose()


def _is_source(obj: object) -> bool:
    return hasattr(obj, "__aiter__")


async def run_task(
    task: Runnable,
    options: Mapping[str, Any],
    session: Session | None,
    on_stream: Callable[[Stream], None],
) -> Any:
    """Run ``task`` (see the module doc) and return its result.

    ``on_stream`` is told about the stream as soon as there is one (for telemetry, even when
    the task then fails).
    """
    stream: Stream | None = None
    first: _FirstThen | None = None
    if isinstance(task, Deferred):
        made = task.make()
        if not (isinstance(made, Stream) or callable(made) or inspect.isawaitable(made)):
            return made
        task = cast("Task", made)
    if isinstance(task, Stream):
        stream = task
    elif isinstance(task, Mapping):
        spec = cast("Mapping[str, Any]", task)
        check_task_options(spec, "a task")
        own = {k: v for k, v in spec.items() if k != "stream"}
        stream = start_stream(spec["stream"], {**options, **own}, session)
    elif callable(task):
        if wants_context(task) or inspect.isasyncgenfunction(task):
            stream = start_stream(task, options, session)
        else:
            obj = task()
            if inspect.isawaitable(obj) and not _is_source(obj):
                obj = await obj
            if isinstance(obj, Stream):
                stream = obj
            elif _is_source(obj):
                first = _FirstThen(obj, task)
            else:
                return obj
    elif inspect.isawaitable(task):
        obj = await task
        if isinstance(obj, Stream):
            stream = obj
        elif _is_source(obj):
            first = _FirstThen(obj, None)
        else:
            return obj
    else:
        raise ConfigError(
            "a task must be an l0.Stream, a callable, an awaitable or a mapping of run options, "
            f"got {type(task).__name__}"
        )
    try:
        if first is not None:
            stream = start_stream(first, options, session)
        ready = cast("Stream", stream)  # every branch above made one, or returned
        on_stream(ready)
        async with ready:
            return await ready.read()
    finally:
        if first is not None:
            await first.discard()


async def call_hook(name: str, fn: Callable[..., Any], *args: Any) -> None:
    """Call a user hook (sync or async); what it raises is logged, the work goes on."""
    try:
        result = fn(*args)
        if inspect.isawaitable(result):
            await result
    except Exception:
        logger.exception("l0 %s callback raised; the work goes on", name)


def as_l0_error(exc: BaseException) -> L0Error:
    """``exc`` itself if it is an :class:`~l0.L0Error`, else a ``SourceError`` caused by it."""
    if isinstance(exc, L0Error):
        return exc
    error = SourceError(f"{type(exc).__name__}: {exc}")
    error.__cause__ = exc
    return error


def now() -> float:
    """anyio's clock (trio's MockClock in tests)."""
    return anyio.current_time()
