"""Soak: many concurrent streams through one session, over raw httpx against the fault server,
with a seeded random mix of faults.

Each stream has its own text, so any cross-talk between streams shows as a wrong output. At the
end: zero wrong outputs (every stream gives its exact text, or the typed error its fault
calls for), zero leaked tasks (the event loop's task list is back to what it was), zero open
connections on the server once the client is closed.

The default run plays 200 streams on asyncio and on trio with a MockClock. ``-m slow``
(``nox -s soak``) plays thousands, in rounds, and checks that the memory l0 holds stays flat
from round to round (tracemalloc, counting only what l0's own modules allocated).
"""

from __future__ import annotations

import gc
import random
import tracemalloc
import weakref
from collections.abc import Callable
from typing import Any

import anyio
import httpx
import pytest

import l0
from l0.adapters import ProviderError, SSERequest
from l0.testing import (
    Drop,
    FakeServer,
    HttpError,
    InBandError,
    KeepAlive,
    Malformed,
    ScriptFault,
    Stall,
    Truncate,
    pytest_plugin,
)
from tests._clients import Model

l0_server = pytest_plugin.l0_server  # the plugin's fixture, without the entry point

MIN_DEADLINE = 0.5  # first token and between tokens; a stall fault costs one deadline
BUDGET = 60.0

# name -> (weight, the faults of the first attempt, whether a retry recovers)
MIX: dict[str, tuple[int, list[ScriptFault], bool]] = {
    "clean": (30, [], True),
    "drop": (8, [Drop(after=2)], True),
    "reset": (4, [Drop(after=1, reset=True)], True),
    "truncate": (6, [Truncate(after=3)], True),
    "malformed": (6, [Malformed(after=1)], True),
    "in-band": (6, [InBandError(after=2)], True),
    "503": (6, [HttpError(status=503)], True),
    "429": (4, [HttpError(status=429, retry_after=0.01)], True),
    "stall": (4, [Stall(seconds=3600, after=2)], True),
    "keep-alive": (3, [KeepAlive(interval=MIN_DEADLINE / 4)], True),
    "two-faults": (6, [Drop(after=1)], True),  # and the second attempt fails too (below)
    "401": (3, [HttpError(status=401)], False),
    "in-band-invalid": (3, [InBandError(after=1, error_type="invalid_request_error")], False),
}
_NAMES = sorted(MIX)
_WEIGHTS = [MIX[n][0] for n in _NAMES]


def _text(i: int) -> str:
    return f"Stream {i} says: " + " ".join(f"w{i}x{k}" for k in range(8)) + "."


class Outcome:
    """What happened to one stream."""

    def __init__(self, index: int, kind: str, resume: bool) -> None:
        self.index = index
        self.kind = kind
        self.resume = resume
        self.text: str | None = None
        self.error: BaseException | None = None
        self.errors: list[l0.L0Error] = []

    def wrong(self) -> str | None:
        """Why this outcome is wrong, or None if it is what the fault calls for."""
        recovers = MIX[self.kind][2]
        if recovers:
            if self.text != _text(self.index):
                return f"stream {self.index} ({self.kind}): {self.text!r} / {self.error!r}"
            return None
        error = self.error
        if self.errors and isinstance(self.errors[0], l0.StreamTimeout):
            # The machine was too slow for the first attempt to even meet its fault (a
            # deadline cut it first): the retry, fault-free, must then give the exact text.
            if self.text != _text(self.index):
                return f"stream {self.index} ({self.kind}): {self.text!r} / {error!r}"
            return None
        if not isinstance(error, l0.AllStreamsExhausted) or not isinstance(
            error.errors[0], ProviderError
        ):
            return f"stream {self.index} ({self.kind}): expected a ProviderError, got {error!r}"
        if error.errors[0].retryable:
            return f"stream {self.index} ({self.kind}): the error says retryable"
        return None


