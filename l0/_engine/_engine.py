"""The lifecycle engine: a synchronous, deterministic state machine with no I/O.

The runtime feeds it inputs (attempt began, content, a read started waiting, deadline reached,
source ended, source failed, abort) together with the time ``now`` read from anyio's clock, and
acts on what it returns: an :class:`Action` saying what to do next, plus the observability events
and callback invocations queued in :attr:`Engine.outbox`, plus stream events queued in
:attr:`Engine.pending` for the consumer. It reads no clock of its own (the one it may be given is
read once per attempt, at its first content, for the time to first token), never draws
randomness except from the RNG it is given, and never awaits, so the same inputs always give
the same outputs.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from typing import Any, Literal, cast

import attrs

from l0._config import Retry, RetryContext, Timeout
from l0._context import FrozenDict
from l0._engine._checks import Checks
from l0._engine._classify import classify
from l0._engine._continuation import ContinuationConfig, Deduper
from l0._engine._tools import ToolAssembler
from l0._errors import (
    AllStreamsExhausted,
    DriftDetected,
    ErrorCode,
    GuardrailViolationError,
    InvalidStream,
    L0Error,
    SourceError,
    StreamAborted,
    StreamTimeout,
    StreamTruncated,
    ZeroOutput,
)
from l0._events import _observability as obs
from l0._events._observability import GuardrailViolation
from l0._events._stream import (
    Complete,
    Data,
    ErrorEvent,
    Message,
    Progress,
    Reset,
    StreamEvent,
    Token,
    ToolCall,
)
from l0._state import State
from l0.adapters._base import Fault, ToolCallDelta, Usage
from l0.adapters._base import Finish as Finish_

__all__ = ["Engine", "Fail", "Finish", "Notice", "StartAttempt"]

_INF = math.inf
_NEVER = 1 << 62  # a token count no stream reaches
# Failures that no retry or fallback can mend: stop at once and raise them as they are.
_FATAL_CODES = frozenset(
    {
        ErrorCode.FATAL_GUARDRAIL_VIOLATION,
        ErrorCode.TOTAL_TIMEOUT,
        ErrorCode.STREAM_ABORTED,
        ErrorCode.INVALID_STREAM,
        ErrorCode.ADAPTER_NOT_FOUND,
        ErrorCode.INVALID_CONFIG,
    }
)
_REASON_TEXT: dict[str, str] = {
    "zero_output": "Zero output",
    "guardrail_violation": "Guardrail violation",
    "drift": "Drift detected",
    "incomplete": "Stream truncated",
    "network_error": "Network error",
    "timeout": "Timeout",
    "rate_limit": "Rate limited",
    "server_error": "Server error",
    "unknown": "Stream error",
}


class Notice:
    """One queued output: an observability event and/or a callback invocation."""

    __slots__ = ("args", "callback", "event")

    def __init__(
        self, event: obs.ObservabilityEvent | None, callback: str | None, args: tuple[Any, ...]
    ) -> None:
        self.event = event
        self.callback = callback
        self.args = args

    def __repr__(self) -> str:
        return f"Notice({self.event!r}, {self.callback!r}, {self.args!r})"


@attrs.frozen
class StartAttempt:
    """Start attempt ``attempt`` of source ``source_index`` after sleeping ``delay`` seconds."""

    source_index: int
    attempt: int
    delay: float
    is_retry: bool
    is_fallback: bool


@attrs.frozen
class Finish:
    """The stream completed; deliver ``event`` and stop."""

    event: Complete


@attrs.frozen
class Fail:
    """The stream failed for good; raise ``error``."""

    error: L0Error


Action = StartAttempt | Finish | Fail


class Engine:
    """The lifecycle of one stream across its attempts, sources and deadlines."""

    def __init__(
        self,
        *,
        sources: int,
        retry: Retry,
        timeout: Timeout,
        rng: random.Random,
        stream_id: str,
        context: FrozenDict | None = None,
        wall_offset: float = 0.0,
        observed: bool = True,
        zero_backoff: bool = False,
        outer_deadline: float = _INF,
        continuation: ContinuationConfig | None = None,
        checkpoint_every: int = 10,
        checkpoint_text: bool = False,
        checks: Checks | None = None,
        guardrails_every: int = 5,
        drift_every: int = 10,
        clock: Callable[[], float] | None = None,
    ) -> None:
        if sources < 1:
            raise ValueError("an engine needs at least one source")
        self.sources = sources
        self.retry = retry
        self.timeout = timeout
        self.rng = rng
        self.stream_id = stream_id
        self.context = context
        self.wall_offset = wall_offset
        self.observed = observed
        self.zero_backoff = zero_backoff
        self.outer_deadline = outer_deadline
        self.clock = clock
        """Read once per attempt, at its first content (``state.time_to_first_token``)."""
        self.continuation = continuation
        self._checkpoint_every = checkpoint_every
        self._checkpoint_text = checkpoint_text  # on_checkpoint wants the whole text each time
        self.checks = checks
        self._guard_every = guardrails_every if checks and checks.guardrails else _NEVER
        self._drift_every = drift_every if checks and checks.drift else _NEVER
        self._ckpt_every = checkpoint_every if continuation is not None else _NEVER
        self._next_guard = self._next_drift = self._next_ckpt = 0
        self._next_check = _NEVER
        self.failure: L0Error | None = None
        """An attempt failure found on the token path (a guardrail or drift verdict): the
        runtime ends the attempt with it after delivering the engine's notices."""
        self._checkpoint_parts = 0  # parts of the output already in the checkpoint
        self._checkpoints = 0
        self._resume = False  # the next attempt continues the checkpoint
        self.resuming = False
        """The current attempt continues the checkpoint (its repeat of it is removed)."""
        self._dedupe: Deduper | None = None
        self.state = State()
        self.outbox: list[Notice] = []
        self.pending: list[StreamEvent] = []
        self.source_index = 0
        self.attempt = 1
        self.adapter: str | None = None
        self.finished = False
        self._last_ts = 0.0
        self._now = 0.0
        self._start_ts = 0.0
        self._total_deadline = _INF
        self._attempt_start = 0.0
        self._initial_deadline = _INF
        self._has_output = False
        self._other_content = 0
        self._tools = ToolAssembler()
        self._stall_mark = -1
        self._stall_since = 0.0
        self._requires_finish = False
        self._emitted = False
        self._model_retries: int = 0
        self._network_retries: int = 0
        self._retried = False
        self._fell_back = False
        self._down_since: float | None = None
        self._down_attempts = 0

    # -- emission -------------------------------------------------------------------------

    def _ts(self) -> float:
        ts = self.wall_offset + self._now
        ts = max(ts, self._last_ts)
        self._last_ts = ts
        return ts

    def _emit(
        self,
        cls: Callable[..., obs.ObservabilityEvent],
        callback: str | None = None,
        args: tuple[Any, ...] = (),
        **fields: Any,
    ) -> None:
        if not self.observed:
            # Nobody listens to events: build none; a callback is still called.
            if callback is not None:
                self.outbox.append(Notice(None, callback, args))
            return
        event = cls(ts=self._ts(), stream_id=self.stream_id, context=self.context, **fields)
        self.outbox.append(Notice(event, callback, args))

    def _call(self, callback: str, *args: Any) -> None:
        self.outbox.append(Notice(None, callback, args))

    # -- session --------------------------------------------------------------------------

    def start(self, now: float) -> StartAttempt:
        """The stream begins: the first attempt of the first source starts now."""
        self._now = now
        self._start_ts = self._ts()
        if self.timeout.total is not None:
            self._total_deadline = now + self.timeout.total
        self._emit(obs.SessionStart, "on_start", (1, False, False), attempt=1, is_retry=False,
                   is_fallback=False)  # fmt: skip
        self._emit(obs.StreamInit)
        return StartAttempt(0, 1, 0.0, is_retry=False, is_fallback=False)

    def begin_attempt(self, now: float, action: StartAttempt) -> None:
        """The attempt of ``action`` starts now (after its backoff); the factory is called next."""
        self._now = now
        self.source_index = action.source_index
        self.attempt = action.attempt
        self.state.attempt = action.attempt
        self.state.fallback_index = action.source_index
        if action.is_retry:
            self._emit(obs.AttemptStart, "on_start", (action.attempt, True, False),
                       attempt=action.attempt, is_retry=True, is_fallback=False)  # fmt: skip
        self._attempt_start = now
        self._has_output = False
        self._other_content = 0
        self._tools = ToolAssembler()
        self._stall_mark = -1
        self._emitted = False
        self._requires_finish = False
        self.adapter = None
        initial = self.timeout.initial_token
        self._initial_deadline = now + initial if initial is not None else _INF
        if initial is not None:
            self._emit(obs.TimeoutStart, timeout_type="initial", configured_ms=initial * 1000)
        self.resuming = self._resume
        self._resume = False
        self._dedupe = None
        self.failure = None
        if self.checks is not None:
            self.checks.start_attempt()
        self._schedule(self.state.token_count)
        if self.resuming:
            assert self.continuation is not None
            state = self.state
            checkpoint = state.checkpoint
            self._dedupe = Deduper(checkpoint, self.continuation)
            self._checkpoint_parts = len(state._parts)  # pyright: ignore[reportPrivateUsage]
            self._emit(obs.ContinuationStart, checkpoint=checkpoint,
                       token_count=state.token_count)  # fmt: skip
            self._emit(obs.ResumeStart, "on_resume", (checkpoint, state.token_count),
                       checkpoint=checkpoint, token_count=state.token_count)  # fmt: skip

    def attempt_ready(
        self, now: float, *, adapter: str, stream_type: str, requires_finish: bool
    ) -> None:
        """The factory returned a stream and ``adapter`` will read it."""
        self._now = now
        self.adapter = adapter
        self._requires_finish = requires_finish
        self._emit(obs.AdapterWrapStart, stream_type=stream_type)
        self._emit(obs.AdapterDetected, adapter_id=adapter)
        self._emit(obs.AdapterWrapEnd, adapter_id=adapter)
        self._emit(obs.StreamReady)

    # -- content (the token path) ---------------------------------------------------------

    def on_item(
        self, item: Any, convert: Callable[[Any], Any], events: list[StreamEvent]
    ) -> L0Error | None:
        """A raw item arrived that the adapter must convert; its events go to ``events``.

        Returns the error that ends the attempt (an in-band fault, or a conversion failure).
        Plain text deltas of ``text_items`` adapters skip this and go to :meth:`on_text`.
        """
        try:
            converted = convert(item)
        except L0Error as exc:
            return exc
        except Exception as exc:
            fault = classify(exc)
            fault.__cause__ = exc
            return fault
        return self._chunks(converted, events)

    def _chunks(self, converted: Any, events: list[StreamEvent]) -> L0Error | None:
        if converted is None:
            return None
        chunks: Sequence[Any] = (
            cast("Sequence[Any]", converted)
            if isinstance(converted, (list, tuple))
            else (converted,)
        )
        for chunk in chunks:
            if isinstance(chunk, str):
                if chunk and self._dedupe is not None:
                    chunk = self._dedupe.feed(chunk)  # noqa: PLW2901 - what is left of it
                    self._other_content += 1  # content arrived, even if held back
                    if self._dedupe.done:
                        self._dedupe = None
                if chunk:
                    events.append(self.on_text(chunk))
            elif isinstance(chunk, StreamEvent):
                event = self.on_event(chunk)
                if event is not None:
                    events.append(event)
            elif isinstance(chunk, ToolCallDelta):
                self._tools.add(chunk)
                self._other_content += 1
                if not self._has_output:
                    self._first_output()
            elif isinstance(chunk, Finish_):
                self.state.finish_reason = chunk.reason or "stop"
                if self._tools:
                    error = self._deliver_tool_calls(events)
                    if error is not None:
                        return error
            elif isinstance(chunk, Usage):
                self.state.usage = {
                    "input_tokens": chunk.input_tokens,
                    "output_tokens": chunk.output_tokens,
                    "total_tokens": chunk.total_tokens,
                }
            elif isinstance(chunk, Fault):
                return chunk.error
            else:
                return InvalidStream(
                    f"adapter produced a {type(chunk).__name__}, which is not an l0 chunk"
                )
        return None

    def on_text(self, text: str) -> Token:
        """A non-empty text delta arrived."""
        state = self.state
        state._parts.append(text)  # pyright: ignore[reportPrivateUsage]
        state.length += len(text)
        state.token_count += 1
        if not self._has_output and not text.isspace():
            self._first_output()
        if state.token_count >= self._next_check:
            self._periodic()
        return Token(value=text)

    def on_event(self, event: StreamEvent) -> StreamEvent | None:
        """A non-text chunk arrived; returns what to deliver to the consumer, if anything."""
        state = self.state
        if isinstance(event, Token):
            return self.on_text(event.value) if event.value else None
        if isinstance(event, Progress):
            state.progress = event
            return event
        if isinstance(event, Message):
            if event.content:
                state.add(event.content)
        elif isinstance(event, ToolCall):
            state.tool_calls.append(event)
            self._emit(obs.ToolRequested, "on_tool_call", (event.name, event.id, event.arguments),
                       tool_name=event.name, tool_call_id=event.id,
                       arguments=event.arguments)  # fmt: skip
        elif isinstance(event, Data):
            state.data.append(event)
        else:
            # Reset, ErrorEvent and Complete are l0's own verdicts: a source cannot send them.
            return None
        self._other_content += 1
        if not self._has_output:
            self._first_output()
        return event

    def _schedule(self, base: int) -> None:
        """Next check points counted from ``base`` tokens (a new attempt's start)."""
        self._next_guard = base + self._guard_every
        self._next_drift = base + self._drift_every
        self._next_ckpt = base + self._ckpt_every
        self._next_check = min(self._next_guard, self._next_drift, self._next_ckpt)

    def _periodic(self) -> None:
        """Every few tokens: streaming guardrails, drift, checkpoint (``CheckIntervals``)."""
        n = self.state.token_count
        if n >= self._next_guard:
            self._next_guard = n + self._guard_every
            self._check_guardrails()
        if n >= self._next_drift and self.failure is None:
            self._next_drift = n + self._drift_every
            self._check_drift()
        if n >= self._next_ckpt and self.failure is None:
            self._next_ckpt = n + self._ckpt_every
            self._save_checkpoint()
        self._next_check = min(self._next_guard, self._next_drift, self._next_ckpt)

    def _fail_now(self, error: L0Error) -> None:
        if self.failure is None:
            self.failure = error
            self.outbox.append(Notice(None, None, ()))  # makes the runtime look at once

    def _check_guardrails(self) -> bool:
        """Feed the streaming guardrails what they have not seen; False if that failed."""
        checks = self.checks
        if checks is None or checks.guard_checker is None:
            return True
        try:
            found = checks.feed_guardrails(self.state._parts)  # pyright: ignore[reportPrivateUsage]
        except Exception as exc:  # a user's rule raised
            error = SourceError(f"a guardrail rule raised: {exc!r}")
            error.__cause__ = exc
            self._fail_now(error)
            return False
        return self._judge(found)

    def _judge(self, found: Sequence[GuardrailViolation]) -> bool:
        """Record violations (events, on_violation); fail on error/fatal ones. True if none
        of them fails the attempt."""
        if not found:
            return True
        state = self.state
        count = len(self.checks.guardrails or ()) if self.checks else 0
        self._emit(obs.GuardrailPhaseStart, phase="post", rule_count=count)
        failing: list[GuardrailViolation] = []
        fatal = False
        for index, violation in enumerate(found):
            state.violations.append(violation)
            self._emit(obs.GuardrailRuleResult, "on_violation", (violation,), index=index,
                       rule_id=violation.rule_id, passed=False, violation=violation)  # fmt: skip
            if violation.severity == "fatal" or (
                violation.severity == "error" and not violation.recoverable
            ):
                fatal = True
                failing.append(violation)
            elif violation.severity == "error":
                failing.append(violation)
        self._emit(obs.GuardrailPhaseEnd, phase="post", passed=not failing,
                   violations=list(found), duration_ms=0.0)  # fmt: skip
        if not failing:
            return True
        first = failing[0]
        self._fail_now(
            GuardrailViolationError(
                f"guardrail {first.rule_id!r}: {first.message}", fatal=fatal, violations=failing
            )
        )
        return False

    def _check_drift(self) -> None:
        checks = self.checks
        if checks is None or checks.drift_monitor is None:
            return
        result = checks.feed_drift(self.state._parts)  # pyright: ignore[reportPrivateUsage]
        if result is None:
            return
        if not result.detected:
            if self.observed:
                self._emit(obs.DriftCheckResult, detected=False, score=result.score,
                           metrics=dict(result.details), threshold=result.threshold)  # fmt: skip
            return
        state = self.state
        state.drift_detected = True
        self._emit(obs.DriftCheckResult, "on_drift", (list(result.types), result.confidence),
                   detected=True, score=result.score, metrics=dict(result.details),
                   threshold=result.threshold)  # fmt: skip
        action = checks.drift_monitor.action
        if action != "record":
            error = DriftDetected(
                f"the output drifted ({', '.join(result.types)}; confidence "
                f"{result.confidence:.2f})",
                retryable=action == "retry",
                metadata={"types": list(result.types), "halt": action == "halt"},
            )
            self._fail_now(error)

    def _save_checkpoint(self) -> None:
        """The output so far becomes the checkpoint. The event carries only what was added
        since the previous one (``offset``/``length`` place it), so saving is linear overall."""
        if not self._check_guardrails():
            return
        state = self.state
        parts = state._parts  # pyright: ignore[reportPrivateUsage]
        if self._checkpoint_parts >= len(parts):
            return
        delta = "".join(parts[self._checkpoint_parts :])
        self._checkpoint_parts = len(parts)
        offset = state.checkpoint_length
        state.checkpoint_length = state.length
        self._checkpoints += 1
        text = state.checkpoint if self._checkpoint_text else delta
        self._emit(obs.CheckpointSaved, "on_checkpoint", (text, state.token_count),
                   checkpoint=delta, token_count=state.token_count, offset=offset,
                   length=state.checkpoint_length)  # fmt: skip

    def _first_output(self) -> None:
        self._has_output = True
        if self.clock is not None:
            self._now = max(self._now, self.clock())
        self.state.time_to_first_token = self._now - self._attempt_start
        if self._down_since is not None:
            duration_ms = (self._now - self._down_since) * 1000
            self._emit(obs.NetworkRecovery, attempt_count=self._down_attempts,
                       duration_ms=duration_ms)  # fmt: skip
            self._emit(obs.ConnectionRestored, duration_ms=duration_ms)
            self._down_since = None
            self._down_attempts = 0

    @property
    def content_seen(self) -> int:
        """How many content events the current attempt has had."""
        return self.state.token_count + self._other_content

    # -- deadlines ------------------------------------------------------------------------

    def wait_deadline(self, now: float) -> float:
        """A read is about to wait; returns the absolute deadline for that wait."""
        self._now = now
        seen = self.state.token_count + self._other_content
        if seen == 0:
            deadline = self._initial_deadline
        else:
            inter = self.timeout.inter_token
            if inter is None:
                deadline = _INF
            else:
                if self._stall_mark != seen:
                    # New content since the timer was last armed: the stall clock restarts.
                    if self.observed:
                        if self._stall_mark < 0:
                            self._emit(obs.TimeoutStart, timeout_type="inter",
                                       configured_ms=inter * 1000)  # fmt: skip
                        else:
                            self._emit(obs.TimeoutReset, timeout_type="inter",
                                       configured_ms=inter * 1000, token_index=seen)  # fmt: skip
                    self._stall_mark = seen
                    self._stall_since = now
                deadline = self._stall_since + inter
        total = self._total_deadline
        return total if total < deadline else deadline

    def timed_out(self, now: float) -> Action:
        """The current wait reached its deadline."""
        self._now = now
        if now >= self._total_deadline:
            assert self.timeout.total is not None
            return self._fail(
                StreamTimeout("total", now - (self._total_deadline - self.timeout.total),
                              self.timeout.total), now)  # fmt: skip
        if self.content_seen == 0:
            limit = self.timeout.initial_token
            kind: Literal["initial", "inter"] = "initial"
            elapsed = now - self._attempt_start
        else:
            limit = self.timeout.inter_token
            kind = "inter"
            elapsed = now - self._stall_since
        assert limit is not None
        self._emit(obs.TimeoutTriggered, "on_timeout", (kind, elapsed), timeout_type=kind,
                   elapsed_ms=elapsed * 1000, configured_ms=limit * 1000)  # fmt: skip
        return self._fail(StreamTimeout(kind, elapsed, limit), now)

    # -- endings --------------------------------------------------------------------------

    def _deliver_tool_calls(self, events: list[StreamEvent]) -> L0Error | None:
        """The assembled tool calls, whole, once the output is complete; or the error of the
        first one that cannot be delivered (then none is)."""
        calls = self._tools.take()
        for call in calls:
            if isinstance(call, L0Error):
                call_id = str(call.metadata.get("tool_call_id", ""))
                self._emit(obs.ToolError, tool_call_id=call_id, error=call.message,
                           duration_ms=0.0)  # fmt: skip
                self._emit(obs.ToolCompleted, tool_call_id=call_id, status="error")
                return call
        for call in calls:
            event = self.on_event(cast("ToolCall", call))
            if event is not None:
                events.append(event)
        return None

    def source_ended(self, now: float) -> Action:
        """The source's iterator finished."""
        self._now = now
        if self._dedupe is not None:
            rest = self._dedupe.finish()
            self._dedupe = None
            if rest:
                self.pending.append(self.on_text(rest))
        if self._tools:
            error = self._deliver_tool_calls(self.pending)
            if error is not None:
                return self._fail(error, now)
        checks = self.checks
        truncated = self._requires_finish and self.state.finish_reason is None
        if checks is not None and checks.guard_checker is not None and self.failure is None:
            self._check_guardrails()
            if self.failure is None and not truncated:
                try:
                    found = checks.finish_guardrails(self.state.content)
                except Exception as exc:  # a user's rule raised
                    error = SourceError(f"a guardrail rule raised: {exc!r}")
                    error.__cause__ = exc
                    self._fail_now(error)
                else:
                    self._judge(found)
        if self.failure is not None:
            return self.take_failure(now)
        if not self._has_output and not (self.resuming and self.state.length):
            return self._fail(ZeroOutput("the model returned no output"), now)
        if self._requires_finish and self.state.finish_reason is None:
            return self._fail(
                StreamTruncated("the stream ended without a finish reason (truncated)"), now
            )
        return self._complete()

    def take_failure(self, now: float) -> Action:
        """End the attempt with the failure found on the token path (see :attr:`failure`)."""
        error = self.failure
        assert error is not None
        return self._fail(error, now)

    def source_failed(self, error: L0Error, now: float) -> Action:
        """The factory, adapter or iterator raised; ``error`` is already classified."""
        return self._fail(error, now)

    def abort(self, now: float) -> Fail:
        """The user aborted the stream."""
        self._now = now
        state = self.state
        state.aborted = True
        error = StreamAborted("the stream was aborted")
        self._stamp(error)
        state.error = error
        self._emit(obs.AbortRequested, source="user")
        self._end_session()
        self._emit(obs.AbortCompleted, "on_abort", (state.token_count, state.content_length),
                   token_count=state.token_count, content_length=state.content_length)  # fmt: skip
        return Fail(error)

    def interrupt(self, now: float) -> None:
        """The consumer stopped without an outcome (cancelled, closed early, dropped): end the
        session as aborted, so observers see every stream end."""
        if self.finished:
            return
        self._now = now
        state = self.state
        self._emit(obs.AbortRequested, source="user")
        self._end_session()
        self._emit(obs.AbortCompleted, token_count=state.token_count,
                   content_length=state.content_length)  # fmt: skip

    def _complete(self) -> Finish:
        state = self.state
        state.completed = True
        if self._retried:
            self._emit(obs.RetryEnd, attempt=self.attempt, success=True)
        if self._fell_back:
            self._emit(obs.FallbackEnd, success=True, final_index=self.source_index)
        self._end_session()
        self._emit(obs.Complete, "on_complete", (state,), token_count=state.token_count,
                   content_length=state.content_length, state=state.snapshot())  # fmt: skip
        return Finish(Complete(state=state))

    def _end_session(self) -> None:
        self.finished = True
        state = self.state
        self._emit(obs.SessionSummary, token_count=state.token_count, start_ts=self._start_ts,
                   end_ts=self._ts(), drift_detected=state.drift_detected,
                   guardrail_violations=len(state.violations), fallback_depth=self.source_index,
                   retry_count=state.retry_count,
                   checkpoints_created=self._checkpoints)  # fmt: skip
        self._emit(obs.SessionEnd)

    # -- failure and recovery -------------------------------------------------------------

    def _stamp(self, error: L0Error) -> None:
        state = self.state
        error.attempt = self.attempt
        error.source_index = self.source_index
        error.adapter = self.adapter
        error.checkpoint = state.checkpoint or None
        error.token_count = state.token_count
        error.content_length = state.content_length
        error.model_retry_count = state.model_retry_count
        error.network_retry_count = state.network_retry_count
        error.fallback_index = self.source_index
        error.context = self.context

    def _retry_delay(self, error: L0Error, ctx: RetryContext) -> float:
        if self.zero_backoff:
            return 0.0
        delay = ctx.default_delay
        if self.retry.calculate_delay is not None:
            custom = self.retry.calculate_delay(ctx)
            if custom is not None:
                delay = max(0.0, float(custom))
        if error.retry_after is not None:
            delay = max(delay, min(error.retry_after, self.retry.max_retry_after))
        return delay

    def _fail(self, error: L0Error, now: float) -> Action:
        self._now = now
        state = self.state
        retry = self.retry
        self._stamp(error)
        state.errors.append(error)
        fatal = error.code in _FATAL_CODES or error.metadata.get("halt") is True
        counts = error.counts_toward_limit
        reason = _REASON_TEXT.get(error.retry_reason, "Stream error")

        will_retry = False
        exhausted = False
        delay = 0.0
        if not fatal and error.retryable and error.retry_reason in retry.retry_on:
            within = (self._model_retries < retry.attempts) if counts else True
            within = within and self._model_retries + self._network_retries < retry.max_retries
            ctx = RetryContext(
                error=error,
                retry=self._model_retries + self._network_retries + 1,
                attempt=self.attempt,
                source_index=self.source_index,
                model_retries=self._model_retries,
                network_retries=self._network_retries,
                default_delay=retry.backoff(
                    self._model_retries + self._network_retries + 1, self.rng
                ),
            )
            if within and retry.should_retry is not None:
                verdict = retry.should_retry(ctx)
                if verdict is not None:
                    within = bool(verdict)
            exhausted = not within
            if within:
                delay = self._retry_delay(error, ctx)
                # Backoff never sleeps past the stream's or the caller's deadline.
                will_retry = now + delay < min(self._total_deadline, self.outer_deadline)
        past_deadline = now >= self._total_deadline or now >= self.outer_deadline
        will_fallback = (
            not will_retry
            and not fatal
            and not past_deadline
            and self.source_index + 1 < self.sources
        )
        strategy: obs.RecoveryStrategy = (
            "retry" if will_retry else "fallback" if will_fallback else "halt"
        )
        policy = {
            "retryEnabled": retry.attempts > 0 or retry.max_retries > 0,
            "fallbackEnabled": self.sources > 1,
            "maxRetries": retry.max_retries,
            "maxAttempts": retry.attempts,
            "attempt": self.attempt,
            "fallbackIndex": self.source_index,
        }
        error_event = obs.Error(
            ts=self._ts(), stream_id=self.stream_id, context=self.context, error=error.message,
            error_code=error.code.value, failure_type=error.failure_type,
            recovery_strategy=strategy, policy=policy,
        )  # fmt: skip
        if strategy != "halt":
            self.outbox.append(Notice(error_event, "on_error", (error, will_retry, will_fallback)))
        if error.failure_type == "network":
            self._emit(obs.NetworkError, error=error.message, code=error.code.value,
                       retryable=error.retryable)  # fmt: skip
            self._emit(obs.ConnectionDropped, reason=error.message)
            if self._down_since is None:
                self._down_since = now
            self._down_attempts += 1

        budget = retry.attempts if counts else retry.max_retries
        if will_retry:
            if counts:
                self._model_retries += 1
                state.model_retry_count += 1
            else:
                self._network_retries += 1
                state.network_retry_count += 1
            if not self._retried:
                self._retried = True
                self._emit(obs.RetryStart, max_attempts=budget)
            number = self._model_retries + self._network_retries
            self._emit(obs.RetryAttempt, "on_retry", (self.attempt + 1, reason), attempt=number,
                       max_attempts=budget, reason=reason, delay_ms=delay * 1000)  # fmt: skip
            self._discard(error, will_retry=True, will_fallback=False,
                          next_source=self.source_index, next_attempt=self.attempt + 1)  # fmt: skip
            return StartAttempt(self.source_index, self.attempt + 1, delay, True, False)

        if exhausted:
            self._emit(obs.RetryGiveUp, attempt=self._model_retries + self._network_retries,
                       max_attempts=budget, reason=reason)  # fmt: skip
        if will_fallback:
            to_index = self.source_index + 1
            why = "Retries exhausted" if exhausted else f"{reason} ({error.code.value})"
            self._fell_back = True
            self._emit(obs.FallbackStart, "on_fallback", (to_index - 1, why),
                       from_index=self.source_index, to_index=to_index)  # fmt: skip
            self._emit(obs.FallbackModelSelected, index=to_index, reason=why)
            self._call("on_start", 1, False, True)
            self._discard(error, will_retry=False, will_fallback=True, next_source=to_index,
                          next_attempt=1)  # fmt: skip
            self._model_retries = self._network_retries = 0
            return StartAttempt(to_index, 1, 0.0, False, True)

        # Halt.
        final: L0Error = error
        if not fatal:
            errors = state.errors
            final = AllStreamsExhausted(
                f"all {len(errors)} attempt(s) over {self.source_index + 1} source(s) failed; "
                f"last: {error.message}",
                errors,
            )
            final.__cause__ = error
            self._stamp(final)
        state.error = final
        if self._fell_back:
            self._emit(obs.FallbackEnd, success=False, final_index=self.source_index)
        self._end_session()
        self.outbox.append(Notice(error_event, "on_error", (error, False, False)))
        return Fail(final)

    def _resumable(self) -> bool:
        """Whether the next attempt can continue this one's output: continuation is on, there
        is output, and no tool call is half-streamed (tool calls never resume half-way)."""
        if self.continuation is None or not self.state.length or self._tools:
            return False
        if isinstance(self.failure, GuardrailViolationError):
            return False  # the output itself was rejected
        return self._check_guardrails()

    def _discard(
        self,
        error: L0Error,
        *,
        will_retry: bool,
        will_fallback: bool,
        next_source: int,
        next_attempt: int,
    ) -> None:
        """Queue the consumer's ErrorEvent (and Reset, if it saw output) for the next attempt,
        or, when the stream can resume from its checkpoint, keep the output (no Reset)."""
        pending = self.pending
        if self._resumable():
            self._save_checkpoint()
            self._resume = True
            self.state.finish_reason = None
            pending.append(
                ErrorEvent(error=error, will_retry=will_retry, will_fallback=will_fallback)
            )
            return
        had_output = self.content_seen > 0
        discarded = self.state.discard_output()
        self._checkpoint_parts = 0
        pending.append(ErrorEvent(error=error, will_retry=will_retry, will_fallback=will_fallback))
        if had_output:
            pending.append(
                Reset(
                    reason=error.message,
                    discarded=discarded,
                    attempt=next_attempt,
                    source_index=next_source,
                )
            )
