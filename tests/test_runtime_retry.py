"""Retries: what the consumer sees, the budgets, the hooks, and the backoff delays."""

from __future__ import annotations

import random
from typing import Any

import anyio
import pytest
import trio.testing

import l0
import l0.testing
from l0 import ErrorCode
from l0.events import EventType
from tests._sources import (
    Raise,
    Recorder,
    Script,
    assert_slept,
    boom,
    collect,
    text_after_last_reset,
)

# -- what the consumer sees --------------------------------------------------------------------


async def test_retry_after_error_keeps_only_the_second_attempts_text(zero_backoff: None) -> None:
    """A plain exception after some tokens: ErrorEvent, Reset, then attempt 2's tokens."""
    src = Script(["ab", "c", Raise(boom)], ["de", "f"])
    stream = l0.run(src)
    events = await collect(stream)
    assert [type(e) for e in events] == [
        l0.Token,
        l0.Token,
        l0.ErrorEvent,
        l0.Reset,
        l0.Token,
        l0.Token,
        l0.Complete,
    ]
    error_event = events[2]
    assert isinstance(error_event, l0.ErrorEvent)
    assert (error_event.will_retry, error_event.will_fallback) == (True, False)
    assert isinstance(error_event.error, l0.SourceError)
    assert error_event.error.code == ErrorCode.STREAM_ERROR
    assert isinstance(error_event.error.__cause__, RuntimeError)
    assert str(error_event.error.__cause__) == "boom"
    reset = events[3]
    assert isinstance(reset, l0.Reset)
    assert (reset.discarded, reset.attempt, reset.source_index) == (3, 2, 0)
    assert text_after_last_reset(events) == "def"
    assert stream.state.content == "def"
    assert stream.state.token_count == 2
    assert stream.state.model_retry_count == 1
    assert src.calls == 2
    assert src.closed == [True, True]


async def test_read_agrees_with_tokens_after_the_last_reset(zero_backoff: None) -> None:
    """read() returns exactly the text of the tokens after the last Reset."""
    scripts = (["x", Raise(boom)], ["yy", "z", Raise(boom)], ["1", "2", "3"])
    events = await collect(l0.run(Script(*scripts)))
    text = await l0.run(Script(*scripts)).read()
    assert text == "123"
    assert text_after_last_reset(events) == text
    assert [e.discarded for e in events if isinstance(e, l0.Reset)] == [1, 3]


async def test_no_reset_when_the_failed_attempt_emitted_nothing(zero_backoff: None) -> None:
    """An attempt that failed before any output gives an ErrorEvent but no Reset."""
    events = await collect(l0.run(Script([Raise(boom)], ["ok"])))
    assert [type(e) for e in events] == [l0.ErrorEvent, l0.Token, l0.Complete]


# -- budgets -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("script", "code"),
    [
        (["partial", Raise(boom)], ErrorCode.STREAM_ERROR),
        ([], ErrorCode.ZERO_OUTPUT),
        ([" ", "\n"], ErrorCode.ZERO_OUTPUT),
    ],
    ids=["exception", "nothing", "whitespace"],
)
async def test_attempts_budget_for_content_errors(
    zero_backoff: None, script: list[Any], code: ErrorCode
) -> None:
    """Retry(attempts=2) with content failures: 3 attempts, then AllStreamsExhausted."""
    src = Script(script)
    stream = l0.run(src, retry=l0.Retry(attempts=2))
    with pytest.raises(l0.AllStreamsExhausted) as info:
        await stream.read()
    error = info.value
    assert error.code == ErrorCode.ALL_STREAMS_EXHAUSTED
    assert src.calls == 3
    assert len(error.errors) == 3
    assert [e.code for e in error.errors] == [code] * 3
    assert [e.attempt for e in error.errors] == [1, 2, 3]
    assert error.__cause__ is error.errors[-1]
    assert stream.state.error is error
    assert stream.state.model_retry_count == 2
    assert stream.state.network_retry_count == 0
    assert src.closed == [True, True, True]


