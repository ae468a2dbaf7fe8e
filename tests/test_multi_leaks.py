"""Every composition, on both backends: no task alive and no source open after it returns,
raises, or its caller is cancelled."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import pytest

import l0
from l0._multi import (
    PipelineStep,
    batched,
    consensus,
    parallel,
    pipeline,
    pool,
    race,
    sequential,
)
from tests._sources import Raise, Script, Stall, boom

Run = Callable[[list[Script]], Awaitable[Any]]


def running_tasks() -> set[int]:
    """Ids of the tasks alive in the event loop now."""
    return {task.id for task in anyio.get_running_tasks()}


async def _pool(sources: list[Script]) -> list[Any]:
    async with pool(workers=2, retry=None) as p:
        results: list[Any] = []

        async def one(source: Script) -> None:
            try:
                results.append(await p.run(source))
            except l0.L0Error as exc:  # what this caller does with its failure
                results.append(exc)

        async with anyio.create_task_group() as tg:
            for source in sources:
                tg.start_soon(one, source)
        return results


async def _pipeline(sources: list[Script]) -> Any:
    steps = [PipelineStep(build=lambda _previous, s=s: s) for s in sources]
    return await pipeline(steps, "input", retry=None)


COMBINATORS: dict[str, Run] = {
    "race": lambda sources: race(sources, retry=None),
    "race-live": lambda sources: race(sources, require="first_token", retry=None),
    "parallel": lambda sources: parallel(sources, concurrency=2, retry=None),
    "sequential": lambda sources: sequential(sources, retry=None),
    "batched": lambda sources: batched(sources, lambda s: s, batch_size=2, retry=None),
    "pool": _pool,
    "consensus": lambda sources: consensus(sources, resolve_conflicts="vote", retry=None),
    "pipeline": _pipeline,
}


@pytest.mark.parametrize("name", sorted(COMBINATORS))
async def test_nothing_is_left_running_after_it_returns(name: str) -> None:
    """Returned: no task alive, every source that started was closed (a live race winner
    once the result is closed)."""
    sources = [Script(["same ", "answer"]) for _ in range(3)]
    before = running_tasks()
    result = await COMBINATORS[name](sources)
    if isinstance(result, l0.RaceResult):
        await result.aclose()
    assert running_tasks() == before
    assert all(s.all_closed for s in sources)


@pytest.mark.parametrize("name", sorted(COMBINATORS))
async def test_nothing_is_left_running_after_it_raises(name: str) -> None:
    """Raised (or returned failures): no task alive, every source closed."""
    sources = [Script([Raise(boom)]) for _ in range(3)]
    before = running_tasks()
    with contextlib.suppress(l0.L0Error):  # race, sequential, consensus raise; others return
        await COMBINATORS[name](sources)
    assert running_tasks() == before
    assert all(s.all_closed for s in sources)


@pytest.mark.timing
@pytest.mark.parametrize("name", sorted(COMBINATORS))
async def test_nothing_is_left_running_after_the_caller_is_cancelled(
    name: str, anyio_backend: Any
) -> None:
    """Cancelled mid-way: the cancellation comes out as itself, after every task has ended
    and every started source has been closed."""
    sources = [Script([Stall(3600), "never"]) for _ in range(3)]
    before = running_tasks()
    with anyio.move_on_after(0.1) as scope:
        await COMBINATORS[name](sources)
    assert scope.cancelled_caught
    assert running_tasks() == before
    assert any(s.calls for s in sources)
    assert all(s.all_closed for s in sources)
