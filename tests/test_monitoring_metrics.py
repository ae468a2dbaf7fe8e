"""l0.monitoring.Metrics: counters wired to the event stream, summaries, snapshot and reset."""

from __future__ import annotations

import math
import random
import threading
from typing import Any

import anyio
import msgspec
import pytest

import l0
import l0.testing
from l0 import events as ev
from l0.monitoring import Metrics, MetricsSnapshot, Summary
from l0.monitoring._summary import Quantiles
from tests._sources import Raise, Script, Stall, boom, collect_until_error, paced


def network_error() -> l0.NetworkError:
    return l0.NetworkError("connection reset")


async def test_success_counts_a_request_and_its_tokens() -> None:
    """One completed stream: a request, its tokens, completion rate 1, a duration sample."""
    metrics = Metrics()
    await l0.run(Script(paced("a", "b", "c")), on_event=metrics).read()
    snap = metrics.snapshot()
    assert (snap.requests, snap.completed, snap.failed, snap.active) == (1, 1, 0, 0)
    assert snap.tokens == 3
    assert snap.completion_rate == 1.0
    assert snap.duration.count == 1
    assert snap.errors == 0


async def test_retries_are_split_into_network_and_model(zero_backoff: None) -> None:
    """A network failure and a plain source error are counted as one retry of each kind."""
    metrics = Metrics()
    src = Script([Raise(network_error)], ["x", Raise(boom)], ["ok"])
    await l0.run(src, on_event=metrics).read()
    snap = metrics.snapshot()
    assert (snap.retries, snap.network_retries, snap.model_retries) == (2, 1, 1)
    assert snap.network_errors == 1
    assert snap.errors == 2
    assert snap.errors_by_code == {"NETWORK_ERROR": 1, "STREAM_ERROR": 1}
    assert snap.failures_by_code == {}
    assert snap.completed == 1


async def test_failure_and_fallback(zero_backoff: None) -> None:
    """A primary that fails over to a fallback that also fails: one fallback, one failure."""
    metrics = Metrics()
    stream = l0.run(
        Script([Raise(boom)]), fallbacks=[Script([Raise(boom)])], retry=None, on_event=metrics
    )
    with pytest.raises(l0.AllStreamsExhausted):
        await stream.read()
    snap = metrics.snapshot()
    assert snap.fallbacks == 1
    assert (snap.requests, snap.completed, snap.failed, snap.active) == (1, 0, 1, 0)
    assert snap.completion_rate == 0.0
    assert snap.failures_by_code == {"STREAM_ERROR": 1}
    assert snap.errors_by_code == {"STREAM_ERROR": 2}


async def test_abort_is_counted() -> None:
    """An aborted stream counts as aborted, not failed."""
    metrics = Metrics()
    stream = l0.run(Script(paced("a", "b", "c")), on_event=metrics)
    _, error = await collect_until_error(stream, lambda e: stream.abort())
    assert isinstance(error, l0.StreamAborted)
    snap = metrics.snapshot()
    assert (snap.aborted, snap.failed, snap.completed, snap.active) == (1, 0, 0, 0)
    assert snap.completion_rate == 0.0


@pytest.mark.timing
async def test_timeouts_by_type(anyio_backend: Any, zero_backoff: None) -> None:
    """A first-token timeout and a stall are counted by type."""
    metrics = Metrics()
    src = Script([Stall(5), "late"], ["a", Stall(5), "b"], ["ok"])
    await l0.run(
        src, timeout=l0.Timeout(initial_token=0.05, inter_token=0.05), on_event=metrics
    ).read()
    snap = metrics.snapshot()
    assert snap.timeouts == 2
    assert snap.timeouts_by_type == {"initial": 1, "inter": 1}
    assert snap.network_retries == 2


@pytest.mark.timing
async def test_total_timeout_is_a_timeout(anyio_backend: Any) -> None:
    """A total timeout (which has no TIMEOUT_TRIGGERED) is counted from its error code."""
    metrics = Metrics()
    stream = l0.run(
        Script(["a", Stall(5), "b"]),
        timeout=l0.Timeout(total=0.1, inter_token=None),
        on_event=metrics,
    )
    with pytest.raises(l0.StreamTimeout):
        await stream.read()
    snap = metrics.snapshot()
    assert snap.timeouts_by_type == {"total": 1}
    assert snap.failures_by_code == {"TOTAL_TIMEOUT": 1}


async def test_many_concurrent_streams_in_one_task_group(zero_backoff: None) -> None:
    """Concurrent streams, some retried, are all counted exactly."""
    metrics = Metrics()

    async def one(i: int) -> None:
        scripts = ([Raise(boom)], paced("x", "y")) if i % 2 else (paced("x", "y"),)
        await l0.run(Script(*scripts), on_event=metrics).read()

    async with anyio.create_task_group() as tg:
        for i in range(50):
            tg.start_soon(one, i)
    snap = metrics.snapshot()
    assert (snap.requests, snap.completed, snap.active) == (50, 50, 0)
    assert snap.retries == 25
    assert snap.tokens == 100


