"""Where l0's per-token time goes: an ablation of the token path, and optionally a profile.

    python bench/hotpath.py [--tokens N] [--backend asyncio|uvloop|trio ...] [--profile]

Each line adds one ingredient to a minimal wrapper (an async generator that reads the source
and yields an ``l0.Token`` per item), so the difference between consecutive lines is the cost
of that ingredient per token; l0 itself comes last. ``--profile`` adds a cProfile of one l0
stream (sorted by own time; cProfile inflates call-heavy code, so read it for shares, not for
absolute numbers). Not part of the table of bench/run.py: a tool for working on the hot path.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import math
import pstats
import statistics
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
if str(BENCH_DIR.parent) not in sys.path:
    sys.path.insert(1, str(BENCH_DIR.parent))

import _common as c  # noqa: E402
import anyio  # noqa: E402

import l0  # noqa: E402

Token = l0.Token


def _wrapper(scope: str) -> Callable[[int], Awaitable[float]]:
    """A minimal wrapper; ``scope``: "" (none), "inf" (CancelScope() per read) or "deadline"
    (anyio.current_time() and CancelScope(deadline=now + 30) per read)."""

    async def events(n: int) -> AsyncIterator[Token]:
        src = c.source(n)
        next_of = type(src).__anext__
        while True:
            try:
                if scope == "deadline":
                    with anyio.CancelScope(deadline=anyio.current_time() + 30):
                        item = await next_of(src)
                elif scope == "inf":
                    with anyio.CancelScope(deadline=math.inf):
                        item = await next_of(src)
                else:
                    item = await next_of(src)
            except StopAsyncIteration:
                return
            yield Token(value=item)

    async def run(n: int) -> float:
        t0 = c.perf_counter()
        async for _ in events(n):
            pass
        return c.perf_counter() - t0

    return run


async def _l0(n: int, **options: Any) -> float:
    t0 = c.perf_counter()
    async for _ in l0.run(lambda: c.source(n), **options):
        pass
    return c.perf_counter() - t0


async def _l0_default(n: int) -> float:
    return await _l0(n)


async def _l0_no_timeouts(n: int) -> float:
    return await _l0(n, timeout=None)


async def _current_time(n: int) -> float:
    t0 = c.perf_counter()
    for _ in range(n):
        anyio.current_time()
    return c.perf_counter() - t0


async def _scope(n: int) -> float:
    t0 = c.perf_counter()
    for _ in range(n):
        with anyio.CancelScope():  # noqa: ASYNC100 - the bare enter+exit is what is timed
            pass
    return c.perf_counter() - t0


async def _scope_deadline(n: int) -> float:
    deadline = anyio.current_time() + 30
    t0 = c.perf_counter()
    for _ in range(n):
        with anyio.CancelScope(deadline=deadline):  # noqa: ASYNC100 - likewise
            pass
    return c.perf_counter() - t0


VARIANTS: dict[str, Callable[[int], Awaitable[float]]] = {
    "raw baseline: RawEvent(text, time.time())": c.run_raw,
    "floor: async-gen layer + l0.Token per item": _wrapper(""),
    "  + CancelScope() around each read": _wrapper("inf"),
    "  + current_time() + CancelScope(deadline)": _wrapper("deadline"),
    "l0 core, timeout=None": _l0_no_timeouts,
    "l0 core, default timeouts": _l0_default,
    "(alone) anyio.current_time()": _current_time,
    "(alone) CancelScope() enter+exit": _scope,
    "(alone) CancelScope(deadline) enter+exit": _scope_deadline,
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--tokens", type=int, default=100_000)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--backend", nargs="+", choices=c.BACKENDS, default=list(c.BACKENDS))
    p.add_argument("--profile", action="store_true", help="also cProfile one l0 stream")
    args = p.parse_args()
    n = args.tokens
    for backend in args.backend:
        why = c.backend_available(backend)
        if why is not None:
            print(f"{backend}: {why}")
            continue

        async def measure() -> dict[str, list[float]]:
            return await c.measure_interleaved(VARIANTS, n, args.repeat)

        samples = c.run_on(backend, measure)
        raw = statistics.median(samples[next(iter(VARIANTS))])
        print(f"{backend}: {n:,} tokens, median of {args.repeat}")
        for name, times in samples.items():
            med = statistics.median(times)
            print(f"  {name:46s} {med / n * 1e6:7.3f} us/token   x raw {raw / med:5.2f}")
        if args.profile:

            async def one() -> None:
                await _l0_default(n)

            profiler = cProfile.Profile()
            profiler.enable()
            c.run_on(backend, one)
            profiler.disable()
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(15)
            print("\n".join(line for line in out.getvalue().splitlines() if line.strip()))
        print()


if __name__ == "__main__":
    main()
