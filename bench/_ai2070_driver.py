"""Measures ai2070-l0 inside its own virtual environment (started by bench/_ai2070.py).

ai2070-l0 installs a package named ``l0`` too, so it cannot share a process with this project.
This script imports only ai2070-l0, anyio and ``_common`` (stdlib + anyio), measures, and prints
one line of JSON on stdout; progress goes to stderr.

ai2070-l0 is asyncio-only: it runs on asyncio and on asyncio with uvloop, never on trio.
Its documented entry point is ``result = await l0.run(stream=factory, timeout=...)`` then
``async for event in result``. Its built-in adapters take OpenAI/LiteLLM chunks or its own
``Event`` objects (anything else is silently dropped), so a plain stream of strings goes through a
minimal adapter passed as ``adapter=`` (a documented option), which turns each string into a
token ``Event``: the same work l0 does for a string source.
"""

from __future__ import annotations

import argparse
import json
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import _common as c  # pyright: ignore[reportMissingImports]

import l0  # ai2070-l0  # pyright: ignore[reportMissingImports]
from l0.adapters import AdaptedEvent  # pyright: ignore[reportMissingImports]
from l0.types import Event, EventType  # pyright: ignore[reportMissingImports]

_TOKEN_TYPE = EventType.TOKEN
TIMEOUTS_ON = l0.Timeout(initial_token=30_000, inter_token=10_000)  # ms: l0's defaults (30 s, 10 s)


class TextAdapter:
    """Plain ``str`` chunks -> token events (ai2070-l0's Adapter protocol)."""

    name = "text"

    def detect(self, stream: Any) -> bool:
        return hasattr(stream, "__aiter__")

    async def wrap(self, stream: Any, options: Any = None) -> Any:
        async for text in stream:
            yield AdaptedEvent(event=Event(type=_TOKEN_TYPE, text=text), raw_chunk=None)


ADAPTER = TextAdapter()


async def run_ai(n: int, timeout: Any) -> float:
    t0 = c.perf_counter()
    result = await l0.run(stream=lambda: c.source(n), adapter=ADAPTER, timeout=timeout)
    async for _ in result:
        pass
    elapsed = c.perf_counter() - t0
    if result.state.token_count != n:
        raise AssertionError(f"ai2070-l0 delivered {result.state.token_count} of {n} tokens")
    return elapsed


async def run_ai_off(n: int) -> float:
    return await run_ai(n, None)


async def run_ai_on(n: int) -> float:
    return await run_ai(n, TIMEOUTS_ON)


async def ttft_ai(delay: float, timeout: Any) -> float:
    t0 = c.perf_counter()
    result = await l0.run(stream=lambda: c.delayed_source(delay), adapter=ADAPTER, timeout=timeout)
    async with result:
        async for event in result:
            if event.is_token:
                elapsed = c.perf_counter() - t0
                break
        else:
            raise AssertionError("ai2070-l0: no first token")
    return elapsed


async def ttft_ai_on(delay: float) -> float:
    return await ttft_ai(delay, TIMEOUTS_ON)


def log(msg: str) -> None:
    print(f"[ai2070-l0] {msg}", file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tokens", type=int, nargs="+", required=True)
    parser.add_argument("--backends", nargs="+", required=True)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeat", type=int, default=None)
    parser.add_argument("--ttft-runs", type=int, nargs=2, required=True)
    parser.add_argument("--import-runs", type=int, required=True)
    args = parser.parse_args()

    if not Path(l0.__file__).resolve().is_relative_to(Path(sys.prefix).resolve()):
        raise SystemExit(f"imported the wrong l0: {l0.__file__}")
    out: dict[str, Any] = {
        "version": metadata.version("ai2070-l0"),
        "python": sys.version.split()[0],
        "file": l0.__file__,
        "backends": {},
    }
    for backend in args.backends:
        why = c.backend_available(backend)
        if why is not None:
            out["backends"][backend] = {"unavailable": why}
            continue

        async def measure(backend: str = backend) -> dict[str, Any]:
            res: dict[str, Any] = {"throughput": {}, "ttft": {}}
            variants = {"raw": c.run_raw, "ai_off": run_ai_off, "ai_on": run_ai_on}
            for n in args.tokens:
                reps = args.repeat or c.default_reps(n, args.quick)
                log(f"{backend}: {n:,} tokens x {reps}")
                samples = await c.measure_interleaved(variants, n, reps)
                res["throughput"][str(n)] = {k: c.summarize(v, n) for k, v in samples.items()}
            for delay, runs in zip((0.0, 0.001), args.ttft_runs, strict=True):
                log(f"{backend}: time to first token, sleep({delay}) x {runs}")
                samples = await c.measure_ttft(
                    {"raw": c.ttft_raw, "ai_on": ttft_ai_on}, delay, runs
                )
                res["ttft"][str(delay)] = c.ttft_overhead(samples["ai_on"], samples["raw"])
            return res

        out["backends"][backend] = c.run_on(backend, measure)
    log("import time")
    out["import"] = c.measure_import(
        sys.executable,
        "l0",
        args.import_runs,
        cwd=c.CACHE_DIR,
        pycache=c.CACHE_DIR / "pycache-ai2070",
        importtime_runs=1 if args.quick else 3,
    )
    print(json.dumps(out))


if __name__ == "__main__":
    main()
