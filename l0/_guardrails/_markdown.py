"""The ``markdown`` rule: code fences closed, tables with consistent columns."""

from __future__ import annotations

import re

from l0._guardrails._rule import Checker, Rule, Severity, check_severity
from l0._guardrails._text import FenceState, LineBuffer

__all__ = ["markdown_rule", "table_cells"]

_DELIMITER_ROW = re.compile(r"[|:\- \t]+")
_SPECIAL = "|`~"


def table_cells(line: str) -> int:
    """The number of cells of a table row (unescaped pipes; leading/trailing pipes optional)."""
    s = line.strip()
    cells = s.count("|") - s.count("\\|") + 1
    if s.startswith("|"):
        cells -= 1
    if len(s) > 1 and s.endswith("|") and not s.endswith("\\|"):
        cells -= 1
    return cells


def _is_delimiter_row(line: str) -> bool:
    s = line.strip()
    return "-" in s and "|" in s and _DELIMITER_ROW.fullmatch(s) is not None


class _MarkdownChecker(Checker):
    """Line by line: fence state, and the current table's column count."""

    __slots__ = (
        "_fence",
        "_fence_info",
        "_header_cells",
        "_header_start",
        "_lines",
        "_table_cells",
        "_table_start",
    )

    def __init__(self, rule: Rule) -> None:
        super().__init__(rule)
        self._lines = LineBuffer()
        self._fence = FenceState()
        self._fence_info = ""
        self._header_cells = -1  # cells of the previous line if it could head a table
        self._header_start = 0
        self._table_cells = -1  # columns of the current table, -1 outside tables
        self._table_start = 0

    def _scan(self, delta: str, offset: int, final: bool) -> None:
        lines = self._lines
        if "\n" not in delta:
            if delta:
                lines.add(delta)
        elif (
            "|" in delta
            or "`" in delta
            or "~" in delta
            or self._fence.char
            or self._table_cells >= 0
            or lines.pending(_SPECIAL)
        ):
            for line, start in lines.feed(delta, offset):
                self._line(line, start)
        else:
            # Complete lines without a pipe, backtick or tilde, outside fences and tables:
            # each one only ends any table header candidate.
            lines.skip(delta, offset)
            self._header_cells = -1
        if final:
            last = self._lines.flush()
            if last is not None:
                self._line(*last)

    def _line(self, line: str, start: int) -> None:
        fence = self._fence
        was_open = bool(fence.char)
        if fence.line(line, start):
            if not was_open:
                self._fence_info = line.strip()[:40]
            self._header_cells = -1
            self._table_cells = -1
            return
        if "|" not in line:
            self._header_cells = -1
            self._table_cells = -1
            return
        if self._table_cells >= 0:
            cells = table_cells(line)
            if cells != self._table_cells:
                self.report(
                    "table_column_mismatch",
                    f"markdown table: a row has {cells} cells, the header has {self._table_cells}",
                    start,
                    key=("table_column_mismatch", self._table_start),
                    metadata={"expected": self._table_cells, "found": cells},
                )
            return
        if self._header_cells >= 0 and _is_delimiter_row(line):
            cells = table_cells(line)
            if cells != self._header_cells:
                self.report(
                    "table_delimiter_mismatch",
                    f"markdown table: the delimiter row has {cells} cells, the header has "
                    f"{self._header_cells}",
                    start,
                    metadata={"expected": self._header_cells, "found": cells},
                )
            self._table_cells = self._header_cells
            self._table_start = self._header_start
            self._header_cells = -1
            return
        self._header_cells = table_cells(line)
        self._header_start = start

    def _complete(self, full_text: str) -> None:
        fence = self._fence
        if fence.char:
            self.report(
                "unclosed_code_fence",
                f"markdown: the code block opened with {self._fence_info!r} is never closed",
                fence.start,
                metadata={"fence": fence.char * fence.length},
            )


def markdown_rule(
    *,
    severity: Severity = "warning",
    recoverable: bool | None = None,
    name: str = "markdown",
) -> Rule:
    """Markdown structure: code fences closed, tables with a consistent column count.

    During streaming, line by line (outside code blocks): a table (a header row, then a
    delimiter row such as ``| --- | :-: |``) whose delimiter row or body rows have a
    different number of cells than the header; reported once per table. At completion: a
    code fence (```````/``~~~``, any indentation) that is never closed, the usual sign of a
    truncated answer. Memory: the current line. Default severity ``warning``.
    """
    severity = check_severity("markdown_rule severity", severity)
    return Rule(
        name=name,
        severity=severity,
        recoverable=severity != "fatal" if recoverable is None else recoverable,
        description="markdown: closed code fences, consistent table columns",
        factory=_MarkdownChecker,
    )
