"""l0's benchmark suite: every figure of BENCHMARKS.md, measured in one run, one table.

    python bench/run.py [--quick] [--backend asyncio uvloop trio] [--only FIGURE ...]
                        [--no-ai2070] [--markdown] [--json PATH] [--strict]

or ``nox -s bench -- --quick``. Figures: core, full, growth, rss, concurrent, sdk, ttft, import
(default: all). Each is measured on asyncio, asyncio + uvloop and trio, against a raw baseline
measured in the same process and against ai2070-l0 (in its own venv, asyncio only). The table
goes to stdout, progress to stderr; BENCHMARKS.md says how each figure is computed.
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
from typing import Any, NamedTuple

BENCH_DIR = Path(__file__).resolve().parent
if str(BENCH_DIR) not in sys.path:  # imported (by the smoke test) rather than run as a script
    sys.path.insert(0, str(BENCH_DIR))

import _ai2070  # noqa: E402
import _common as c  # noqa: E402
import _report  # noqa: E402
import _sdk  # noqa: E402
import _side_l0  # noqa: E402
import _workloads as w  # noqa: E402

REPO = BENCH_DIR.parent
FIGURES = ("core", "full", "growth", "rss", "concurrent", "sdk", "ttft", "import")
AI_BACKENDS = ("asyncio", "uvloop")  # ai2070-l0 is asyncio-only
CHILD_TIMEOUT = 1800.0  # seconds, for one workload subprocess


class Plan(NamedTuple):
    """Sizes and repetitions of one run (default, ``--quick`` or ``--smoke``)."""

    mode: str
    small: int  # tokens of the headline throughput figures
    large: int  # tokens of the growth and RSS figures
    reps_small: int
    reps_large: int
    reps_fixed: int  # 1-token streams: the per-stream fixed cost
    ttft_runs: tuple[int, int]  # after sleep(0), after sleep(1 ms)
    streams: int
    stream_tokens: int
    sdk_requests: int
    sdk_rounds: int
    sdk_warmup: int
    import_runs: int
    importtime_runs: int
    ai_concurrent_backends: tuple[str, ...]  # the ai2070-l0 concurrency run is long


_DEFAULT = Plan(
    mode="default",
    small=2000,
    large=100_000,
    reps_small=31,
    reps_large=7,
    reps_fixed=201,
    ttft_runs=(301, 101),
    streams=10_000,
    stream_tokens=200,
    sdk_requests=20,
    sdk_rounds=9,
    sdk_warmup=3,
    import_runs=7,
    importtime_runs=3,
    ai_concurrent_backends=AI_BACKENDS,
)
PLANS = {
    "default": _DEFAULT,
    "quick": _DEFAULT._replace(
        mode="quick",
        reps_small=9,
        reps_large=3,
        reps_fixed=101,
        ttft_runs=(101, 41),
        sdk_requests=10,
        sdk_rounds=5,
        import_runs=3,
        importtime_runs=1,
        ai_concurrent_backends=("asyncio",),
    ),
    # The smallest configuration, for tests/test_bench_smoke.py: the code paths, no meaning.
    "smoke": _DEFAULT._replace(
        mode="smoke",
        small=200,
        large=1000,
        reps_small=2,
        reps_large=1,
        reps_fixed=3,
        ttft_runs=(3, 2),
        streams=50,
        stream_tokens=20,
        sdk_requests=1,
        sdk_rounds=1,
        sdk_warmup=1,
        import_runs=1,
        importtime_runs=0,
        ai_concurrent_backends=(),
    ),
}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- ai2070-l0


class Ai:
    """ai2070-l0's side: its venv is made on first use; once it cannot be, every later figure
    says why instead of trying again."""

    def __init__(self, skipped: str | None) -> None:
        self.reason: str | None = None if skipped is None else f"skipped ({skipped})"
        self.version: str | None = None

    def run(self, backend: str, args: list[str]) -> dict[str, Any] | str:
        """The workload's result, ``{"error": ...}`` if it failed, or why it was not run."""
        if backend not in AI_BACKENDS:
            return "n/a on trio (asyncio-only)"
        if self.reason is not None:
            return self.reason
        try:
            out = _ai2070.workload([args[0], "--backend", backend, *args[1:]], CHILD_TIMEOUT, log)
        except _ai2070.Unavailable as exc:
            self.reason = f"unavailable ({exc})"
            return self.reason
        except w.ChildFailed as exc:
            return {"error": str(exc)}
        self.version = out["version"]
        return out["result"]


def _l0_child(side: str, backend: str, args: list[str]) -> dict[str, Any]:
    try:
        out = w.run_child(
            sys.executable, [side, args[0], "--backend", backend, *args[1:]], timeout=CHILD_TIMEOUT
        )
    except w.ChildFailed as exc:
        return {"error": str(exc)}
    return out["result"]


# --------------------------------------------------------------------------- the figures