async def soak(
    server: FakeServer,
    http: httpx.AsyncClient,
    *,
    count: int,
    seed: int,
    first: int = 0,
    on_stream: Callable[[l0.Stream], None] | None = None,
) -> list[Outcome]:
    """Run ``count`` concurrent streams (numbered from ``first``) through one session."""
    rng = random.Random(seed)
    url = f"{server.base_url}/chat/completions"
    outcomes: list[Outcome] = []

    def factory_for(model: Model) -> Callable[[l0.AttemptContext], SSERequest]:
        def factory(ctx: l0.AttemptContext) -> SSERequest:
            body = {"model": "soak", "messages": model.messages(ctx), "stream": True}
            return SSERequest(client=http, url=url, json=body, headers=model.headers(ctx, None))

        return factory

    async def consume(stream: l0.Stream, outcome: Outcome) -> None:
        try:
            outcome.text = await stream.read()
        except l0.L0Error as exc:
            outcome.error = exc
        outcome.errors = list(stream.state.errors)

    deadline = await _deadline(server, http, count)
    timeout = l0.Timeout(initial_token=deadline, inter_token=deadline, total=BUDGET)
    retry = l0.Retry(attempts=3, max_retries=8, base_delay=0.01, max_delay=0.05)
    # A retry budget as large as the soak: the default one would rightly stop the retries of
    # a session where half the streams fail at once (tests/test_retry_storms.py).
    budget = l0.RetryBudget(capacity=1e9)
    async with (
        l0.session(retry=retry, timeout=timeout, retry_budget=budget) as session,
        anyio.create_task_group() as tg,
    ):
        for i in range(first, first + count):
            kind = rng.choices(_NAMES, _WEIGHTS)[0]
            resume = rng.random() < 0.5
            faults = {(0, 1): MIX[kind][1]}
            if kind == "two-faults":
                faults[(0, 2)] = [Malformed(after=1)]
            model = Model(faults, text=_text(i))
            stream = session.run(
                factory_for(model),
                continue_from_last_good_token=l0.ContinuationConfig(min_overlap=1)
                if resume
                else None,
            )
            if on_stream is not None:
                on_stream(stream)
            outcome = Outcome(i, kind, resume)
            outcomes.append(outcome)
            tg.start_soon(consume, stream, outcome)
    return outcomes


async def _deadline(server: FakeServer, http: httpx.AsyncClient, count: int) -> float:
    """First-token and stall deadlines for ``count`` concurrent streams on this machine, now.

    All the streams start at once, so the last first token comes after about ``count`` times
    the work of one request: a fixed deadline would cut healthy streams on a slow or loaded
    machine (or under coverage), and the retries, all at once again, would be cut too. So:
    the time of a few requests in a row, times ``count``, times a margin of four.
    """
    url = f"{server.base_url}/chat/completions"
    body = {"model": "soak", "messages": [], "stream": True}
    start = anyio.current_time()
    for _ in range(5):
        await l0.run(lambda: SSERequest(client=http, url=url, json=body)).read()
    each = (anyio.current_time() - start) / 5
    return min(BUDGET / 4, max(MIN_DEADLINE, 4 * count * each))


def _task_names() -> list[str]:
    return sorted(task.name or "?" for task in anyio.get_running_tasks())


async def _baseline() -> list[str]:
    """The running tasks once everything that was started (the server's) is waiting."""
    await anyio.wait_all_tasks_blocked()
    return _task_names()


async def _tasks_back_to(baseline: list[str]) -> None:
    """The running tasks are the baseline ones again (a connection handler of the server may
    need a few more steps to finish: it gets them)."""
    for _ in range(100):
        await anyio.wait_all_tasks_blocked()
        if _task_names() == baseline:
            break
    assert _task_names() == baseline


def _client() -> httpx.AsyncClient:
    # As many connections as streams: waiting for one from the pool would count against the
    # first-token deadline.
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=32)
    return httpx.AsyncClient(timeout=None, limits=limits)


def _check(outcomes: list[Outcome], count: int) -> None:
    assert len(outcomes) == count
    wrong = [why for o in outcomes if (why := o.wrong()) is not None]
    assert wrong == [], f"{len(wrong)} wrong outputs, e.g. {wrong[:5]}"


@pytest.mark.timing
@pytest.mark.parametrize("seed", [20240611])
async def test_200_concurrent_streams_with_random_faults(l0_server: FakeServer, seed: int) -> None:
    """200 concurrent streams with a seeded mix of faults: every output exact (or the typed
    error its fault calls for), no task left behind, no connection left open."""
    baseline = await _baseline()
    async with _client() as http:
        with anyio.fail_after(BUDGET):
            outcomes = await soak(l0_server, http, count=200, seed=seed)
    _check(outcomes, 200)
    assert {o.kind for o in outcomes} == set(MIX)  # the mix really was mixed
    with anyio.fail_after(5):
        await l0_server.wait_idle()
    await _tasks_back_to(baseline)


