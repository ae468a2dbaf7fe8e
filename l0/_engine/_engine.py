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

from collections.abc import Callable, Sequence
from typing import Any, Literal, cast

from l0._engine._actions import (
    INF,
    Action,
    Fail,
    Finish,
    Notice,
    StartAttempt,
)
from l0._engine._classify import classify
from l0._engine._continuation import Deduper
from l0._engine._recovery import Recovery
from l0._engine._tools import ToolAssembler
from l0._errors import (
    InvalidStream,
    L0Error,
    SourceError,
    StreamAborted,
    StreamTimeout,
    StreamTruncated,
    ToolCallError,
    ZeroOutput,
)
from l0._events import _observability as obs
from l0._events._stream import (
    Complete,
    Data,
    Message,
    Progress,
    StreamEvent,
    Token,
    ToolCall,
)
from l0.adapters._base import Fault, ToolCallDelta, Usage
from l0.adapters._base import Finish as Finish_

__all__ = ["Action", "Engine", "Fail", "Finish", "Notice", "StartAttempt"]


class Engine(Recovery):
    """The lifecycle of one stream across its attempts, sources and deadlines."""

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
        self._tools = ToolAssembler(self.tool_schemas, self.tool_calls)
        self._stall_mark = -1
        self._emitted = False
        self._requires_finish = False
        self.adapter = None
        initial = self.timeout.initial_token
        self._initial_deadline = now + initial if initial is not None else INF
        if initial is not None:
            self._emit(obs.TimeoutStart, timeout_type="initial", configured_ms=initial * 1000)
        self.resuming = self._resume
        self._resume = False
        self._phase("resuming" if self.resuming else "connecting")
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
            elif isinstance(chunk, ToolCall):
                ready = self._tools.add_call(chunk)
                self._other_content += 1
                if not self._has_output:
                    self._first_output()
                if ready:
                    error = self._deliver_tool_calls(ready, events)
                    if error is not None:
                        return error
            elif isinstance(chunk, StreamEvent):
                event = self.on_event(chunk)
                if event is not None:
                    events.append(event)
            elif isinstance(chunk, ToolCallDelta):
                ready = self._tools.add(chunk)
                self._other_content += 1
                if not self._has_output:
                    self._first_output()
                if ready:
                    error = self._deliver_tool_calls(ready, events)
                    if error is not None:
                        return error
            elif isinstance(chunk, Finish_):
                self.state.finish_reason = chunk.reason or "stop"
                if self._tools and self.tool_calls == "eager":
                    error = self._deliver_tool_calls(self._tools.take(), events)
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
        parts = self.parts
        parts.append(text)
        if len(parts) >= self.check_at:
            self.text_check(text)
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
                self._rearm()
        elif isinstance(event, Data):
            state.data.append(event)
        else:
            # Reset, ErrorEvent and Complete are l0's own verdicts: a source cannot send them.
            return None
        self._other_content += 1
        if not self._has_output:
            self._first_output()
        return event

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
                deadline = INF
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

    def _deliver_tool_calls(
        self, calls: list[ToolCall | ToolCallError], events: list[StreamEvent]
    ) -> L0Error | None:
        """Whole tool calls to ``events``; or the error of the first one that cannot be
        delivered (then none is)."""
        for call in calls:
            if isinstance(call, L0Error):
                call_id = str(call.metadata.get("tool_call_id", ""))
                self._emit(obs.ToolError, tool_call_id=call_id, error=call.message,
                           duration_ms=0.0)  # fmt: skip
                self._emit(obs.ToolCompleted, tool_call_id=call_id, status="error")
                return call
        state = self.state
        for call in cast("list[ToolCall]", calls):
            state.tool_calls.append(call)
            self._emit(obs.ToolRequested, "on_tool_call", (call.name, call.id, call.arguments),
                       tool_name=call.name, tool_call_id=call.id,
                       arguments=call.arguments)  # fmt: skip
            events.append(call)
        return None

    def source_ended(self, now: float) -> Action:
        """The source's iterator finished."""
        self._now = now
        if self._dedupe is not None:
            rest = self._dedupe.finish()
            self._dedupe = None
            if rest:
                self.pending.append(self.on_text(rest))
        if self._tools and self.tool_calls == "eager":
            error = self._deliver_tool_calls(self._tools.take(), self.pending)
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
                    error = SourceError(f"a guardrail rule raised {type(exc).__name__}")
                    error.__cause__ = exc
                    self._fail_now(error)
                else:
                    self._judge(found)
        if checks is not None and checks.drift_monitor is not None and self.failure is None:
            self._check_drift()  # the text since the last drift check (whole blocks only)
        if self.failure is not None:
            return self.take_failure(now)
        if not self._has_output and not (self.resuming and self.state.length):
            return self._fail(ZeroOutput("the model returned no output"), now)
        if self._requires_finish and self.state.finish_reason is None:
            return self._fail(
                StreamTruncated("the stream ended without a finish reason (truncated)"), now
            )
        if self._tools:
            # Buffered tool calls: the attempt succeeded, so now they are delivered.
            error = self._deliver_tool_calls(self._tools.take(), self.pending)
            if error is not None:
                return self._fail(error, now)
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
        self._phase("aborted")
        if self.breaker is not None:
            self.breaker.release(self.source_keys[self.source_index])
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
        self._phase("aborted")
        if self.breaker is not None:
            self.breaker.release(self.source_keys[self.source_index])
        state = self.state
        self._emit(obs.AbortRequested, source="user")
        self._end_session()
        self._emit(obs.AbortCompleted, token_count=state.token_count,
                   content_length=state.content_length)  # fmt: skip

    def _complete(self) -> Finish:
        state = self.state
        state.completed = True
        self._phase("completed")
        if self.breaker is not None:
            self.breaker.success(self.source_keys[self.source_index])
        if self.budget is not None:
            self.budget.release(self._budget_taken)
        if self._retried:
            self._emit(obs.RetryEnd, attempt=self.attempt, success=True)
        if self._fell_back:
            self._emit(obs.FallbackEnd, success=True, final_index=self.source_index)
        self._end_session()
        self._emit(obs.Complete, "on_complete", (state,), token_count=state.token_count,
                   content_length=state.content_length, state=state.snapshot())  # fmt: skip
        return Finish(Complete(state=state))
