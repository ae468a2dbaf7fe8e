"""Recording streams, and re-executing the recordings: the same events, every time.

Each scenario records a real run (retries, fallbacks, timeouts, resumes, guardrails, drift,
tool calls, retry storms, hooks...) into a store, reads it back, and feeds the recorded inputs
to a fresh engine: the events must be exactly the ones emitted (and delivered to
``on_event``), and the consumer's events the ones it iterated.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
import anyio.lowlevel
import attrs
import pytest

import l0
from l0.adapters import Finish, ToolCallDelta
from l0.record import MemoryStore, Recording, compare, load
from l0.testing import Drop, FakeAdapter, FakeProvider, HttpError, InBandError, Truncate
from l0.testing import Stall as StallFault
from tests._sources import Raise, Script, Stall, collect_until_error, paced

BAD = "FORBIDDEN"


def forbid(severity: str = "error") -> l0.Rule:
    def check(delta: str) -> str | None:
        return f"found {BAD}" if BAD in delta else None

    return l0.Rule.streaming("forbid", check, severity=severity, overlap=len(BAD))  # type: ignore[arg-type]


def words(*items: str) -> list[str]:
    return [f"{w} " for w in items]


@attrs.define
class Run:
    """A recorded run: the recording, what the consumer got, what on_event got."""

    recording: Recording
    events: list[l0.StreamEvent]
    error: Exception | None
    seen: list[Any]
    stream: l0.Stream


async def record(factory: Callable[..., Any], **options: Any) -> Run:
    store = options.pop("store", None) or MemoryStore()
    seen: list[Any] = []
    stream = l0.run(factory, record=store, on_event=seen.append, **options)
    events, error = await collect_until_error(stream)
    recording = await load(store, stream.stream_id)
    return Run(recording, events, error, seen, stream)


def view(events: list[l0.StreamEvent]) -> list[tuple[str, str]]:
    """What a consumer can tell apart: each event's type and text (an error's message)."""
    out: list[tuple[str, str]] = []
    for event in events:
        if isinstance(event, l0.ErrorEvent):
            out.append(("error", event.error.message))
        elif isinstance(event, l0.Complete):
            out.append(("complete", event.state.content))
        else:
            out.append((type(event).__name__, repr(event) if not event.is_token else event.text))
    return out


async def assert_reexecutes(run: Run) -> None:
    """Re-execution gives exactly the recorded events and the consumer's events."""
    replay = await run.recording.reexecute()
    assert replay.stopped is None
    exact = compare(run.recording, replay, ignore=())
    assert exact.equal, str(exact)
    assert compare(run.seen, replay, ignore=()).equal
    assert len(run.recording.events) == len(run.seen) > 0
    assert view(replay.stream_events) == view(run.events)
    if run.error is None:
        assert replay.error is None
        assert replay.content == run.stream.state.content == run.recording.content
    else:
        assert replay.error is not None
        assert type(replay.error).__name__ == type(run.error).__name__
        assert str(replay.error) == str(run.error)


def network_drop() -> Raise:
    return Raise(lambda: ConnectionResetError("connection reset by peer"))


def _tool_source() -> Callable[[], AsyncIterator[Any]]:
    async def play() -> AsyncIterator[Any]:
        yield "Calling. "
        yield ToolCallDelta(index=0, id="call_1", name="lookup", arguments='{"q": ')
        yield ToolCallDelta(index=0, arguments='"l0"}')
        yield Finish(reason="tool_calls")

    return play


def _open_breaker(key: str) -> l0.CircuitBreaker:
    breaker = l0.CircuitBreaker(failure_threshold=1)
    breaker.failure(key, anyio.current_time())
    return breaker


