"""Rebuilding a recorded stream's engine: its options (recorded, or changed), and the
collaborators that answer its questions from the recording instead of asking the real ones.
"""

from __future__ import annotations

import math
import random
from collections import deque
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

import attrs

from l0._budget import CircuitBreaker, RetryBudget
from l0._config import RetryContext
from l0._context import freeze_context
from l0._engine import Engine
from l0._engine._checks import Checks
from l0._errors import ConfigError
from l0._events._observability import GuardrailViolation
from l0._record._options import (
    continuation_of,
    intervals_of,
    retry_of,
    timeout_of,
    tools_of,
)
from l0._record._schema import (
    Breaker,
    Budget,
    Clock,
    Drift,
    Guard,
    Header,
    Hook,
    Record,
)

if TYPE_CHECKING:
    from l0._guardrails import DriftDetector, DriftResult, Guardrails

__all__ = ["OVERRIDABLE", "Answers", "Raised", "build_engine"]

OVERRIDABLE: frozenset[str] = frozenset(
    {
        "retry",
        "timeout",
        "check_intervals",
        "continue_from_last_good_token",
        "guardrails",
        "drift",
        "tools",
        "tool_calls",
        "retry_budget",
        "circuit_breaker",
        "seed",
    }
)
"""The options a re-execution may change (the others are the source's, or only the runtime's)."""


# --- collaborators answering from the recording ---------------------------------------------


class Raised(Exception):
    """Stands for an exception a user's rule or hook raised while recording: same repr, same
    text, and (through a subclass of that name, see :func:`raised`) same type name."""

    def __init__(self, text: str, said: str | None = None) -> None:
        super().__init__(text if said is None else said)
        self.text = text

    def __repr__(self) -> str:
        return self.text


_KINDS: dict[str, type[Raised]] = {}


def raised(text: str, kind: str | None = None, said: str | None = None) -> Raised:
    """A :class:`Raised` for a recorded exception: ``text`` its repr, ``kind`` its type's name
    (then the stand-in's class has that name, as l0's messages name it), ``said`` its text."""
    if kind is None or not kind.isidentifier():
        return Raised(text, said)
    cls = _KINDS.get(kind)
    if cls is None:
        cls = _KINDS[kind] = type(kind, (Raised,), {"__module__": __name__})
    return cls(text, said)


class Answers:
    """The recorded answers, each kind in its own queue, given out in order."""

    def __init__(self, records: Sequence[Record]) -> None:
        self.clock: deque[float] = deque()
        self.guard: dict[str, deque[Guard]] = {"feed": deque(), "finish": deque()}
        self.drift: deque[DriftResult | None] = deque()
        self.budget: deque[float | None] = deque()
        self.breaker: dict[str, deque[bool | str]] = {"allow": deque(), "state": deque()}
        self.hooks: dict[str, deque[bool | float | None]] = {
            "should_retry": deque(),
            "calculate_delay": deque(),
        }
        for record in records:
            kind = type(record)
            if kind is Clock:
                self.clock.append(cast("Clock", record).value)
            elif kind is Guard:
                guard = cast("Guard", record)
                self.guard[guard.op].append(guard)
            elif kind is Drift:
                self.drift.append(cast("Drift", record).result)
            elif kind is Budget:
                self.budget.append(cast("Budget", record).taken)
            elif kind is Breaker:
                breaker = cast("Breaker", record)
                self.breaker[breaker.op].append(breaker.value)
            elif kind is Hook:
                hook = cast("Hook", record)
                self.hooks[hook.name].append(hook.value)


class _Stand:
    """Stands for a checker or monitor whose verdicts come from the recording."""

    def __init__(self, action: str = "record") -> None:
        self.action = action

    def __bool__(self) -> bool:
        return True


class _RuleStandIn:
    """Stands for a recorded rule: its name and kind (the per-rule events name it)."""

    __slots__ = ("is_async", "name")

    def __init__(self, name: str, is_async: bool) -> None:
        self.name = name
        self.is_async = is_async


