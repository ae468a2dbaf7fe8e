"""Re-execution: a fresh engine fed the recorded inputs, its collaborators answering from the
recording.

With the recorded options, every call the runtime made is made again, in order, with the
same arguments, and every question the engine asks (its clock, the guardrails, the retry
budget...) gets the recorded answer: the engine emits the very same events. That is the
proof that the lifecycle is deterministic.

With options changed (another guardrail set, another timeout, more retries), the driver acts
as the runtime would have: when the engine ends an attempt earlier than the recording did,
the rest of that attempt's input is skipped, and the next recorded attempt stands for what
the source sent next. Where the recording cannot say what would have happened (the engine
wants an attempt the recording does not have, or waits longer than the source was waited
for), re-execution stops there and says why (:attr:`Replay.stopped`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, cast

import attrs

from l0._engine import Engine, Finish, StartAttempt
from l0._engine._engine import Action, Fail
from l0._errors import L0Error
from l0._events._observability import ObservabilityEvent
from l0._events._stream import StreamEvent
from l0._record._rebuild import OVERRIDABLE, Answers, build_engine, raised
from l0._record._schema import (
    Abort,
    Admit,
    AsyncFailed,
    AsyncVerdict,
    Begin,
    Ended,
    Failed,
    Header,
    Interrupt,
    Item,
    Ready,
    Record,
    Start,
    TakeFailure,
    Text,
    TimedOut,
    Wait,
    decode_chunk,
    error_from_record,
)
from l0._runtime._checker import check_async

if TYPE_CHECKING:
    from l0._state import State

__all__ = ["OVERRIDABLE", "Replay", "reexecute"]


@attrs.frozen(kw_only=True, eq=False)
class Replay:
    """What a re-execution produced.

    Attributes:
        events: the observability events the engine emitted, in order.
        stream_events: what a consumer would have iterated, in order (a failure that ends
            the stream is :attr:`error`, as iteration would raise it).
        times: the runtime-clock time of each of ``stream_events`` (for pacing).
        state: the engine's final :class:`~l0.State`.
        error: the error the stream ended with (``None`` if it completed).
        stopped: why re-execution stopped before the stream ended (``None``: it ended); only
            with changed options, where the recording does not say what would have followed.
    """

    events: list[ObservabilityEvent]
    stream_events: list[StreamEvent]
    times: list[float]
    state: State
    error: L0Error | None
    stopped: str | None

    @property
    def completed(self) -> bool:
        """Whether the stream completed."""
        return self.state.completed

    @property
    def content(self) -> str:
        """The final text."""
        return self.state.content


# --- the driver -----------------------------------------------------------------------------

_INPUTS = (
    Start, Admit, Begin, Ready, Text, Item, Wait, TimedOut, Ended, TakeFailure, Failed, Abort,
    Interrupt, AsyncVerdict, AsyncFailed,
)  # fmt: skip


class _Driver:
    def __init__(self, engine: Engine, *, guard_live: bool, live_async: bool, deadlines: bool):
        self.engine = engine
        self.guard_live = guard_live
        self.live_async = live_async
        self.deadlines = deadlines
        self.events: list[ObservabilityEvent] = []
        self.stream: list[StreamEvent] = []
        self.times: list[float] = []
        self.action: Action | None = None
        self.stopped: str | None = None
        self.deadline = math.inf
        self.last = 0.0  # the latest time an input carried
        # What the last content input produced, held until the inputs that may still veto it
        # (the asynchronous rules' verdicts, awaited before the runtime yields) are fed.
        self.held: tuple[float, list[StreamEvent], bool] | None = None

    def _release(self) -> None:
        held = self.held
        if held is not None:
            self.held = None
            t, events, ended = held
            if ended or self.engine.failure is None:
                self._yield(t, events)

    def _out(self, t: float) -> None:
        engine = self.engine
        if engine.outbox:
            self.events.extend(n.event for n in engine.outbox if n.event is not None)
            engine.outbox = []
        if engine.pending:
            self.stream.extend(engine.pending)
            self.times.extend([t] * len(engine.pending))
            engine.pending.clear()

    def _yield(self, t: float, events: Sequence[StreamEvent]) -> None:
        self.stream.extend(events)
        self.times.extend([t] * len(events))

    def _act(self, action: Action, t: float) -> None:
        self.action = action
        self._out(t)
        if isinstance(action, Finish):
            self._yield(t, [action.event])

    async def _check_async(self, *, finish: bool) -> None:
        def clock() -> float:  # re-executed at the recorded time: durations are 0
            return self.last

        await check_async(self.engine, None, None, end=finish, clock=clock)

    def _begin(self, record: Admit | Begin, admitted: bool) -> tuple[bool, bool]:
        """An attempt starts (``Admit`` or ``Begin``): returns (admitted, in the attempt)."""
        engine = self.engine
        action = self.action
        assert isinstance(action, StartAttempt)
        now = record.now
        if type(record) is Admit or (engine.breaker is not None and not admitted):
            # (A breaker the recording had not is asked before the attempt, as the runtime does.)
            if engine.breaker is None:
                return False, False  # the what-if has no circuit breaker
            skipped = engine.admit(now, action)
            if skipped is not None:
                self._act(skipped, now)
                return False, False
            if type(record) is Admit:
                return True, False
        engine.begin_attempt(now, action)
        self.deadline = math.inf
        self._out(now)
        return False, True

    async def run(self, inputs: Sequence[Record]) -> None:
        engine = self.engine
        in_attempt = admitted = False
        for index, record in enumerate(inputs):
            if engine.finished or isinstance(self.action, (Finish, Fail)):
                break
            kind = type(record)
            if kind is not AsyncVerdict and kind is not AsyncFailed:
                self._release()
            t: float | None = getattr(record, "now", None)
            if t is None:
                t = getattr(record, "t", None)
            if t is not None:
                self.last = t
            now = self.last
            if kind is Start:
                self._act(engine.start(now), now)
            elif kind is Abort:
                self._act(engine.abort(now), now)
            elif kind is Interrupt:
                engine.interrupt(now)
                self._out(now)
            elif kind is Admit or kind is Begin:
                if not isinstance(self.action, StartAttempt):
                    break
                admitted, in_attempt = self._begin(cast("Admit | Begin", record), admitted)
            elif not in_attempt:
                continue  # the rest of an attempt the engine already ended
            elif self.deadlines and now > self.deadline and kind in (Text, Item, Ended, Failed):
                # A shorter deadline than the recording's: it fires before this arrived.
                self._act(engine.timed_out(self.deadline), self.deadline)
                in_attempt = False
            elif await self._feed(record, now):
                in_attempt = False
            elif self.stopped is not None:
                break
            elif engine.failure is not None:
                upcoming = next((type(r) for r in inputs[index + 1 :] if type(r) is not Wait), None)
                if upcoming is not TakeFailure and upcoming is not Failed:
                    # The engine stops this attempt here, earlier than the recording did.
                    self._release()
                    self._act(engine.take_failure(now), now)
                    in_attempt = False
        self._release()
        action = self.action
        if self.stopped is None and not engine.finished:
            if isinstance(action, StartAttempt):
                self.stopped = (
                    f"the engine would start attempt {action.attempt} of source "
                    f"{action.source_index}, which the recording does not have"
                )
            else:
                self.stopped = "the recording ends before the stream did"

    async def _feed(self, record: Record, now: float) -> bool:
        """Feed one input of the current attempt; True if it ended the attempt."""
        engine = self.engine
        kind = type(record)
        if kind is Ready:
            ready = cast("Ready", record)
            engine.attempt_ready(now, adapter=ready.adapter, stream_type=ready.stream_type,
                                 requires_finish=ready.requires_finish)  # fmt: skip
        elif kind is Wait:
            self.deadline = engine.wait_deadline(now)
        elif kind is Text:
            self.held = (now, [engine.on_text(cast("Text", record).text)], False)
            self.deadline = math.inf
        elif kind is Item:
            events: list[StreamEvent] = []
            outcome = engine.on_item(None, _converter(cast("Item", record)), events)
            self.held = (now, events, outcome is not None)
            self.deadline = math.inf
        elif kind is AsyncVerdict:
            if not self.guard_live:
                verdict = cast("AsyncVerdict", record)
                engine.async_verdict(verdict.found, verdict.calls)
        elif kind is AsyncFailed:
            if not self.guard_live:
                failed = cast("AsyncFailed", record)
                engine.async_failed(raised(failed.raised, failed.kind, failed.said), failed.calls)
        elif kind is TimedOut:
            if self.deadlines and now < self.deadline:
                self.stopped = (
                    "the source was waited for longer than the recording waited for it: what "
                    "it sent after that is not recorded"
                )
                return False
            at = self.deadline if self.deadlines and self.deadline < now else now
            self._act(engine.timed_out(at), at)
            return True
        elif kind is Ended:
            if self.live_async and engine.has_async_rules and engine.failure is None:
                await self._check_async(finish=not engine.truncated)
            self._act(engine.source_ended(now), now)
            return True
        elif kind is TakeFailure:
            if engine.failure is None:
                self.stopped = (
                    "the recorded attempt was stopped by a verdict that does not happen now: "
                    "what the source sent after that is not recorded"
                )
                return False
            self._act(engine.take_failure(now), now)
            return True
        elif kind is Failed:
            error = error_from_record(cast("Failed", record).error)
            self._act(engine.source_failed(error, now), now)
            return True
        if self.live_async and engine.async_due:
            await self._check_async(finish=False)
        self._out(now)
        return False


def _converter(item: Item) -> Callable[[Any], Any]:
    """The adapter's ``convert`` as recorded for ``item``: its chunks, or its error."""
    if item.error is not None:
        error = error_from_record(item.error)

        def fail(_item: Any) -> Any:
            raise error

        return fail
    chunk = decode_chunk(item.chunk)
    return lambda _item: chunk


async def reexecute(header: Header, records: Sequence[Record], **given: Any) -> Replay:
    """Feed ``records`` (a recording's, in order) to a fresh engine (see the module notes)."""
    answers = Answers(records)
    engine = build_engine(header, answers, given)
    checks = engine.checks
    live_async = (
        "guardrails" in given and checks is not None and checks.guardrails is not None
        and bool(getattr(checks.guardrails, "has_async", False))
    )  # fmt: skip
    driver = _Driver(
        engine,
        guard_live="guardrails" in given,
        live_async=live_async,
        deadlines="timeout" in given,
    )
    await driver.run([r for r in records if type(r) in _INPUTS])
    state = engine.state
    return Replay(
        events=driver.events,
        stream_events=driver.stream,
        times=driver.times,
        state=state,
        error=state.error,
        stopped=driver.stopped,
    )