SCENARIOS: dict[str, Callable[[], tuple[Callable[..., Any], dict[str, Any]]]] = {
    "plain": lambda: (Script(paced(*words("Hello", "recorded", "world"))), {}),
    "retry with jitter": lambda: (
        Script([*paced(*words("a", "b")), network_drop()], words("fine", "text")),
        {"retry": l0.Retry(base_delay=0.001, max_delay=0.002)},
    ),
    "zero output, then content": lambda: (Script([], words("late", "answer")), {}),
    "fallback": lambda: (
        Script([network_drop()]),
        {"retry": None, "fallbacks": [Script(words("from", "fallback"))]},
    ),
    "resume": lambda: (
        Script(
            [*paced(*words("one", "two", "three", "four")), network_drop()],
            words("three", "four", "five"),
        ),
        {
            "continue_from_last_good_token": True,
            "check_intervals": l0.CheckIntervals(checkpoint=1),
        },
    ),
    "guardrail retry": lambda: (
        Script([*words("a", "b", BAD, "c")], words("clean", "text")),
        {"guardrails": [forbid()], "check_intervals": l0.CheckIntervals(guardrails=1)},
    ),
    "fatal guardrail": lambda: (
        Script(words("ok", BAD, "more")),
        {"guardrails": [forbid("fatal")], "check_intervals": l0.CheckIntervals(guardrails=1)},
    ),
    "presets and a completion check": lambda: (
        Script(words("x"), words("a", "longer", "answer")),
        {
            "guardrails": [
                *l0.Guardrails.recommended(),
                l0.Rule.completion("length", lambda text: "short" if len(text) < 5 else None),
            ]
        },
    ),
    "raising rule": lambda: (
        Script(words("a", "b")),
        {
            "guardrails": [l0.Rule.streaming("bug", lambda _d: 1 / 0)],
            "retry": None,
            "check_intervals": l0.CheckIntervals(guardrails=1),
        },
    ),
    "drift retry": lambda: (
        Script(["Here is the plan. "] * 3 + ["I repeat myself. "] * 80, words("A", "calm", "one.")),
        {"drift": l0.DriftConfig(action="retry")},
    ),
    "tool calls": lambda: (
        _tool_source(),
        {"tools": [{"name": "lookup", "parameters": {"type": "object"}}]},
    ),
    "events and data": lambda: (
        Script(
            [
                l0.Progress(percent=10.0),
                l0.Message(content="Whole message. "),
                l0.Data(payload={"k": [1, 2]}, mime_type="application/json"),
                {"type": "token", "value": "tail"},
            ]
        ),
        {},
    ),
    "unreadable item": lambda: (Script(["a", 42]), {}),
    "retry budget": lambda: (
        Script([network_drop()]),
        {
            "retry_budget": l0.RetryBudget(capacity=5, cost=5),
            "circuit_breaker": l0.CircuitBreaker(failure_threshold=3),
            "fallbacks": [Script(words("second", "source"))],
        },
    ),
    "open circuit": lambda: (
        l0.named(Script(words("never")), "down"),
        {"circuit_breaker": _open_breaker("down"), "fallbacks": [Script(words("ok"))]},
    ),
    "retry hooks": lambda: (
        Script([network_drop()], [network_drop()], words("ok")),
        {
            "retry": l0.Retry(
                should_retry=lambda ctx: True if ctx.retry < 3 else None,
                calculate_delay=lambda ctx: 0.001 * ctx.retry,
            )
        },
    ),
    "context": lambda: (Script(words("x")), {"context": {"user": "u1", "tags": ["a", "b"]}}),
}


EXPECT: dict[str, set[str]] = {
    # The path each scenario must take: event types and record kinds it must have.
    "plain": {"COMPLETE", "Wait"},
    "retry with jitter": {"RETRY_ATTEMPT", "Failed"},
    "zero output, then content": {"RETRY_ATTEMPT"},
    "fallback": {"FALLBACK_START", "Failed"},
    "resume": {"RESUME_START", "CHECKPOINT_SAVED", "Item"},
    "guardrail retry": {"GUARDRAIL_RULE_RESULT", "TakeFailure", "Guard"},
    "fatal guardrail": {"GUARDRAIL_RULE_RESULT", "TakeFailure"},
    "presets and a completion check": {"GUARDRAIL_RULE_RESULT", "Guard"},
    "raising rule": {"Guard", "TakeFailure"},
    "drift retry": {"DRIFT_CHECK_RESULT", "Drift", "TakeFailure"},
    "tool calls": {"TOOL_REQUESTED", "Item"},
    "events and data": {"Item"},
    "unreadable item": {"Item", "Failed"},
    "retry budget": {"Budget", "Breaker", "FALLBACK_START"},
    "open circuit": {"Admit", "Breaker", "FALLBACK_START"},
    "retry hooks": {"Hook", "RETRY_ATTEMPT"},
    "context": {"COMPLETE"},
}
REAL_BACKOFF = {"retry with jitter", "retry hooks"}  # test mode would skip delays and hooks


