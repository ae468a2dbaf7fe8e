"""Verdicts on the output as it grows, every few tokens (:class:`l0.CheckIntervals`):
streaming guardrails, drift, and checkpoints (saved only once the guardrails have passed)."""

from __future__ import annotations

from collections.abc import Sequence

from l0._engine._actions import (
    Notice,
    RuleCall,
)
from l0._engine._core import EngineCore
from l0._errors import (
    DriftDetected,
    GuardrailViolationError,
    L0Error,
    SourceError,
)
from l0._events import _observability as obs
from l0._events._observability import GuardrailViolation

__all__ = ["Verdicts"]


class Verdicts(EngineCore):
    """The periodic checks of the token path."""

    def _schedule(self, base: int) -> None:
        """Next check points counted from ``base`` tokens (a new attempt's start)."""
        self._next_guard = base + self._guard_every
        self._next_drift = base + self._drift_every
        self._next_ckpt = base + self._ckpt_every
        self._rearm()

    def _rearm(self) -> None:
        """When :meth:`on_text` must look at the text again, as a count of output parts: at
        once while the attempt has no output yet, else at the next check point."""
        if self._has_output:
            extra = self.state._extra  # pyright: ignore[reportPrivateUsage] - parts that are not tokens
            self.check_at = min(self._next_guard, self._next_drift, self._next_ckpt) + extra
        else:
            self.check_at = 0

    def text_check(self, text: str) -> None:
        """The token path's slow lane (see :meth:`_rearm`): first output, periodic checks."""
        if not self._has_output:
            if text.isspace():
                return  # whitespace is not output yet: look at the next part too
            self._first_output()
        if self.state.token_count >= min(self._next_guard, self._next_drift, self._next_ckpt):
            self._periodic()
        self._rearm()

    def _periodic(self) -> None:
        """Every few tokens: streaming guardrails, drift, checkpoint (``CheckIntervals``)."""
        n = self.state.token_count
        if n >= self._next_guard:
            self._next_guard = n + self._guard_every
            if self._check_guardrails() and self.checks and self.checks.async_checker:
                # The asynchronous rules' turn: the runtime awaits them (async_due).
                self.async_due = True
                self.outbox.append(Notice(None, None, ()))  # makes the runtime look at once
        if n >= self._next_drift and self.failure is None:
            self._next_drift = n + self._drift_every
            self._check_drift()
        if n >= self._next_ckpt and self.failure is None:
            self._next_ckpt = n + self._ckpt_every
            self._save_checkpoint()

    def _fail_now(self, error: L0Error) -> None:
        if self.failure is None:
            self.failure = error
            self.outbox.append(Notice(None, None, ()))  # makes the runtime look at once

    def _check_guardrails(self) -> bool:
        """Feed the streaming guardrails what they have not seen; False if that failed."""
        checks = self.checks
        if checks is None or checks.guard_checker is None or not checks.sync_names:
            return True
        try:
            found = checks.feed_guardrails(self.state._parts)  # pyright: ignore[reportPrivateUsage]
        except Exception as exc:  # a user's rule raised
            error = SourceError(f"a guardrail rule raised {type(exc).__name__}")
            error.__cause__ = exc
            self._fail_now(error)
            return False
        if found is None:
            return True  # nothing new to check
        return self._judge(found)

    def _judge(self, found: Sequence[GuardrailViolation], *, is_async: bool = False) -> bool:
        """Record violations (events, on_violation); fail on error/fatal ones. True if none
        of them fails the attempt.

        Observed, a check is reported whole: GUARDRAIL_PHASE_START, then per rule
        GUARDRAIL_RULE_START, a GUARDRAIL_RULE_RESULT per new violation (or one passing
        result), GUARDRAIL_RULE_END, and GUARDRAIL_PHASE_END. The engine reads no clock, so
        the durations are 0. Unobserved, only violations cost anything.
        """
        if not found and not self.observed:
            return True
        checks = self.checks
        names: tuple[str, ...] = (
            () if checks is None else checks.async_names if is_async else checks.sync_names
        )
        if self.observed:
            self._checks_run += 1
            self._emit(obs.GuardrailPhaseStart, phase="post", rule_count=len(names))
        by_rule: dict[str, list[GuardrailViolation]] = {}
        for violation in found:
            by_rule.setdefault(violation.rule_id, []).append(violation)
        failing: list[GuardrailViolation] = []
        fatal = False
        state = self.state
        order = list(names) + [name for name in by_rule if name not in names]
        for index, name in enumerate(order):
            callback_id = f"{name}#{self._checks_run}"
            if self.observed:
                self._emit(obs.GuardrailRuleStart, index=index, rule_id=name,
                           callback_id=callback_id)  # fmt: skip
            violations = by_rule.get(name, ())
            for violation in violations:
                state.violations.append(violation)
                self._emit(obs.GuardrailRuleResult, "on_violation", (violation,), index=index,
                           rule_id=name, passed=False, violation=violation)  # fmt: skip
                if violation.severity == "fatal" or (
                    violation.severity == "error" and not violation.recoverable
                ):
                    fatal = True
                    failing.append(violation)
                elif violation.severity == "error":
                    failing.append(violation)
            if self.observed:
                if not violations:
                    self._emit(obs.GuardrailRuleResult, index=index, rule_id=name, passed=True)
                self._emit(obs.GuardrailRuleEnd, index=index, rule_id=name,
                           passed=not violations, callback_id=callback_id,
                           duration_ms=0.0)  # fmt: skip
        if self.observed:
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

    def async_verdict(
        self, found: Sequence[GuardrailViolation], calls: Sequence[RuleCall] = ()
    ) -> None:
        """Input: the asynchronous rules' new violations, in the order they were checked;
        ``calls``: how each rule's call went (GUARDRAIL_CALLBACK_START/END when observed)."""
        self.async_due = False
        if self.failure is None:
            self._rule_calls(calls)
            self._judge(found, is_async=True)

    def async_failed(self, exc: Exception, calls: Sequence[RuleCall] = ()) -> None:
        """Input: an asynchronous rule raised (the last of ``calls``, if given)."""
        self.async_due = False
        if self.failure is None:
            self._rule_calls(calls)
        error = SourceError(f"a guardrail rule raised {type(exc).__name__}")
        error.__cause__ = exc
        self._fail_now(error)

    def poke(self) -> None:
        """The runtime's checker task has a verdict waiting: the token path should come to
        the slow lane at the next part and the runtime look at its notices."""
        self.check_at = 0
        self.outbox.append(Notice(None, None, ()))

    def _rule_calls(self, calls: Sequence[RuleCall]) -> None:
        """GUARDRAIL_CALLBACK_START/END for each asynchronous rule call, stamped with the
        times the runtime measured; their callback ids are those of the check they belong
        to (the next GUARDRAIL_RULE_* events)."""
        if not self.observed or not calls:
            return
        check = self._checks_run + 1
        offset = self.wall_offset
        outbox = self.outbox
        for call in calls:
            callback_id = f"{call.rule_id}#{check}"
            # Event times never go backwards (see _ts); the durations are as measured.
            start = max(offset + call.start, self._last_ts)
            end = self._last_ts = start + call.duration_ms / 1000
            outbox.append(
                Notice(
                    obs.GuardrailCallbackStart(
                        ts=start,
                        stream_id=self.stream_id,
                        context=self.context,
                        callback_id=callback_id,
                        index=call.index,
                        rule_id=call.rule_id,
                    ),
                    None,
                    (),
                )
            )
            outbox.append(Notice(obs.GuardrailCallbackEnd(
                ts=end, stream_id=self.stream_id, context=self.context,
                callback_id=callback_id, index=call.index, rule_id=call.rule_id,
                duration_ms=call.duration_ms, success=call.error is None,
                error=call.error), None, ()))  # fmt: skip

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
        self._emit(obs.CheckpointSaved, "on_checkpoint", (delta, state.token_count),
                   checkpoint=delta, token_count=state.token_count, offset=offset,
                   length=state.checkpoint_length)  # fmt: skip