def measure_throughput(
    plan: Plan, backends: list[str], figures: set[str], ai: Ai
) -> dict[str, Any]:
    """core, full and growth: l0 in this process; ai2070-l0 in its venv; each with the bare
    loop and the raw baseline of its own process."""
    small_variants = [
        v
        for v, f in (("core", "core"), ("core_no_timeouts", "core"), ("full", "full"))
        if f in figures or "growth" in figures
    ]
    out: dict[str, Any] = {}
    for backend in backends:
        l0_res = {
            str(plan.small): w.throughput(
                _side_l0, backend, plan.small, small_variants, plan.reps_small, log
            )
        }
        if "core" in figures:
            l0_res["1"] = w.throughput(_side_l0, backend, 1, ["core"], plan.reps_fixed, log)
        if "growth" in figures:
            l0_res[str(plan.large)] = w.throughput(
                _side_l0, backend, plan.large, ["core", "full"], plan.reps_large, log
            )
        res: dict[str, Any] = {"l0": l0_res}
        ai_variants = [v for v in ("core", "full") if v in figures]
        if ai_variants:
            args = ["throughput", "--tokens", str(plan.small), "--reps", str(plan.reps_small)]
            got = ai.run(backend, [*args, "--variant", *ai_variants])
            res["ai2070"] = (
                got if isinstance(got, str) or "error" in got else {str(plan.small): got}
            )
        out[backend] = res
    return out


def measure_rss(plan: Plan, backends: list[str], ai: Ai) -> dict[str, Any]:
    """One ``plan.large``-token stream per fresh process: l0 full stack (and core), the raw
    loop, ai2070-l0's full stack."""
    out: dict[str, Any] = {}
    args = ["rss", "--tokens", str(plan.large)]
    for backend in backends:
        log(f"peak RSS of one {plan.large:,}-token stream on {backend} (subprocesses)")
        out[backend] = {
            "l0": _l0_child("l0", backend, [*args, "--variant", "full"]),
            "l0_core": _l0_child("l0", backend, [*args, "--variant", "core"]),
            "raw": _l0_child("raw", backend, [*args, "--variant", "raw"]),
            "ai2070": ai.run(backend, [*args, "--variant", "full"]),
        }
    return out


def measure_concurrent(plan: Plan, backends: list[str], ai: Ai) -> dict[str, Any]:
    """``plan.streams`` concurrent streams, each in a fresh process (in this one with --smoke)."""
    out: dict[str, Any] = {}
    for backend in backends:
        if plan.mode == "smoke":
            out[backend] = {
                side: w.concurrent(module, variant, backend, plan.streams, plan.stream_tokens)
                for side, module, variant in (("l0", _side_l0, "core"), ("raw", w.RAW_SIDE, "raw"))
            }
            out[backend]["ai2070"] = ai.reason or "skipped"
            continue
        args = ["concurrent", "--streams", str(plan.streams), "--tokens", str(plan.stream_tokens)]
        res: dict[str, dict[str, Any] | str] = {
            "raw": _l0_child("raw", backend, [*args, "--variant", "raw"]),
            "l0": _l0_child("l0", backend, [*args, "--variant", "core"]),
        }
        if backend in plan.ai_concurrent_backends:
            res["ai2070"] = ai.run(backend, [*args, "--variant", "core"])
        elif backend in AI_BACKENDS:
            res["ai2070"] = "measured on asyncio only with --quick (it takes minutes)"
        else:
            res["ai2070"] = ai.run(backend, args)  # says n/a
        out[backend] = res
    return out


def measure_sdk(plan: Plan, backends: list[str]) -> dict[str, Any]:
    """The openai SDK's CPU time with and without l0.wrap, against the local server."""
    if c.dist_version("openai") is None:
        return {b: {"unavailable": "openai is not installed"} for b in backends}
    out: dict[str, Any] = {}
    with _sdk.server() as url:
        for backend in backends:
            log(
                f"openai SDK vs l0.wrap on {backend}: {plan.sdk_rounds} rounds x "
                f"{plan.sdk_requests} requests"
            )

            async def main(url: str = url) -> dict[str, Any]:
                return await _sdk.measure(
                    url, plan.sdk_requests, plan.sdk_rounds, warmup=plan.sdk_warmup
                )

            try:
                out[backend] = c.run_on(backend, main)
            except Exception as exc:  # reported in the table
                out[backend] = {"error": f"{type(exc).__name__}: {exc}"[:300]}
    return out


def measure_ttft(plan: Plan, backends: list[str]) -> dict[str, Any]:
    return {
        backend: {
            str(delay): w.ttft(_side_l0, backend, delay, runs, log)
            for delay, runs in zip((0.0, 0.001), plan.ttft_runs, strict=True)
        }
        for backend in backends
    }


