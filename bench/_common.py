"""Pieces shared by ``bench/run.py`` and the ai2070-l0 driver (which runs in its own venv).

Only the standard library and anyio may be imported here: the driver imports this module from a
virtual environment that has ai2070-l0 but not this project.
"""

from __future__ import annotations

import gc
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import anyio

BENCH_DIR = Path(__file__).resolve().parent
CACHE_DIR = BENCH_DIR / ".cache"

TOKEN = "tok "
"""The string every zero-delay source yields (short, like a real model token)."""

BACKENDS = ("asyncio", "uvloop", "trio")

perf_counter = time.perf_counter
wall_time = time.time


# --------------------------------------------------------------------------- sources


async def source(n: int) -> AsyncIterator[str]:
    """The zero-delay source: yields the same short string ``n`` times without awaiting."""
    for _ in range(n):
        yield TOKEN


async def delayed_source(delay: float, n: int = 3) -> AsyncIterator[str]:
    """A source whose first token comes after ``await anyio.sleep(delay)`` (for TTFT)."""
    await anyio.sleep(delay)
    for _ in range(n):
        yield TOKEN


class RawEvent:
    """The raw baseline's per-token event: the text and a wall-clock timestamp."""

    __slots__ = ("text", "ts")

    def __init__(self, text: str, ts: float) -> None:
        self.text = text
        self.ts = ts


# --------------------------------------------------------------------------- reference loops


async def run_bare(n: int) -> float:
    """The source iterated directly, strings only. Returns seconds."""
    t0 = perf_counter()
    async for _ in source(n):
        pass
    return perf_counter() - t0


async def run_raw(n: int) -> float:
    """The raw baseline: iterate the source and build one ``RawEvent(text, time.time())`` per
    token. Returns seconds."""
    ev = None
    t0 = perf_counter()
    async for text in source(n):
        ev = RawEvent(text, wall_time())
    elapsed = perf_counter() - t0
    if n and (ev is None or ev.text != TOKEN):
        raise AssertionError("raw baseline lost its tokens")
    return elapsed


async def ttft_raw(delay: float) -> float:
    """Seconds from starting the consumer to holding the first token's event, raw."""
    t0 = perf_counter()
    agen = delayed_source(delay)
    async for text in agen:
        RawEvent(text, wall_time())
        elapsed = perf_counter() - t0
        break
    else:  # pragma: no cover - the source always yields
        raise AssertionError("no first token")
    await agen.aclose()
    return elapsed


# --------------------------------------------------------------------------- measuring


def default_reps(n: int, quick: bool) -> int:
    """Repetitions per figure: more for short runs (cheap and noisier), fewer with --quick."""
    if quick:
        return 3 if n >= 10_000 else 9
    if n >= 50_000:
        return 7
    if n >= 10_000:
        return 11
    return 31


async def measure_interleaved(
    variants: dict[str, Callable[[int], Awaitable[float]]],
    n: int,
    reps: int,
    warmup: int = 1,
    progress: Callable[[str], None] | None = None,
) -> dict[str, list[float]]:
    """Time every variant ``reps`` times on ``n`` tokens, interleaved.

    Each round runs every variant once, in an order rotated from round to round, so slow drifts
    of the machine (another process, CPU frequency) hit all variants alike. The collector stays
    enabled (as in real use); a full collection runs once before the warm-up, never right before
    a timed run: it walks the whole heap and leaves the CPU caches cold, which would charge
    ~0.2-0.3 ms of cache misses to the next run (to the wrapper's set-up far more than to the
    raw loop's).
    """
    names = list(variants)
    gc.collect()
    for _ in range(warmup):
        for name in names:
            await variants[name](n)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for r in range(reps):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            samples[name].append(await variants[name](n))
        if progress is not None and reps >= 10 and (r + 1) % 10 == 0:
            progress(f"  round {r + 1}/{reps}")
    return samples


async def measure_ttft(
    variants: dict[str, Callable[[float], Awaitable[float]]],
    delay: float,
    runs: int,
    warmup: int = 5,
) -> dict[str, list[float]]:
    """Time to first token of each variant ``runs`` times, interleaved (same rotation)."""
    names = list(variants)
    for _ in range(warmup):
        for name in names:
            await variants[name](delay)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for r in range(runs):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            samples[name].append(await variants[name](delay))
    return samples


def summarize(samples: Sequence[float], n: int | None = None) -> dict[str, Any]:
    """Median (and spread) of timed runs; per token in microseconds when ``n`` is given."""
    med = statistics.median(samples)
    out: dict[str, Any] = {
        "median_s": med,
        "min_s": min(samples),
        "max_s": max(samples),
        "runs": len(samples),
        "samples_s": list(samples),
    }
    if n:
        out["us_per_token"] = med / n * 1e6
        out["tokens_per_s"] = n / med if med > 0 else float("inf")
    return out


