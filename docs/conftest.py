"""Run the ``python`` code blocks of ``docs/*.md`` as tests (Sybil).

All blocks of one page share a namespace and run top to bottom. Skip a block with a
``% skip: next`` comment line (MyST comment syntax) right before it.
"""

from __future__ import annotations

from sybil import Sybil
from sybil.parsers.myst import PythonCodeBlockParser, SkipParser

pytest_collect_file = Sybil(
    parsers=[PythonCodeBlockParser(), SkipParser()],
    patterns=["*.md"],
    excludes=["_build/*", "examples/*"],
).pytest()
