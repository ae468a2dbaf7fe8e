"""Recording a stream: an engine that logs its inputs, its collaborators' answers and its events.

The runtime builds a :class:`RecordingEngine` instead of an ``Engine`` when a stream has
``record=store``, and a :class:`Recorder` that owns the log. Streams that do not record run
the plain engine: nothing here is on their path.

Logging is synchronous (an append to a list); the store is awaited only when the runtime
delivers the engine's notices and the recorder says a batch is due (at every attempt boundary
and every :data:`BATCH` records), and once more, shielded and bounded, when the stream ends
however it ends. A store that fails is logged and the stream goes on, unrecorded.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import logging
import math
from collections.abc import Callable, Generator, Hashable, Sequence
from typing import TYPE_CHECKING, Any, cast

import anyio
import attrs

from l0._budget import CircuitBreaker, RetryBudget
from l0._config import Retry, RetryContext
from l0._engine import Engine, Notice, StartAttempt
from l0._engine._actions import RuleCall
from l0._engine._checks import Checks
from l0._engine._engine import Action, Fail
from l0._errors import L0Error
from l0._events._stream import StreamEvent, Token
from l0._record._options import describe
from l0._record._schema import (
    Abort,
    Admit,
    AsyncFailed,
    AsyncVerdict,
    Attempt,
    Begin,
    Breaker,
    Budget,
    Clock,
    Drift,
    End,
    Ended,
    Event,
    Failed,
    Guard,
    Header,
    Hook,
    Interrupt,
    Item,
    Ready,
    Record,
    Start,
    TakeFailure,
    Text,
    TimedOut,
    Wait,
    encode_chunk,
    encode_record,
    error_record,
)
from l0._record._store import check_stream_id

if TYPE_CHECKING:
    from l0._events._observability import GuardrailViolation
    from l0._guardrails import DriftResult
    from l0._record._store import Store
    from l0._runtime._options import Options

__all__ = ["BATCH", "Recorder", "RecordingEngine"]

logger = logging.getLogger("l0")

BATCH = 256
"""Records buffered before the recorder asks the runtime to append them to the store."""

_NUDGE = Notice(None, None, ())  # makes the runtime deliver the outbox (and flush) at once


def _l0_version() -> str:
    try:
        return importlib.metadata.version("l0")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - run from a checkout
        return "unknown"


_VERSION: list[str] = []


def l0_version() -> str:
    """This l0's version (looked up once)."""
    if not _VERSION:
        _VERSION.append(_l0_version())
    return _VERSION[0]


# --- collaborators that log their answers ---------------------------------------------------


class _RecordingChecks(Checks):
    """The stream's guardrails and drift detector, logging every verdict they give."""

    __slots__ = ("_log",)

    def __init__(self, checks: Checks, log: list[Record]) -> None:
        super().__init__(checks.guardrails, checks.drift)
        self._log = log

    def feed_guardrails(self, parts: list[str]) -> Sequence[GuardrailViolation] | None:
        if self.guard_checker is None:
            return None
        try:
            found = super().feed_guardrails(parts)
        except Exception as exc:
            self._log.append(
                Guard(op="feed", raised=repr(exc), kind=type(exc).__name__, said=str(exc))
            )
            raise
        if found is not None:
            self._log.append(Guard(op="feed", found=list(found)))
        return found

    def finish_guardrails(self, text: str) -> Sequence[GuardrailViolation]:
        if self.guard_checker is None:
            return ()
        try:
            found = super().finish_guardrails(text)
        except Exception as exc:
            self._log.append(
                Guard(op="finish", raised=repr(exc), kind=type(exc).__name__, said=str(exc))
            )
            raise
        self._log.append(Guard(op="finish", found=list(found)))
        return found

    def feed_drift(self, parts: list[str]) -> DriftResult | None:
        if self.drift_monitor is None:
            return None
        result = super().feed_drift(parts)
        self._log.append(Drift(result=result))
        return result


