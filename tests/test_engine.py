"""The engine on its own: no event loop, time passed in by hand."""

from __future__ import annotations

import random
from typing import Any

import pytest

import l0
from l0._engine import Engine, Fail, Finish, StartAttempt
from l0.adapters._builtin import convert_item


def make(**kwargs: Any) -> Engine:
    options: dict[str, Any] = {
        "sources": 1,
        "retry": l0.Retry(base_delay=1.0, strategy="exponential"),
        "timeout": l0.Timeout(initial_token=5.0, inter_token=2.0, total=None),
        "rng": random.Random(7),
        "stream_id": "s-1",
        "wall_offset": 1000.0,
    }
    options.update(kwargs)
    return Engine(**options)


def types(engine: Engine) -> list[str]:
    return [type(n.event).__name__ for n in engine.outbox if n.event is not None]


def feed(engine: Engine, *items: Any) -> list[l0.StreamEvent]:
    events: list[l0.StreamEvent] = []
    for item in items:
        assert engine.on_item(item, convert_item, events) is None
    return events


def test_clean_run_emits_lifecycle_and_completes() -> None:
    """Start, one attempt, three tokens, end: the complete event sequence and final state."""
    engine = make()
    start = engine.start(0.0)
    assert start == StartAttempt(0, 1, 0.0, is_retry=False, is_fallback=False)
    engine.begin_attempt(0.0, start)
    engine.attempt_ready(0.1, adapter="x", stream_type="gen", requires_finish=False)
    assert feed(engine, "a", "b", "c") == [l0.Token(value=v) for v in "abc"]
    result = engine.source_ended(0.2)
    assert isinstance(result, Finish)
    assert result.event.state.content == "abc"
    assert types(engine) == [
        "SessionStart", "StreamInit", "TimeoutStart", "AdapterWrapStart", "AdapterDetected",
        "AdapterWrapEnd", "StreamReady", "SessionSummary", "SessionEnd", "Complete",
    ]  # fmt: skip
    stamps = [n.event.ts for n in engine.outbox if n.event is not None]
    assert stamps[0] == 1000.0
    assert stamps[-1] == pytest.approx(1000.2)


def test_deadlines_follow_content() -> None:
    """Before content the first-token deadline applies; after it, the stall clock restarts."""
    engine = make(timeout=l0.Timeout(initial_token=5.0, inter_token=2.0, total=30.0))
    engine.begin_attempt(10.0, engine.start(10.0))
    assert engine.wait_deadline(11.0) == 15.0
    feed(engine, "x")
    assert engine.wait_deadline(12.0) == 14.0
    assert engine.wait_deadline(13.0) == 14.0  # no new content: the stall clock keeps running
    feed(engine, "")  # empty strings are not content
    assert engine.wait_deadline(13.5) == 14.0
    feed(engine, "y")
    assert engine.wait_deadline(13.5) == 15.5
    feed(engine, "z")
    assert engine.wait_deadline(39.0) == 40.0  # the total deadline caps everything


def test_timeout_kinds() -> None:
    """A deadline before content is an initial timeout, after it an inter-token timeout."""
    engine = make()
    engine.begin_attempt(0.0, engine.start(0.0))
    action = engine.timed_out(5.0)
    assert isinstance(action, StartAttempt)
    assert engine.state.errors[-1].code is l0.ErrorCode.INITIAL_TOKEN_TIMEOUT
    engine.begin_attempt(6.0, action)
    feed(engine, "a")
    engine.wait_deadline(6.5)
    engine.timed_out(8.5)
    error = engine.state.errors[-1]
    assert error.code is l0.ErrorCode.INTER_TOKEN_TIMEOUT
    assert isinstance(error, l0.StreamTimeout)
    assert error.elapsed == 2.0


def test_backoff_exponential_first_retry_uses_base_delay() -> None:
    """Exponential backoff: 1, 2, 4 seconds for the first three content retries."""
    engine = make(retry=l0.Retry(attempts=3, base_delay=1.0, strategy="exponential"))
    action = engine.start(0.0)
    delays = []
    for _ in range(3):
        engine.begin_attempt(0.0, action)
        action = engine.source_failed(l0.SourceError("boom"), 0.0)
        assert isinstance(action, StartAttempt)
        delays.append(action.delay)
    assert delays == [1.0, 2.0, 4.0]
    engine.begin_attempt(0.0, action)
    final = engine.source_failed(l0.SourceError("boom"), 0.0)
    assert isinstance(final, Fail)
    assert isinstance(final.error, l0.AllStreamsExhausted)
    assert len(final.error.errors) == 4


def test_retry_after_is_honoured_and_capped() -> None:
    """A provider's retry_after wins over a shorter backoff, capped at max_retry_after."""
    engine = make(retry=l0.Retry(base_delay=0.5, strategy="fixed", max_retry_after=20.0))
    engine.begin_attempt(0.0, engine.start(0.0))
    action = engine.source_failed(l0.NetworkError("429", retry_after=7.0), 0.0)
    assert isinstance(action, StartAttempt)
    assert action.delay == 7.0
    engine.begin_attempt(7.0, action)
    action = engine.source_failed(l0.NetworkError("429", retry_after=300.0), 7.0)
    assert isinstance(action, StartAttempt)
    assert action.delay == 20.0


