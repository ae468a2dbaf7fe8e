"""Observability events of a stream: context, ids, ordering, and reproducibility with a seed."""

from __future__ import annotations

import time
from typing import Any

import pytest

import l0
import l0.testing
from l0.events import EventType
from tests._sources import Raise, Script, boom, collect, paced


def types_of(events: list[Any]) -> list[EventType]:
    return [e.event_type for e in events]


async def test_context_is_deep_copied_and_frozen() -> None:
    """The context is copied when the stream starts: later changes to the original don't show."""
    context: dict[str, Any] = {"a": {"b": [1]}, "user": "u1"}
    seen: list[Any] = []
    stream = l0.run(Script(paced("x", "y")), context=context, on_event=seen.append)
    context["a"]["b"].append(2)
    context["a"]["c"] = 3
    context["user"] = "u2"
    async for _ in stream:
        context["late"] = True
    assert seen
    for event in seen:
        assert event.context == {"a": {"b": (1,)}, "user": "u1"}
    frozen = seen[0].context
    with pytest.raises(TypeError):
        frozen["a"]["x"] = 1
    with pytest.raises(TypeError):
        frozen["new"] = 1
    with pytest.raises(TypeError):
        del frozen["user"]
    with pytest.raises(TypeError):
        frozen["a"].update(x=1)


async def test_context_is_on_errors_too() -> None:
    """Errors raised by the stream carry the same frozen context."""
    stream = l0.run(Script([Raise(boom)]), retry=None, context={"req": 7})
    with pytest.raises(l0.AllStreamsExhausted) as info:
        await stream.read()
    assert info.value.context == {"req": 7}
    assert info.value.errors[0].context == {"req": 7}


async def test_events_share_stream_id_and_context_with_non_decreasing_ts() -> None:
    """Every event has the stream's id and context, and timestamps never go backwards."""
    seen: list[Any] = []
    with l0.testing.set_testing():
        stream = l0.run(
            Script(["a", Raise(boom)], ["b", "c"]), context={"k": "v"}, on_event=seen.append
        )
    before = time.time()
    await stream.read()
    after = time.time()
    assert len(seen) > 5
    assert {e.stream_id for e in seen} == {stream.stream_id}
    assert all(e.context == {"k": "v"} for e in seen)
    stamps = [e.ts for e in seen]
    assert stamps == sorted(stamps)
    assert before - 1 <= stamps[0] <= stamps[-1] <= after + 1


async def test_stream_ids_are_unique() -> None:
    """Two streams get different ids."""
    assert l0.run(Script(["a"])).stream_id != l0.run(Script(["a"])).stream_id


async def test_event_order_across_retries() -> None:
    """SESSION_START once first; ATTEMPT_START only for retries, each after its RETRY_ATTEMPT;
    COMPLETE last."""
    seen: list[Any] = []
    with l0.testing.set_testing():
        stream = l0.run(Script([Raise(boom)], ["x", Raise(boom)], ["ok"]), on_event=seen.append)
    assert await stream.read() == "ok"
    types = types_of(seen)
    assert types[0] == EventType.SESSION_START
    assert types.count(EventType.SESSION_START) == 1
    assert types.count(EventType.ATTEMPT_START) == 2
    assert types.count(EventType.RETRY_ATTEMPT) == 2
    assert types[-1] == EventType.COMPLETE
    assert types.count(EventType.COMPLETE) == 1
    retry_positions = [i for i, t in enumerate(types) if t == EventType.RETRY_ATTEMPT]
    attempt_positions = [i for i, t in enumerate(types) if t == EventType.ATTEMPT_START]
    for retry_at, attempt_at in zip(retry_positions, attempt_positions, strict=True):
        assert retry_at < attempt_at
        between = types[retry_at + 1 : attempt_at]
        assert EventType.ATTEMPT_START not in between
        assert EventType.RETRY_ATTEMPT not in between
    assert [e.attempt for e in seen if e.event_type == EventType.ATTEMPT_START] == [2, 3]
    assert [e.is_retry for e in seen if e.event_type == EventType.ATTEMPT_START] == [True, True]


async def test_no_attempt_start_without_retries() -> None:
    """A stream that succeeds first time has no ATTEMPT_START and no RETRY_ATTEMPT."""
    seen: list[Any] = []
    await l0.run(Script(["a"]), on_event=seen.append).read()
    types = types_of(seen)
    assert EventType.ATTEMPT_START not in types
    assert EventType.RETRY_ATTEMPT not in types
    assert types.count(EventType.SESSION_START) == 1
    assert types[-1] == EventType.COMPLETE


async def test_failure_ends_with_session_end_and_an_error_event() -> None:
    """A stream that fails for good emits no COMPLETE, one SESSION_END, and a halting ERROR."""
    seen: list[Any] = []
    with pytest.raises(l0.AllStreamsExhausted):
        await l0.run(Script([Raise(boom)]), retry=None, on_event=seen.append).read()
    types = types_of(seen)
    assert EventType.COMPLETE not in types
    assert types.count(EventType.SESSION_END) == 1
    errors = [e for e in seen if e.event_type == EventType.ERROR]
    assert [e.recovery_strategy for e in errors] == ["halt"]


@pytest.mark.timing
async def test_same_seed_gives_same_events_and_delays() -> None:
    """Same inputs and seed: the same event types and the same (jittered) retry delays."""

    async def run_once(seed: int) -> tuple[list[EventType], list[float], l0.Stream]:
        seen: list[Any] = []
        src = Script([Raise(boom)], [Raise(boom)], [Raise(boom)], ["ok"])
        retry = l0.Retry(strategy="full-jitter", base_delay=0.02, max_delay=1, attempts=3)
        stream = l0.run(src, retry=retry, seed=seed, on_event=seen.append)
        await collect(stream)
        delays = [e.delay_ms for e in seen if e.event_type == EventType.RETRY_ATTEMPT]
        return types_of(seen), delays, stream

    types_a, delays_a, stream_a = await run_once(7)
    types_b, delays_b, stream_b = await run_once(7)
    _, delays_c, _ = await run_once(8)
    assert stream_a.seed == stream_b.seed == 7
    assert types_a == types_b
    assert len(delays_a) == 3
    assert delays_a == delays_b
    assert delays_a != delays_c
    assert all(0 <= d <= cap for d, cap in zip(delays_a, [20, 40, 80], strict=True))


async def test_seed_is_random_when_not_given() -> None:
    """Without seed=..., each stream records its own random seed."""
    seeds = {l0.run(Script(["a"])).seed for _ in range(5)}
    assert len(seeds) == 5
