"""The suite's table: one row per figure and backend, from the results ``run.py`` gathered.

Each row: the figure, the backend, the measured value, the target, the verdict (``ok``, ``MISS``,
or ``n/a`` when a part could not be measured) and the details (the numbers the value comes from,
and ai2070-l0's where there is a comparison). Rendered as aligned text or as Markdown.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

from _common import SDK_MODULES

# --------------------------------------------------------------------------- targets

TARGET_CORE = 0.6  # core (timeouts on) / raw, at 2,000 tokens
TARGET_FULL = 0.35  # full stack / raw, at 2,000 tokens
TARGET_FULL_VS_AI = 4.0  # full stack speed over ai2070-l0's full stack
TARGET_GROWTH = 1.25  # per-token cost at 100,000 tokens / at 2,000 tokens (full stack)
TARGET_RSS_MB = 25.0  # peak RSS growth while one 100,000-token stream is read
TARGET_CONCURRENT_MB = 200.0  # peak RSS of the process running 10,000 streams
TARGET_CONCURRENT_VS_AI = 1.5  # tokens/s over ai2070-l0's, 10,000 streams
TARGET_SDK = 0.05  # CPU over the raw openai SDK, same requests
TARGET_TTFT_MS = 0.1  # time to first token added
TARGET_IMPORT_MS = 100.0  # import l0, fresh process

AI = "ai2070-l0"


class Row(NamedTuple):
    figure: str
    backend: str
    value: str
    target: str
    verdict: str
    details: str


def _verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("ok" if ok else "MISS")


def _x(v: float | None, digits: int = 2) -> str:
    return "-" if v is None or math.isnan(v) else f"{v:.{digits}f}x"


def _us(cell: dict[str, Any] | None) -> str:
    return "-" if cell is None else f"{cell['us_per_token']:.3f} us/tok"


def _speed(cell: dict[str, Any], name: str) -> float | None:
    """Throughput of ``name`` relative to the raw baseline of the same process: raw / name."""
    if name not in cell or "raw" not in cell:
        return None
    return cell["raw"]["median_s"] / cell[name]["median_s"]


def _ai_note(ai: Any) -> str | None:
    """Why there is no ai2070-l0 figure in ``ai`` (a result, an error or a reason), or None."""
    if ai is None:
        return f"{AI}: not measured"
    if isinstance(ai, str):
        return f"{AI}: {ai}"
    if "error" in ai:
        return f"{AI} failed: {ai['error']}"
    return None


# --------------------------------------------------------------------------- rows


def _row(figure: str, backend: str, value: str, target: str, ok: bool | None, details: str) -> Row:
    return Row(figure, backend, value, target, _verdict(ok), details)


def _failed(figure: str, backend: str, target: str, res: dict[str, Any]) -> Row:
    """The row of a figure whose l0 measurement failed: a miss, with the error."""
    return Row(figure, backend, "-", target, "MISS", f"failed: {res['error']}")


def _throughput_rows(results: dict[str, Any], small: int, large: int) -> list[Row]:
    rows: list[Row] = []
    figures = results["figures"]
    for backend, res in results.get("throughput", {}).items():
        cell = res["l0"].get(str(small), {})
        big = res["l0"].get(str(large), {})
        ai_res = res.get("ai2070")
        ai_why = _ai_note(ai_res)
        ai = ai_res.get(str(small)) if ai_why is None else None
        if "core" in figures:
            ratio = _speed(cell, "core")
            details = (
                f"l0 {_us(cell['core'])}, raw {_us(cell['raw'])}, bare {_us(cell['bare'])}; "
                f"timeout=None {_us(cell.get('core_no_timeouts'))} "
                f"({_x(_speed(cell, 'core_no_timeouts'))})"
            )
            one = res["l0"].get("1")
            if one is not None:
                fixed = (one["core"]["median_s"] - one["raw"]["median_s"]) * 1e6
                details += f"; per-stream fixed cost {fixed:+.0f} us (1-token streams)"
            if ai is not None and "core" in ai:
                details += f"; {AI} core {_us(ai['core'])} ({_x(_speed(ai, 'core'))} its raw)"
            ok = None if ratio is None else ratio >= TARGET_CORE
            rows.append(
                _row(
                    f"core (timeouts on) / raw, {small:,} tokens",
                    backend,
                    _x(ratio),
                    f">= {TARGET_CORE}",
                    ok,
                    details,
                )
            )
        if "full" in figures:
            ratio = _speed(cell, "full")
            ok = None if ratio is None else ratio >= TARGET_FULL
            rows.append(
                _row(
                    f"full stack / raw, {small:,} tokens",
                    backend,
                    _x(ratio, 3),
                    f">= {TARGET_FULL}",
                    ok,
                    f"l0 full {_us(cell['full'])}, raw {_us(cell['raw'])}",
                )
            )
            label, target = f"full stack vs {AI} full stack", f">= {TARGET_FULL_VS_AI:g}x"
            ai_ratio = None if ai is None else _speed(ai, "full")
            if ratio is None or ai is None or ai_ratio is None:
                rows.append(_row(label, backend, "-", target, None, ai_why or f"{AI}: -"))
            else:
                vs = ratio / ai_ratio
                rows.append(
                    _row(
                        label,
                        backend,
                        _x(vs, 1),
                        target,
                        vs >= TARGET_FULL_VS_AI,
                        f"{AI} full {_us(ai['full'])} ({_x(ai_ratio, 3)} its raw "
                        f"{_us(ai['raw'])}); each against its own process's raw baseline",
                    )
                )
        if "growth" in figures and "full" in big and "full" in cell:
            growth = big["full"]["us_per_token"] / cell["full"]["us_per_token"]
            core = big["core"]["us_per_token"] / cell["core"]["us_per_token"]
            rows.append(
                _row(
                    f"per-token cost {large:,} / {small:,} tokens (full stack)",
                    backend,
                    f"{growth:.2f}",
                    f"<= {TARGET_GROWTH}",
                    growth <= TARGET_GROWTH,
                    f"full {_us(big['full'])} vs {_us(cell['full'])}; core {core:.2f} "
                    f"({_us(big['core'])} vs {_us(cell['core'])})",
                )
            )
    return rows


def _rss_rows(results: dict[str, Any], large: int) -> list[Row]:
    rows: list[Row] = []
    label = f"peak RSS growth, one {large:,}-token stream (full stack)"
    target = f"<= {TARGET_RSS_MB:g} MB"
    for backend, res in results.get("rss", {}).items():
        l0_res, core, raw = res["l0"], res["l0_core"], res["raw"]
        if "error" in l0_res:
            rows.append(_failed(label, backend, target, l0_res))
            continue
        parts = [
            f"raw loop {raw['growth_mb']:.1f} MB" if "growth_mb" in raw else "raw loop failed",
            f"l0 core {core['growth_mb']:.1f} MB" if "growth_mb" in core else "l0 core failed",
            _ai_note(res["ai2070"]) or f"{AI} full stack {res['ai2070']['growth_mb']:.1f} MB",
            l0_res["method"],
        ]
        growth = l0_res["growth_mb"]
        rows.append(
            _row(
                label,
                backend,
                f"{growth:.1f} MB",
                target,
                growth <= TARGET_RSS_MB,
                "; ".join(parts),
            )
        )
    return rows


def _concurrent_rows(results: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    for backend, res in results.get("concurrent", {}).items():
        l0_res, raw, ai = res["l0"], res["raw"], res["ai2070"]
        if "error" in l0_res:
            rows.append(_failed("concurrent streams", backend, "complete", l0_res))
            continue
        n, t = l0_res["streams"], l0_res["tokens_per_stream"]
        head = f"{n:,} concurrent streams x {t} tokens"
        raw_wall = f"{raw['wall_s']:.1f} s" if "wall_s" in raw else "failed"
        failures = f"; first failures: {l0_res['failures']}" if l0_res["failures"] else ""
        rows.append(
            _row(
                f"{head}: completed",
                backend,
                f"{l0_res['completed']:,}/{n:,}",
                "all",
                l0_res["completed"] == n,
                f"wall {l0_res['wall_s']:.1f} s (raw loop {raw_wall}){failures}",
            )
        )
        ai_why = _ai_note(ai)
        growth = l0_res["growth_mb"]
        details = (
            f"whole process; {'-' if growth is None else f'{growth:.0f}'} MB over the RSS "
            f"before the streams; raw loop {raw.get('peak_mb', math.nan):.0f} MB"
        )
        details += "" if ai_why else f"; {AI} {ai['peak_mb']:.0f} MB"
        peak = l0_res["peak_mb"]
        rows.append(
            _row(
                f"{head}: peak RSS",
                backend,
                f"{peak:.0f} MB",
                f"<= {TARGET_CONCURRENT_MB:g} MB",
                peak <= TARGET_CONCURRENT_MB,
                details,
            )
        )
        tps = l0_res["tokens_per_s"]
        details = f"l0 {tps:,.0f} tok/s"
        if raw.get("tokens_per_s"):
            details += (
                f" ({_x(tps / raw['tokens_per_s'])} the raw loop's {raw['tokens_per_s']:,.0f})"
            )
        if ai_why is None and ai["completed"] != ai["streams"]:
            ai_why = f"{AI}: {ai['completed']:,}/{ai['streams']:,} streams completed"
        label, target = f"{head}: tokens/s vs {AI}", f">= {TARGET_CONCURRENT_VS_AI:g}x"
        if ai_why is None:
            vs = tps / ai["tokens_per_s"]
            details += f"; {AI} {ai['tokens_per_s']:,.0f} tok/s"
            rows.append(
                _row(label, backend, _x(vs, 1), target, vs >= TARGET_CONCURRENT_VS_AI, details)
            )
        else:
            rows.append(_row(label, backend, "-", target, None, f"{details}; {ai_why}"))
    return rows


def _sdk_rows(results: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    label = "l0.wrap(openai client) vs raw openai SDK: CPU"
    target = f"<= +{TARGET_SDK:.0%}"
    for backend, res in results.get("sdk", {}).items():
        if "unavailable" in res:
            rows.append(_row(label, backend, "-", target, None, res["unavailable"]))
            continue
        if "error" in res:
            rows.append(_failed(label, backend, target, res))
            continue
        per_chunk = (res["l0_cpu_ms"] - res["raw_cpu_ms"]) / res["tokens"] * 1e3
        rows.append(
            _row(
                label,
                backend,
                f"{res['overhead']:+.1%}",
                target,
                res["overhead"] <= TARGET_SDK,
                f"CPU per request: raw {res['raw_cpu_ms']:.2f} ms, l0 {res['l0_cpu_ms']:.2f} "
                f"ms ({per_chunk:+.1f} us per chunk); {res['tokens']} chunks per response, "
                f"{res['rounds']} rounds x {res['requests']} requests; openai {res['openai']}",
            )
        )
    return rows


def _ttft_rows(results: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    for backend, res in results.get("ttft", {}).items():
        zero, slept = res["0.0"], res["0.001"]
        on, off = zero["core"]["overhead_ms"], zero["core_no_timeouts"]["overhead_ms"]
        details = (
            f"first token after sleep(0); timeout=None {off:+.4f} ms; raw "
            f"{zero['core']['raw_median_ms']:.4f} ms; n={zero['core']['runs']}; "
            f"after sleep(1 ms): {slept['core']['overhead_ms']:+.4f} ms"
        )
        rows.append(
            _row(
                "time to first token added",
                backend,
                f"{on:+.3f} ms",
                f"<= {TARGET_TTFT_MS:g} ms",
                on <= TARGET_TTFT_MS,
                details,
            )
        )
    return rows


def _import_rows(results: dict[str, Any]) -> list[Row]:
    imp = results.get("import")
    if imp is None:
        return []
    label, target = "import l0 (fresh process)", f"<= {TARGET_IMPORT_MS:g} ms, no SDK"
    if "error" in imp:
        return [_failed(label, "-", target, imp)]
    sdks = [m for m in imp["loaded"] if m in SDK_MODULES]
    top = ", ".join(f"{k} {v:.0f}" for k, v in list(imp["self_ms_by_package"].items())[:4])
    details = f"SDKs imported: {', '.join(sdks) or 'none'}"
    details += f"; self ms: {top}" if top else ""
    ai = imp["ai2070"]
    ai_why = _ai_note(ai)
    details += f"; {ai_why}" if ai_why else f"; {AI} {ai['median_ms']:.0f} ms"
    ok = imp["median_ms"] <= TARGET_IMPORT_MS and not sdks
    return [_row(label, "-", f"{imp['median_ms']:.0f} ms", target, ok, details)]


def build_rows(results: dict[str, Any]) -> list[Row]:
    """Every row of the table, in the order of the issue's table: by figure, then backend."""
    small, large = results["meta"]["sizes"]
    rows = [
        *_throughput_rows(results, small, large),
        *_rss_rows(results, large),
        *_concurrent_rows(results),
        *_sdk_rows(results),
        *_ttft_rows(results),
        *_import_rows(results),
    ]
    by_figure: dict[str, list[Row]] = {}
    for row in rows:
        by_figure.setdefault(row.figure, []).append(row)
    return [row for group in by_figure.values() for row in group]


