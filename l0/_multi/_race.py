"""``race``: the first candidate with valid content wins; the others are cancelled and closed.

Each candidate is an :class:`~l0.Stream` read in its own task, under its own cancel scope, in
one task group owned by the call. A launcher task starts the candidates (all at once, or one by
one with a hedge delay). When a winner is decided, the other candidates' scopes are cancelled:
their pending reads are interrupted and their sources closed in those tasks, and the group exits
only once they have finished. Then every stream but a live winner is closed, so by the time
``race`` returns nothing it started is running and every loser's source has been closed.

The candidates' generators are created in the caller's task before any of them is stepped, so
the caller owns every stream: it can go on reading a live winner and close it, after the task
that read its first token has ended.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal

import anyio
import anyio.lowlevel
import attrs

from l0._errors import AllStreamsExhausted, ConfigError, L0Error
from l0._events._stream import Complete, Reset, StreamEvent, Token
from l0._multi._errors import ContentRejected
from l0._multi._tasks import as_l0_error, check_options, now, start_stream
from l0._runtime._stream import CLEANUP_TIMEOUT, Stream

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from l0._runtime._api import Session
    from l0._runtime._options import RunOptions
    from l0._state import State

__all__ = ["CandidateOutcome", "CandidateStatus", "RaceResult", "race"]

CandidateStatus = Literal["won", "lost", "cancelled", "failed", "rejected", "not_started"]
"""How a race candidate ended: it won; it also succeeded, but after the winner; it was
cancelled because another won; it failed (``error``); ``validate`` rejected it; or the race
was decided before its turn came (hedging)."""

Require = Literal["complete", "first_token"]


@attrs.frozen(kw_only=True)
class CandidateOutcome:
    """How one candidate of a race ended (see :data:`CandidateStatus`).

    ``text`` is its output when it stopped (the partial text of a cancelled one); ``started_at``
    and ``ended_at`` are ``anyio.current_time()`` values (``None`` if it never started).

    .. versionadded:: 0.1
    """

    index: int
    status: CandidateStatus
    text: str = ""
    state: State | None = None
    error: L0Error | None = None
    started_at: float | None = None
    first_token_at: float | None = None
    ended_at: float | None = None

    @property
    def duration(self) -> float | None:
        """Seconds from its start to its end."""
        if self.started_at is None or self.ended_at is None:
            return None
        return self.ended_at - self.started_at


class _Candidate:
    __slots__ = (
        "ended_at",
        "error",
        "events",
        "first_token_at",
        "index",
        "scope",
        "started_at",
        "status",
        "stream",
    )

    def __init__(self, index: int, stream: Stream) -> None:
        self.index = index
        self.stream = stream
        self.scope = anyio.CancelScope()
        self.status: CandidateStatus | Literal["running"] = "not_started"
        self.error: L0Error | None = None
        self.events: list[StreamEvent] = []
        self.started_at: float | None = None
        self.first_token_at: float | None = None
        self.ended_at: float | None = None

    def claim(self) -> None:
        """Create the stream's generator in this (the caller's) task, without starting it."""
        try:
            self.stream.__aiter__()
        except L0Error as exc:  # already closed: this candidate cannot run
            self.error = exc

    def outcome(self) -> CandidateOutcome:
        status = "cancelled" if self.status == "running" else self.status
        return CandidateOutcome(
            index=self.index,
            status=status,
            text=self.stream.state.content if self.started_at is not None else "",
            state=self.stream.state if self.started_at is not None else None,
            error=self.error,
            started_at=self.started_at,
            first_token_at=self.first_token_at,
            ended_at=self.ended_at,
        )


class RaceResult:
    """The outcome of :func:`race`: who won, with what, and what became of the others.

    In ``require="complete"`` mode the winner has finished and every stream is closed:
    ``text`` is the final text. In ``require="first_token"`` mode the winner is still live:
    ``text`` is what it has said so far, and iterating the result (``async for event in
    result``) gives every event of the winner from its start, then the rest as it streams;
    ``await result.read()`` waits for the final text. Close a live winner with ``async with
    result:`` or ``await result.aclose()``.

    .. versionadded:: 0.1
    """

    __slots__ = ("_buffered", "index", "outcomes", "stream")

    def __init__(
        self,
        index: int,
        stream: Stream,
        outcomes: tuple[CandidateOutcome, ...],
        buffered: list[StreamEvent],
    ) -> None:
        self.index: int = index
        """The winner's index in the candidate list."""
        self.stream: Stream = stream
        """The winner's :class:`~l0.Stream`."""
        self.outcomes: tuple[CandidateOutcome, ...] = outcomes
        """Every candidate's :class:`CandidateOutcome`, by index (the winner's included)."""
        self._buffered = buffered

    @property
    def text(self) -> str:
        """The winner's text (so far, for a live winner)."""
        return self.stream.state.content

    @property
    def state(self) -> State:
        """The winner's :class:`~l0.State`."""
        return self.stream.state

    @property
    def winner(self) -> CandidateOutcome:
        """The winner's :class:`CandidateOutcome`."""
        return self.outcomes[self.index]

    @property
    def losers(self) -> tuple[CandidateOutcome, ...]:
        """The other candidates' outcomes."""
        return tuple(o for o in self.outcomes if o.index != self.index)

    def __aiter__(self) -> AsyncIterator[StreamEvent]:
        return _Replay(self._buffered, self.stream)

    async def read(self) -> str:
        """The winner's final text (reads a live winner to its end; raises if it fails)."""
        async for _ in self:
            pass
        return self.stream.state.content

    async def aclose(self) -> None:
        """Close the winner's stream (idempotent)."""
        await self.stream.aclose()

    async def __aenter__(self) -> RaceResult:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        statuses = ", ".join(o.status for o in self.outcomes)
        return f"RaceResult(index={self.index}, outcomes=[{statuses}])"


