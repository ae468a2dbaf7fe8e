"""Where l0's per-token time goes: an ablation of the token path, and optionally a profile.

    python bench/hotpath.py [--tokens N] [--backend asyncio|uvloop|trio ...] [--profile core|full]

Each line adds one ingredient to a minimal wrapper (an async generator that reads the source
and yields an ``l0.Token`` per item), so the difference between consecutive lines is the cost
of that ingredient per token; then l0 itself, and single ingredients on a bare loop.
``--profile`` adds a cProfile of one l0 stream (sorted by own time; cProfile inflates call-heavy
code, so read it for shares, not for absolute numbers). Not part of the table of bench/run.py:
a tool for working on the hot path.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import math
import pstats
import statistics
import sys
from collections.abc import AsyncIterator
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
if str(BENCH_DIR.parent) not in sys.path:  # this checkout's l0, installed or not
    sys.path.insert(1, str(BENCH_DIR.parent))

import _common as c  # noqa: E402
import _side_l0  # noqa: E402
import anyio  # noqa: E402
from _prose import prose_tokens  # noqa: E402

import l0  # noqa: E402

Token = l0.Token


def _wrapper(scope: str) -> c.Consumer:
    """A minimal wrapper; ``scope``: "" (none), "inf" (CancelScope() per read) or "deadline"
    (anyio.current_time() and CancelScope(deadline=now + 30) per read)."""

    async def events(factory: c.Factory) -> AsyncIterator[Token]:
        src = factory()
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
            yield Token(value=item)  # pyright: ignore[reportPossiblyUnboundVariable]

    async def run(factory: c.Factory) -> None:
        async for _ in events(factory):
            pass

    return run


async def _current_time(factory: c.Factory) -> None:
    now = anyio.current_time
    async for _ in factory():
        now()


async def _scope(factory: c.Factory) -> None:
    async for _ in factory():
        with anyio.CancelScope():  # noqa: ASYNC100 - the bare enter+exit is what is timed
            pass


async def _scope_deadline(factory: c.Factory) -> None:
    deadline = anyio.current_time() + 30
    async for _ in factory():
        with anyio.CancelScope(deadline=deadline):  # noqa: ASYNC100 - likewise
            pass


VARIANTS: dict[str, c.Consumer] = {
    "raw baseline: RawEvent(text, time.time())": c.raw,
    "floor: async-gen layer + l0.Token per item": _wrapper(""),
    "  + CancelScope() around each read": _wrapper("inf"),
    "  + current_time() + CancelScope(deadline)": _wrapper("deadline"),
    "l0 core, timeout=None": _side_l0.core_no_timeouts,
    "l0 core, default timeouts": _side_l0.core,
    "l0 full stack": _side_l0.full,
    "bare loop + anyio.current_time()": _current_time,
    "bare loop + CancelScope() enter+exit": _scope,
    "bare loop + CancelScope(deadline) enter+exit": _scope_deadline,
    "bare loop": c.bare,
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--tokens", type=int, default=100_000)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--backend", nargs="+", choices=c.BACKENDS, default=list(c.BACKENDS))
    p.add_argument(
        "--profile", choices=("core", "full"), default=None,
        help="also cProfile one l0 stream (core: defaults; full: the full stack)",
    )  # fmt: skip
    args = p.parse_args()
    n = args.tokens
    tokens = prose_tokens(n)
    for backend in args.backend:
        why = c.backend_available(backend)
        if why is not None:
            print(f"{backend}: {why}")
            continue

        async def measure() -> dict[str, list[float]]:
            return await c.measure_interleaved(VARIANTS, tokens, args.repeat)

        samples = c.run_on(backend, measure)
        raw = statistics.median(samples[next(iter(VARIANTS))])
        print(f"{backend}: {n:,} tokens, median of {args.repeat}")
        for name, times in samples.items():
            med = statistics.median(times)
            print(f"  {name:46s} {med / n * 1e6:7.3f} us/token   x raw {raw / med:5.2f}")
        if args.profile:
            consumer = _side_l0.full if args.profile == "full" else _side_l0.core

            async def one(consumer: c.Consumer = consumer) -> None:
                await c.timed(consumer, tokens)

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