def ttft_overhead(l0_samples: Sequence[float], raw_samples: Sequence[float]) -> dict[str, Any]:
    """Median over runs of (TTFT via the wrapper - TTFT raw), pairing run i with run i."""
    diffs = [a - b for a, b in zip(l0_samples, raw_samples, strict=True)]
    return {
        "overhead_ms": statistics.median(diffs) * 1e3,
        "wrapped_median_ms": statistics.median(l0_samples) * 1e3,
        "raw_median_ms": statistics.median(raw_samples) * 1e3,
        "runs": len(diffs),
    }


# --------------------------------------------------------------------------- backends


def backend_available(backend: str) -> str | None:
    """None if ``backend`` can run here, else why not."""
    module = {"uvloop": "uvloop", "trio": "trio"}.get(backend)
    if module is not None and importlib.util.find_spec(module) is None:
        return f"{module} is not installed"
    return None


def run_on(backend: str, fn: Callable[[], Awaitable[Any]]) -> Any:
    """``anyio.run(fn)`` on asyncio, asyncio with uvloop, or trio."""
    if backend == "uvloop":
        return anyio.run(fn, backend="asyncio", backend_options={"use_uvloop": True})
    return anyio.run(fn, backend=backend)


# --------------------------------------------------------------------------- import time

_IMPORT_PROBE = """
import json, sys, time
print("--- import starts ---", file=sys.stderr, flush=True)
t0 = time.perf_counter()
import {module}
{touch}
elapsed = time.perf_counter() - t0
watch = ("openai", "litellm", "httpx", "httpcore", "pydantic", "ssl", "asyncio", "trio")
print(json.dumps({{
    "import_s": elapsed,
    "file": getattr({module}, "__file__", None),
    "loaded": [m for m in watch if m in sys.modules],
    "modules": len(sys.modules),
}}))
"""


def _probe_env(pycache: Path) -> dict[str, str]:
    # Bytecode caching on, in a cache of our own (so nothing is written next to the sources):
    # an import measured while every module is recompiled would say nothing about users.
    env = {
        k: v for k, v in os.environ.items() if k not in {"PYTHONDONTWRITEBYTECODE", "PYTHONPATH"}
    }
    env["PYTHONPYCACHEPREFIX"] = str(pycache)
    return env


def measure_import(
    python: str,
    module: str,
    runs: int,
    cwd: Path,
    pycache: Path,
    importtime_runs: int = 3,
    touch: Sequence[str] = ("run", "Timeout"),
) -> dict[str, Any]:
    """Median wall time of ``import module`` in fresh ``python`` processes (bytecode cached).

    The attributes ``touch`` are read inside the timed region: a package that loads lazily
    (ai2070-l0 does, through a module ``__getattr__``) pays its imports there, as any program
    that calls ``module.run`` does.

    Also: which heavy modules got imported, and (from ``-X importtime``) the self time of each
    top-level package, median over ``importtime_runs`` runs, largest first.
    """
    env = _probe_env(pycache)
    code = _IMPORT_PROBE.format(module=module, touch="\n".join(f"{module}.{a}" for a in touch))

    def probe(*flags: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [python, *flags, "-c", code],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )

    cold = json.loads(probe().stdout)  # first run fills the bytecode cache
    results = [json.loads(probe().stdout) for _ in range(runs)]
    times = [r["import_s"] for r in results]
    by_package: dict[str, list[float]] = {}
    for _ in range(importtime_runs):
        per_run: dict[str, float] = {}
        stderr = probe("-X", "importtime").stderr
        # Only what "import module" brought in, not the interpreter's own start-up imports.
        for line in stderr.split("--- import starts ---", 1)[-1].splitlines():
            # "import time:  <self us> | <cumulative us> | <indented module name>"
            parts = line.split("|")
            if not line.startswith("import time:") or len(parts) != 3:
                continue
            self_field = parts[0].split(":", 1)[1].strip()
            if not self_field.isdigit():  # the header line
                continue
            self_us = int(self_field)
            top = parts[2].strip().split(".", 1)[0]
            if top == module.split(".", 1)[0]:
                top = f"{top} (own)"
            per_run[top] = per_run.get(top, 0.0) + self_us / 1e3
        for top, ms in per_run.items():
            by_package.setdefault(top, []).append(ms)
    breakdown = sorted(
        (
            (top, statistics.median(v + [0.0] * (importtime_runs - len(v))))
            for top, v in by_package.items()
        ),
        key=lambda item: -item[1],
    )
    return {
        "median_ms": statistics.median(times) * 1e3,
        "min_ms": min(times) * 1e3,
        "samples_ms": [t * 1e3 for t in times],
        "cold_ms": cold["import_s"] * 1e3,
        "file": results[-1]["file"],
        "loaded": results[-1]["loaded"],
        "modules": results[-1]["modules"],
        "self_ms_by_package": dict(breakdown),
    }


def versions() -> dict[str, str | None]:
    """Versions of the interpreter and of the async libraries, as installed here."""
    out: dict[str, str | None] = {"python": sys.version.split()[0]}
    for dist in ("anyio", "trio", "uvloop", "msgspec"):
        out[dist] = dist_version(dist)
    return out


def dist_version(dist: str) -> str | None:
    """The installed version of distribution ``dist``, or None."""
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None
