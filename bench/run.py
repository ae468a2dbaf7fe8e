"""l0's benchmark suite: what l0 costs per token, against a raw baseline and ai2070-l0.

    python bench/run.py [--quick] [--tokens N ...] [--backend asyncio|uvloop|trio ...]
                        [--repeat R] [--no-ai2070] [--json PATH]

or ``nox -s bench -- --quick``. Every figure is measured in this one run and printed in one
table; bench/README.md explains each figure and how it is measured.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
if str(BENCH_DIR) not in sys.path:  # pragma: no cover - run as a script it is already there
    sys.path.insert(0, str(BENCH_DIR))
if str(REPO) not in sys.path:  # measure this checkout's l0 even where it is not installed
    sys.path.insert(1, str(REPO))

import _ai2070  # noqa: E402
import _common as c  # noqa: E402

import l0  # noqa: E402

# --------------------------------------------------------------------------- targets

TARGET_RATIO_2K = 0.6  # l0 core (timeouts on) throughput / raw baseline, at 2,000 tokens
TARGET_GROWTH = 1.25  # per-token cost at 100,000 tokens / at 2,000 tokens, l0 core
TARGET_TTFT_MS = 0.1  # time-to-first-token overhead over the raw baseline
TARGET_IMPORT_MS = 100.0  # import l0 in a fresh process
HEAVY = ("openai", "litellm", "httpx")  # must not be imported by "import l0"

TTFT_DELAYS = (0.0, 0.001)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- l0 variants


async def run_l0(n: int) -> float:
    """l0 core with its defaults (timeouts on), consumed with ``async for``."""
    ev = None
    t0 = c.perf_counter()
    stream = l0.run(lambda: c.source(n))
    async for ev in stream:  # noqa: B007 - the last event is checked after the timing
        pass
    elapsed = c.perf_counter() - t0
    _check(stream, ev, n)
    return elapsed


async def run_l0_no_timeouts(n: int) -> float:
    """l0 core with ``timeout=None``."""
    ev = None
    t0 = c.perf_counter()
    stream = l0.run(lambda: c.source(n), timeout=None)
    async for ev in stream:  # noqa: B007 - the last event is checked after the timing
        pass
    elapsed = c.perf_counter() - t0
    _check(stream, ev, n)
    return elapsed


def _check(stream: l0.Stream, last: Any, n: int) -> None:
    if not isinstance(last, l0.Complete) or stream.state.token_count != n:
        raise AssertionError(
            f"l0 delivered {stream.state.token_count} of {n} tokens, ended with {last!r:.80}"
        )


async def _ttft_l0(delay: float, **options: Any) -> float:
    t0 = c.perf_counter()
    stream = l0.run(lambda: c.delayed_source(delay), **options)
    async for ev in stream:
        if ev.is_token:
            elapsed = c.perf_counter() - t0
            break
    else:  # pragma: no cover
        raise AssertionError("l0: no first token")
    await stream.aclose()
    return elapsed


async def ttft_l0(delay: float) -> float:
    return await _ttft_l0(delay)


async def ttft_l0_no_timeouts(delay: float) -> float:
    return await _ttft_l0(delay, timeout=None)


THROUGHPUT_VARIANTS: dict[str, Callable[[int], Any]] = {
    "bare": c.run_bare,
    "raw": c.run_raw,
    "l0": run_l0,
    "l0_no_timeouts": run_l0_no_timeouts,
}
TTFT_VARIANTS: dict[str, Callable[[float], Any]] = {
    "raw": c.ttft_raw,
    "l0": ttft_l0,
    "l0_no_timeouts": ttft_l0_no_timeouts,
}


def measure_backend(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    async def main() -> dict[str, Any]:
        res: dict[str, Any] = {"throughput": {}, "ttft": {}}
        for n in args.tokens:
            reps = args.repeat or c.default_reps(n, args.quick)
            log(f"{backend}: {n:,} tokens x {reps} runs")
            samples = await c.measure_interleaved(THROUGHPUT_VARIANTS, n, reps, progress=log)
            res["throughput"][str(n)] = {k: c.summarize(v, n) for k, v in samples.items()}
        runs = args.ttft_runs[0]
        log(f"{backend}: per-stream fixed cost (1-token streams) x {runs} runs")
        samples = await c.measure_interleaved(THROUGHPUT_VARIANTS, 1, runs, warmup=5)
        res["fixed"] = {k: c.summarize(v) for k, v in samples.items()}
        for delay, runs in zip(TTFT_DELAYS, args.ttft_runs, strict=True):
            log(f"{backend}: time to first token after sleep({delay}) x {runs} runs")
            samples = await c.measure_ttft(TTFT_VARIANTS, delay, runs)
            res["ttft"][str(delay)] = {
                "l0": c.ttft_overhead(samples["l0"], samples["raw"]),
                "l0_no_timeouts": c.ttft_overhead(samples["l0_no_timeouts"], samples["raw"]),
            }
        return res

    return c.run_on(backend, main)


# --------------------------------------------------------------------------- the table


def _ratio(res: dict[str, Any], n: int, name: str, base: str = "raw") -> float | None:
    cell = res.get("throughput", {}).get(str(n), {})
    if name not in cell or base not in cell:
        return None
    return cell[base]["median_s"] / cell[name]["median_s"]


def _us(res: dict[str, Any], n: int, name: str) -> float | None:
    cell = res.get("throughput", {}).get(str(n), {})
    return cell[name]["us_per_token"] if name in cell else None


def _growth(res: dict[str, Any], tokens: list[int], name: str) -> float | None:
    lo, hi = min(tokens), max(tokens)
    a, b = _us(res, lo, name), _us(res, hi, name)
    if a is None or b is None or lo == hi:
        return None
    return b / a


def _verdict(ok: bool | None) -> str:
    return "" if ok is None else ("ok" if ok else "MISS")


def build_rows(results: dict[str, Any], tokens: list[int]) -> list[tuple[str, ...]]:
    """(backend, figure, one cell per token count..., target, verdict) rows."""
    rows: list[tuple[str, ...]] = []
    blank = ("",) * len(tokens)
    lo, hi = min(tokens), max(tokens)
    ai = results.get("ai2070") or {}

    def cells(res: dict[str, Any], name: str) -> tuple[str, ...]:
        out = []
        for n in tokens:
            us, ratio = _us(res, n, name), _ratio(res, n, name)
            out.append("-" if us is None else f"{us:7.3f}  x{ratio:4.2f}")
        return tuple(out)

    def span(text: str) -> tuple[str, ...]:
        return (text, *blank[1:])

    for backend, res in results["backends"].items():
        if "unavailable" in res:
            rows.append((backend, f"unavailable: {res['unavailable']}", *blank, "", ""))
            continue
        ratio_2k = _ratio(res, 2000, "l0")
        rows.append((backend, "bare: source strings only", *cells(res, "bare"), "", ""))
        rows.append((backend, "raw baseline: RawEvent(text, ts)", *cells(res, "raw"), "", ""))
        rows.append((
            backend, "l0 core (timeouts on, default)", *cells(res, "l0"),
            f"x >= {TARGET_RATIO_2K} @2k" if ratio_2k is not None else "",
            _verdict(None if ratio_2k is None else ratio_2k >= TARGET_RATIO_2K),
        ))  # fmt: skip
        rows.append((backend, "l0 core (timeout=None)", *cells(res, "l0_no_timeouts"), "", ""))
        g_on, g_off = _growth(res, tokens, "l0"), _growth(res, tokens, "l0_no_timeouts")
        if g_on is not None and g_off is not None:
            target_applies = lo == 2000 and hi == 100_000
            rows.append((
                backend, f"l0 growth: us/token {hi:,} / {lo:,}",
                *span(f"{g_on:.2f} timeouts on, {g_off:.2f} off"),
                f"<= {TARGET_GROWTH}" if target_applies else "",
                _verdict(g_on <= TARGET_GROWTH if target_applies else None),
            ))  # fmt: skip
        fixed = res.get("fixed")
        if fixed is not None:
            raw_us = fixed["raw"]["median_s"] * 1e6
            on_us = fixed["l0"]["median_s"] * 1e6 - raw_us
            off_us = fixed["l0_no_timeouts"]["median_s"] * 1e6 - raw_us
            rows.append((
                backend, "l0 per-stream fixed cost (1-token stream)",
                *span(
                    f"{on_us:+.1f} us (off {off_us:+.1f}) over raw {raw_us:.1f} us, "
                    f"n={fixed['raw']['runs']}"
                ),
                "", "",
            ))  # fmt: skip
        for delay in TTFT_DELAYS:
            t = res["ttft"].get(str(delay))
            if t is None:
                continue
            on, off = t["l0"], t["l0_no_timeouts"]
            label = "sleep(0)" if delay == 0 else f"sleep({delay * 1e3:g} ms)"
            rows.append((
                backend, f"TTFT overhead, first token after {label}",
                *span(
                    f"{on['overhead_ms']:+.4f} ms (off {off['overhead_ms']:+.4f}); "
                    f"raw {on['raw_median_ms']:.4f} ms, n={on['runs']}"
                ),
                f"<= {TARGET_TTFT_MS} ms", _verdict(on["overhead_ms"] <= TARGET_TTFT_MS),
            ))  # fmt: skip
        # ai2070-l0, measured in its own venv (same Python), against its own raw baseline.
        if "error" in ai:
            continue
        ai_res = ai.get("backends", {}).get(backend)
        if ai_res is None:
            if backend == "trio" and ai:
                rows.append((backend, "ai2070-l0: n/a (asyncio-only)", *blank, "", ""))
            continue
        if "unavailable" in ai_res:
            rows.append((backend, f"ai2070-l0: unavailable ({ai_res['unavailable']})",
                         *blank, "", ""))  # fmt: skip
            continue
        rows.append((backend, "ai2070-l0 venv: raw baseline", *cells(ai_res, "raw"), "", ""))
        rows.append((backend, "ai2070-l0 (timeouts off, its default)",
                     *cells(ai_res, "ai_off"), "", ""))  # fmt: skip
        rows.append((backend, "ai2070-l0 (timeouts on: 30 s / 10 s)",
                     *cells(ai_res, "ai_on"), "", ""))  # fmt: skip
        g_off, g_on = _growth(ai_res, tokens, "ai_off"), _growth(ai_res, tokens, "ai_on")
        if g_on is not None and g_off is not None:
            rows.append((backend, f"ai2070-l0 growth: us/token {hi:,} / {lo:,}",
                         *span(f"{g_on:.2f} timeouts on, {g_off:.2f} off"), "", ""))  # fmt: skip
        for delay in TTFT_DELAYS:
            t = ai_res.get("ttft", {}).get(str(delay))
            if t is None:
                continue
            label = "sleep(0)" if delay == 0 else f"sleep({delay * 1e3:g} ms)"
            rows.append((
                backend, f"ai2070-l0 TTFT overhead, after {label}",
                *span(f"{t['overhead_ms']:+.4f} ms (timeouts on); raw {t['raw_median_ms']:.4f} ms"),
                "", "",
            ))  # fmt: skip

    imp = results.get("import")
    if imp is not None:
        heavy = [m for m in HEAVY if m in imp["loaded"]]
        top = ", ".join(f"{k} {v:.0f}" for k, v in list(imp["self_ms_by_package"].items())[:5])
        rows.append((
            "-", "import l0 (fresh process, bytecode cached)",
            *span(
                f"{imp['median_ms']:.1f} ms; {'/'.join(HEAVY)} imported: "
                f"{', '.join(heavy) if heavy else 'none'}; self ms: {top}"
            ),
            f"<= {TARGET_IMPORT_MS:g} ms, none",
            _verdict(imp["median_ms"] <= TARGET_IMPORT_MS and not heavy),
        ))  # fmt: skip
    ai_imp = ai.get("import")
    if ai_imp is not None:
        rows.append(("-", "import ai2070-l0 (its venv, same way)",
                     *span(f"{ai_imp['median_ms']:.1f} ms; loaded: "
                           f"{', '.join(ai_imp['loaded']) or 'none'}"), "", ""))  # fmt: skip
    return rows


def render(rows: list[tuple[str, ...]], tokens: list[int]) -> str:
    head = ("backend", "figure", *(f"{n:,} tokens: us/tok  x raw" for n in tokens), "target", "")
    ncols = len(head)
    # Cells that span (long text in the first token column, blanks after it) do not widen
    # the token columns: they overflow to the right.
    widths = [len(h) for h in head]
    for row in rows:
        spanning = row[2] and not any(row[3 : 2 + len(tokens)]) and len(tokens) > 1
        for i, cell in enumerate(row):
            if spanning and 2 <= i < 2 + len(tokens):
                continue
            widths[i] = max(widths[i], len(cell))

    def line(row: tuple[str, ...]) -> str:
        spanning = row[2] and not any(row[3 : 2 + len(tokens)]) and len(tokens) > 1
        parts = [row[0].ljust(widths[0]), row[1].ljust(widths[1])]
        if spanning:
            room = sum(widths[2 : 2 + len(tokens)]) + 2 * (len(tokens) - 1)
            parts.append(row[2].ljust(room))
        else:
            parts += [row[i].rjust(widths[i]) for i in range(2, 2 + len(tokens))]
        parts += [row[-2].ljust(widths[-2]), row[-1]]
        return "  ".join(parts).rstrip()

    rule = "-" * len(line(tuple(["-" * w for w in widths[: ncols - 1]] + ["MISS"])))
    out = [line(head), rule]
    last = None
    for row in rows:
        if last is not None and row[0] != last:
            out.append(rule)
        out.append(line(row))
        last = row[0]
    return "\n".join(out)


# --------------------------------------------------------------------------- main


def header(args: argparse.Namespace, meta: dict[str, Any]) -> str:
    v = meta["versions"]
    lines = [
        f"l0 benchmark  {meta['date']}  mode: {'quick' if args.quick else 'default'}",
        f"l0 {meta['l0_version']} ({meta['git']}) from {meta['l0_file']}",
        (
            f"Python {v['python']} ({platform.python_implementation()}), anyio {v['anyio']}, "
            f"trio {v['trio']}, uvloop {v['uvloop']}, msgspec {v['msgspec']}"
        ),
        (
            f"machine: {meta['cores']} cores ({meta['usable_cores']} usable), "
            f"{platform.machine()}, {platform.system()} {platform.release()}"
        ),
        f"ai2070-l0: {meta['ai2070']}",
    ]
    return "\n".join(lines)


def _git() -> str:
    try:
        rev = subprocess.run(
            ["git", "-C", str(REPO), "describe", "--always", "--dirty"],
            capture_output=True, text=True, timeout=10, check=False,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        rev = ""
    return rev or "no git"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="fewer repetitions (a smoke run)")
    p.add_argument(
        "--tokens", type=int, nargs="+", default=[2000, 20_000, 100_000], metavar="N",
        help="token counts (default: 2000 20000 100000; 2000 is the headline)",
    )  # fmt: skip
    p.add_argument(
        "--backend", nargs="+", choices=c.BACKENDS, default=list(c.BACKENDS), dest="backends",
        help="backends to measure (default: all three)",
    )  # fmt: skip
    p.add_argument(
        "--repeat",
        type=int,
        default=None,
        metavar="R",
        help="timed runs per figure (default: 31/11/7 by size; 9/3 with --quick)",
    )
    p.add_argument("--no-ai2070", action="store_true", help="skip ai2070-l0")
    p.add_argument("--json", type=Path, default=None, metavar="PATH", help="write results here")
    args = p.parse_args(argv)
    args.tokens = sorted(set(args.tokens))
    if any(n <= 0 for n in args.tokens):
        p.error("--tokens must be positive")
    args.ttft_runs = (101, 41) if args.quick else (301, 101)
    args.import_runs = 3 if args.quick else 7
    return args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    meta: dict[str, Any] = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "versions": c.versions(),
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "platform": platform.platform(),
        "l0_version": _l0_version(),
        "l0_file": str(Path(l0.__file__).resolve().parent),
        "git": _git(),
        "args": {k: v for k, v in vars(args).items() if k != "json"},
        "ai2070": "skipped (--no-ai2070)" if args.no_ai2070 else "pending",
    }
    results: dict[str, Any] = {"meta": meta, "backends": {}, "targets": {
        "l0_over_raw_at_2000": TARGET_RATIO_2K, "growth_100k_over_2k": TARGET_GROWTH,
        "ttft_overhead_ms": TARGET_TTFT_MS, "import_ms": TARGET_IMPORT_MS,
    }}  # fmt: skip

    for backend in args.backends:
        why = c.backend_available(backend)
        if why is not None:
            results["backends"][backend] = {"unavailable": why}
            continue
        results["backends"][backend] = measure_backend(backend, args)

    log("import time of l0")
    c.CACHE_DIR.mkdir(exist_ok=True)
    results["import"] = c.measure_import(
        sys.executable, "l0", args.import_runs, cwd=REPO,
        pycache=c.CACHE_DIR / "pycache", importtime_runs=1 if args.quick else 3,
    )  # fmt: skip

    if not args.no_ai2070:
        ai_backends = [b for b in args.backends if b in ("asyncio", "uvloop")]
        if not ai_backends:
            meta["ai2070"] = "not measured: asyncio-only, and no asyncio backend was selected"
        else:
            try:
                results["ai2070"] = ai = _ai2070.measure(
                    args.tokens, ai_backends, args.quick, args.repeat, args.ttft_runs,
                    args.import_runs, log=log,
                )  # fmt: skip
                meta["ai2070"] = (
                    f"{ai['version']}, asyncio-only (measured on {', '.join(ai_backends)}; "
                    "n/a on trio), in its own venv bench/.venv-ai2070; x raw is against the "
                    "raw baseline measured in that same process"
                )
            except _ai2070.Unavailable as exc:
                results["ai2070"] = {"error": str(exc)}
                meta["ai2070"] = f"unavailable ({exc})"

    print(header(args, meta))
    print("per-token cost in microseconds (median of the runs); x raw = throughput / raw baseline")
    print()
    print(render(build_rows(results, args.tokens), args.tokens))
    if "error" in results.get("ai2070", {}):
        print(f"\nai2070-l0: unavailable ({results['ai2070']['error']})")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=1) + "\n")
        print(f"\nresults written to {args.json}")
    return results


def _l0_version() -> str:
    return c.dist_version("l0") or "(not installed)"


if __name__ == "__main__":
    main()