def measure_import(plan: Plan, ai: Ai) -> dict[str, Any]:
    log("import time (fresh processes)")
    c.CACHE_DIR.mkdir(exist_ok=True)
    try:
        res = c.measure_import(
            sys.executable,
            "l0",
            plan.import_runs,
            cwd=REPO,
            pycache=c.CACHE_DIR / "pycache",
            importtime_runs=plan.importtime_runs,
        )
    except (subprocess.SubprocessError, ValueError) as exc:
        return {"error": str(exc)[:300]}
    if ai.reason is not None:
        res["ai2070"] = ai.reason
    else:
        try:
            res["ai2070"] = _ai2070.measure_import(plan.import_runs, plan.importtime_runs, log)
        except _ai2070.Unavailable as exc:
            ai.reason = f"unavailable ({exc})"
            res["ai2070"] = ai.reason
        except (subprocess.SubprocessError, ValueError) as exc:
            res["ai2070"] = {"error": str(exc)[:300]}
    return res


# --------------------------------------------------------------------------- main


def _git() -> str:
    try:
        rev = subprocess.run(
            ["git", "-C", str(REPO), "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        rev = ""
    return rev or "no git"


def _proc_field(path: str, key: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.startswith(key):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def machine(plan: Plan) -> dict[str, Any]:
    """Facts about this machine and this run."""
    mem = _proc_field("/proc/meminfo", "MemTotal")
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "mode": plan.mode,
        "git": _git(),
        "l0": _side_l0.version(),
        "versions": c.versions(),
        "implementation": platform.python_implementation(),
        "cpu": _proc_field("/proc/cpuinfo", "model name") or platform.processor() or "cpu?",
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "memory": f"{int(mem.split()[0]) / 1024**2:.1f} GiB RAM" if mem else "RAM ?",
        "platform": platform.platform(),
        "loadavg": " ".join(f"{x:.2f}" for x in os.getloadavg())
        if hasattr(os, "getloadavg")
        else None,
        "sizes": (plan.small, plan.large),
        "ai2070": "pending",
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="fewer repetitions (noisier)")
    mode.add_argument("--smoke", action="store_true", help="tiny sizes: checks the suite runs")
    p.add_argument(
        "--backend",
        nargs="+",
        choices=c.BACKENDS,
        default=list(c.BACKENDS),
        dest="backends",
        help="backends to measure (default: all three)",
    )
    p.add_argument(
        "--only",
        nargs="+",
        choices=FIGURES,
        default=list(FIGURES),
        metavar="FIGURE",
        help=f"figures to measure: {', '.join(FIGURES)} (default: all)",
    )
    p.add_argument("--no-ai2070", action="store_true", help="skip ai2070-l0")
    p.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    p.add_argument("--json", type=Path, default=None, metavar="PATH", help="write results here")
    p.add_argument("--strict", action="store_true", help="exit with status 1 if a target is missed")
    return p.parse_args(argv)


def run(argv: list[str] | None = None) -> dict[str, Any]:
    """Measure what ``argv`` asks for and print the table; the results."""
    args = parse_args(argv)
    plan = PLANS["smoke" if args.smoke else "quick" if args.quick else "default"]
    figures = set(args.only)
    ai = Ai("--smoke" if args.smoke else "--no-ai2070" if args.no_ai2070 else None)
    results: dict[str, Any] = {"meta": machine(plan), "figures": sorted(figures)}
    backends: list[str] = []
    for backend in args.backends:
        why = c.backend_available(backend)
        if why is None:
            backends.append(backend)
        else:
            log(f"{backend}: {why}")
    steps: list[tuple[str, set[str], Callable[[], dict[str, Any]]]] = [
        (
            "throughput",
            {"core", "full", "growth"},
            lambda: measure_throughput(plan, backends, figures, ai),
        ),
        ("rss", {"rss"}, lambda: measure_rss(plan, backends, ai)),
        ("concurrent", {"concurrent"}, lambda: measure_concurrent(plan, backends, ai)),
        ("sdk", {"sdk"}, lambda: measure_sdk(plan, backends)),
        ("ttft", {"ttft"}, lambda: measure_ttft(plan, backends)),
        ("import", {"import"}, lambda: measure_import(plan, ai)),
    ]
    if plan.mode == "smoke":  # no subprocess that takes seconds
        steps = [s for s in steps if s[0] != "rss"]
    for key, needs, step in steps:
        if figures & needs:
            results[key] = step()
    meta = results["meta"]
    meta["ai2070"] = (
        f"{ai.version}, asyncio-only, in its own venv (bench/.venv-ai2070)"
        if ai.version
        else ai.reason or "not needed by these figures"
    )
    print(_report.report(results, markdown=args.markdown))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=1) + "\n")
        print(f"\nresults written to {args.json}")
    results["misses"] = [r.figure for r in _report.misses(results)]
    return results


def main() -> int:
    argv = sys.argv[1:]
    results = run(argv)
    return 1 if "--strict" in argv and results["misses"] else 0


if __name__ == "__main__":
    sys.exit(main())
