"""Failure and recovery: whether a failed attempt is retried (after which backoff), falls
back to the next source, resumes from its checkpoint, or ends the stream."""

from __future__ import annotations

from l0._config import RetryContext
from l0._engine._actions import (
    FATAL_CODES,
    PROVIDER_DOWN,
    REASON_TEXT,
    Action,
    Fail,
    Notice,
    StartAttempt,
)
from l0._engine._verdicts import Verdicts
from l0._errors import (
    AllStreamsExhausted,
    CircuitOpen,
    ErrorCode,
    GuardrailViolationError,
    L0Error,
)
from l0._events import _observability as obs
from l0._events._stream import (
    ErrorEvent,
    Reset,
)

__all__ = ["Recovery"]


class Recovery(Verdicts):
    """The decision taken when an attempt fails."""

    def admit(self, now: float, action: StartAttempt) -> Action | None:
        """The attempt of ``action`` is about to start: None if it may, or, when the source's
        circuit is open (see :class:`l0.CircuitBreaker`), what follows from skipping the source
        as if it had failed with :class:`~l0.CircuitOpen`."""
        breaker = self.breaker
        index = action.source_index
        if breaker is None or breaker.allow(self.source_keys[index], now):
            return None
        self.source_index = index
        self.attempt = action.attempt
        return self._fail(
            CircuitOpen(f"source {index} was skipped: its circuit is open (it kept failing)"), now
        )

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
        fatal = error.code in FATAL_CODES or error.metadata.get("halt") is True
        breaker = self.breaker
        key = self.source_keys[self.source_index]
        if breaker is not None and error.code is not ErrorCode.CIRCUIT_OPEN:
            if error.retry_reason in PROVIDER_DOWN:
                breaker.failure(key, now)
            else:
                breaker.release(key)
        counts = error.counts_toward_limit
        reason = REASON_TEXT.get(error.retry_reason, "Stream error")

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
            if will_retry and breaker is not None and breaker.state(key) == "open":
                will_retry = False  # this failure opened the source's circuit
            if will_retry and self.budget is not None:
                taken = self.budget.acquire(timeout=error.retry_reason == "timeout")
                if taken is None:
                    will_retry = False
                    exhausted = True
                    reason = "Retry budget exhausted"
                else:
                    self._budget_taken += taken
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
            recovery_strategy=strategy, policy=policy, detail=error.detail,
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
            self._phase("retrying")
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
            self._phase("falling_back")
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
        self._phase("failed")
        if self._fell_back:
            self._emit(obs.FallbackEnd, success=False, final_index=self.source_index)
        self._end_session()
        self.outbox.append(Notice(error_event, "on_error", (error, False, False)))
        return Fail(final)

    def _resumable(self) -> bool:
        """Whether the next attempt can continue this one's output: continuation is on, there
        is output, and no tool call is half-streamed (tool calls never resume half-way)."""
        state = self.state
        if self.continuation is None or not state.length or self._tools or state.tool_calls:
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
