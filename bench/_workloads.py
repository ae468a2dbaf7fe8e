"""The workloads behind the figures: run here, or in a fresh process for clean numbers.

    python bench/_workloads.py SIDE MODE --backend B [options]

prints one line of JSON on stdout (progress goes to stderr). SIDE is ``raw`` (the reference
loops of ``_common``), ``l0`` (``_side_l0``) or ``ai2070`` (``_side_ai2070``, only inside the
ai2070-l0 venv); MODE is ``throughput``, ``rss`` or ``concurrent``. Standard library, anyio and
the side's own module only, so that it runs in both environments.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import _common as c
import anyio
from _prose import prose_tokens

SCRIPT = Path(__file__).resolve()
WARMUP_TOKENS = 2000
Log = Callable[[str], None]

RAW_SIDE = SimpleNamespace(NAME="raw", CONSUMERS={"raw": c.raw, "bare": c.bare})


def load_side(name: str) -> Any:
    """The side's module (or the raw reference loops) by its command-line name."""
    if name == "raw":
        return RAW_SIDE
    module: ModuleType = importlib.import_module(f"_side_{name}")
    return module


def _quiet(_msg: str) -> None:
    pass


# --------------------------------------------------------------------------- throughput


def throughput(
    side: Any,
    backend: str,
    n: int,
    variants: Sequence[str],
    reps: int,
    log: Log = _quiet,
) -> dict[str, Any]:
    """Time ``variants`` of ``side`` on ``n`` zero-delay tokens, interleaved with the bare loop
    and the raw baseline measured in this same process. ``{name: summary}``."""
    tokens = prose_tokens(n)
    chosen: dict[str, c.Consumer] = {"bare": c.bare, "raw": c.raw}
    chosen.update({name: side.CONSUMERS[name] for name in variants})

    async def main() -> dict[str, Any]:
        log(f"{side.NAME} on {backend}: {n:,} tokens x {reps} runs ({', '.join(chosen)})")
        samples = await c.measure_interleaved(chosen, tokens, reps, progress=log)
        return {name: c.summarize(s, n) for name, s in samples.items()}

    return c.run_on(backend, main)


def ttft(side: Any, backend: str, delay: float, runs: int, log: Log = _quiet) -> dict[str, Any]:
    """Time to first token added by ``side`` (l0: defaults and ``timeout=None``) over the raw
    loop, when the source's first token comes after ``sleep(delay)``."""
    tokens = prose_tokens(3)
    variants: dict[str, Callable[[float], Awaitable[float]]] = {
        "raw": lambda d: c.ttft_raw(d, tokens),
        "core": lambda d: side.ttft_core(d, tokens),
        "core_no_timeouts": lambda d: side.ttft_core_no_timeouts(d, tokens),
    }

    async def main() -> dict[str, Any]:
        log(f"{side.NAME} on {backend}: time to first token after sleep({delay}) x {runs} runs")
        samples = await c.measure_ttft(variants, delay, runs)
        return {
            "core": c.ttft_overhead(samples["core"], samples["raw"]),
            "core_no_timeouts": c.ttft_overhead(samples["core_no_timeouts"], samples["raw"]),
        }

    return c.run_on(backend, main)


# --------------------------------------------------------------------------- memory


def rss(side: Any, variant: str, backend: str, n: int) -> dict[str, Any]:
    """Peak RSS growth while one ``n``-token stream is read through ``side``'s ``variant``.

    The tokens are built and one 2,000-token stream is read first (imports, caches); then a full
    collection, the peak mark is reset to the current RSS (Linux: /proc/self/clear_refs), the
    stream is read, and the growth is the new peak minus the RSS before it. Meant to run in a
    fresh process: what an earlier figure left on the heap would blur it.
    """
    consumer: c.Consumer = side.CONSUMERS[variant]
    tokens, warm = prose_tokens(n), prose_tokens(WARMUP_TOKENS)

    async def main() -> dict[str, Any]:
        await c.timed(consumer, warm)
        gc.collect()
        exact = c.reset_peak_rss()
        before = c.rss_mb() if exact else c.peak_rss_mb()
        elapsed = await c.timed(consumer, tokens)
        peak = c.peak_rss_mb()
        return {
            "growth_mb": max(0.0, peak - (before or 0.0)),
            "baseline_mb": before,
            "peak_mb": peak,
            "seconds": elapsed,
            "method": "VmHWM after clear_refs" if exact else "ru_maxrss (a lower bound)",
        }

    return c.run_on(backend, main)