@pytest.mark.parametrize(
    "make_error",
    [
        lambda: ConnectionResetError("reset by peer"),
        lambda: l0.NetworkError("dropped"),
        lambda: TimeoutError("read timed out"),
    ],
    ids=["ConnectionResetError", "NetworkError", "TimeoutError"],
)
async def test_network_errors_use_max_retries_not_attempts(
    zero_backoff: None, make_error: Any
) -> None:
    """Network failures ignore Retry.attempts and are capped by Retry.max_retries."""
    src = Script(["x", Raise(make_error)])
    stream = l0.run(src, retry=l0.Retry(attempts=0, max_retries=3))
    with pytest.raises(l0.AllStreamsExhausted) as info:
        await stream.read()
    assert src.calls == 4
    assert len(info.value.errors) == 4
    assert all(isinstance(e, l0.NetworkError) for e in info.value.errors)
    assert stream.state.network_retry_count == 3
    assert stream.state.model_retry_count == 0


async def test_max_retries_caps_content_retries_too(zero_backoff: None) -> None:
    """max_retries bounds retries of every kind: attempts=5, max_retries=2 gives 3 attempts."""
    src = Script([Raise(boom)])
    with pytest.raises(l0.AllStreamsExhausted) as info:
        await l0.run(src, retry=l0.Retry(attempts=5, max_retries=2)).read()
    assert src.calls == 3
    assert len(info.value.errors) == 3


async def test_network_and_content_budgets_are_separate(zero_backoff: None) -> None:
    """Network retries do not use up the content budget (attempts=1 still allows one more)."""
    src = Script(
        [Raise(ConnectionResetError)],
        [Raise(ConnectionResetError)],
        [Raise(boom)],
        [Raise(boom)],
        ["never"],
    )
    with pytest.raises(l0.AllStreamsExhausted) as info:
        await l0.run(src, retry=l0.Retry(attempts=1, max_retries=6)).read()
    assert src.calls == 4
    assert [e.code for e in info.value.errors] == [
        ErrorCode.NETWORK_ERROR,
        ErrorCode.NETWORK_ERROR,
        ErrorCode.STREAM_ERROR,
        ErrorCode.STREAM_ERROR,
    ]


async def test_retry_none_disables_retries() -> None:
    """retry=None: the first failure ends the stream."""
    src = Script([Raise(boom)], ["never"])
    with pytest.raises(l0.AllStreamsExhausted) as info:
        await l0.run(src, retry=None).read()
    assert src.calls == 1
    assert len(info.value.errors) == 1
    assert isinstance(info.value.__cause__, l0.SourceError)


async def test_retry_on_without_the_reason_does_not_retry(zero_backoff: None) -> None:
    """A failure whose reason is not in retry_on is not retried; listed reasons still are."""
    retry = l0.Retry(retry_on={"network_error"})
    content = Script([Raise(boom)], ["never"])
    with pytest.raises(l0.AllStreamsExhausted):
        await l0.run(content, retry=retry).read()
    assert content.calls == 1
    network = Script([Raise(ConnectionResetError)], ["ok"])
    assert await l0.run(network, retry=retry).read() == "ok"
    assert network.calls == 2


async def test_should_retry_false_vetoes(zero_backoff: None) -> None:
    """should_retry returning False stops retrying; it is told about the failure."""
    seen: list[l0.RetryContext] = []

    def should_retry(ctx: l0.RetryContext) -> bool:
        seen.append(ctx)
        return False

    src = Script([Raise(boom)], ["never"])
    with pytest.raises(l0.AllStreamsExhausted):
        await l0.run(src, retry=l0.Retry(should_retry=should_retry)).read()
    assert src.calls == 1
    assert len(seen) == 1
    ctx = seen[0]
    assert isinstance(ctx.error, l0.SourceError)
    assert (ctx.retry, ctx.attempt, ctx.source_index) == (1, 1, 0)
    assert (ctx.model_retries, ctx.network_retries) == (0, 0)


async def test_should_retry_none_keeps_the_default(zero_backoff: None) -> None:
    """should_retry returning None leaves the default decision (retry within budget)."""
    src = Script([Raise(boom)], ["ok"])
    assert await l0.run(src, retry=l0.Retry(should_retry=lambda ctx: None)).read() == "ok"
    assert src.calls == 2