@pytest.mark.parametrize("name", list(SCENARIOS))
async def test_reexecution_reproduces_the_recorded_events(
    name: str, request: pytest.FixtureRequest
) -> None:
    """Every recorded lifecycle re-executes to the identical event sequence."""
    if name not in REAL_BACKOFF:
        request.getfixturevalue("zero_backoff")
    factory, options = SCENARIOS[name]()
    run = await record(factory, **options)
    assert run.recording.status == ("completed" if run.error is None else "failed")
    seen = {e.event_type.value for e in run.recording.events}
    seen |= {type(r).__name__ for r in run.recording.records}
    assert EXPECT[name] <= seen
    await assert_reexecutes(run)


async def test_async_guardrail_verdicts_are_recorded_and_replayed(zero_backoff: None) -> None:
    """An async rule's verdicts are inputs: re-execution does not call the rule again."""
    calls: list[str] = []

    async def moderate(delta: str) -> str | None:
        await anyio.lowlevel.checkpoint()
        calls.append(delta)
        return f"found {BAD}" if BAD in delta else None

    rule = l0.Rule.streaming("moderation", moderate, overlap=len(BAD))
    factory = Script([*words("a", BAD, "c"), *words(*[f"x{i}" for i in range(20)])], words("ok"))
    run = await record(factory, guardrails=[rule], check_intervals=l0.CheckIntervals(guardrails=1))
    checked = len(calls)
    await assert_reexecutes(run)
    assert len(calls) == checked


@pytest.mark.timing
async def test_timeouts_reexecute_exactly(zero_backoff: None) -> None:
    """Initial and inter-token deadlines, then a total deadline that ends the stream."""
    factory = Script(["a ", Stall(5), "b "], [Stall(5), "x"], words("done"))
    run = await record(factory, timeout=l0.Timeout(initial_token=0.05, inter_token=0.05))
    assert run.error is None
    assert run.stream.state.retry_count == 2
    await assert_reexecutes(run)

    run = await record(Script(["a ", Stall(5)]), timeout=l0.Timeout(total=0.05))
    assert isinstance(run.error, l0.StreamTimeout)
    await assert_reexecutes(run)


async def test_abort_is_recorded_and_reexecuted() -> None:
    """abort() mid-stream: the recording ends ``aborted`` and re-executes the same."""
    store = MemoryStore()
    stream = l0.run(Script(paced(*words(*"abcdefgh"))), record=store)

    def abort_at_c(event: l0.StreamEvent) -> None:
        if event.text == "c ":
            stream.abort()

    _, error = await collect_until_error(stream, abort_at_c)
    assert isinstance(error, l0.StreamAborted)
    recording = await load(store, stream.stream_id)
    assert recording.status == "aborted"
    replay = await recording.reexecute()
    assert compare(recording, replay, ignore=()).equal
    assert isinstance(replay.error, l0.StreamAborted)


async def test_cancellation_still_writes_the_end_of_the_recording() -> None:
    """A consumer cancelled while the source stalls: the final flush still happens
    (shielded), the stream is recorded as interrupted, and it re-executes the same."""
    store = MemoryStore()
    stream = l0.run(Script(["a ", Stall(60)]), record=store, timeout=None)
    with anyio.move_on_after(0.05):
        async for _ in stream:
            pass
    recording = await load(store, stream.stream_id)
    assert recording.status == "interrupted"
    assert recording.end is not None
    assert compare(recording, await recording.reexecute(), ignore=()).equal


async def test_breaking_out_of_the_loop_records_an_interrupted_stream() -> None:
    store = MemoryStore()
    async with l0.run(Script(paced(*words(*"abcdef"))), record=store) as stream:
        async for event in stream:
            if event.text == "b ":
                break
    recording = await load(store, stream.stream_id)
    assert recording.status == "interrupted"
    assert recording.state is not None
    assert recording.state["content"] == "a b "


async def test_session_records_every_stream() -> None:
    """``l0.session(record=store)`` records each of its streams under its own id."""
    store = MemoryStore()
    async with l0.session(record=store) as session:
        one = session.run(Script(words("one")))
        two = session.run(Script(words("two")))
        assert await one.read() == "one "
        assert await two.read() == "two "
        unrecorded = session.run(Script(words("three")), record=None)
        await unrecorded.read()
    assert await store.streams() == [one.stream_id, two.stream_id]
    recording = await load(store, two.stream_id)
    assert recording.content == "two "
    assert recording.seed == two.seed


async def test_recording_costs_no_events_for_an_unobserved_stream() -> None:
    """Without on_event the stream's own behaviour is unchanged, and the events are still
    recorded (a recording always has them)."""
    store = MemoryStore()
    stream = l0.run(Script(words("quiet")), record=store)
    assert await stream.read() == "quiet "
    recording = await load(store, stream.stream_id)
    assert [e.event_type.value for e in recording.events][:2] == ["SESSION_START", "STREAM_INIT"]