def concurrent(
    side: Any, variant: str, backend: str, streams: int, tokens: int, log: Log = _quiet
) -> dict[str, Any]:
    """``streams`` streams of ``tokens`` tokens each, all at once in one task group, each source
    yielding to the event loop before every token. Wall time, tokens/s, and the process's peak
    RSS (interpreter and imports included) and its growth over the RSS before the streams."""
    consumer: c.Consumer = side.CONSUMERS[variant]
    per_stream = prose_tokens(tokens)

    def factory() -> Any:
        return c.yielding_source(per_stream)

    async def main() -> dict[str, Any]:
        await consumer(factory)  # warm-up: imports, caches
        gc.collect()
        before = c.rss_mb()
        failures: list[str] = []
        completed = 0

        async def one() -> None:
            nonlocal completed
            try:
                got = await consumer(factory)
            except Exception as exc:  # counted and reported, not raised
                failures.append(f"{type(exc).__name__}: {exc}"[:200])
                return
            if got is None or got == tokens:
                completed += 1
            else:
                failures.append(f"delivered {got} of {tokens} tokens")

        log(f"{side.NAME} on {backend}: {streams:,} concurrent streams x {tokens} tokens")
        t0 = c.perf_counter()
        async with anyio.create_task_group() as tg:
            for _ in range(streams):
                tg.start_soon(one)
        wall = c.perf_counter() - t0
        peak = c.peak_rss_mb()
        return {
            "streams": streams,
            "tokens_per_stream": tokens,
            "completed": completed,
            "failures": failures[:5],
            "wall_s": wall,
            "tokens_per_s": completed * tokens / wall,
            "peak_mb": peak,
            "baseline_mb": before,
            "growth_mb": None if before is None else peak - before,
        }

    return c.run_on(backend, main)


# --------------------------------------------------------------------------- subprocesses


class ChildFailed(Exception):
    """A workload subprocess failed (the message says how)."""


def child_env(isolate: bool) -> dict[str, str]:
    """The environment of a workload subprocess; ``isolate`` drops what could put this project
    on the path of another environment's interpreter (for the ai2070-l0 venv)."""
    if not isolate:
        return dict(os.environ)
    return {k: v for k, v in os.environ.items() if k not in {"VIRTUAL_ENV", "PYTHONPATH"}}


def run_child(
    python: str | Path, args: Sequence[str], timeout: float, isolate: bool = False
) -> dict[str, Any]:
    """Run this script with ``python`` and ``args`` in a fresh process: ``{"result": ...,
    "version": ...}`` from its JSON. Its stderr (progress) goes to ours."""
    cmd = [str(python), str(SCRIPT), *args]
    try:
        done = subprocess.run(
            cmd,
            cwd=SCRIPT.parent,
            env=child_env(isolate),
            stdout=subprocess.PIPE,
            text=True,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ChildFailed(f"{' '.join(args[:2])}: {exc}") from exc
    if done.returncode != 0:
        raise ChildFailed(f"{' '.join(args[:2])} exited with {done.returncode} (stderr above)")
    try:
        return json.loads(done.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError) as exc:
        raise ChildFailed(f"{' '.join(args[:2])} printed no JSON: {done.stdout[-200:]!r}") from exc


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("side", choices=("raw", "l0", "ai2070"))
    p.add_argument("mode", choices=("throughput", "rss", "concurrent"))
    p.add_argument("--backend", choices=c.BACKENDS, required=True)
    p.add_argument("--variant", nargs="+", default=["core"])
    p.add_argument("--tokens", type=int, default=2000)
    p.add_argument("--reps", type=int, default=9)
    p.add_argument("--streams", type=int, default=10_000)
    args = p.parse_args(argv)
    side = load_side(args.side)

    def log(msg: str) -> None:
        print(f"  [{side.NAME}] {msg}", file=sys.stderr, flush=True)

    if args.mode == "throughput":
        out = throughput(side, args.backend, args.tokens, args.variant, args.reps, log)
    elif args.mode == "rss":
        out = rss(side, args.variant[0], args.backend, args.tokens)
    else:
        out = concurrent(side, args.variant[0], args.backend, args.streams, args.tokens, log)
    version = side.version() if hasattr(side, "version") else None
    print(json.dumps({"result": out, "version": version}))


if __name__ == "__main__":
    main()
