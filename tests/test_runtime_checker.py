"""The guardrail checker task: asynchronous rules off the token path under a task group
(``l0.session()``, ``async with stream``), inline otherwise; GUARDRAIL_CALLBACK_* events;
drift evaluated at the end of a short stream."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio
import anyio.lowlevel
import pytest

import l0
from l0.events import EventType
from tests._sources import Script, collect

pytestmark = pytest.mark.timing

BAD = "FORBIDDEN"
EVERY = l0.CheckIntervals(guardrails=2)


def words(*items: str) -> list[str]:
    return [f"{w} " for w in items]


class Events:
    """Collects observability events (``on_event``)."""

    def __init__(self) -> None:
        self.events: list[l0.events.ObservabilityEvent] = []

    def __call__(self, event: l0.events.ObservabilityEvent) -> None:
        self.events.append(event)

    def of(self, kind: EventType) -> list[Any]:
        return [e for e in self.events if e.event_type is kind]


def _slow_source(log: list[str], n: int = 12) -> AsyncIterator[str]:
    async def gen() -> AsyncIterator[str]:
        for i in range(n):
            log.append(f"yield {i}")
            yield f"w{i} "
            await anyio.sleep(0.01)

    return gen()


def _slow_rule(log: list[str], delay: float = 0.035, severity: l0.Severity = "error") -> l0.Rule:
    async def check(delta: str) -> str | None:
        log.append("check start")
        await anyio.sleep(delay)
        log.append("check end")
        return f"found {BAD}" if BAD in delta else None

    return l0.Rule.streaming("slow", check, overlap=len(BAD), severity=severity)


def _tokens_during_checks(log: list[str]) -> int:
    """How many source items were produced while a check was in flight."""
    inside = False
    count = 0
    for entry in log:
        if entry == "check start":
            inside = True
        elif entry == "check end":
            inside = False
        elif inside and entry.startswith("yield"):
            count += 1
    return count


async def test_inline_without_a_task_group_the_source_waits_for_the_check() -> None:
    log: list[str] = []
    stream = l0.run(lambda: _slow_source(log), guardrails=[_slow_rule(log)], check_intervals=EVERY)
    assert await stream.read() == "".join(f"w{i} " for i in range(12))
    assert "check start" in log
    assert _tokens_during_checks(log) == 0


async def test_in_a_session_the_source_keeps_streaming_during_a_check() -> None:
    log: list[str] = []
    async with l0.session(guardrails=[_slow_rule(log)], check_intervals=EVERY) as s:
        stream = s.run(lambda: _slow_source(log))
        assert await stream.read() == "".join(f"w{i} " for i in range(12))
    assert _tokens_during_checks(log) > 0
    assert log.count("check start") == log.count("check end")


async def test_async_with_stream_runs_the_checker_task_too() -> None:
    log: list[str] = []
    stream = l0.run(lambda: _slow_source(log), guardrails=[_slow_rule(log)], check_intervals=EVERY)
    async with stream:
        text = await stream.read()
    assert text.startswith("w0 ")
    assert _tokens_during_checks(log) > 0


async def test_an_error_verdict_from_the_task_fails_the_attempt_and_the_retry_completes(
    zero_backoff: None,
) -> None:
    log: list[str] = []
    first = [*words("a", BAD), *words(*[f"x{i}" for i in range(40)])]

    async def play(ctx: l0.AttemptContext) -> AsyncIterator[str]:
        for item in first if ctx.attempt == 1 else words("clean", "text"):
            yield item
            await anyio.sleep(0.01)

    async with l0.session(guardrails=[_slow_rule(log, 0.02)], check_intervals=EVERY) as s:
        stream = s.run(play)
        events = await collect(stream)
    error = next(e for e in events if isinstance(e, l0.ErrorEvent))
    assert isinstance(error.error, l0.GuardrailViolationError)
    tokens_before = [e for e in events[: events.index(error)] if isinstance(e, l0.Token)]
    assert len(tokens_before) < len(first)  # acted on mid-stream, not at the end
    assert stream.state.content == "clean text "
    assert stream.state.model_retry_count == 1


async def test_a_fatal_verdict_found_after_the_source_ended_still_stops_the_stream() -> None:
    """The checks in flight are waited for at the end of the source, before completion."""
    log: list[str] = []

    async def quick() -> AsyncIterator[str]:
        for item in words("x", BAD, "y", "z"):
            yield item

    fatal = _slow_rule(log, severity="fatal")
    async with l0.session(guardrails=[fatal], check_intervals=EVERY) as s:
        with pytest.raises(l0.GuardrailViolationError) as caught:
            await s.run(quick).read()
    assert caught.value.fatal


async def test_a_stale_verdict_of_a_failed_attempt_is_dropped(zero_backoff: None) -> None:
    """Attempt 1 fails (its source raises) while a check of its output is in flight; that
    check is cancelled and its verdict never reaches attempt 2."""
    started = anyio.Event()
    finished: list[str] = []

    async def check(delta: str) -> str | None:
        if BAD in delta:
            started.set()
            await anyio.sleep(10)  # cancelled by the next attempt
            finished.append(delta)
            return "stale"
        return None

    async def play(ctx: l0.AttemptContext) -> AsyncIterator[str]:
        if ctx.attempt == 1:
            yield from_words[0]
            yield from_words[1]
            await started.wait()
            raise ConnectionError("dropped")
        for item in words("fine", "now", "done"):
            yield item

    from_words = words("a", BAD)
    rule = l0.Rule.streaming("slow", check, overlap=len(BAD))
    async with l0.session(guardrails=[rule], check_intervals=EVERY) as s:
        stream = s.run(play)
        assert await stream.read() == "fine now done "
    assert finished == []
    assert stream.state.violations == []


async def test_callback_events_have_the_canonical_fields() -> None:
    rec = Events()

    async def ok(delta: str) -> str | None:
        await anyio.lowlevel.checkpoint()
        return None

    async def broken(delta: str) -> str | None:
        await anyio.lowlevel.checkpoint()
        raise RuntimeError("bug in a rule")

    stream = l0.run(Script(words("a", "b", "c")), guardrails=[l0.Rule.streaming("ok", ok)],
                    check_intervals=EVERY, on_event=rec)  # fmt: skip
    await stream.read()
    starts = rec.of(EventType.GUARDRAIL_CALLBACK_START)
    ends = rec.of(EventType.GUARDRAIL_CALLBACK_END)
    assert starts
    assert len(starts) == len(ends)
    assert {(e.index, e.rule_id) for e in starts} == {(0, "ok")}
    assert all(e.success and e.error is None and e.duration_ms >= 0 for e in ends)
    rule_starts = rec.of(EventType.GUARDRAIL_RULE_START)
    assert starts[0].callback_id in {e.callback_id for e in rule_starts}
    types = [e.event_type for e in rec.events]
    first_start = types.index(EventType.GUARDRAIL_CALLBACK_START)
    assert types[first_start + 1] == EventType.GUARDRAIL_CALLBACK_END
    assert all(a.ts <= b.ts for a, b in zip(rec.events, rec.events[1:], strict=False))

    rec = Events()
    rules = [l0.Rule.streaming("ok", ok), l0.Rule.streaming("broken", broken)]
    stream = l0.run(Script(words("a", "b")), guardrails=rules, retry=None,
                    check_intervals=EVERY, on_event=rec)  # fmt: skip
    with pytest.raises(l0.AllStreamsExhausted):
        await stream.read()
    ends = rec.of(EventType.GUARDRAIL_CALLBACK_END)
    assert [(e.rule_id, e.success) for e in ends] == [("ok", True), ("broken", False)]
    assert ends[1].error is not None
    assert ends[1].error == "RuntimeError"  # the type: its message may quote content


async def _raise_at_w5(stream: l0.Stream) -> None:
    async for event in stream:
        if isinstance(event, l0.Token) and event.value == "w5 ":
            raise ValueError("mine")


async def test_the_body_exception_leaves_a_session_and_a_stream_unwrapped() -> None:
    log: list[str] = []

    async def in_session() -> None:
        async with l0.session(guardrails=[_slow_rule(log)], check_intervals=EVERY) as s:
            await _raise_at_w5(s.run(lambda: _slow_source(log, 40)))

    with pytest.raises(ValueError, match="mine"):
        await in_session()
    assert "check start" in log

    log = []
    stream = l0.run(lambda: _slow_source(log, 40), guardrails=[_slow_rule(log)],
                    check_intervals=EVERY)  # fmt: skip

    async def in_stream() -> None:
        async with stream:
            await _raise_at_w5(stream)

    with pytest.raises(ValueError, match="mine"):
        await in_stream()
    assert "check start" in log


async def test_leaving_a_session_mid_stream_stops_the_checker_task() -> None:
    """Breaking out and leaving the session: nothing keeps running (the session's task
    group would wait for it)."""
    log: list[str] = []
    with anyio.fail_after(5):
        async with l0.session(guardrails=[_slow_rule(log, 3.0)], check_intervals=EVERY) as s:
            stream = s.run(lambda: _slow_source(log, 40))
            async for event in stream:
                if isinstance(event, l0.Token) and event.value == "w4 ":
                    break
    assert "check start" in log
    assert "check end" not in log  # cancelled, not waited for


async def test_drift_is_evaluated_at_the_end_of_a_short_stream() -> None:
    """A stream shorter than the drift interval still gets its whole blocks checked."""
    config = l0.DriftConfig(types=frozenset({"meta_commentary"}), window=32)
    text = "As an AI language model, I cannot do that. Here is more text to fill."
    stream = l0.run(Script([text]), drift=config)
    await stream.read()
    assert stream.state.drift_detected