# --------------------------------------------------------------------------- rendering

HEAD = Row("figure", "backend", "measured", "target", "", "details")


def render_text(rows: Sequence[Row]) -> str:
    """Aligned columns; the details column is last and not padded."""
    cols = range(5)
    widths = [max(len(r[i]) for r in [HEAD, *rows]) for i in cols]

    def line(r: Row) -> str:
        cells = [r[i].rjust(widths[i]) if i == 2 else r[i].ljust(widths[i]) for i in cols]
        return ("  ".join(cells) + "  " + r.details).rstrip()

    out = [line(HEAD), "-" * min(160, sum(widths) + 2 * len(widths) + 7)]
    last = None
    for r in rows:
        if last is not None and r.figure != last:
            out.append("")
        out.append(line(r))
        last = r.figure
    return "\n".join(out)


def render_markdown(rows: Sequence[Row]) -> str:
    """A Markdown table (``|`` in cells escaped)."""

    def md(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    head = ("figure", "backend", "measured", "target", "result", "details")
    out = [md(head), md(["---", "---", "---:", "---", "---", "---"])]
    out += [md(r) for r in rows]
    return "\n".join(out)


def machine_lines(meta: dict[str, Any]) -> list[str]:
    """The facts about the run: machine, interpreter, versions, mode."""
    v = meta["versions"]
    load = meta.get("loadavg")
    return [
        f"date: {meta['date']}; mode: {meta['mode']}; git: {meta['git']}",
        f"l0: {meta['l0']}",
        f"{AI}: {meta['ai2070']}",
        (
            f"Python {v['python']} ({meta['implementation']}); anyio {v['anyio']}, trio "
            f"{v['trio']}, uvloop {v['uvloop']}, msgspec {v['msgspec']}, openai {v['openai']}, "
            f"httpx {v['httpx']}"
        ),
        (
            f"machine: {meta['cpu']}, {meta['cores']} cores ({meta['usable_cores']} usable), "
            f"{meta['memory']}; {meta['platform']}"
            + ("" if load is None else f"; load average at start {load}")
        ),
    ]


def report(results: dict[str, Any], markdown: bool) -> str:
    """The whole printout: the facts, then the table."""
    rows = build_rows(results)
    facts = machine_lines(results["meta"])
    if markdown:
        return "\n".join([*(f"- {f}" for f in facts), "", render_markdown(rows)])
    note = "x = throughput relative to the raw baseline measured in the same process"
    return "\n".join([*facts, note, "", render_text(rows)])


def misses(results: dict[str, Any]) -> list[Row]:
    """The rows whose target was missed."""
    return [r for r in build_rows(results) if r.verdict == "MISS"]