class _RecordingBudget:
    """A retry budget's answers, logged (the budget itself is shared and goes on)."""

    def __init__(self, budget: RetryBudget, log: list[Record]) -> None:
        self._budget = budget
        self._log = log

    def acquire(self, timeout: bool) -> float | None:
        taken = self._budget.acquire(timeout=timeout)
        self._log.append(Budget(taken=taken))
        return taken

    def release(self, taken: float) -> None:
        self._budget.release(taken)


class _RecordingBreaker:
    """A circuit breaker's answers, logged (the breaker itself is shared and goes on)."""

    def __init__(self, breaker: CircuitBreaker, log: list[Record]) -> None:
        self._breaker = breaker
        self._log = log

    def allow(self, key: Hashable, now: float) -> bool:
        allowed = self._breaker.allow(key, now)
        self._log.append(Breaker(op="allow", value=allowed))
        return allowed

    def state(self, key: Hashable) -> str:
        state = self._breaker.state(key)
        self._log.append(Breaker(op="state", value=state))
        return state

    def failure(self, key: Hashable, now: float) -> bool:
        return self._breaker.failure(key, now)

    def release(self, key: Hashable) -> None:
        self._breaker.release(key)

    def success(self, key: Hashable) -> None:
        self._breaker.success(key)


def _logged_retry(retry: Retry, log: list[Record]) -> Retry:
    """``retry`` with its hooks logging what they return."""
    should, delay = retry.should_retry, retry.calculate_delay
    if should is None and delay is None:
        return retry

    def should_retry(ctx: RetryContext) -> bool | None:
        assert should is not None
        verdict = should(ctx)
        value = None if verdict is None else bool(verdict)
        log.append(Hook(name="should_retry", value=value))
        return value

    def calculate_delay(ctx: RetryContext) -> float | None:
        assert delay is not None
        custom = delay(ctx)
        value = None if custom is None else float(custom)
        log.append(Hook(name="calculate_delay", value=value))
        return value

    return attrs.evolve(
        retry,
        should_retry=should_retry if should is not None else None,
        calculate_delay=calculate_delay if delay is not None else None,
    )


# --- the engine -----------------------------------------------------------------------------


def _reraise(exc: Exception) -> Callable[[Any], Any]:
    def convert(_item: Any) -> Any:
        raise exc

    return convert


