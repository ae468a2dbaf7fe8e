"""Partial JSON while streaming: l0's incremental parser against re-parsing the buffer per token.

    python3 -m uv run --with jiter python bench/json_partial.py [--tokens N ...] [--repeat R]

A JSON document of about ``4 * N`` characters (a list of search results: titles, URLs, long
summaries, tags, numbers, nested objects) is streamed in 4-character tokens. After every token
each contender produces the current partial value:

* ``l0 PartialJSON``: ``parser.feed(token)`` then ``parser.value`` (incremental: each character
  is looked at once);
* ``l0 feed only``: the same without reading ``value`` (events only);
* ``jiter per token``: ``jiter.from_json(buf.encode(), partial_mode="trailing-strings")`` on the
  growing buffer, which is how jiter is used on a stream;
* ``heal per token``: ``l0._structured.parse(buf)`` (heal, then decode) on the growing buffer.
  Above 2,000 tokens it is timed on 40 evenly spaced prefixes and the total extrapolated
  (marked ``~``): running it on every token would take minutes.

Printed: microseconds per token (total time / tokens) and the total in ms, the median of
``--repeat`` runs. The final value of every contender is checked against ``msgspec.json.decode``.

Measured (2 shared cores, CPython 3.11.7, msgspec 0.22.0, jiter 0.19.0;
``python3 -m uv run python bench/json_partial.py --tokens 30 500 2000 5000 20000 --repeat 3``),
microseconds per token:

    tokens   doc KB   l0 PartialJSON   l0 feed only   jiter per token   heal per token
       153      0.6              1.4            1.1               1.8               61
       540      2.2              1.2            0.7               4.0              115
     2,058      8.2              1.1            0.7              12.1              464
     4,995     20.0              1.1            0.7              29.2           ~1,365
    20,002     80.0              1.2            0.8             132.5           ~6,165

The verdict: l0's own parser costs about a microsecond per token whatever the length.
jiter's partial mode is as fast only for the smallest document (its Rust parser is quicker per
character, but it goes over the whole buffer every time), and its cost per token grows with the
buffer, so its total is quadratic: 10x slower than l0's at 2,000 tokens, 100x at 20,000. It
also gives values, not "this field is complete" events, which would cost a comparison of
successive values on top. Hence ``structured_stream`` uses :class:`~l0.structured.PartialJSON`,
and jiter is not a dependency.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
if str(BENCH_DIR.parent) not in sys.path:
    sys.path.insert(1, str(BENCH_DIR.parent))

import msgspec  # noqa: E402

from l0._structured import PartialJSON, parse  # noqa: E402

jiter: Any
try:
    jiter = importlib.import_module("jiter")
except ImportError:  # pragma: no cover
    jiter = None

TOKEN_CHARS = 4
SAMPLES = 40
WORDS = [
    *("stream", "token", "retry", "fallback", "guardrail", "drift", "checkpoint", "latency"),
    *("model", "provider", "json", "schema", "partial", "object", "array", "value", "cancel"),
    *("scope", "deadline", "backoff", "jitter", "budget"),
]


def document(n_chars: int, seed: int = 7) -> str:
    """A realistic JSON document of at least ``n_chars`` characters (compact encoding)."""
    rng = random.Random(seed)
    results: list[dict[str, Any]] = []
    doc: dict[str, Any] = {"query": "reliable llm streaming", "results": results}
    size = 0
    while size < n_chars:
        i = len(results)
        item = {
            "id": i,
            "title": " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 8))).title(),
            "url": f"https://example.com/docs/{i}?q=a//b&x=/*y*/",
            "summary": " ".join(rng.choice(WORDS) for _ in range(rng.randint(15, 40)))
            + ' with "quotes", a tab\tand caf\u00e9 \u2603.',
            "tags": [rng.choice(WORDS) for _ in range(rng.randint(1, 5))],
            "score": round(rng.random() * 100, 3),
            "rank": -rng.randint(0, 10**6),
            "published": rng.random() < 0.5,
            "author": {"name": rng.choice(WORDS).title(), "email": None},
        }
        results.append(item)
        size += len(msgspec.json.encode(item)) + 1
    doc["meta"] = {"count": len(results), "ok": True}
    return msgspec.json.encode(doc).decode()


def tokens_of(text: str) -> list[str]:
    return [text[i : i + TOKEN_CHARS] for i in range(0, len(text), TOKEN_CHARS)]


def run_l0(tokens: list[str]) -> Any:
    parser = PartialJSON()
    for token in tokens:
        parser.feed(token)
        _ = parser.value
    parser.close()
    return parser.value


def run_l0_feed(tokens: list[str]) -> Any:
    parser = PartialJSON()
    for token in tokens:
        parser.feed(token)
    parser.close()
    return parser.value


def run_jiter(tokens: list[str]) -> Any:
    assert jiter is not None
    from_json = jiter.from_json
    buf = ""
    value: Any = None
    for token in tokens:
        buf += token
        with contextlib.suppress(ValueError):
            value = from_json(buf.encode(), partial_mode="trailing-strings")
    return value


def run_heal(tokens: list[str], sample: bool) -> tuple[Any, float]:
    """Returns the last value and the time (s) spent, extrapolated when ``sample``."""
    buf = ""
    prefixes: list[str] = []
    for token in tokens:
        buf += token
        prefixes.append(buf)
    if sample:
        step = len(prefixes) / SAMPLES
        last = len(prefixes) - 1
        chosen = [prefixes[min(last, int(k * step + step / 2))] for k in range(SAMPLES)]
    else:
        chosen = prefixes
    value: Any = None
    t0 = time.perf_counter()
    for prefix in chosen:
        with contextlib.suppress(ValueError):
            value = parse(prefix)
    elapsed = time.perf_counter() - t0
    if sample:
        elapsed *= len(prefixes) / len(chosen)
        value = parse(prefixes[-1])
    return value, elapsed


def timed(fn: Callable[[list[str]], Any], tokens: list[str]) -> tuple[Any, float]:
    t0 = time.perf_counter()
    value = fn(tokens)
    return value, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--tokens", type=int, nargs="+", default=[2000, 5000, 20000])
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()

    print(f"python {sys.version.split()[0]}, msgspec {msgspec.__version__}", end="")
    print(", jiter not installed" if jiter is None else f", jiter {jiter.__version__}")
    header = f"{'tokens':>7} {'doc KB':>7}  {'contender':<18} {'us/token':>10} {'total ms':>10}"
    print(header)
    print("-" * len(header))
    for n in args.tokens:
        text = document(n * TOKEN_CHARS)
        tokens = tokens_of(text)
        expected = msgspec.json.decode(text)
        rows: list[tuple[str, float, bool]] = []
        contenders: list[tuple[str, Callable[[list[str]], Any]]] = [
            ("l0 PartialJSON", run_l0),
            ("l0 feed only", run_l0_feed),
        ]
        if jiter is not None:
            contenders.append(("jiter per token", run_jiter))
        for name, fn in contenders:
            times: list[float] = []
            for _ in range(args.repeat):
                gc.collect()
                value, elapsed = timed(fn, tokens)
                if value != expected:
                    raise AssertionError(f"{name}: wrong final value")
                times.append(elapsed)
            rows.append((name, statistics.median(times), False))
        sample = n > 2000
        gc.collect()
        value, elapsed = run_heal(tokens, sample)
        if value != expected:
            raise AssertionError("heal per token: wrong final value")
        rows.append(("heal per token", elapsed, sample))
        for name, total, approx in rows:
            mark = "~" if approx else " "
            print(
                f"{len(tokens):>7} {len(text) / 1000:>7.1f}  {name:<18}"
                f" {mark}{total / len(tokens) * 1e6:>9.2f} {mark}{total * 1e3:>9.1f}"
            )
        print()


if __name__ == "__main__":
    main()