class _ReplayChecks(Checks):
    """Guardrails and drift: live (given to the re-execution) or answering from the recording."""

    __slots__ = ("_answers", "_async", "_recorded_drift", "_recorded_guard")

    def __init__(
        self,
        guardrails: Guardrails | tuple[_RuleStandIn, ...] | None,
        drift: DriftDetector | _Stand | None,
        answers: Answers,
        *,
        recorded_async: bool,
    ) -> None:
        super().__init__(cast("Guardrails | None", guardrails), cast("DriftDetector | None", drift))
        self._answers = answers
        self._recorded_guard = isinstance(guardrails, tuple)
        self._recorded_drift = isinstance(drift, _Stand)
        self._async = recorded_async

    def start_attempt(self) -> None:
        guardrails, drift = self.guardrails, self.drift
        if self._recorded_guard:
            self.guardrails = None
        if self._recorded_drift:
            self.drift = None
        try:
            super().start_attempt()
        finally:
            self.guardrails, self.drift = guardrails, drift
        if self._recorded_guard:
            self.guard_checker = cast("Any", _Stand())
            self.async_checker = cast("Any", _Stand()) if self._async else None
        if self._recorded_drift:
            self.drift_monitor = cast("Any", drift)

    def _answer(self, op: str) -> Sequence[GuardrailViolation]:
        queue = self._answers.guard[op]
        if not queue:
            return ()
        answer = queue.popleft()
        if answer.raised is not None:
            raise raised(answer.raised, answer.kind, answer.said)
        return answer.found

    def feed_guardrails(self, parts: list[str]) -> Sequence[GuardrailViolation] | None:
        if not self._recorded_guard:
            return super().feed_guardrails(parts)
        if self.guard_checker is None or self._guard_fed.take(parts) is None:
            return None  # nothing new: the live check was not made either
        return self._answer("feed")

    def finish_guardrails(self, text: str) -> Sequence[GuardrailViolation]:
        if not self._recorded_guard:
            return super().finish_guardrails(text)
        return self._answer("finish") if self.guard_checker is not None else ()

    def feed_drift(self, parts: list[str]) -> DriftResult | None:
        if not self._recorded_drift:
            return super().feed_drift(parts)
        queue = self._answers.drift
        return queue.popleft() if queue else None


class _ReplayBudget:
    def __init__(self, answers: Answers) -> None:
        self._queue = answers.budget

    def acquire(self, timeout: bool) -> float | None:
        return self._queue.popleft() if self._queue else 0.0

    def release(self, taken: float) -> None:
        return None


class _ReplayBreaker:
    def __init__(self, answers: Answers) -> None:
        self._allow = answers.breaker["allow"]
        self._state = answers.breaker["state"]

    def allow(self, key: Hashable, now: float) -> bool:
        return bool(self._allow.popleft()) if self._allow else True

    def state(self, key: Hashable) -> str:
        return str(self._state.popleft()) if self._state else "closed"

    def failure(self, key: Hashable, now: float) -> bool:
        return False

    def release(self, key: Hashable) -> None:
        return None

    def success(self, key: Hashable) -> None:
        return None


def _hook(queue: deque[bool | float | None]) -> Callable[[RetryContext], Any]:
    def answer(_ctx: RetryContext) -> Any:
        return queue.popleft() if queue else None

    return answer


def _clock(queue: deque[float]) -> Callable[[], float]:
    last = [0.0]

    def clock() -> float:
        if queue:
            last[0] = queue.popleft()
        return last[0]

    return clock


# --- building the engine --------------------------------------------------------------------


