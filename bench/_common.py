"""Pieces shared by every part of the suite, on l0's side and on ai2070-l0's.

Only the standard library and anyio may be imported here: the ai2070-l0 side imports this
module from a virtual environment that has ai2070-l0 but not this project.

A *consumer* is what a figure times: ``await consumer(factory)`` opens one stream over
``factory()`` (an async iterator of strings), reads it to the end the way a user would, and
returns the number of tokens delivered (None for the two reference loops, which do not count:
counting would add to the baseline what the wrappers are measured against). Every side (raw,
l0, ai2070-l0) provides its consumers with this one signature, so the same timing loops
measure all of them.
"""

from __future__ import annotations

import gc
import importlib.util
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel

BENCH_DIR = Path(__file__).resolve().parent
CACHE_DIR = BENCH_DIR / ".cache"

BACKENDS = ("asyncio", "uvloop", "trio")

perf_counter = time.perf_counter
wall_time = time.time

Factory = Callable[[], AsyncIterator[str]]
Consumer = Callable[[Factory], Awaitable[int | None]]


# --------------------------------------------------------------------------- sources


async def source(tokens: Sequence[str]) -> AsyncIterator[str]:
    """The zero-delay source: yields ``tokens`` one by one without ever awaiting."""
    for token in tokens:
        yield token


async def yielding_source(tokens: Sequence[str]) -> AsyncIterator[str]:
    """Like :func:`source`, with a checkpoint before every token: other tasks run in between,
    as they do when tokens come from the network."""
    checkpoint = anyio.lowlevel.checkpoint
    for token in tokens:
        await checkpoint()
        yield token


async def delayed_source(delay: float, tokens: Sequence[str]) -> AsyncGenerator[str, None]:
    """A source whose first token comes after ``await anyio.sleep(delay)`` (for TTFT)."""
    await anyio.sleep(delay)
    for token in tokens:
        yield token


class RawEvent:
    """The raw baseline's per-token event: the text and a wall-clock timestamp."""

    __slots__ = ("text", "ts")

    def __init__(self, text: str, ts: float) -> None:
        self.text = text
        self.ts = ts


# --------------------------------------------------------------------------- reference consumers


async def bare(factory: Factory) -> None:
    """The source iterated directly, strings only: the floor of any consumer."""
    async for _ in factory():
        pass


async def raw(factory: Factory) -> None:
    """The raw baseline: iterate the source, build one ``RawEvent(text, time.time())`` per token
    (as ai2070-l0's own benchmark does)."""
    async for text in factory():
        RawEvent(text, wall_time())


async def ttft_raw(delay: float, tokens: Sequence[str]) -> float:
    """Seconds from starting the consumer to holding the first token's event, raw."""
    t0 = perf_counter()
    agen = delayed_source(delay, tokens)
    async for text in agen:
        RawEvent(text, wall_time())
        elapsed = perf_counter() - t0
        break
    else:  # pragma: no cover - the source always yields
        raise AssertionError("no first token")
    await agen.aclose()
    return elapsed


# --------------------------------------------------------------------------- timing


async def timed(consumer: Consumer, tokens: Sequence[str]) -> float:
    """Seconds one stream of ``tokens`` takes through ``consumer``; checks every token came."""
    t0 = perf_counter()
    got = await consumer(lambda: source(tokens))
    elapsed = perf_counter() - t0
    if got is not None and got != len(tokens):
        raise AssertionError(f"{consumer.__qualname__} delivered {got} of {len(tokens)} tokens")
    return elapsed