def test_thread_safe_updates() -> None:
    """Events fed from several threads at once are all counted."""
    metrics = Metrics()

    def feed(n: int) -> None:
        for i in range(n):
            sid = f"{threading.get_ident()}-{i}"
            metrics(
                ev.SessionStart(ts=0, stream_id=sid, attempt=1, is_retry=False, is_fallback=False)
            )
            metrics(ev.Complete(ts=0, stream_id=sid, token_count=2, content_length=2))

    threads = [threading.Thread(target=feed, args=(2000,)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    snap = metrics.snapshot()
    assert (snap.requests, snap.completed, snap.tokens) == (8000, 8000, 16000)


def test_usage_and_time_to_first_token_come_from_complete() -> None:
    """Provider usage and TTFT are read from the COMPLETE event's state when it has them."""
    metrics = Metrics()
    for ttft_ms in (100, 200, 300, 400):
        metrics(
            ev.Complete(
                ts=0,
                stream_id="s",
                token_count=5,
                content_length=9,
                state={
                    "usage": {"input_tokens": 10, "output_tokens": 4, "total_tokens": 14},
                    "timeToFirstTokenMs": ttft_ms,
                },
            )
        )
    metrics(ev.Complete(ts=0, stream_id="t", token_count=1, content_length=1, state={}))
    snap = metrics.snapshot()
    assert (snap.input_tokens, snap.output_tokens, snap.tokens) == (40, 16, 21)
    ttft = snap.time_to_first_token
    assert ttft.count == 4
    assert ttft.min == pytest.approx(0.1)
    assert ttft.max == pytest.approx(0.4)
    assert ttft.mean == pytest.approx(0.25)
    assert ttft.p50 == pytest.approx(0.2, rel=0.02)


async def test_usage_and_time_to_first_token_end_to_end() -> None:
    """A provider reporting usage shows up in the totals; TTFT is measured."""
    metrics = Metrics()
    usage = l0.testing.TokenUsage(prompt_tokens=7)
    source = l0.testing.FakeProvider(l0.testing.Script(text="a b c", usage=usage))
    await l0.run(source, adapter=l0.testing.FakeAdapter(), on_event=metrics).read()
    snap = metrics.snapshot()
    assert (snap.input_tokens, snap.output_tokens) == (7, 3)
    assert snap.time_to_first_token.count == 1


async def test_snapshot_is_json_and_reset_zeroes() -> None:
    """snapshot() round-trips through JSON; reset() starts from zero."""
    metrics = Metrics()
    await l0.run(Script(["a"]), on_event=metrics).read()
    snap = metrics.snapshot()
    decoded = msgspec.json.decode(msgspec.json.encode(snap), type=MetricsSnapshot)
    assert decoded == snap
    metrics.reset()
    assert metrics.snapshot() == MetricsSnapshot()
    assert metrics.snapshot().duration == Summary()


def test_quantiles_are_accurate_and_bounded() -> None:
    """p50/p95/p99 are within 1 % of the exact values; memory stays bounded."""
    rng = random.Random(7)
    values = [rng.lognormvariate(-1, 1.5) for _ in range(20_000)]
    sketch = Quantiles()
    for v in values:
        sketch.add(v)
    ordered = sorted(values)
    for q in (0.5, 0.95, 0.99):
        exact = ordered[math.ceil(q * len(values)) - 1]
        assert sketch.quantile(q) == pytest.approx(exact, rel=0.011), q
    assert sketch.count == 20_000
    assert len(sketch) < 1500
    capped = Quantiles(max_buckets=64)
    for _ in range(10_000):
        capped.add(10 ** rng.uniform(-5, 4))
    assert len(capped) <= 65
    assert capped.quantile(1.0) == capped.max


def test_quantiles_edge_cases() -> None:
    """Empty gives None; tiny and negative values; two values give min and max."""
    sketch = Quantiles()
    assert sketch.quantile(0.5) is None
    assert sketch.summary() == Summary()
    sketch.add(-1.0)
    sketch.add(float("nan"))
    assert sketch.count == 0
    sketch.add(0.0)
    sketch.add(2.0)
    assert sketch.quantile(0.5) == 0.0
    assert sketch.quantile(0.95) == pytest.approx(2.0, rel=0.01)
    with pytest.raises(ValueError):
        Quantiles(alpha=1.5)


def loud(delta: str) -> str | None:
    return "too loud" if "!" in delta else None


async def test_guardrail_violations_and_drift_are_counted(zero_backoff: None) -> None:
    """A warning violation and a drifting stream are counted; an error-severity violation is a
    model retry; a fatal one ends the stream with its code."""
    metrics = Metrics()
    every = l0.CheckIntervals(guardrails=1)
    warn = l0.Rule.streaming("loud", loud, severity="warning")
    await l0.run(
        Script(paced("hi", " there!")), guardrails=[warn], check_intervals=every, on_event=metrics
    ).read()
    error = l0.Rule.streaming("loud", loud, severity="error")
    await l0.run(
        Script(paced("hi", " there!"), paced("calm", " now")),
        guardrails=[error],
        check_intervals=every,
        on_event=metrics,
    ).read()
    fatal = l0.Rule.streaming("loud", loud, severity="fatal")
    with pytest.raises(l0.GuardrailViolationError):
        await l0.run(
            Script(paced("hi", " there!")),
            guardrails=[fatal],
            check_intervals=every,
            on_event=metrics,
        ).read()
    await l0.run(
        Script(["I keep saying the same thing. "] * 60),
        drift=l0.DriftConfig(action="record"),
        on_event=metrics,
    ).read()
    snap = metrics.snapshot()
    assert snap.guardrail_violations == 3
    assert snap.drift_detections == 1
    assert (snap.retries, snap.model_retries) == (1, 1)
    assert snap.errors_by_code == {"GUARDRAIL_VIOLATION": 1, "FATAL_GUARDRAIL_VIOLATION": 1}
    assert snap.failures_by_code == {"FATAL_GUARDRAIL_VIOLATION": 1}
    assert (snap.completed, snap.failed) == (3, 1)