_L0_FILES = [
    tracemalloc.Filter(inclusive=True, filename_pattern="*/l0/*"),
    tracemalloc.Filter(inclusive=False, filename_pattern="*/l0/testing/*"),
]


def _l0_bytes() -> int:
    gc.collect()
    snapshot = tracemalloc.take_snapshot().filter_traces(_L0_FILES)
    return sum(stat.size for stat in snapshot.statistics("filename"))


@pytest.mark.slow
@pytest.mark.timing
@pytest.mark.timeout(1200)
@pytest.mark.parametrize("seed", [1])
async def test_thousands_of_streams_in_rounds_with_flat_memory(
    l0_server: FakeServer, seed: int, anyio_backend: Any
) -> None:
    """Five rounds of 1000 concurrent streams: each round correct and clean, every stream
    collected after its round, and the memory l0's modules hold flat from round two on."""
    rounds, count = 5, 1000
    baseline = await _baseline()
    alive: weakref.WeakSet[l0.Stream] = weakref.WeakSet()
    sizes: list[int] = []
    tracemalloc.start()
    try:
        async with _client() as http:
            for r in range(rounds):
                with anyio.fail_after(BUDGET * 2):
                    outcomes = await soak(
                        l0_server, http, count=count, seed=seed * 1000 + r, first=r * count,
                        on_stream=alive.add,
                    )  # fmt: skip
                _check(outcomes, count)
                del outcomes
                sizes.append(_l0_bytes())
                assert len(alive) == 0, f"{len(alive)} streams still alive after round {r}"
    finally:
        tracemalloc.stop()
    with anyio.fail_after(5):
        await l0_server.wait_idle()
    await _tasks_back_to(baseline)
    # Round one fills the caches (compiled patterns, signatures...); after it, flat.
    growth = max(sizes[1:]) - sizes[1]
    assert growth < 256 * 1024, f"l0 memory by round: {sizes}"


@pytest.mark.timing
@pytest.mark.parametrize(
    "count", [500, pytest.param(5000, marks=pytest.mark.slow)], ids=["500", "5000"]
)
async def test_in_process_streams_through_one_session(count: int) -> None:
    """Many concurrent in-process streams (no sockets: the fakes, with the same faults)
    through one session: every output exact, every source closed, no task left behind."""
    from l0.testing import FakeAdapter, FakeProvider, Script  # noqa: PLC0415

    baseline = await _baseline()
    rng = random.Random(5000)
    faults: list[list[ScriptFault]] = [[], [Drop(after=1)], [Truncate(after=2)], [Malformed()]]
    providers: list[tuple[int, FakeProvider]] = []
    results: dict[int, str] = {}

    async def consume(i: int, stream: l0.Stream) -> None:
        results[i] = await stream.read()

    with l0.testing.set_testing():
        async with (
            l0.session(adapter=FakeAdapter(), retry_budget=None) as session,
            anyio.create_task_group() as tg,
        ):
            for i in range(count):
                text = f"in-process {i} " + "t " * 5
                provider = FakeProvider(Script(text=text, faults=rng.choice(faults)), text)
                providers.append((i, provider))
                tg.start_soon(consume, i, session.run(provider))
    for i, provider in providers:
        assert results[i] == provider.scripts[-1].text
        assert provider.all_closed
    await _tasks_back_to(baseline)


async def test_starting_streams_in_a_session_is_linear(monkeypatch: pytest.MonkeyPatch) -> None:
    """Starting n streams in one session looks at O(n) streams in all, not O(n^2): thousands
    of concurrent streams must not make each new one slower."""
    looked_at = [0]
    done = l0.Stream.done

    def counting(self: l0.Stream) -> bool:
        looked_at[0] += 1
        return done.fget(self)  # type: ignore[misc]

    monkeypatch.setattr(l0.Stream, "done", property(counting))
    n = 1000
    async with l0.session() as session:
        for _ in range(n):
            session.run(lambda: ["a"])
        assert looked_at[0] <= 10 * n, f"{looked_at[0]} looks for {n} streams"
