"""The benchmark suite (bench/run.py) still runs: its smallest configuration, end to end.

``--smoke`` measures every figure except the peak-RSS one on tiny sizes (no ai2070-l0, no
subprocess per figure; the openai figure's local server is one), so the figures mean nothing
here: these tests check that the suite runs, that every figure lands in the table with a
verdict, and that its checks hold (every stream delivered every token, none failed).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
RUN = REPO / "bench" / "run.py"
VERDICTS = {"ok", "MISS", "n/a"}


def _bench(*args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, str(RUN), "--smoke", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, Any]]:
    """One smoke run on all three backends: its table (stdout) and its JSON results."""
    path = tmp_path_factory.mktemp("bench") / "results.json"
    done = _bench("--json", str(path))
    return done.stdout, json.loads(path.read_text())


def test_every_figure_is_in_the_table(smoke: tuple[str, dict[str, Any]]) -> None:
    """Each figure measured by --smoke has a row per backend, with a verdict."""
    table, _ = smoke
    rows = [
        line
        for line in table.splitlines()
        if line.startswith(
            ("core", "full", "per-tok", "50 concurrent", "l0.wrap", "time to first", "import l0")
        )
    ]
    labels = {
        "core (timeouts on) / raw, 200 tokens": 3,
        "full stack / raw, 200 tokens": 3,
        "full stack vs ai2070-l0 full stack": 3,
        "per-token cost 1,000 / 200 tokens (full stack)": 3,
        "50 concurrent streams x 20 tokens: completed": 3,
        "50 concurrent streams x 20 tokens: peak RSS": 3,
        "50 concurrent streams x 20 tokens: tokens/s vs ai2070-l0": 3,
        "l0.wrap(openai client) vs raw openai SDK: CPU": 3,
        "time to first token added": 3,
        "import l0 (fresh process)": 1,
    }
    assert {label: sum(row.startswith(label) for row in rows) for label in labels} == labels
    for row in rows:
        assert set(row.split()) & VERDICTS, row


def test_every_stream_completed(smoke: tuple[str, dict[str, Any]]) -> None:
    """The concurrent streams all completed, and the throughput runs were all timed."""
    _, results = smoke
    for backend in ("asyncio", "uvloop", "trio"):
        concurrent = results["concurrent"][backend]
        assert (concurrent["l0"]["completed"], concurrent["l0"]["failures"]) == (50, [])
        small = results["throughput"][backend]["l0"]["200"]
        assert sorted(small) == ["bare", "core", "core_no_timeouts", "full", "raw"]
        assert all(cell["runs"] == 2 for cell in small.values())
        assert results["sdk"][backend]["l0_cpu_ms"] > 0
    assert results["import"]["loaded"] == []


def test_ai2070_and_rss_are_reported_as_not_measured(smoke: tuple[str, dict[str, Any]]) -> None:
    """Without ai2070-l0, its comparisons say n/a and why, rather than passing or failing."""
    table, results = smoke
    vs_ai = [line for line in table.splitlines() if line.startswith("full stack vs")]
    assert [("n/a" in line, "skipped (--smoke)" in line) for line in vs_ai[:2]] == [
        (True, True)
    ] * 2
    assert "n/a on trio (asyncio-only)" in vs_ai[2]
    assert "rss" not in results


def test_markdown_table() -> None:
    """--markdown prints the machine facts as a list, then a six-column Markdown table."""
    out = _bench("--markdown", "--only", "core", "import", "--backend", "asyncio").stdout
    lines = out.strip().splitlines()
    table = [line for line in lines if line.startswith("|")]
    assert lines[0].startswith("- date: ")
    assert table[:2] == [
        "| figure | backend | measured | target | result | details |",
        "| --- | --- | ---: | --- | --- | --- |",
    ]
    assert [row.split(" | ")[:2] for row in table[2:]] == [
        ["| core (timeouts on) / raw, 200 tokens", "asyncio"],
        ["| import l0 (fresh process)", "-"],
    ]
    assert all(row.count(" | ") == 5 for row in table)
