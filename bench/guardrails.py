"""Per-token cost of guardrails and drift detection, and whether it stays flat.

    python3 -m uv run python bench/guardrails.py [--tokens N ...] [--repeat R] [--rules]
        [--batch GUARDRAILS DRIFT]

Feeds generated prose with some markdown (headings, lists, tables, code blocks, inline code,
dollar amounts) as ~4-character tokens, in batches the size of the engine's default check
intervals (``l0.CheckIntervals()``: guardrails every 15 tokens, drift every 25), the way the
engine does: ``Guardrails.recommended()`` through ``checker.feed(delta, offset)`` and
``finish(text)``, and ``DriftDetector()`` through ``monitor.feed(delta)``. Prints the cost per token
(microseconds) at each size and the ratio 100k/2k, which must stay at or below 1.25 (the
cost per token must not grow with the output); exits with status 1 if it does not.
``--rules`` adds the cost of each recommended rule on its own. Each figure is the fastest
of ``--repeat`` runs taken in interleaved rounds (every figure once per round, in a rotated
order), the estimate least disturbed by other load on a shared machine; the garbage
collector stays on.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from _prose import TOKEN_CHARS, prose  # noqa: E402

from l0 import CheckIntervals  # noqa: E402
from l0._guardrails import DriftDetector, Guardrails  # noqa: E402

TARGET_GROWTH = 1.25


def batches(text: str, tokens: int) -> list[tuple[str, int]]:
    """``(delta, offset)``: ``tokens`` tokens of ``TOKEN_CHARS`` characters each."""
    step = TOKEN_CHARS * tokens
    return [(text[i : i + step], i) for i in range(0, len(text), step)]


def run_guardrails(
    make: Callable[[], Guardrails], text: str, deltas: list[tuple[str, int]]
) -> float:
    checker = make().start()
    feed = checker.feed
    t0 = time.perf_counter()
    for delta, offset in deltas:
        feed(delta, offset)
    checker.finish(text)
    return time.perf_counter() - t0


def run_drift(text: str, deltas: list[tuple[str, int]]) -> float:
    monitor = DriftDetector().start()
    feed = monitor.feed
    t0 = time.perf_counter()
    for delta, _ in deltas:
        feed(delta)
    return time.perf_counter() - t0


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--tokens", type=int, nargs="+", default=[2_000, 20_000, 100_000])
    parser.add_argument("--repeat", type=int, default=9, help="timed runs per figure")
    parser.add_argument("--rules", action="store_true", help="also time each rule alone")
    defaults = CheckIntervals()
    parser.add_argument(
        "--batch",
        type=int,
        nargs=2,
        metavar=("GUARDRAILS", "DRIFT"),
        default=[defaults.guardrails, defaults.drift],
        help="tokens per feed (default: the engine's check intervals)",
    )
    args = parser.parse_args()
    guard_batch, drift_batch = args.batch
    sizes: list[int] = sorted(args.tokens)
    full = prose(max(sizes) * TOKEN_CHARS + TOKEN_CHARS)
    variants: dict[str, Callable[[str, list[tuple[str, int]]], float]] = {
        "guardrails (recommended)": lambda t, d: run_guardrails(Guardrails.recommended, t, d),
        "drift (default config)": run_drift,
    }
    batch_of = {"drift (default config)": drift_batch}
    if args.rules:
        for rule in Guardrails.recommended():

            def one(t: str, d: list[tuple[str, int]], name: str = rule.name) -> float:
                return run_guardrails(
                    lambda: Guardrails.recommended().without(
                        *(n for n in Guardrails.recommended().names if n != name)
                    ),
                    t,
                    d,
                )

            variants[f"  rule {rule.name}"] = one
    inputs = {
        (name, n): (
            full[: n * TOKEN_CHARS],
            batches(full[: n * TOKEN_CHARS], batch_of.get(name, guard_batch)),
        )
        for name in variants
        for n in sizes
    }
    jobs = [(name, n) for name in variants for n in sizes]
    samples: dict[tuple[str, int], list[float]] = {job: [] for job in jobs}
    for name, n in jobs:  # warm-up
        variants[name](*inputs[name, n])
    for r in range(args.repeat):
        # every figure once per round, in an order rotated from round to round
        for name, n in jobs[r % len(jobs) :] + jobs[: r % len(jobs)]:
            gc.collect()
            samples[name, n].append(variants[name](*inputs[name, n]) / n * 1e6)
    results = {name: {n: min(samples[name, n]) for n in sizes} for name in variants}
    header = f"{'us per token':<28}" + "".join(f"{n:>10,}" for n in sizes)
    lo, hi = sizes[0], sizes[-1]
    print(
        f"tokens of {TOKEN_CHARS} chars, fed {guard_batch} (guardrails) or {drift_batch} "
        f"(drift) at a time; best of {args.repeat} interleaved runs; "
        f"Python {sys.version.split()[0]}"
    )
    print(header + f"{f'{hi // 1000}k/{lo // 1000}k':>12}")
    failed = False
    for name, row in results.items():
        ratio = row[hi] / row[lo]
        flat = ratio <= TARGET_GROWTH
        if not name.startswith(" "):
            failed |= not flat
        mark = "" if name.startswith(" ") else ("  ok" if flat else "  > 1.25!")
        per_char = row[hi] / TOKEN_CHARS
        print(
            f"{name:<28}"
            + "".join(f"{row[n]:>10.2f}" for n in sizes)
            + f"{ratio:>12.2f}{mark}  ({per_char:.3f} us/char)"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
