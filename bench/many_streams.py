"""What the compositions cost over a plain task group, and how consensus similarity scales.

    python3 -m uv run --group bench python bench/many_streams.py [--tasks N ...] [--repeat R]

For each backend (asyncio, trio) and each task count, N zero-delay fake streams of 20 tokens are
read five ways: a raw anyio task group that iterates each source (the floor), the same task
group reading each through ``l0.run`` (the floor for l0), ``l0.parallel`` over the factories,
a ``l0.pool`` with N workers and one ``run`` per stream (N callers), and one ``l0.race`` of the
N candidates. Figures are microseconds per stream, the fastest of ``--repeat`` runs. Then
``text_similarity`` on texts of growing length: the time per character must stay flat (it is
linear).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import anyio

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import l0  # noqa: E402
from l0._multi import parallel, pool, race, text_similarity  # noqa: E402

TOKENS = 20


async def source() -> AsyncIterator[str]:
    for _ in range(TOKENS):
        yield "tok "


async def raw(n: int) -> None:
    async def read() -> None:
        async for _ in source():
            pass

    async with anyio.create_task_group() as tg:
        for _ in range(n):
            tg.start_soon(read)


async def l0_run_each(n: int) -> None:
    async def read() -> None:
        await l0.run(source, retry=None).read()

    async with anyio.create_task_group() as tg:
        for _ in range(n):
            tg.start_soon(read)


async def with_parallel(n: int) -> None:
    result = await parallel([source] * n, retry=None)
    assert result.ok


async def with_pool(n: int) -> None:
    async with pool(workers=n, retry=None) as p, anyio.create_task_group() as tg:
        for _ in range(n):
            tg.start_soon(p.run, source)


async def with_race(n: int) -> None:
    await race([source] * n, retry=None)


CASES: dict[str, Callable[[int], Awaitable[None]]] = {
    "raw task group": raw,
    "l0.run per task": l0_run_each,
    "l0.parallel": with_parallel,
    "l0.pool": with_pool,
    "l0.race": with_race,
}


async def measure(case: Callable[[int], Awaitable[None]], n: int, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        await case(n)
        best = min(best, time.perf_counter() - start)
    return best / n * 1e6


def similarity_scaling(sizes: list[int]) -> list[tuple[int, float]]:
    words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa"]
    rows: list[tuple[int, float]] = []
    for size in sizes:
        a = " ".join(words[i % 10] for i in range(size // 6))
        b = " ".join(words[(i * 7) % 10] for i in range(size // 6))
        start = time.perf_counter()
        text_similarity(a, b)
        rows.append((len(a), (time.perf_counter() - start) / len(a) * 1e9))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--tasks", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    for backend in ("asyncio", "trio"):
        print(f"\n{backend}: microseconds per stream ({TOKENS} tokens each)")
        print(f"{'':>16}" + "".join(f"{n:>12}" for n in args.tasks))
        for name, case in CASES.items():
            figures = [
                anyio.run(measure, case, n, args.repeat, backend=backend) for n in args.tasks
            ]
            print(f"{name:>16}" + "".join(f"{f:>12.1f}" for f in figures))
    print("\ntext_similarity: nanoseconds per character")
    for length, ns in similarity_scaling([1_000, 10_000, 100_000, 1_000_000]):
        print(f"{length:>12,} chars {ns:>8.1f}")


if __name__ == "__main__":
    main()