async def test_on_retry_reports_next_attempt_and_reason(zero_backoff: None) -> None:
    """on_retry(attempt, reason) is called with the number of the next attempt and why."""
    rec = Recorder()
    src = Script([Raise(boom)], [], ["ok"])
    await l0.run(src, on_retry=rec.sync("on_retry")).read()
    assert rec.args("on_retry") == [(2, "Stream error"), (3, "Zero output")]


# -- KeyboardInterrupt -------------------------------------------------------------------------


async def test_keyboard_interrupt_from_the_source_propagates_unchanged() -> None:
    """A source raising KeyboardInterrupt: it propagates as is, with no retry."""
    interrupt = KeyboardInterrupt()
    src = Script(["a", Raise(interrupt)], ["never"])
    stream = l0.run(src, retry=l0.Retry(base_delay=0))
    caught: BaseException | None = None
    try:
        await stream.read()
    except KeyboardInterrupt as exc:
        caught = exc
    assert caught is interrupt
    assert src.calls == 1
    assert src.closed == [True]
    await stream.aclose()


async def test_keyboard_interrupt_from_the_factory_propagates_unchanged() -> None:
    """A factory raising KeyboardInterrupt: it propagates as is, with no retry."""
    interrupt = KeyboardInterrupt()
    calls: list[int] = []

    def factory() -> list[str]:
        calls.append(1)
        raise interrupt

    stream = l0.run(factory, retry=l0.Retry(base_delay=0))
    caught: BaseException | None = None
    try:
        await stream.read()
    except KeyboardInterrupt as exc:
        caught = exc
    assert caught is interrupt
    assert calls == [1]
    await stream.aclose()


# -- backoff computation -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("retry", "expected"),
    [
        (l0.Retry(strategy="exponential", base_delay=1, max_delay=10), [1, 2, 4, 8, 10, 10]),
        (l0.Retry(strategy="exponential", base_delay=1, max_delay=3), [1, 2, 3, 3, 3, 3]),
        (l0.Retry(strategy="linear", base_delay=0.5, max_delay=2), [0.5, 1, 1.5, 2, 2, 2]),
        (l0.Retry(strategy="fixed", base_delay=0.3, max_delay=10), [0.3] * 6),
        (l0.Retry(strategy="fixed", base_delay=5, max_delay=2), [2] * 6),
    ],
    ids=["exponential", "exponential-capped", "linear", "fixed", "fixed-capped"],
)
def test_backoff_of_deterministic_strategies(retry: l0.Retry, expected: list[float]) -> None:
    """backoff(k) follows the strategy for k = 1..6 and never exceeds max_delay."""
    rng = random.Random(0)
    assert [retry.backoff(k, rng) for k in range(1, 7)] == pytest.approx(expected)


def test_backoff_exponential_huge_retry_number_is_capped() -> None:
    """A huge retry number does not overflow: the delay is max_delay."""
    retry = l0.Retry(strategy="exponential", base_delay=1, max_delay=7)
    assert retry.backoff(5000, random.Random(0)) == 7


@pytest.mark.parametrize("strategy", ["fixed-jitter", "full-jitter"])
def test_backoff_jitter_within_bounds_and_reproducible(strategy: str) -> None:
    """Jittered delays stay within their bounds and repeat exactly with the same seed."""
    retry = l0.Retry(strategy=strategy, base_delay=1, max_delay=6)  # type: ignore[arg-type]
    first = [retry.backoff(k, random.Random(42)) for k in range(1, 6) for _ in range(20)]
    rng_a, rng_b = random.Random(7), random.Random(7)
    seq_a = [retry.backoff(k, rng_a) for k in range(1, 6) for _ in range(20)]
    seq_b = [retry.backoff(k, rng_b) for k in range(1, 6) for _ in range(20)]
    assert seq_a == seq_b
    assert seq_a != [retry.backoff(k, random.Random(8)) for k in range(1, 6) for _ in range(20)]
    lower_share = 0.5 if strategy == "fixed-jitter" else 0.0
    for k in range(1, 6):
        cap = min(6.0, 2.0 ** (k - 1))
        chunk = seq_a[(k - 1) * 20 : k * 20]
        assert all(cap * lower_share <= d <= cap for d in chunk), (k, chunk)
        assert len(set(chunk)) > 1
    assert len(first) == 100


