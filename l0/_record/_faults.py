"""A recorded attempt played again as a source, with faults injected where you say.

A played stream is read by the built-in async-iterator adapter, unless the recorded attempt's
adapter required a finish signal: then by a registered adapter that requires it too (so a
:class:`~l0.testing.Truncate` fault is a truncated stream, as it was for the original).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import anyio
import anyio.lowlevel

from l0._errors import ConfigError, SourceError
from l0._events._stream import Complete as CompleteEvent
from l0._events._stream import ErrorEvent, Reset, StreamEvent
from l0.adapters._base import Adapter, Chunk, Fault, Finish, ToolCallDelta, Usage
from l0.adapters._builtin import convert_item
from l0.adapters._registry import register, registered

if TYPE_CHECKING:
    from typing import TypeAlias

    from l0.testing._script import Drop, InBandError, Stall, Truncate

    ReplayFault: TypeAlias = Drop | Stall | Truncate | InBandError
    """The :mod:`l0.testing` faults a replayed source can inject."""

__all__ = ["ReplaySource"]


def _is_content(chunk: Any) -> bool:
    return isinstance(chunk, (str, ToolCallDelta)) or (
        isinstance(chunk, StreamEvent) and not isinstance(chunk, (Reset, ErrorEvent, CompleteEvent))
    )


def _playable(chunk: Any) -> bool:
    """What the built-in adapter can read again (not a signal only l0 itself sends)."""
    return _is_content(chunk) or isinstance(chunk, (Finish, Usage, Fault))


class _Player:
    """One stream of a :class:`ReplaySource`: an async iterator of the recorded chunks."""

    def __init__(
        self,
        chunks: Sequence[tuple[float, Any]],
        faults: Sequence[ReplayFault],
        *,
        pace: bool,
        requires_finish: bool,
    ) -> None:
        self.requires_finish = requires_finish
        self._chunks = list(chunks)
        self._faults = list(faults)
        self._pace = pace
        self._index = 0
        self._content = 0  # content chunks sent so far
        self._total = sum(1 for _, c in self._chunks if _is_content(c))
        self._done = False
        self._start: float | None = None
        self.closed: bool = False

    def __aiter__(self) -> _Player:
        return self

    async def _apply(self) -> Any:
        """Play the faults due now: those placed after as many content chunks as were sent
        (a position past the last content chunk means right after it)."""
        from l0.testing._script import Drop, InBandError, Stall, Truncate  # noqa: PLC0415

        for fault in list(self._faults):
            after = self._total if fault.after is None else min(fault.after, self._total)
            if after != self._content:
                continue
            self._faults.remove(fault)
            if isinstance(fault, Stall):
                await anyio.sleep(fault.seconds)
                continue
            self._done = True
            if isinstance(fault, Drop):
                raise ConnectionResetError("connection dropped (an l0.record replay fault)")
            if isinstance(fault, Truncate):
                raise StopAsyncIteration
            assert isinstance(fault, InBandError)
            return Fault(error=SourceError(f"the provider sent an error event: {fault.message}"))
        return None

    async def __anext__(self) -> Any:
        if self._done or self.closed:
            raise StopAsyncIteration
        if self._start is None:
            self._start = anyio.current_time()
        chunks = self._chunks
        while self._index < len(chunks) and not _playable(chunks[self._index][1]):
            self._index += 1
        fault = await self._apply()
        if fault is not None:
            return fault
        if self._index >= len(chunks):
            self._done = True
            raise StopAsyncIteration
        t, chunk = chunks[self._index]
        if self._pace:
            await anyio.sleep_until(self._start + t)
        else:
            await anyio.lowlevel.checkpoint()
        self._index += 1
        if _is_content(chunk):
            self._content += 1
        return chunk

    async def aclose(self) -> None:
        """Close it (idempotent)."""
        self.closed = True
        await anyio.lowlevel.checkpoint()


class _StrictReplayAdapter(Adapter):
    """Reads played streams whose recorded adapter required a finish signal."""

    name = "l0-record-replay"
    requires_finish = True
    text_items = True

    def detect(self, obj: object) -> bool:
        return isinstance(obj, _Player) and obj.requires_finish

    def convert(self, item: Any) -> Chunk | Sequence[Chunk] | None:
        return convert_item(item)


def _register_adapter() -> None:
    if not any(isinstance(a, _StrictReplayAdapter) for a in registered()):
        register(_StrictReplayAdapter(), replace=True)


class ReplaySource:
    """A factory for ``l0.run`` playing a recorded attempt's chunks (see
    :meth:`l0.record.Recording.source`). ``calls`` counts the streams it made."""

    def __init__(
        self,
        chunks: Sequence[tuple[float, Any]],
        faults: Sequence[ReplayFault],
        *,
        faulty: int = 1,
        pace: bool = False,
        requires_finish: bool = False,
    ) -> None:
        from l0.testing._script import Drop, InBandError, Stall, Truncate  # noqa: PLC0415

        for fault in faults:
            if not isinstance(fault, (Drop, Stall, Truncate, InBandError)):  # pyright: ignore[reportUnnecessaryIsInstance]
                raise ConfigError(
                    "a replay fault must be l0.testing.Drop, Stall, Truncate or InBandError, "
                    f"got {type(fault).__name__}"
                )
        if isinstance(faulty, bool) or not isinstance(faulty, int) or faulty < 0:  # pyright: ignore[reportUnnecessaryIsInstance]
            raise ConfigError(f"faulty must be an int >= 0, got {faulty!r}")
        self.chunks: tuple[tuple[float, Any], ...] = tuple(chunks)
        self.faults: tuple[ReplayFault, ...] = tuple(faults)
        self.faulty = faulty
        self.pace = pace
        self.requires_finish = requires_finish
        """Whether a stream that ends without its finish chunk is truncated (as it was for
        the recorded attempt's adapter)."""
        self.calls: int = 0
        if requires_finish:
            _register_adapter()

    def __repr__(self) -> str:
        return f"<l0 ReplaySource {len(self.chunks)} chunks, faults={list(self.faults)!r}>"

    def __call__(self) -> _Player:
        """The next stream: with the faults while fewer than ``faulty`` were made."""
        faults = self.faults if self.calls < self.faulty else ()
        self.calls += 1
        return _Player(self.chunks, faults, pace=self.pace, requires_finish=self.requires_finish)