# --- what would have happened ---------------------------------------------------------------


async def test_reexecution_with_another_guardrail_shows_what_would_have_happened() -> None:
    run = await record(Script(paced(*words("Hello", BAD, "world"))))
    assert run.error is None
    replay = await run.recording.reexecute(
        guardrails=[forbid("fatal")], check_intervals=l0.CheckIntervals(guardrails=1), drift=None
    )
    assert isinstance(replay.error, l0.GuardrailViolationError)
    assert replay.error.code is l0.ErrorCode.FATAL_GUARDRAIL_VIOLATION
    diff = compare(run.recording, replay)
    assert not diff.equal
    assert diff.first_difference is not None
    text = str(diff)
    assert "+GUARDRAIL_RULE_RESULT" in text
    assert "-COMPLETE" in text


async def test_reexecution_without_the_guardrail_stops_where_the_recording_is_silent(
    zero_backoff: None,
) -> None:
    """The recorded attempt was cut by a verdict; without it, what the source would have sent
    next is unknown: re-execution says so instead of inventing it."""
    run = await record(
        Script([*words("a", BAD, "b", "c")], words("clean")),
        guardrails=[forbid()],
        check_intervals=l0.CheckIntervals(guardrails=1),
    )
    replay = await run.recording.reexecute(guardrails=None)
    assert replay.stopped is not None
    assert "verdict" in replay.stopped


async def test_reexecution_without_retries_fails_where_the_recording_retried(
    zero_backoff: None,
) -> None:
    run = await record(Script([network_drop()], words("ok")))
    assert run.error is None
    replay = await run.recording.reexecute(retry=None)
    assert replay.stopped is None
    assert isinstance(replay.error, l0.AllStreamsExhausted)


@pytest.mark.timing
async def test_reexecution_with_a_shorter_timeout() -> None:
    """A stall the recorded stream waited out times out with a shorter deadline; the retry
    it would make is not in the recording."""
    run = await record(Script(["a ", Stall(0.2), "b "]), timeout=None)
    replay = await run.recording.reexecute(timeout=l0.Timeout(inter_token=0.05))
    types = [e.event_type.value for e in replay.events]
    assert "TIMEOUT_TRIGGERED" in types
    assert replay.stopped is not None
    assert "attempt 2" in replay.stopped


async def test_reexecution_with_another_seed_changes_the_jitter() -> None:
    run = await record(
        Script([network_drop()], words("ok")), retry=l0.Retry(base_delay=0.001, max_delay=0.001)
    )
    same = await run.recording.reexecute(seed=run.recording.seed)
    assert compare(run.recording, same, ignore=()).equal
    other = await run.recording.reexecute(seed=run.recording.seed + 1)
    assert not compare(run.recording, other).equal
    assert "delayMs" in str(compare(run.recording, other))


async def test_reexecute_rejects_unknown_and_invalid_options() -> None:
    run = await record(Script(words("x")))
    with pytest.raises(TypeError, match="stream"):
        await run.recording.reexecute(stream=lambda: None)
    with pytest.raises(l0.ConfigError, match="retry"):
        await run.recording.reexecute(retry=3)
    with pytest.raises(l0.ConfigError, match="seed"):
        await run.recording.reexecute(seed="x")


async def test_changed_check_intervals_need_live_verdicts(zero_backoff: None) -> None:
    run = await record(Script(words("x")), guardrails=[forbid()])
    with pytest.raises(l0.ConfigError, match="guardrails="):
        await run.recording.reexecute(check_intervals=l0.CheckIntervals(guardrails=1))
    replay = await run.recording.reexecute(
        check_intervals=l0.CheckIntervals(guardrails=1), guardrails=[forbid()], drift=None
    )
    assert replay.completed


async def test_live_async_rules_are_awaited_in_a_what_if() -> None:
    async def moderate(delta: str) -> str | None:
        await anyio.lowlevel.checkpoint()
        return "no" if BAD in delta else None

    run = await record(Script(paced(*words("a", BAD, "b"))))
    rule = l0.Rule.streaming("moderation", moderate, severity="fatal", overlap=len(BAD))
    replay = await run.recording.reexecute(
        guardrails=[rule], check_intervals=l0.CheckIntervals(guardrails=1), drift=None
    )
    assert isinstance(replay.error, l0.GuardrailViolationError)


# --- reading back, and playing --------------------------------------------------------------


