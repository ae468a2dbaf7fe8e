"""The example scripts in docs/examples run to completion on both backends."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = sorted((Path(__file__).parent.parent / "docs" / "examples").glob("*.py"))


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
@pytest.mark.parametrize("script", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_runs(script: Path, backend: str) -> None:
    """The script exits 0 and prints its final outcome."""
    result = subprocess.run(
        [sys.executable, str(script), "--backend", backend],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "ALL_STREAMS_EXHAUSTED" in result.stdout
    assert "'Reliable streams survive the real world.'" in result.stdout
