"""Scripted fake sources and small recorders for the runtime tests.

A :class:`Script` is a stream factory: attempt *i* (0-based, counted over every call) plays
``scripts[min(i, len(scripts) - 1)]``, a list of steps:

* any item (``str``, l0 event, dict, int...) is yielded as it is;
* ``Stall(seconds)`` awaits ``anyio.sleep(seconds)`` (a slow provider);
* ``Raise(exc)`` raises ``exc`` (an instance, or a zero-argument callable making a fresh one).

The end of the list ends the source. Every attempt's generator records whether it started and
whether it was closed (``try/finally``), so tests can check that l0 closes sources on every path.
"""

from __future__ import annotations

import gc
import inspect
import warnings
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import anyio
import anyio.lowlevel
import pytest

import l0

__all__ = [
    "Raise",
    "Recorder",
    "Script",
    "ScriptWithContext",
    "Stall",
    "assert_slept",
    "collect",
    "collect_until_error",
    "is_mock_clock",
    "no_resource_warnings",
    "paced",
    "text_after_last_reset",
]


class Stall:
    """A step that sleeps ``seconds`` before the next one."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def __repr__(self) -> str:
        return f"Stall({self.seconds})"


class Raise:
    """A step that raises an exception (an instance, or a callable making a fresh one)."""

    def __init__(self, exc: BaseException | Callable[[], BaseException]) -> None:
        self._exc = exc

    def make(self) -> BaseException:
        exc = self._exc
        if isinstance(exc, BaseException):
            return exc
        return exc()

    def __repr__(self) -> str:
        return f"Raise({self._exc!r})"


def paced(*items: Any) -> list[Any]:
    """``items`` with a zero-length sleep (a scheduler checkpoint) before each one after the first.

    A source whose items are all ready at once may be read ahead in one go; pacing it makes each
    item arrive separately, like a real network stream.
    """
    steps: list[Any] = []
    for i, item in enumerate(items):
        if i:
            steps.append(Stall(0))
        steps.append(item)
    return steps


class Script:
    """A factory whose successive calls play successive scripts (the last one repeats)."""

    def __init__(self, *scripts: Sequence[Any]) -> None:
        if not scripts:
            raise ValueError("a Script needs at least one script")
        self.scripts = scripts
        self.calls = 0
        self.started: list[bool] = []
        self.closed: list[bool] = []
        self.call_times: list[float] = []

    def __call__(self) -> AsyncIterator[Any]:
        return self._make()

    def _make(self) -> AsyncIterator[Any]:
        index = self.calls
        self.calls += 1
        self.call_times.append(anyio.current_time())
        self.started.append(False)
        self.closed.append(False)
        steps = self.scripts[min(index, len(self.scripts) - 1)]
        return self._play(index, steps)

    async def _play(self, index: int, steps: Sequence[Any]) -> AsyncIterator[Any]:
        self.started[index] = True
        try:
            for step in steps:
                if isinstance(step, Stall):
                    await anyio.sleep(step.seconds)
                elif isinstance(step, Raise):
                    raise step.make()
                else:
                    yield step
        finally:
            self.closed[index] = True

    @property
    def all_closed(self) -> bool:
        """Every generator that was started has been closed (or ran to its end)."""
        pairs = zip(self.started, self.closed, strict=True)
        return all(closed for started, closed in pairs if started)


class ScriptWithContext(Script):
    """A :class:`Script` whose factory takes the :class:`l0.AttemptContext` (and records it)."""

    def __init__(self, *scripts: Sequence[Any]) -> None:
        super().__init__(*scripts)
        self.contexts: list[l0.AttemptContext] = []

    def __call__(self, ctx: l0.AttemptContext) -> AsyncIterator[Any]:  # type: ignore[override]
        self.contexts.append(ctx)
        return self._make()


class Recorder:
    """Records callback invocations as ``(name, args)`` in one shared, ordered log."""

    def __init__(self) -> None:
        self.log: list[tuple[str, tuple[Any, ...]]] = []

    def sync(self, name: str) -> Callable[..., None]:
        def callback(*args: Any) -> None:
            self.log.append((name, args))

        return callback

    def async_(self, name: str) -> Callable[..., Any]:
        async def callback(*args: Any) -> None:
            # Yield to the loop first: an async callback that is not awaited in order
            # would land out of order in the log.
            await anyio.lowlevel.checkpoint()
            await anyio.lowlevel.checkpoint()
            self.log.append((name, args))

        return callback

    def make(self, name: str, kind: str) -> Callable[..., Any]:
        return self.sync(name) if kind == "sync" else self.async_(name)

    def args(self, name: str) -> list[tuple[Any, ...]]:
        return [args for n, args in self.log if n == name]

    def names(self) -> list[str]:
        return [n for n, _ in self.log]


async def collect(stream: l0.Stream) -> list[l0.StreamEvent]:
    """Every event of ``stream`` (raises what ends it)."""
    return [event async for event in stream]


async def collect_until_error(
    stream: l0.Stream,
    body: Callable[[l0.StreamEvent], Any] | None = None,
) -> tuple[list[l0.StreamEvent], Exception | None]:
    """The events of ``stream`` and the exception that ended it (``None`` if it completed).

    ``body``, if given, runs for each event inside the loop (awaited if it returns an awaitable).
    """
    events: list[l0.StreamEvent] = []
    try:
        async for event in stream:
            events.append(event)
            if body is not None:
                result = body(event)
                if inspect.isawaitable(result):
                    await result
    except Exception as exc:
        return events, exc
    return events, None


def text_after_last_reset(events: Sequence[l0.StreamEvent]) -> str:
    """The concatenated text of the Token events after the last Reset."""
    last = max((i for i, e in enumerate(events) if isinstance(e, l0.Reset)), default=-1)
    return "".join(e.value for e in events[last + 1 :] if isinstance(e, l0.Token))


def is_mock_clock(anyio_backend: Any) -> bool:
    """Whether the test runs on trio with a MockClock (virtual, exact time)."""
    return isinstance(anyio_backend, tuple) and anyio_backend[0] == "trio"


def assert_slept(anyio_backend: Any, actual: float, expected: float) -> None:
    """``actual`` seconds elapsed for a sleep of ``expected``: exact on MockClock, else close."""
    if is_mock_clock(anyio_backend):
        assert actual == pytest.approx(expected, abs=1e-6), f"slept {actual}, expected {expected}"
    else:
        assert expected - 1e-3 <= actual < expected + 0.5, f"slept {actual}, expected {expected}"


@contextmanager
def no_resource_warnings() -> Iterator[None]:
    """Objects dropped inside the block (then garbage-collected) emit no ResourceWarning."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
        gc.collect()
    leaks = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert leaks == [], leaks


def boom() -> RuntimeError:
    """A fresh plain exception, as a broken source raises."""
    return RuntimeError("boom")