class RecordingEngine(Engine):
    """An :class:`Engine` that logs every call the runtime makes on it, with its arguments,
    and the events it emits (see :class:`Recorder`). Calls the engine makes on itself (an
    ``on_text`` inside ``on_item``) are not inputs and are not logged."""

    recorder: Recorder
    _depth: int = 0
    interrupted: bool = False
    """``interrupt`` was called: the consumer stopped without an outcome."""
    started: bool = False
    """``start`` was called: there is something to record."""

    @contextlib.contextmanager
    def _input(self, record: Record, *, boundary: bool = False) -> Generator[None, None, None]:
        if self._depth:
            yield
            return
        recorder = self.recorder
        recorder.log.append(record)
        self._depth = 1
        try:
            yield
        finally:
            self._depth = 0
            recorder.collect(self, boundary=boundary)

    # -- inputs ---------------------------------------------------------------------------

    def start(self, now: float) -> StartAttempt:
        self.started = True
        self.recorder.header(self, now)
        with self._input(Start(now=now), boundary=True):
            return super().start(now)

    def admit(self, now: float, action: StartAttempt) -> Action | None:
        with self._input(Admit(now=now, action=Attempt.of(action))):
            return super().admit(now, action)

    def begin_attempt(self, now: float, action: StartAttempt) -> None:
        with self._input(Begin(now=now, action=Attempt.of(action)), boundary=True):
            super().begin_attempt(now, action)

    def attempt_ready(
        self, now: float, *, adapter: str, stream_type: str, requires_finish: bool
    ) -> None:
        record = Ready(
            now=now, adapter=adapter, stream_type=stream_type, requires_finish=requires_finish
        )
        with self._input(record):
            super().attempt_ready(
                now, adapter=adapter, stream_type=stream_type, requires_finish=requires_finish
            )

    def on_text(self, text: str) -> Token:
        if self._depth:
            return super().on_text(text)
        recorder = self.recorder
        log = recorder.log
        log.append(Text(t=recorder.now(), text=text))
        self._depth = 1
        try:
            return super().on_text(text)
        finally:
            self._depth = 0
            if self.outbox or len(log) >= BATCH:
                recorder.collect(self)

    def on_item(
        self, item: Any, convert: Callable[[Any], Any], events: list[StreamEvent]
    ) -> L0Error | None:
        if self._depth:
            return super().on_item(item, convert, events)
        recorder = self.recorder
        log = recorder.log
        t = recorder.now()
        self._depth = 1
        try:
            try:
                converted = convert(item)
            except Exception as exc:
                error = super().on_item(item, _reraise(exc), events)
                assert error is not None
                log.append(Item(t=t, error=error_record(error)))
                return error
            log.append(Item(t=t, chunk=encode_chunk(converted)))
            return super().on_item(item, lambda _item: converted, events)
        finally:
            self._depth = 0
            recorder.collect(self)

    def wait_deadline(self, now: float) -> float:
        with self._input(Wait(now=now)):
            return super().wait_deadline(now)

    def timed_out(self, now: float) -> Action:
        with self._input(TimedOut(now=now), boundary=True):
            return super().timed_out(now)

    def source_ended(self, now: float) -> Action:
        with self._input(Ended(now=now), boundary=True):
            return super().source_ended(now)

    def take_failure(self, now: float) -> Action:
        with self._input(TakeFailure(now=now), boundary=True):
            return super().take_failure(now)

    def source_failed(self, error: L0Error, now: float) -> Action:
        with self._input(Failed(now=now, error=error_record(error)), boundary=True):
            return super().source_failed(error, now)

    def abort(self, now: float) -> Fail:
        with self._input(Abort(now=now), boundary=True):
            return super().abort(now)

    def interrupt(self, now: float) -> None:
        self.interrupted = True
        with self._input(Interrupt(now=now), boundary=True):
            super().interrupt(now)

    def async_verdict(
        self, found: Sequence[GuardrailViolation], calls: Sequence[RuleCall] = ()
    ) -> None:
        with self._input(AsyncVerdict(found=list(found), calls=list(calls))):
            super().async_verdict(found, calls)

    def async_failed(self, exc: Exception, calls: Sequence[RuleCall] = ()) -> None:
        record = AsyncFailed(
            raised=repr(exc), calls=list(calls), kind=type(exc).__name__, said=str(exc)
        )
        with self._input(record):
            super().async_failed(exc, calls)


# --- the recorder ---------------------------------------------------------------------------


