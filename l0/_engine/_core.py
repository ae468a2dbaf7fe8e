"""The engine's state and how it emits: shared by the verdict, recovery and lifecycle parts."""

from __future__ import annotations

import random
from collections.abc import Callable, Hashable, Sequence
from typing import Any

from l0._budget import CircuitBreaker, RetryBudget
from l0._config import Retry, Timeout
from l0._context import FrozenDict
from l0._engine._actions import (
    INF,
    NEVER,
    Notice,
)
from l0._engine._checks import Checks
from l0._engine._continuation import ContinuationConfig, Deduper
from l0._engine._tools import ToolAssembler, ToolCallMode, ToolSchemas
from l0._errors import (
    L0Error,
)
from l0._events import _observability as obs
from l0._events._stream import (
    StreamEvent,
)
from l0._state import Phase, State

__all__ = ["EngineCore"]


class EngineCore:
    """The lifecycle of one stream across its attempts, sources and deadlines: its state."""

    def __init__(
        self,
        *,
        sources: int,
        retry: Retry,
        timeout: Timeout,
        rng: random.Random | int,
        stream_id: str,
        context: FrozenDict | None = None,
        wall_offset: float = 0.0,
        observed: bool = True,
        zero_backoff: bool = False,
        outer_deadline: float = INF,
        continuation: ContinuationConfig | None = None,
        checkpoint_every: int = 10,
        checks: Checks | None = None,
        guardrails_every: int = 5,
        drift_every: int = 10,
        clock: Callable[[], float] | None = None,
        tools: ToolSchemas | None = None,
        tool_calls: ToolCallMode = "buffered",
        phase_observed: bool = False,
        budget: RetryBudget | None = None,
        breaker: CircuitBreaker | None = None,
        source_keys: Sequence[Hashable] = (),
    ) -> None:
        if sources < 1:
            raise ValueError("an engine needs at least one source")
        self.sources = sources
        self.retry = retry
        self.timeout = timeout
        self._rng: random.Random | int = rng  # a seed until the first jittered backoff
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
        self.checks = checks
        self._guard_every = guardrails_every if checks and checks.guardrails else NEVER
        self._drift_every = drift_every if checks and checks.drift else NEVER
        self._ckpt_every = checkpoint_every if continuation is not None else NEVER
        self._next_guard = self._next_drift = self._next_ckpt = 0
        self.check_at = 0
        """See :attr:`parts` and :meth:`Verdicts._rearm`."""
        self.async_due = False
        self._checks_run: int = 0  # guardrail checks reported so far (callback ids)
        """The asynchronous guardrail rules should look at the new output now."""
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
        self.parts: list[str] = self.state._parts  # pyright: ignore[reportPrivateUsage]
        """The output parts (the state's own list). The token path may append a text delta here
        itself instead of calling :meth:`on_text` while the append leaves ``len(parts)`` below
        :attr:`check_at`; for the delta that reaches it, it calls :meth:`text_check` right after
        appending. That is exactly what :meth:`on_text` does, minus building the Token."""
        self.outbox: list[Notice] = []
        self.pending: list[StreamEvent] = []
        self.source_index = 0
        self.attempt = 1
        self.adapter: str | None = None
        self.finished = False
        self._last_ts = 0.0
        self._now = 0.0
        self._start_ts = 0.0
        self._total_deadline = INF
        self._attempt_start = 0.0
        self._initial_deadline = INF
        self._has_output = False
        self._other_content = 0
        self.tool_schemas = tools
        self._phase_observed = phase_observed  # someone wants on_phase
        self.budget = budget
        """The retry budget shared with other streams (see :class:`l0.RetryBudget`)."""
        self._budget_taken: float = 0.0  # what this stream's retries took from it
        self.breaker = breaker
        """The circuit breaker shared with other streams (see :class:`l0.CircuitBreaker`)."""
        self.source_keys: tuple[Hashable, ...] = tuple(source_keys) or tuple(range(sources))
        self.tool_calls: ToolCallMode = tool_calls
        self._tools = ToolAssembler(tools, tool_calls)
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

    def _phase(self, new: Phase) -> None:
        state = self.state
        old = state.phase
        if old != new:
            state.phase = new
            if self._phase_observed:
                self.outbox.append(Notice(None, "on_phase", (old, new)))

    def _first_output(self) -> None:
        self._has_output = True
        self._phase("streaming")
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

    def _end_session(self) -> None:
        self.finished = True
        state = self.state
        self._emit(obs.SessionSummary, token_count=state.token_count, start_ts=self._start_ts,
                   end_ts=self._ts(), drift_detected=state.drift_detected,
                   guardrail_violations=len(state.violations), fallback_depth=self.source_index,
                   retry_count=state.retry_count,
                   checkpoints_created=self._checkpoints)  # fmt: skip
        self._emit(obs.SessionEnd)

    @property
    def content_seen(self) -> int:
        """How many content events the current attempt has had."""
        return self.state.token_count + self._other_content

    @property
    def has_async_rules(self) -> bool:
        """Whether the current attempt has asynchronous guardrail rules (the runtime awaits
        them: see :attr:`async_due`)."""
        checks = self.checks
        return checks is not None and checks.async_checker is not None

    @property
    def truncated(self) -> bool:
        """Whether the attempt's source must say it finished and has not (so far)."""
        return self._requires_finish and self.state.finish_reason is None

    @property
    def rng(self) -> random.Random:
        """The backoff-jitter RNG (made from the seed when first needed: seeding costs ~10 us,
        and most streams never back off)."""
        rng = self._rng
        if isinstance(rng, int):
            rng = self._rng = random.Random(rng)
        return rng