def test_backoff_never_sleeps_past_the_callers_deadline() -> None:
    """If the delay would end after the outer deadline, the engine gives up at once."""
    engine = make(retry=l0.Retry(base_delay=5.0, strategy="fixed"), outer_deadline=3.0)
    engine.begin_attempt(0.0, engine.start(0.0))
    action = engine.source_failed(l0.SourceError("boom"), 0.0)
    assert isinstance(action, Fail)
    assert isinstance(action.error, l0.AllStreamsExhausted)


def test_network_errors_use_max_retries_not_attempts() -> None:
    """Network failures don't spend Retry.attempts, only Retry.max_retries."""
    engine = make(retry=l0.Retry(attempts=0, max_retries=2, base_delay=0))
    action = engine.start(0.0)
    outcomes = []
    for _ in range(3):
        engine.begin_attempt(0.0, action)  # type: ignore[arg-type]
        action = engine.source_failed(l0.NetworkError("reset"), 0.0)
        outcomes.append(type(action).__name__)
    assert outcomes == ["StartAttempt", "StartAttempt", "Fail"]
    assert engine.state.network_retry_count == 2
    assert engine.state.model_retry_count == 0


def test_fallback_resets_partial_output_and_budgets() -> None:
    """Moving to a fallback discards the partial text, queues ErrorEvent+Reset, resets budgets."""
    engine = make(sources=2, retry=l0.Retry(attempts=0, max_retries=0))
    engine.begin_attempt(0.0, engine.start(0.0))
    feed(engine, "partial")
    action = engine.source_failed(l0.SourceError("boom"), 1.0)
    assert action == StartAttempt(1, 1, 0.0, is_retry=False, is_fallback=True)
    assert engine.state.content == ""
    kinds = [type(e).__name__ for e in engine.pending]
    assert kinds == ["ErrorEvent", "Reset"]
    reset = engine.pending[1]
    assert isinstance(reset, l0.Reset)
    assert (reset.discarded, reset.source_index, reset.attempt) == (7, 1, 1)
    callbacks = [(n.callback, n.args) for n in engine.outbox if n.callback]
    assert ("on_fallback", (0, "Retries exhausted")) in callbacks
    assert ("on_start", (1, False, True)) in callbacks


def test_fatal_errors_halt_without_fallback() -> None:
    """A fatal guardrail violation is raised as is: no retry, no fallback."""
    engine = make(sources=3)
    engine.begin_attempt(0.0, engine.start(0.0))
    error = l0.GuardrailViolationError("nope", fatal=True)
    action = engine.source_failed(error, 0.0)
    assert action == Fail(error)


def test_zero_output_and_whitespace() -> None:
    """Whitespace-only output is zero output."""
    engine = make(retry=None or l0.Retry(attempts=0, max_retries=0))
    engine.begin_attempt(0.0, engine.start(0.0))
    feed(engine, "  ", "\n")
    action = engine.source_ended(0.0)
    assert isinstance(action, Fail)
    assert action.error.__cause__ is not None
    assert isinstance(action.error.__cause__, l0.ZeroOutput)


def test_truncation_when_finish_is_required() -> None:
    """An adapter that requires a finish signal: ending without one is STREAM_TRUNCATED."""
    engine = make(retry=l0.Retry(attempts=0, max_retries=0))
    engine.begin_attempt(0.0, engine.start(0.0))
    engine.attempt_ready(0.0, adapter="p", stream_type="t", requires_finish=True)
    feed(engine, "text")
    action = engine.source_ended(0.0)
    assert isinstance(action, Fail)
    assert isinstance(action.error.__cause__, l0.StreamTruncated)


def test_same_inputs_same_outputs() -> None:
    """The engine is deterministic: same inputs and seed, same events and delays."""

    def run() -> list[Any]:
        engine = make(retry=l0.Retry(attempts=3, strategy="full-jitter"), rng=random.Random(42))
        action = engine.start(0.0)
        out: list[Any] = []
        for t in range(3):
            engine.begin_attempt(float(t), action)  # type: ignore[arg-type]
            feed(engine, "a", "b")
            action = engine.source_failed(l0.SourceError("x"), float(t) + 0.5)
            out.append(action)
        out.extend(
            (type(n.event).__name__, n.callback, repr(n.args)) for n in engine.outbox if n.event
        )
        return out

    assert run() == run()


def test_retry_strategies() -> None:
    """Each backoff strategy gives the documented delays, capped at max_delay."""
    rng = random.Random(1)
    assert [l0.Retry(strategy="linear", base_delay=1, max_delay=2.5).backoff(k, rng)
            for k in (1, 2, 3)] == [1, 2, 2.5]  # fmt: skip
    assert l0.Retry(strategy="fixed", base_delay=3).backoff(9, rng) == 3
    assert l0.Retry(strategy="exponential", base_delay=1, max_delay=60).backoff(2000, rng) == 60
    for _ in range(100):
        assert 0 <= l0.Retry(strategy="full-jitter", base_delay=2).backoff(2, rng) <= 4
        assert 2 <= l0.Retry(strategy="fixed-jitter", base_delay=2).backoff(2, rng) <= 4


def test_non_retryable_error_falls_back_with_its_reason() -> None:
    """A non-retryable error moves straight to the next source, naming the failure."""
    engine = make(sources=2)
    engine.begin_attempt(0.0, engine.start(0.0))
    action = engine.source_failed(l0.NetworkError("TLS", retryable=False), 0.0)
    assert action == StartAttempt(1, 1, 0.0, is_retry=False, is_fallback=True)
    callbacks = [(n.callback, n.args) for n in engine.outbox if n.callback == "on_fallback"]
    assert callbacks == [("on_fallback", (0, "Network error (NETWORK_ERROR)"))]
