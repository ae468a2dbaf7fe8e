"""Retry storms: the retry budget a session's streams share, and the circuit breaker per source."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest

import l0
from l0.events import EventType


def _flaky(calls: list[str], name: str, *, fail: bool) -> Any:
    async def source() -> AsyncIterator[str]:
        calls.append(name)
        if fail:
            raise ConnectionResetError(f"{name} is down")
        yield f"{name} ok"

    return source


# --------------------------------------------------------------------------- the budget


def test_budget_arithmetic() -> None:
    budget = l0.RetryBudget(capacity=12, cost=5, timeout_cost=10, refund=1)
    assert budget.acquire(timeout=False) == 5
    assert budget.acquire(timeout=False) == 5
    assert budget.acquire(timeout=False) is None  # 2 left
    assert budget.refused == 1
    budget.release(5)  # a stream that needed one retry completed: 5 back, plus 1
    assert budget.available == 8
    assert budget.acquire(timeout=True) is None  # a timeout costs 10
    budget.release(100)
    assert budget.available == 12  # capped at the capacity
    with pytest.raises(l0.ConfigError, match="capacity"):
        l0.RetryBudget(capacity=0)
    with pytest.raises(l0.ConfigError, match="cost"):
        l0.RetryBudget(cost=-1)


async def test_a_spent_budget_stops_retries_across_the_sessions_streams(
    zero_backoff: None,
) -> None:
    """A provider outage: the session's streams stop retrying once the shared budget is
    spent (RETRY_GIVE_UP says why), so the load stops multiplying."""
    calls: list[str] = []
    give_ups: list[Any] = []
    budget = l0.RetryBudget(capacity=10, cost=5)

    def on_event(event: Any) -> None:
        if event.event_type is EventType.RETRY_GIVE_UP:
            give_ups.append(event)

    async with l0.session(retry_budget=budget, on_event=on_event,
                          retry=l0.Retry(attempts=5, max_retries=5)) as s:  # fmt: skip
        for _ in range(4):
            with pytest.raises(l0.AllStreamsExhausted):
                await s.run(_flaky(calls, "p", fail=True)).read()
    # Two retries were paid for (10 / 5); then every stream made its first attempt only.
    assert len(calls) == 4 + 2
    assert budget.available == 0
    assert budget.refused >= 2
    assert {e.reason for e in give_ups} == {"Retry budget exhausted"}


async def test_successes_refill_the_budget(zero_backoff: None) -> None:
    budget = l0.RetryBudget(capacity=10, cost=5, refund=1)
    attempts = 0

    async def once_flaky() -> AsyncIterator[str]:
        nonlocal attempts
        attempts += 1
        if attempts % 2:
            raise ConnectionResetError("blip")
        yield "ok"

    async with l0.session(retry_budget=budget) as s:
        for _ in range(3):
            assert await s.run(once_flaky).read() == "ok"
    assert attempts == 6
    assert budget.available == 10  # each stream's retry was given back (and refunds capped)


async def test_each_session_has_its_own_budget_unless_told_otherwise() -> None:
    async with l0.session() as a, l0.session() as b:
        assert isinstance(a.defaults.retry_budget, l0.RetryBudget)
        assert a.defaults.retry_budget is not b.defaults.retry_budget
    async with l0.session(retry_budget=None) as c:
        assert c.defaults.retry_budget is None
    with pytest.raises(l0.ConfigError, match="retry_budget"):
        l0.session(retry_budget=5)  # pyright: ignore[reportArgumentType]


# --------------------------------------------------------------------------- the breaker


def test_breaker_states() -> None:
    breaker = l0.CircuitBreaker(failure_threshold=2, recovery_time=10)
    assert breaker.allow("p", 0.0)
    assert not breaker.failure("p", 1.0)
    assert breaker.failure("p", 2.0)  # opens
    assert breaker.state("p") == "open"
    assert not breaker.allow("p", 11.9)
    assert breaker.allow("p", 12.0)  # the probe
    assert breaker.state("p") == "half_open"
    assert not breaker.allow("p", 12.5)  # one probe at a time
    assert breaker.failure("p", 13.0)  # the probe failed: open again
    assert not breaker.allow("p", 22.9)
    assert breaker.allow("p", 23.0)
    breaker.success("p")
    assert breaker.state("p") == "closed"
    breaker.failure("q", 0.0)
    breaker.success("q")  # a success resets the count
    assert not breaker.failure("q", 1.0)
    with pytest.raises(l0.ConfigError, match="recovery_time"):
        l0.CircuitBreaker(recovery_time=0)


@pytest.mark.timing
async def test_an_open_circuit_skips_the_source_then_probes_it(zero_backoff: None) -> None:
    """After two failed streams the primary's circuit opens: the next stream goes straight to
    the fallback without calling the primary (CircuitOpen recorded); after the recovery time
    one probe goes through, and its success closes the circuit."""
    calls: list[str] = []
    primary_down = True
    breaker = l0.CircuitBreaker(failure_threshold=2, recovery_time=0.2)

    def primary() -> Any:
        return _flaky(calls, "primary", fail=primary_down)()

    fallback = _flaky(calls, "fallback", fail=False)
    async with l0.session(circuit_breaker=breaker, retry=None) as s:

        async def one() -> l0.Stream:
            # A new factory object per request, as programs make them: named() gives the
            # primary one identity for the breaker.
            stream = s.run(l0.named(lambda: primary(), "primary"), fallbacks=[fallback])  # noqa: PLW0108
            assert await stream.read() == "fallback ok"
            return stream

        await one()
        await one()
        assert breaker.state("primary") == "open"
        calls.clear()
        skipped = await one()
        assert calls == ["fallback"]
        [error] = skipped.state.errors
        assert isinstance(error, l0.CircuitOpen)
        assert error.code is l0.ErrorCode.CIRCUIT_OPEN

        await anyio.sleep(0.25)
        primary_down = False
        calls.clear()
        stream = s.run(l0.named(lambda: primary(), "primary"), fallbacks=[fallback])  # noqa: PLW0108
        assert await stream.read() == "primary ok"
        assert calls == ["primary"]
        assert breaker.state("primary") == "closed"


async def test_content_failures_do_not_open_the_circuit(zero_backoff: None) -> None:
    """Zero output is the model's failure, not the provider being down."""
    breaker = l0.CircuitBreaker(failure_threshold=1)

    async def empty() -> AsyncIterator[str]:
        for _ in ():
            yield ""

    async def good() -> AsyncIterator[str]:
        yield "fine"

    for _ in range(3):
        stream = l0.run(l0.named(empty, "m"), fallbacks=[good], retry=None,
                        circuit_breaker=breaker)  # fmt: skip
        assert await stream.read() == "fine"
    assert breaker.state("m") == "closed"


async def test_every_source_open_fails_fast() -> None:
    breaker = l0.CircuitBreaker(failure_threshold=1, recovery_time=60)
    calls: list[str] = []
    down = _flaky(calls, "p", fail=True)
    with pytest.raises(l0.AllStreamsExhausted):
        await l0.run(down, retry=None, circuit_breaker=breaker).read()
    with pytest.raises(l0.AllStreamsExhausted) as info:
        await l0.run(down, retry=None, circuit_breaker=breaker).read()
    assert calls == ["p"]  # the second stream never called it
    assert isinstance(info.value.errors[-1], l0.CircuitOpen)


async def test_named_passes_the_attempt_context_on() -> None:
    seen: list[int] = []

    async def wants(ctx: l0.AttemptContext) -> AsyncIterator[str]:
        seen.append(ctx.attempt)
        yield "x"

    async def plain() -> AsyncIterator[str]:
        yield "y"

    assert await l0.run(l0.named(wants, "a")).read() == "x"
    assert seen == [1]
    assert await l0.run(l0.named(plain, "b")).read() == "y"
    with pytest.raises(l0.ConfigError):
        l0.named(3, "x")  # pyright: ignore[reportArgumentType]