class _Replay:
    """The events already read from the winner, then the rest of its stream."""

    __slots__ = ("_buffered", "_position", "_stream")

    def __init__(self, buffered: list[StreamEvent], stream: Stream) -> None:
        self._buffered = buffered
        self._position = 0
        self._stream = stream

    def __aiter__(self) -> _Replay:
        return self

    async def __anext__(self) -> StreamEvent:
        if self._position < len(self._buffered):
            event = self._buffered[self._position]
            self._position += 1
            return event
        if self._stream.done and self._buffered and type(self._buffered[-1]) is Complete:
            raise StopAsyncIteration
        event = await self._stream.__anext__()
        self._buffered.append(event)
        self._position += 1
        return event


class _Race:
    def __init__(
        self,
        streams: Sequence[Stream],
        require: Require,
        validate: Callable[[str], bool] | None,
        hedge: float | None,
    ) -> None:
        self.candidates = [_Candidate(i, s) for i, s in enumerate(streams)]
        self.live = require == "first_token"
        self.validate = validate
        self.hedge = hedge
        self.winner: _Candidate | None = None
        self.crash: BaseException | None = None
        self.changed = anyio.Event()
        self.launcher = anyio.CancelScope()

    def _notify(self) -> None:
        self.changed.set()
        self.changed = anyio.Event()

    def _decide(self, candidate: _Candidate) -> None:
        if self.winner is not None:
            candidate.status = "lost"
            return
        candidate.status = "won"
        self.winner = candidate
        self.launcher.cancel()
        for other in self.candidates:
            if other is not candidate:
                other.scope.cancel()

    async def run(self) -> RaceResult:
        # The caller's task owns every stream: create their generators here, unstarted.
        for candidate in self.candidates:
            candidate.claim()
        kept = False
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._launch, tg)
            if self.crash is not None:
                raise self.crash
            winner = self.winner
            if winner is None:
                errors = [
                    c.error or as_l0_error(RuntimeError("no result")) for c in self.candidates
                ]
                raise AllStreamsExhausted(
                    f"every race candidate failed ({len(errors)} of them)", errors
                )
            result = RaceResult(
                winner.index,
                winner.stream,
                tuple(c.outcome() for c in self.candidates),
                winner.events,
            )
            kept = self.live
            return result
        finally:
            with anyio.move_on_after(CLEANUP_TIMEOUT, shield=True):
                for candidate in self.candidates:
                    if not (kept and candidate is self.winner):
                        await candidate.stream.aclose()

    async def _launch(self, tg: anyio.abc.TaskGroup) -> None:
        with self.launcher:
            last_start = now()
            for i, candidate in enumerate(self.candidates):
                if i:
                    await self._wait_turn(last_start)
                    if self.launcher.cancel_called:
                        return  # decided while waiting (the wait itself may have returned)
                last_start = now()
                candidate.status = "running"
                candidate.started_at = last_start
                tg.start_soon(self._candidate, candidate)

    async def _wait_turn(self, last_start: float) -> None:
        """Until the next candidate may start: at once without a hedge; with one, once the
        running candidates have all failed, or none has a first token ``hedge`` seconds after
        the last start."""
        hedge = self.hedge
        if hedge is None:
            return
        while True:
            running = [c for c in self.candidates if c.status == "running"]
            if not running:
                return
            changed = self.changed
            if any(c.first_token_at is not None for c in running):
                await changed.wait()
                continue
            remaining = last_start + hedge - now()
            if remaining <= 0:
                return
            with anyio.move_on_after(remaining):
                await changed.wait()

    async def _candidate(self, candidate: _Candidate) -> None:
        with candidate.scope:
            try:
                await self._consume(candidate)
            except L0Error as exc:
                candidate.status = "rejected" if isinstance(exc, ContentRejected) else "failed"
                candidate.error = exc
            except Exception as exc:
                # Not a stream failure (a validate predicate raised, say): stop the race.
                self.crash = exc
                self.launcher.cancel()
                for other in self.candidates:
                    other.scope.cancel()
        candidate.ended_at = now()
        self._notify()

    async def _consume(self, candidate: _Candidate) -> None:
        stream = candidate.stream
        state = stream.state
        events = candidate.events
        validate = self.validate
        live = self.live
        if candidate.error is not None:
            raise candidate.error
        # A stream whose items are all there may never reach a checkpoint: a candidate that
        # lost before it began must not run to completion anyway.
        await anyio.lowlevel.checkpoint_if_cancelled()
        # Live mode with validate: the text so far is checked on the first token, then each
        # time it has doubled since the last failed check (and at the end). The checks cost
        # at most about twice the final length in all, whatever the predicate does: linear,
        # where checking after every token would be quadratic.
        check_at = 0
        while True:
            try:
                event = await stream.__anext__()
            except StopAsyncIteration:
                break
            events.append(event)
            if type(event) is not Token:
                if type(event) is Reset:
                    check_at = 0  # a new attempt: its text starts over
                continue
            if candidate.first_token_at is None:
                candidate.first_token_at = now()
                self._notify()
            if live:
                if validate is None:
                    self._decide(candidate)
                    return
                length = state.length
                if length >= check_at:
                    if validate(state.content):
                        self._decide(candidate)
                        return
                    check_at = max(2 * length, length + 1)
        text = state.content
        if validate is not None and not validate(text):
            raise ContentRejected("the candidate's output did not pass validate", text=text)
        self._decide(candidate)