class Recorder:
    """The log of one recording stream, and its trips to the store.

    Built by the runtime right after the :class:`RecordingEngine` (before ``start``): it
    wraps the engine's clock, guardrail checks, retry budget, circuit breaker and retry hooks
    so their answers are logged, and makes the engine build its observability events even if
    nobody else listens.
    """

    def __init__(self, store: Store, engine: Engine, *, seed: int, options: Options) -> None:
        if not isinstance(engine, RecordingEngine):
            raise TypeError("a Recorder needs a RecordingEngine")
        self.store = store
        self.stream_id: str = check_stream_id(engine.stream_id)
        self.engine = engine
        self.log: list[Record] = []
        """Records not yet appended to the store (one list for the stream's life)."""
        self.due = False
        """A batch should go to the store at the runtime's next flush."""
        self.broken = False
        self.closed = False
        self._seed = seed
        self._options = describe(engine, options)
        self._outbox: list[Notice] | None = None
        self._seen = 0
        self._announced = False
        self._created = 0.0
        self._clock: Callable[[], float] = engine.clock or anyio.current_time
        log = self.log
        engine.recorder = self
        engine.observed = True
        raw = self._clock

        def clock() -> float:
            value = raw()
            log.append(Clock(value=value))
            return value

        engine.clock = clock
        if engine.checks is not None:
            engine.checks = _RecordingChecks(engine.checks, log)
        if engine.budget is not None:
            engine.budget = cast("RetryBudget", _RecordingBudget(engine.budget, log))
        if engine.breaker is not None:
            engine.breaker = cast("CircuitBreaker", _RecordingBreaker(engine.breaker, log))
        engine.retry = _logged_retry(engine.retry, log)

    def now(self) -> float:
        """The runtime's clock (for the arrival time of content)."""
        return self._clock()

    def header(self, engine: Engine, now: float) -> None:
        """Log the header (at ``start``, once ``wall_offset`` and ``outer_deadline`` are set)."""
        self._created = engine.wall_offset + now
        deadline = engine.outer_deadline
        self.log.append(
            Header(
                stream_id=self.stream_id,
                seed=self._seed,
                created=self._created,
                wall_offset=engine.wall_offset,
                outer_deadline=deadline if math.isfinite(deadline) else None,
                sources=engine.sources,
                zero_backoff=engine.zero_backoff,
                options=self._options,
                l0_version=l0_version(),
            )
        )

    def collect(self, engine: Engine, *, boundary: bool = False) -> None:
        """Log the events the engine queued since the last look; mark a batch due at an
        attempt boundary or once :data:`BATCH` records wait (and make sure the runtime looks
        at the outbox, so it flushes)."""
        out = engine.outbox
        if out is not self._outbox:
            self._outbox = out
            self._seen = 0
        if len(out) > self._seen:
            log = self.log
            for notice in out[self._seen :]:
                if notice.event is not None:
                    log.append(Event(event=notice.event))  # pyright: ignore[reportArgumentType]
        if boundary or len(self.log) >= BATCH:
            self.due = True
            if not out:
                out.append(_NUDGE)
        self._seen = len(out)

    async def flush(self) -> None:
        """Append the waiting records to the store (the runtime calls this when :attr:`due`)."""
        self.due = False
        log = self.log
        if not log:
            return
        batch = list(log)
        log.clear()
        if self.broken:
            return
        try:
            data = [encode_record(record) for record in batch]
            if not self._announced:
                await self.store.set_meta(
                    self.stream_id,
                    {"status": "recording", "seed": self._seed, "started": self._created},
                )
                self._announced = True
            await self.store.append(self.stream_id, data)
        except Exception:
            self.broken = True
            logger.exception(
                "l0: recording stream %s to %r failed; the stream goes on unrecorded",
                self.stream_id,
                self.store,
            )
        except BaseException:
            # Cancelled while the store worked: keep the batch for the final flush, which
            # the runtime makes shielded (a store that had written it writes it twice).
            log[:0] = batch
            raise

    def _status(self) -> str:
        engine = self.engine
        state = engine.state
        if engine.interrupted:
            return "interrupted"
        if state.completed:
            return "completed"
        if state.aborted:
            return "aborted"
        return "failed" if engine.finished else "unfinished"

    async def aclose(self) -> None:
        """The stream ended (however): log the end record and flush (idempotent). The runtime
        calls this shielded and bounded."""
        if self.closed:
            return
        self.closed = True
        engine = self.engine
        if not engine.started:
            return  # the stream never started: there is nothing to record
        status = self._status()
        error = engine.state.error
        self.log.append(
            End(
                now=self._clock(),
                status=status,  # pyright: ignore[reportArgumentType]
                state=engine.state.snapshot(),
                error=error_record(error) if error is not None else None,
            )
        )
        await self.flush()
        if not self.broken:
            try:
                await self.store.set_meta(self.stream_id, {"status": status})
            except Exception:
                logger.exception("l0: recording stream %s: final metadata failed", self.stream_id)
