"""A recording read back from a store: its events, its outcome, its attempts, and replays."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from typing import TYPE_CHECKING, Any, cast

import anyio
import attrs

from l0._errors import ConfigError, L0Error
from l0._record._faults import ReplaySource
from l0._record._reexec import Replay, reexecute
from l0._record._schema import (
    Begin,
    End,
    Ended,
    Event,
    Failed,
    Header,
    Item,
    Ready,
    Record,
    TakeFailure,
    Text,
    TimedOut,
    decode_chunk,
    decode_record,
    error_from_record,
)
from l0._record._store import check_stream_id

if TYPE_CHECKING:
    from l0._events._observability import ObservabilityEvent
    from l0._events._stream import StreamEvent
    from l0._record._faults import ReplayFault
    from l0._record._store import Store

__all__ = ["AttemptRecord", "Recording", "load"]


@attrs.frozen(kw_only=True)
class AttemptRecord:
    """One recorded attempt: where and when it ran, what its source sent, how it ended.

    ``chunks`` are ``(t, chunk)`` pairs: the time it arrived (seconds since the attempt
    began) and the chunk as the adapter converted it (``str`` text, l0 events, or the
    :mod:`l0.adapters` signals ``Finish``, ``Usage``, ``ToolCallDelta``, ``Fault``).
    ``ended`` is ``"ended"`` (the source finished), ``"failed"``, ``"timed_out"``,
    ``"stopped"`` (a guardrail or drift verdict), or ``None`` (it was cut short: abort,
    cancellation, or the recording stops there).
    """

    source_index: int
    attempt: int
    is_retry: bool
    is_fallback: bool
    began: float
    adapter: str | None
    requires_finish: bool
    chunks: tuple[tuple[float, Any], ...]
    ended: str | None
    error: L0Error | None


def _attempts(records: Sequence[Record]) -> list[AttemptRecord]:
    out: list[AttemptRecord] = []
    current: dict[str, Any] | None = None

    def close(ended: str | None, error: L0Error | None = None) -> None:
        nonlocal current
        if current is not None:
            out.append(AttemptRecord(**current, ended=ended, error=error))
            current = None

    for record in records:
        kind = type(record)
        if kind is Begin:
            close(None)
            begin = cast("Begin", record)
            action = begin.action
            current = {
                "source_index": action.source_index,
                "attempt": action.attempt,
                "is_retry": action.is_retry,
                "is_fallback": action.is_fallback,
                "began": begin.now,
                "adapter": None,
                "requires_finish": False,
                "chunks": (),
            }
        elif current is None:
            continue
        elif kind is Ready:
            ready = cast("Ready", record)
            current["adapter"] = ready.adapter
            current["requires_finish"] = ready.requires_finish
        elif kind is Text:
            text = cast("Text", record)
            current["chunks"] += ((text.t - current["began"], text.text),)
        elif kind is Item:
            item = cast("Item", record)
            if item.error is None:
                decoded = decode_chunk(item.chunk)
                many = cast("list[Any]", decoded) if isinstance(decoded, list) else [decoded]
                t = item.t - current["began"]
                current["chunks"] += tuple((t, c) for c in many if c is not None)
        elif kind is Ended:
            close("ended")
        elif kind is TimedOut:
            close("timed_out")
        elif kind is TakeFailure:
            close("stopped")
        elif kind is Failed:
            close("failed", error_from_record(cast("Failed", record).error))
    close(None)
    return out


class Recording:
    """A recorded stream, read back: the records, and what can be read from them.

    Get one with :func:`l0.record.load`. Reading it back needs nothing but the records:
    :attr:`events` are the observability events as they were emitted, :attr:`state` the
    final state, :attr:`attempts` what each attempt's source sent and when. Replaying it
    feeds the recorded inputs to a fresh engine: :meth:`reexecute` (the same events, or with
    changed options what would have happened), :meth:`play` (what the consumer got, with
    the original pacing if you like), :meth:`source` (the recorded output as a source for
    ``l0.run``, with faults injected).
    """

    def __init__(self, records: Sequence[Record]) -> None:
        if not records or type(records[0]) is not Header:
            raise ConfigError("a recording starts with its header record; this one does not")
        self.header: Header = records[0]
        """The header: seed, options, wall-clock offset, l0 version."""
        self.records: tuple[Record, ...] = tuple(records)
        """Every record, in order."""
        last = records[-1]
        self.end: End | None = last if type(last) is End else None
        """The end record (``None`` if the recording stops before the stream ended: the
        process died, or it is still running)."""

    @classmethod
    def from_lines(cls, lines: Iterable[bytes | str]) -> Recording:
        """A recording from its records' JSON (what a store holds)."""
        return cls([decode_record(line) for line in lines])

    def __repr__(self) -> str:
        return f"<l0 Recording {self.stream_id} {self.status}, {len(self.records)} records>"

    # -- reading back ---------------------------------------------------------------------

    @property
    def stream_id(self) -> str:
        """The recorded stream's id."""
        return self.header.stream_id

    @property
    def seed(self) -> int:
        """The seed of the stream's backoff-jitter RNG."""
        return self.header.seed

    @property
    def options(self) -> dict[str, Any]:
        """The recorded option values (code such as guardrail rules is named, not stored)."""
        return self.header.options

    @property
    def status(self) -> str:
        """``completed``, ``failed``, ``aborted``, ``interrupted``, ``unfinished``, or
        ``incomplete`` (the recording has no end record)."""
        return self.end.status if self.end is not None else "incomplete"

    @property
    def events(self) -> list[ObservabilityEvent]:
        """The observability events, as they were emitted."""
        return [r.event for r in self.records if type(r) is Event]

    @property
    def state(self) -> dict[str, Any] | None:
        """The final state (``State.snapshot()``: content, token count, retries...), or
        ``None`` without an end record."""
        return self.end.state if self.end is not None else None

    @property
    def content(self) -> str:
        """The final text ("" if it has none)."""
        state = self.state
        return str(state.get("content", "")) if state is not None else ""

    @property
    def error(self) -> L0Error | None:
        """The error the stream ended with (rebuilt from its record)."""
        if self.end is None or self.end.error is None:
            return None
        return error_from_record(self.end.error)

    @property
    def attempts(self) -> list[AttemptRecord]:
        """The attempts, in order."""
        return _attempts(self.records)

    # -- replaying --------------------------------------------------------------------------

    async def reexecute(self, **options: Any) -> Replay:
        """Feed the recorded inputs to a fresh engine and return what it produced.

        Without options the engine is built as the recorded one was and its questions get
        the recorded answers, so :attr:`Replay.events` equal :attr:`events`
        (:func:`l0.record.compare` shows it). Give options to see what would have happened
        with them instead: ``retry``, ``timeout``, ``check_intervals``,
        ``continue_from_last_good_token``, ``guardrails``, ``drift``, ``tools``,
        ``tool_calls``, ``retry_budget``, ``circuit_breaker``, ``seed``. Asynchronous
        guardrail rules you give are awaited, as the runtime would.
        """
        return await reexecute(self.header, self.records, **options)

    async def play(self, *, pace: bool = False, speed: float = 1.0) -> AsyncIterator[StreamEvent]:
        """What the consumer iterated, again: tokens, resets, errors, the final ``Complete``.

        With ``pace=True`` each event comes when it came (``speed=2.0``: twice as fast).
        A stream that failed raises its error at the end, as iteration did.
        """
        if not (isinstance(speed, (int, float)) and speed > 0):  # pyright: ignore[reportUnnecessaryIsInstance]
            raise ConfigError(f"speed must be a number > 0, got {speed!r}")
        replay = await self.reexecute()
        start = anyio.current_time()
        base = replay.times[0] if replay.times else 0.0
        for t, event in zip(replay.times, replay.stream_events, strict=True):
            if pace:
                await anyio.sleep_until(start + (t - base) / speed)
            yield event
        if replay.error is not None:
            raise replay.error

    def source(
        self,
        *faults: ReplayFault,
        attempt: int = -1,
        faulty: int = 1,
        pace: bool = False,
    ) -> ReplaySource:
        """A factory for ``l0.run`` whose streams send what attempt ``attempt`` (an index into
        :attr:`attempts`; by default the last) received, with ``faults`` injected into the
        first ``faulty`` streams it makes.

        ``faults`` are :mod:`l0.testing` faults, counted in content chunks as in a
        :class:`~l0.testing.Script`: :class:`~l0.testing.Drop` (the connection drops),
        :class:`~l0.testing.Stall` (a pause), :class:`~l0.testing.Truncate` (it ends with no
        finish), :class:`~l0.testing.InBandError` (an error chunk). With ``pace=True`` the
        chunks come with their recorded timing. Run it with your own options, and you have
        a regression test of how they handle that fault on real output.
        """
        attempts = self.attempts
        if not attempts:
            raise ConfigError("the recording has no attempt to play")
        try:
            chosen = attempts[attempt]
        except IndexError:
            raise ConfigError(
                f"attempt must index the {len(attempts)} recorded attempts, got {attempt}"
            ) from None
        return ReplaySource(
            chosen.chunks, faults, faulty=faulty, pace=pace, requires_finish=chosen.requires_finish
        )


async def load(store: Store, stream_id: str) -> Recording:
    """The recording of ``stream_id`` in ``store``.

    Raises :class:`~l0.ConfigError` if the store holds no such stream, or if a record in it
    is not one (a partial last line, left by a crash, is never returned by the built-in
    stores).
    """
    lines = await store.read(check_stream_id(stream_id))
    if not lines:
        raise ConfigError(f"{store!r} holds no recording of stream {stream_id!r}")
    return Recording.from_lines(lines)