def _streams(
    candidates: Iterable[Stream | Callable[..., Any]],
    options: dict[str, Any],
    session: Session | None,
) -> list[Stream]:
    if not isinstance(candidates, Iterable):  # pyright: ignore[reportUnnecessaryIsInstance]
        raise ConfigError(f"race() takes a list of candidates, got {type(candidates).__name__}")
    listed = list(candidates)
    if not listed:
        raise ConfigError("race() needs at least one candidate")
    streams: list[Stream] = []
    for i, candidate in enumerate(listed):
        if isinstance(candidate, Stream):
            streams.append(candidate)
        elif callable(candidate):
            streams.append(start_stream(candidate, options, session))
        else:
            raise ConfigError(
                f"race() candidate {i} must be an l0.Stream or a factory, "
                f"got {type(candidate).__name__}"
            )
    return streams


async def race(
    candidates: Iterable[Stream | Callable[..., Any]],
    *,
    require: Require = "complete",
    validate: Callable[[str], bool] | None = None,
    hedge: float | None = None,
    session: Session | None = None,
    **run_options: Unpack[RunOptions],
) -> RaceResult:
    """Run the candidates against each other; the first with valid content wins.

    Candidates are stream factories (run with :func:`l0.run` and ``run_options``, or from
    ``session``) or :class:`~l0.Stream` objects (their own options apply). Each candidate
    keeps its own retries and fallbacks; the race is between their outcomes.

    ``require="complete"`` (the default): the first candidate to complete successfully wins
    (and, with ``validate``, whose final text passes it; a rejected one is ``"rejected"``).
    ``require="first_token"``: the first to produce a token wins, and is returned live, to be
    read on through the result. With ``validate``, the first whose text so far passes it wins:
    the text is checked at the first token, then whenever it has doubled in length since the
    last failed check, and at the end; so the checks cost linear time in all, at the price of
    deciding up to that much later than the first token that would have passed.

    ``hedge`` (seconds): start the candidates one by one; the next starts when no running one
    has produced its first token ``hedge`` seconds after the last start, or at once when every
    running one has failed. ``None``: all start together.

    The losers are cancelled, and their streams closed, before ``race`` returns (also when it
    raises or the caller is cancelled). Raises :class:`~l0.AllStreamsExhausted` with each
    candidate's error (by index) when none wins.

    .. versionadded:: 0.1
    """
    if require not in ("complete", "first_token"):
        raise ConfigError(f"require must be 'complete' or 'first_token', got {require!r}")
    if hedge is not None and (
        isinstance(hedge, bool)
        or not isinstance(hedge, (int, float))  # pyright: ignore[reportUnnecessaryIsInstance]
        or math.isnan(hedge)
        or hedge < 0
    ):
        raise ConfigError(f"hedge must be a number of seconds >= 0 or None, got {hedge!r}")
    if validate is not None and not callable(validate):
        raise ConfigError(f"validate must be callable, got {type(validate).__name__}")
    check_options(run_options, "race()")
    streams = _streams(candidates, dict(run_options), session)
    return await _Race(streams, require, validate, hedge).run()