async def test_reading_a_recording_back(zero_backoff: None) -> None:
    run = await record(Script([*words("a", "b"), network_drop()], words("c", "d")))
    recording = run.recording
    assert recording.events == run.seen
    assert recording.state is not None
    assert recording.state["content"] == "c d "
    assert recording.error is None
    attempts = recording.attempts
    assert [(a.attempt, a.is_retry, a.ended) for a in attempts] == [
        (1, False, "failed"),
        (2, True, "ended"),
    ]
    assert [c for _, c in attempts[0].chunks] == ["a ", "b "]
    assert isinstance(attempts[0].error, l0.NetworkError)
    assert attempts[1].adapter == "async-iterator"
    assert "completed" in repr(recording)


async def test_play_gives_the_consumers_events_and_raises_the_failure() -> None:
    run = await record(Script([network_drop()]), retry=None)
    assert run.error is not None
    played: list[l0.StreamEvent] = []

    async def play(**options: Any) -> None:
        played.extend([event async for event in run.recording.play(**options)])

    with pytest.raises(l0.AllStreamsExhausted):
        await play()
    assert view(played) == view(run.events)
    with pytest.raises(l0.ConfigError, match="speed"):
        await play(speed=0)


@pytest.mark.timing
async def test_play_keeps_the_original_pacing() -> None:
    run = await record(Script(["a ", Stall(0.1), "b ", Stall(0.1), "c "]))
    start = anyio.current_time()
    times = [
        anyio.current_time() - start
        async for event in run.recording.play(pace=True)
        if event.is_token
    ]
    assert len(times) == 3
    assert times[1] - times[0] >= 0.09
    assert times[2] - times[0] >= 0.18
    start = anyio.current_time()
    async for _ in run.recording.play(pace=True, speed=4.0):
        pass
    assert anyio.current_time() - start < 0.15


# --- replaying through the runtime with faults -----------------------------------------------


async def test_a_recorded_stream_replayed_with_a_drop(zero_backoff: None) -> None:
    """The recorded output, dropped after 2 chunks on its first play: the user's own
    configuration retries and gets the same text."""
    run = await record(Script(paced(*words("The", "quick", "brown", "fox"))))
    source = run.recording.source(Drop(after=2))
    stream = l0.run(source)
    assert await stream.read() == run.recording.content
    assert source.calls == 2
    assert stream.state.network_retry_count == 1


async def test_a_replayed_drop_resumes_with_continuation(zero_backoff: None) -> None:
    run = await record(Script(paced(*words(*[f"w{i}" for i in range(12)]))))
    source = run.recording.source(Drop(after=8))
    resumed: list[Any] = []
    stream = l0.run(
        source,
        continue_from_last_good_token=True,
        check_intervals=l0.CheckIntervals(checkpoint=2),
        on_resume=lambda checkpoint, _n: resumed.append(checkpoint),
    )
    assert await stream.read() == run.recording.content
    assert resumed


@pytest.mark.timing
async def test_a_replayed_stall_trips_the_inter_token_deadline(zero_backoff: None) -> None:
    run = await record(Script(paced(*words("a", "b", "c"))))
    source = run.recording.source(StallFault(seconds=5, after=1))
    stream = l0.run(source, timeout=l0.Timeout(inter_token=0.05))
    assert await stream.read() == "a b c "
    assert isinstance(stream.state.errors[0], l0.StreamTimeout)


async def test_truncate_and_in_band_error_faults(zero_backoff: None) -> None:
    """A truncated replay of an attempt whose adapter required a finish is truncated; an
    in-band error chunk fails the attempt."""
    provider = FakeProvider("Some recorded text here.")
    run = await record(provider, adapter=FakeAdapter())
    assert run.recording.attempts[-1].requires_finish
    source = run.recording.source(Truncate(after=2))
    stream = l0.run(source)
    assert await stream.read() == run.recording.content
    assert isinstance(stream.state.errors[0], l0.StreamTruncated)

    source = run.recording.source(InBandError(after=1), faulty=2)
    stream = l0.run(source)
    assert await stream.read() == run.recording.content
    assert source.calls == 3


async def test_replay_source_checks_its_arguments() -> None:
    run = await record(Script(words("x")))
    with pytest.raises(l0.ConfigError, match="replay fault"):
        run.recording.source(HttpError(status=500))  # type: ignore[arg-type]
    with pytest.raises(l0.ConfigError, match="faulty"):
        run.recording.source(faulty=-1)
    with pytest.raises(l0.ConfigError, match="attempt"):
        run.recording.source(attempt=5)