# -- delays actually slept ---------------------------------------------------------------------


@pytest.mark.timing
async def test_exponential_delays_are_slept(anyio_backend: Any) -> None:
    """Exponential backoff sleeps base_delay before the first retry, then doubles."""
    src = Script([Raise(boom)], [Raise(boom)], [Raise(boom)], ["ok"])
    events: list[Any] = []
    retry = l0.Retry(strategy="exponential", base_delay=0.05, max_delay=1, attempts=3)
    assert await l0.run(src, retry=retry, on_event=events.append).read() == "ok"
    gaps = [b - a for a, b in zip(src.call_times, src.call_times[1:], strict=False)]
    assert len(gaps) == 3
    for gap, expected in zip(gaps, [0.05, 0.1, 0.2], strict=True):
        assert_slept(anyio_backend, gap, expected)
    delays = [e.delay_ms for e in events if e.event_type == EventType.RETRY_ATTEMPT]
    assert delays == pytest.approx([50, 100, 200])


@pytest.mark.timing
async def test_calculate_delay_is_used(anyio_backend: Any) -> None:
    """A calculate_delay hook decides the delay (instead of the strategy's)."""
    seen: list[l0.RetryContext] = []

    def calculate_delay(ctx: l0.RetryContext) -> float:
        seen.append(ctx)
        return 0.07

    src = Script([Raise(boom)], ["ok"])
    retry = l0.Retry(strategy="fixed", base_delay=5, calculate_delay=calculate_delay)
    assert await l0.run(src, retry=retry).read() == "ok"
    assert_slept(anyio_backend, src.call_times[1] - src.call_times[0], 0.07)
    assert len(seen) == 1
    assert seen[0].default_delay == 5


@pytest.mark.timing
async def test_retry_after_is_honoured(anyio_backend: Any) -> None:
    """A NetworkError's retry_after wins over a shorter backoff delay."""
    src = Script([Raise(lambda: l0.NetworkError("slow down", retry_after=0.2))], ["ok"])
    retry = l0.Retry(strategy="fixed", base_delay=0.01)
    assert await l0.run(src, retry=retry).read() == "ok"
    assert_slept(anyio_backend, src.call_times[1] - src.call_times[0], 0.2)


@pytest.mark.timing
async def test_retry_after_is_capped_by_max_retry_after(anyio_backend: Any) -> None:
    """retry_after longer than max_retry_after is capped at max_retry_after."""
    src = Script([Raise(lambda: l0.NetworkError("slow down", retry_after=5))], ["ok"])
    retry = l0.Retry(strategy="fixed", base_delay=0.01, max_retry_after=0.1)
    assert await l0.run(src, retry=retry).read() == "ok"
    assert_slept(anyio_backend, src.call_times[1] - src.call_times[0], 0.1)


@pytest.mark.parametrize(
    "anyio_backend",
    [
        pytest.param(
            ("trio", {"clock": trio.testing.MockClock(autojump_threshold=0)}), id="trio-mockclock"
        )
    ],
)
async def test_retry_after_of_five_seconds_is_slept(anyio_backend: Any) -> None:
    """retry_after=5 with a tiny base_delay sleeps 5 s (virtual time) before the retry."""
    src = Script([Raise(lambda: l0.NetworkError("slow down", retry_after=5))], ["ok"])
    start = anyio.current_time()
    assert await l0.run(src, retry=l0.Retry(strategy="fixed", base_delay=0.01)).read() == "ok"
    assert src.call_times[1] - src.call_times[0] == pytest.approx(5)
    assert anyio.current_time() - start == pytest.approx(5)


@pytest.mark.timing
async def test_testing_mode_skips_backoff(anyio_backend: Any) -> None:
    """Under l0.testing.set_testing() retries happen without sleeping."""
    src = Script([Raise(boom)], ["ok"])
    with l0.testing.set_testing():
        stream = l0.run(src, retry=l0.Retry(strategy="fixed", base_delay=5))
    start = anyio.current_time()
    assert await stream.read() == "ok"
    elapsed = anyio.current_time() - start
    assert elapsed < 0.2
    if anyio_backend != "asyncio":
        assert elapsed == 0
