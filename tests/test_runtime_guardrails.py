"""Guardrails and drift acting on a live stream: fatal stops, error retries, warning records."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio
import anyio.lowlevel
import pytest

import l0
from l0.events import EventType
from tests._sources import Recorder, Script, collect, collect_until_error

BAD = "FORBIDDEN"


def forbid(severity: str = "error", **kwargs: Any) -> l0.Rule:
    """A streaming rule that flags BAD in the output (each occurrence is one violation)."""

    def check(delta: str) -> str | None:
        return f"found {BAD}" if BAD in delta else None

    return l0.Rule.streaming("forbid", check, severity=severity, overlap=len(BAD), **kwargs)  # type: ignore[arg-type]


def words(*items: str) -> list[str]:
    return [f"{w} " for w in items]


async def test_an_error_violation_fails_the_attempt_at_once_and_is_retried(
    zero_backoff: None,
) -> None:
    """The attempt stops as soon as the check sees the violation (the source is not read to
    its end), the partial output is reset, and the retry's clean output completes."""
    first = [*words("a", "b", BAD, "c", "d"), *words(*[f"x{i}" for i in range(50)])]
    src = Script(first, words("clean", "text"))
    rec = Recorder()
    seen: list[Any] = []
    stream = l0.run(
        src,
        guardrails=[forbid()],
        check_intervals=l0.CheckIntervals(guardrails=1),
        on_violation=rec.sync("on_violation"),
        on_event=seen.append,
    )
    events = await collect(stream)
    error = next(e for e in events if isinstance(e, l0.ErrorEvent))
    assert isinstance(error.error, l0.GuardrailViolationError)
    assert error.error.code == l0.ErrorCode.GUARDRAIL_VIOLATION
    assert error.will_retry
    assert any(isinstance(e, l0.Reset) for e in events)
    assert stream.state.content == "clean text "
    tokens_before_error = events.index(error)
    assert tokens_before_error <= 3  # a, b (the violating token itself is not delivered)
    assert src.closed == [True, True]
    [(violation,)] = rec.args("on_violation")
    assert violation.rule_id == "forbid"
    types = [e.event_type for e in seen]
    assert EventType.GUARDRAIL_PHASE_START in types
    result = next(
        e for e in seen if e.event_type is EventType.GUARDRAIL_RULE_RESULT and not e.passed
    )
    assert result.violation == violation


async def test_a_fatal_violation_stops_everything(zero_backoff: None) -> None:
    """fatal: no retry, no fallback; the stream fails with FATAL_GUARDRAIL_VIOLATION."""
    src = Script(words("ok", BAD, "more"))
    fallback = Script(words("never"))
    stream = l0.run(
        src,
        fallbacks=[fallback],
        guardrails=[forbid("fatal")],
        check_intervals=l0.CheckIntervals(guardrails=1),
    )
    _events, error = await collect_until_error(stream)
    assert isinstance(error, l0.GuardrailViolationError)
    assert error.code == l0.ErrorCode.FATAL_GUARDRAIL_VIOLATION
    assert error.fatal
    assert src.calls == 1
    assert fallback.calls == 0


async def test_a_warning_is_recorded_and_the_stream_completes() -> None:
    rec = Recorder()
    stream = l0.run(
        Script(words("ok", BAD, BAD, "end")),
        guardrails=[forbid("warning")],
        check_intervals=l0.CheckIntervals(guardrails=1),
        on_violation=rec.sync("on_violation"),
    )
    assert await stream.read() == f"ok {BAD} {BAD} end "
    assert [v.rule_id for v in stream.state.violations] == ["forbid"]  # reported once
    assert len(rec.args("on_violation")) == 1


async def test_completion_checks_run_at_the_end(zero_backoff: None) -> None:
    """A completion rule (strict JSON here) rejects a finished output: retried."""
    src = Script(['{"a": ', "1"], ['{"a": ', "1}"])
    stream = l0.run(src, guardrails=[l0.guardrails.strict_json_rule()])
    assert await stream.read() == '{"a": 1}'
    assert src.calls == 2


async def test_presets_work_end_to_end(zero_backoff: None) -> None:
    """The recommended preset passes ordinary prose and rejects empty output."""
    text = await l0.run(
        Script(words("The", "answer", "is", "forty-two.")), guardrails=l0.Guardrails.recommended()
    ).read()
    assert text == "The answer is forty-two. "
    src = Script(["   "], words("real", "answer"))
    stream = l0.run(src, guardrails=l0.Guardrails.recommended())
    assert await stream.read() == "real answer "


async def test_a_rule_that_raises_fails_the_attempt_not_the_process(zero_backoff: None) -> None:
    def broken(_delta: str) -> None:
        raise ValueError("bug in my rule")

    rule = l0.Rule.streaming("broken", broken)
    stream = l0.run(
        Script(words("a", "b")), guardrails=[rule], retry=None,
        check_intervals=l0.CheckIntervals(guardrails=1),
    )  # fmt: skip
    _events, error = await collect_until_error(stream)
    assert isinstance(error, l0.AllStreamsExhausted)
    assert isinstance(error.errors[-1], l0.SourceError)
    assert "bug in my rule" in (error.errors[-1].detail or "")