async def measure_interleaved(
    variants: dict[str, Consumer],
    tokens: Sequence[str],
    reps: int,
    warmup: int = 1,
    progress: Callable[[str], None] | None = None,
) -> dict[str, list[float]]:
    """Time every variant ``reps`` times on ``tokens``, interleaved.

    Each round runs every variant once, in an order rotated from round to round, so slow drifts
    of the machine (another process, CPU frequency) hit all variants alike. The collector stays
    enabled (as in real use); a full collection runs once before the warm-up, never right before
    a timed run: it walks the whole heap and leaves the CPU caches cold, which would charge
    ~0.2-0.3 ms of cache misses to the next run (to a wrapper's set-up far more than to the raw
    loop's).
    """
    names = list(variants)
    gc.collect()
    for _ in range(warmup):
        for name in names:
            await timed(variants[name], tokens)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for r in range(reps):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            samples[name].append(await timed(variants[name], tokens))
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


def ttft_overhead(wrapped: Sequence[float], raw_samples: Sequence[float]) -> dict[str, Any]:
    """Median over runs of (TTFT via the wrapper - TTFT raw), pairing run i with run i."""
    diffs = [a - b for a, b in zip(wrapped, raw_samples, strict=True)]
    return {
        "overhead_ms": statistics.median(diffs) * 1e3,
        "wrapped_median_ms": statistics.median(wrapped) * 1e3,
        "raw_median_ms": statistics.median(raw_samples) * 1e3,
        "runs": len(diffs),
    }


# --------------------------------------------------------------------------- memory

_KB = 1024 / 1e6  # one kB of /proc (KiB) in MB


def _proc_status(field: str) -> float | None:
    """A ``kB`` field of /proc/self/status in MB, or None where there is no /proc."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            found = re.search(rf"^{field}:\s+(\d+) kB", f.read(), re.MULTILINE)
    except OSError:
        return None
    return None if found is None else int(found.group(1)) * _KB


def _ru_maxrss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1e6 if sys.platform == "darwin" else peak * _KB  # bytes there, KiB on Linux


def rss_mb() -> float | None:
    """The resident set size of this process now, in MB (None where it cannot be read)."""
    return _proc_status("VmRSS")


def peak_rss_mb() -> float:
    """The peak resident set size of this process, in MB (since the last reset, if any)."""
    found = _proc_status("VmHWM")
    return _ru_maxrss_mb() if found is None else found


def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark to the current RSS (Linux); False if not possible."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
            f.write("5")
    except OSError:
        return False
    return True


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

SDK_MODULES = (
    "openai", "litellm", "anthropic", "httpx", "opentelemetry", "sentry_sdk", "pydantic", "rich",
)  # fmt: skip
"""What ``import l0`` must not load: provider SDKs and the optional integrations' libraries."""

_IMPORT_PROBE = """
import json, sys, time
print("--- import starts ---", file=sys.stderr, flush=True)
t0 = time.perf_counter()
import {module}
{touch}
elapsed = time.perf_counter() - t0
watch = {watch!r} + ("asyncio", "trio")
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

    Also: which of :data:`SDK_MODULES` got imported, and (from ``-X importtime``) the self time
    of each top-level package, median over ``importtime_runs`` runs, largest first.
    """
    env = _probe_env(pycache)
    touched = "\n".join(f"{module}.{a}" for a in touch)
    code = _IMPORT_PROBE.format(module=module, touch=touched, watch=SDK_MODULES)

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

    cold = json.loads(probe().stdout)  # the first run fills the bytecode cache
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
            top = parts[2].strip().split(".", 1)[0]
            if top == module.split(".", 1)[0]:
                top = f"{top} (own)"
            per_run[top] = per_run.get(top, 0.0) + int(self_field) / 1e3
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


# --------------------------------------------------------------------------- versions


def versions() -> dict[str, str | None]:
    """Versions of the interpreter and of the async libraries, as installed here."""
    out: dict[str, str | None] = {"python": sys.version.split()[0]}
    for dist in ("anyio", "trio", "uvloop", "msgspec", "openai", "httpx"):
        out[dist] = dist_version(dist)
    return out


def dist_version(dist: str) -> str | None:
    """The installed version of distribution ``dist``, or None."""
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None
