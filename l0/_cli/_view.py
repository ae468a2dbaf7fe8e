"""How the demo shows the tour: the :class:`View` protocol and the plain, line-oriented view.

The plain view writes ASCII lines only, flushed as they come: it is what a pipe, a log file,
``--no-color`` or a machine without Rich gets. The live view is in :mod:`l0._cli._rich`.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable, Sequence
from typing import Protocol, TextIO

from l0._cli._recorder import Entry, Kind, ScenarioResult

__all__ = ["SUMMARY_HEADERS", "PlainView", "View", "make_view", "rich_available", "summary_rows"]

_MARKS: dict[Kind, str] = {"info": " ", "fault": "!", "recovery": ">", "ok": "+", "error": "x"}

SUMMARY_HEADERS = (
    "scenario",
    "result",
    "attempts",
    "retries",
    "fallbacks",
    "TTFT",
    "tokens/s",
    "time",
    "what l0 did",
)


class View(Protocol):
    """What the tour tells its view, in order."""

    def intro(self, lines: Sequence[str]) -> None:
        """Before the first scenario: where the requests go."""
        ...

    def scenario(self, index: int, total: int, name: str, title: str, prompt: str) -> None:
        """A scenario starts."""
        ...

    def token(self, text: str) -> None:
        """The consumer received a token."""
        ...

    def reset(self) -> None:
        """The text shown since the last reset belongs to a failed attempt."""
        ...

    def entry(self, entry: Entry) -> None:
        """A new line of the timeline."""
        ...

    def outcome(self, result: ScenarioResult) -> None:
        """The scenario ended."""
        ...

    def summary(self, results: Sequence[ScenarioResult], elapsed: float) -> None:
        """The closing table."""
        ...

    def message(self, text: str) -> None:
        """A line outside any scenario (interrupted, stopped...)."""
        ...

    def close(self) -> None:
        """Leave the terminal as it was (idempotent)."""
        ...


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} s"


def summary_rows(results: Sequence[ScenarioResult]) -> list[tuple[str, ...]]:
    """The cells of the summary table, as text, one row per scenario."""
    return [
        (
            r.name,
            "ok" if r.ok else "FAILED",
            str(r.attempts),
            str(r.retries),
            str(r.fallbacks),
            _seconds(r.ttft),
            "-" if r.tokens_per_second is None else f"{r.tokens_per_second:.0f}",
            _seconds(r.duration),
            r.outcome,
        )
        for r in results
    ]


class PlainView:
    """Line-oriented ASCII output: streamed text behind ``|``, then one line per event."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._in_text = False

    def _write(self, text: str) -> None:
        # Whatever the stream's encoding, never fail on a character the model sent.
        encoding = getattr(self._out, "encoding", None) or "utf-8"
        self._out.write(text.encode(encoding, "replace").decode(encoding))
        self._out.flush()

    def _end_text(self) -> None:
        if self._in_text:
            self._write("\n")
            self._in_text = False

    def intro(self, lines: Sequence[str]) -> None:
        """Before the first scenario: where the requests go."""
        self._write("".join(f"{line}\n" for line in lines))

    def scenario(self, index: int, total: int, name: str, title: str, prompt: str) -> None:
        """A scenario starts."""
        self._end_text()
        self._write(f"\n[{index}/{total}] {name}: {title}\n  you> {prompt}\n")

    def token(self, text: str) -> None:
        """Streamed text, behind a ``  | `` margin."""
        for i, piece in enumerate(text.split("\n")):
            if i:
                self._end_text()
            if not piece:
                continue
            if not self._in_text:
                self._write("  | ")
                self._in_text = True
            self._write(piece)

    def reset(self) -> None:
        """Nothing to erase on a line-oriented output: the timeline says it."""
        self._end_text()

    def entry(self, entry: Entry) -> None:
        """``  0.52s ! connection lost ...``."""
        self._end_text()
        self._write(f"  {entry.at:6.2f}s {_MARKS[entry.kind]} {entry.text}\n")

    def outcome(self, result: ScenarioResult) -> None:
        """``  OK: what l0 did``, and any problem."""
        self._end_text()
        self._write(f"  {'OK' if result.ok else 'FAILED'}: {result.outcome}\n")
        for problem in result.problems:
            self._write(f"    problem: {problem}\n")

    def summary(self, results: Sequence[ScenarioResult], elapsed: float) -> None:
        """An aligned text table."""
        self._end_text()
        rows = [SUMMARY_HEADERS, *summary_rows(results)]
        widths = [max(len(row[i]) for row in rows) for i in range(len(SUMMARY_HEADERS) - 1)]
        self._write("\nSummary\n")
        for row in rows:
            cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
            self._write("  " + "  ".join([*cells, row[-1]]) + "\n")
        passed = sum(r.ok for r in results)
        self._write(f"\n{passed}/{len(results)} scenarios ok in {elapsed:.1f} s\n")

    def message(self, text: str) -> None:
        """A line of its own."""
        self._end_text()
        self._write(f"{text}\n")

    def close(self) -> None:
        """End an open line of text."""
        self._end_text()


def rich_available() -> bool:
    """Whether Rich can be imported (without importing it)."""
    return importlib.util.find_spec("rich") is not None


def make_view(out: TextIO, *, color: bool | None, clock: Callable[[], float]) -> View:
    """The live Rich view if ``color`` (``None``: when ``out`` is a terminal, ``NO_COLOR`` is
    not set and Rich is installed), else the plain one."""
    forced = color is True
    if color is None:
        isatty = getattr(out, "isatty", None)
        color = bool(isatty and isatty()) and not os.environ.get("NO_COLOR")
    if color and rich_available():
        from l0._cli._rich import RichView  # noqa: PLC0415 - Rich is optional, imported on use

        # Asked for in a pipe: draw for a terminal all the same.
        return RichView(out, clock=clock, force_terminal=True if forced else None)
    return PlainView(out)