async def test_async_rules_act_like_sync_ones(zero_backoff: None) -> None:
    """An async streaming rule (one that awaits, like a moderation API call) is awaited at
    the check points, in order: its error violation fails the attempt at once, and the retry
    completes."""
    checked: list[str] = []

    async def moderate(delta: str) -> str | None:
        await anyio.sleep(0.001)  # a remote call
        checked.append(delta)
        return f"found {BAD}" if BAD in delta else None

    rule = l0.Rule.streaming("moderation", moderate, overlap=len(BAD))
    first = [*words("a", BAD, "c"), *words(*[f"x{i}" for i in range(30)])]
    src = Script(first, words("clean", "text"))
    stream = l0.run(src, guardrails=[rule], check_intervals=l0.CheckIntervals(guardrails=1))
    events = await collect(stream)
    error = next(e for e in events if isinstance(e, l0.ErrorEvent))
    assert isinstance(error.error, l0.GuardrailViolationError)
    assert error.error.violations[0].rule_id == "moderation"
    assert events.index(error) <= 3  # stopped at once, not at the end of the source
    assert stream.state.content == "clean text "
    assert checked[:2] == ["a ", f"a {BAD} "]  # each check sees the new text (plus overlap)


async def test_async_completion_rule_and_a_raising_async_rule(zero_backoff: None) -> None:
    async def complete(text: str) -> str | None:
        await anyio.lowlevel.checkpoint()
        return "too short" if len(text) < 8 else None

    rule = l0.Rule.completion("length", complete)
    stream = l0.run(Script(words("hi"), words("long", "enough")), guardrails=[rule])
    assert await stream.read() == "long enough "
    assert stream.state.model_retry_count == 1

    async def broken(_delta: str) -> None:
        await anyio.lowlevel.checkpoint()
        raise RuntimeError("bug in my async rule")

    stream = l0.run(Script(words("a", "b")), guardrails=[l0.Rule.streaming("b", broken)],
                    retry=None, check_intervals=l0.CheckIntervals(guardrails=1))  # fmt: skip
    _events, error = await collect_until_error(stream)
    assert isinstance(error, l0.AllStreamsExhausted)
    assert "bug in my async rule" in (error.errors[-1].detail or "")


async def test_a_checkpoint_never_includes_rejected_output(zero_backoff: None) -> None:
    """With continuation on, an attempt rejected by a guardrail restarts cleanly (Reset), and
    the factory is not asked to continue the rejected text."""
    contexts: list[l0.AttemptContext] = []

    async def play(ctx: l0.AttemptContext) -> AsyncIterator[str]:
        contexts.append(ctx)
        steps = words("fine", "so", "far", BAD, "x") if len(contexts) == 1 else words("good")
        for step in steps:
            yield step

    stream = l0.run(
        play,
        guardrails=[forbid()],
        continue_from_last_good_token=True,
        check_intervals=l0.CheckIntervals(guardrails=1, checkpoint=1),
    )
    events = await collect(stream)
    assert any(isinstance(e, l0.Reset) for e in events)
    assert contexts[1].checkpoint == ""
    assert stream.state.content == "good "


@pytest.mark.parametrize("action", ["record", "retry", "halt"])
async def test_drift_actions(zero_backoff: None, action: str) -> None:
    """A derailing output (a loop of one sentence) is detected; the action decides."""
    derail = ["Here is the plan. "] * 3 + ["I repeat myself. "] * 80
    src = Script(derail, words("A", "calm", "answer."))
    rec = Recorder()
    config = l0.DriftConfig(action=action)  # type: ignore[arg-type]
    stream = l0.run(src, drift=config, on_drift=rec.sync("on_drift"))
    events, error = await collect_until_error(stream)
    assert rec.args("on_drift"), "drift was detected"
    if action == "record":
        assert error is None
        assert stream.state.drift_detected
        assert src.calls == 1
    elif action == "retry":
        assert error is None
        assert src.calls == 2
        assert stream.state.content == "A calm answer. "
        assert isinstance(
            next(e for e in events if isinstance(e, l0.ErrorEvent)).error, l0.DriftDetected
        )
    else:
        assert isinstance(error, l0.DriftDetected)
        assert src.calls == 1


async def test_each_check_is_reported_rule_by_rule() -> None:
    """Observed, a check reports PHASE_START, then per rule RULE_START, RULE_RESULT, RULE_END
    (passing rules included), then PHASE_END; a violation appears in its rule's result."""
    seen: list[Any] = []
    quiet = l0.Rule.streaming("quiet", lambda _delta: None, severity="warning")
    rules = [quiet, forbid(severity="warning")]
    stream = l0.run(Script(words("a", BAD)), guardrails=rules, on_event=seen.append,
                    check_intervals=l0.CheckIntervals(guardrails=2))  # fmt: skip
    assert await stream.read() == f"a {BAD} "
    guard = [e for e in seen if e.event_type.value.startswith("GUARDRAIL_")]
    first = [e.event_type.value.removeprefix("GUARDRAIL_") for e in guard[:8]]
    assert first == [
        "PHASE_START",
        "RULE_START", "RULE_RESULT", "RULE_END",
        "RULE_START", "RULE_RESULT", "RULE_END",
        "PHASE_END",
    ]  # fmt: skip
    results = [
        (e.rule_id, e.passed) for e in guard[:8] if e.event_type is EventType.GUARDRAIL_RULE_RESULT
    ]
    assert results == [("quiet", True), ("forbid", False)]
    ends = [e for e in guard[:8] if e.event_type is EventType.GUARDRAIL_RULE_END]
    assert [e.callback_id for e in ends] == ["quiet#1", "forbid#1"]
    assert len(stream.state.violations) == 1