def _overrides(given: Mapping[str, Any]) -> dict[str, Any]:
    """The given option values, converted and validated as ``l0.run`` would."""
    from l0._runtime._options import Options  # noqa: PLC0415 - the runtime imports this package

    unknown = sorted(set(given) - OVERRIDABLE)
    if unknown:
        raise TypeError(
            f"reexecute() got unexpected keyword arguments {unknown}; "
            f"valid: {', '.join(sorted(OVERRIDABLE))}"
        )
    values = {k: v for k, v in given.items() if k != "seed"}
    try:
        options = Options(**values)
    except TypeError as exc:
        raise ConfigError(str(exc)) from exc
    out = {key: getattr(options, key) for key in values}
    if "seed" in given:
        seed = given["seed"]
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ConfigError(f"seed must be an int, got {seed!r}")
        out["seed"] = seed
    return out


def build_engine(header: Header, answers: Answers, given: Mapping[str, Any]) -> Engine:
    """A fresh engine as the recorded one was built, with ``given`` options instead."""
    recorded = header.options
    changed = _overrides(given)
    if (
        "check_intervals" in changed
        and (recorded.get("guardrails") or recorded.get("drift"))
        and not {"guardrails", "drift"} <= changed.keys()
    ):
        raise ConfigError(
            "with other check_intervals the recorded guardrail and drift verdicts no longer "
            "apply: pass guardrails= and drift= too (None for none), so they are computed"
        )
    retry = changed.get("retry")
    if retry is None:
        retry = retry_of(recorded)
        hooks = cast("Mapping[str, Any]", recorded.get("retry") or {})
        retry = attrs.evolve(
            retry,
            should_retry=_hook(answers.hooks["should_retry"])
            if hooks.get("should_retry")
            else None,
            calculate_delay=(
                _hook(answers.hooks["calculate_delay"]) if hooks.get("calculate_delay") else None
            ),
        )
    intervals = changed.get("check_intervals") or intervals_of(recorded)
    guardrails: Any
    drift: Any
    rules = cast("Mapping[str, Any] | None", recorded.get("guardrails"))
    if "guardrails" in changed:
        guardrails = changed["guardrails"]
    elif rules:
        asynchronous = set(rules.get("async_rules", ()))
        guardrails = tuple(_RuleStandIn(name, name in asynchronous) for name in rules["rules"])
    else:
        guardrails = None
    if "drift" in changed:
        drift = changed["drift"]
    else:
        config = cast("Mapping[str, Any] | None", recorded.get("drift"))
        drift = _Stand(str(config.get("action", "record"))) if config else None
    checks = None
    if guardrails or drift:
        checks = _ReplayChecks(
            guardrails, drift, answers, recorded_async=bool(rules and rules.get("has_async"))
        )
    budget: Any = changed.get("retry_budget")
    if "retry_budget" not in changed and recorded.get("retry_budget"):
        budget = _ReplayBudget(answers)
    breaker: Any = changed.get("circuit_breaker")
    if "circuit_breaker" not in changed and recorded.get("circuit_breaker"):
        breaker = _ReplayBreaker(answers)
    deadline = header.outer_deadline
    return Engine(
        sources=header.sources,
        retry=retry,
        timeout=changed.get("timeout") or timeout_of(recorded),
        rng=random.Random(changed.get("seed", header.seed)),
        stream_id=header.stream_id,
        context=freeze_context(cast("Mapping[str, Any] | None", recorded.get("context"))),
        wall_offset=header.wall_offset,
        observed=True,
        zero_backoff=header.zero_backoff,
        outer_deadline=deadline if deadline is not None else math.inf,
        continuation=(
            changed["continue_from_last_good_token"]
            if "continue_from_last_good_token" in changed
            else continuation_of(recorded)
        ),
        checkpoint_every=intervals.checkpoint,
        checks=checks,
        guardrails_every=intervals.guardrails,
        drift_every=intervals.drift,
        clock=_clock(answers.clock),
        tools=changed["tools"] if "tools" in changed else tools_of(recorded),
        tool_calls=changed.get("tool_calls") or recorded.get("tool_calls", "buffered"),
        budget=cast("RetryBudget | None", budget),
        breaker=cast("CircuitBreaker | None", breaker),
    )
