"""The live terminal view of the demo, drawn with Rich (the ``cli`` extra).

Each scenario is a live panel: the text as it streams (a failed attempt's text struck out
when l0 discards it), and the timeline of lifecycle events under it. Rich's own refresh thread
is not used: the view redraws when told something, at most every ``1/_FPS`` seconds for
tokens, so nothing runs outside the tour's task.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TextIO

from rich import box
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from l0._cli._recorder import Entry, Kind, ScenarioResult
from l0._cli._view import SUMMARY_HEADERS, summary_rows

__all__ = ["RichView"]

_FPS = 30
_TEXT_COLUMNS = {"scenario", "result"}
_TIMELINE_ROWS = 12  # while live; all of it once the scenario ended
_STYLES: dict[Kind, tuple[str, str]] = {
    "info": ("·", "dim"),
    "fault": ("✗", "bold red"),
    "recovery": ("↻", "yellow"),
    "ok": ("✓", "green"),
    "error": ("✗", "bold red"),
}


def _arrows(text: str) -> str:
    return text.replace(" -> ", " → ")


class RichView:
    """The live view: one panel per scenario, a summary table at the end."""

    def __init__(
        self,
        out: TextIO,
        *,
        clock: Callable[[], float],
        force_terminal: bool | None = None,
        width: int | None = None,
    ) -> None:
        self._console = Console(
            file=out, highlight=False, force_terminal=force_terminal, width=width
        )
        self._clock = clock
        self._live: Live | None = None
        self._title = ""
        self._prompt = ""
        self._text = Text()
        self._void = 0  # characters of _text that belong to failed attempts
        self._entries: list[Entry] = []
        self._drawn_at = float("-inf")

    # -- drawing --------------------------------------------------------------------------

    def _render(self, *, rows: int | None = _TIMELINE_ROWS) -> RenderableType:
        body = Text()
        body.append(f"you> {self._prompt}\n", style="dim")
        body.append_text(self._text)
        if self._live is not None:
            body.append("▌", style="blink cyan")
        timeline = Table.grid(padding=(0, 1))
        timeline.add_column(justify="right", style="dim")
        timeline.add_column()
        timeline.add_column()
        shown = self._entries if rows is None else self._entries[-rows:]
        for entry in shown:
            mark, style = _STYLES[entry.kind]
            text = Text(_arrows(entry.text))
            timeline.add_row(f"{entry.at:.2f}s", Text(mark, style=style), text)
        panel = Panel(body, title=self._title, title_align="left", border_style="cyan")
        return Group(panel, timeline)

    def _draw(self, *, force: bool = False) -> None:
        if self._live is None:
            return
        now = self._clock()
        if force or now - self._drawn_at >= 1 / _FPS:
            self._drawn_at = now
            self._live.update(self._render(), refresh=True)

    # -- View -----------------------------------------------------------------------------

    def intro(self, lines: Sequence[str]) -> None:
        """The tour's heading."""
        self._console.rule("[bold]l0 demo[/]", align="left")
        for line in lines:
            self._console.print(line, style="dim")

    def scenario(self, index: int, total: int, name: str, title: str, prompt: str) -> None:
        """Start the live panel of a scenario."""
        self._stop()
        self._title = f"[bold]{index}/{total} {name}[/] · {title}"
        self._prompt = prompt
        self._text = Text()
        self._void = 0
        self._entries = []
        self._console.print()
        self._live = Live(
            self._render(),
            console=self._console,
            auto_refresh=False,  # no refresh thread: drawn from the tour's own task
            redirect_stdout=False,
            redirect_stderr=False,
        )
        self._live.start(refresh=True)

    def token(self, text: str) -> None:
        """Append streamed text."""
        self._text.append(text)
        self._draw()

    def reset(self) -> None:
        """Strike out the failed attempt's text; the next attempt's follows it."""
        end = len(self._text)
        if end > self._void:
            self._text.stylize("strike dim red", self._void, end)
            self._text.append("\n")
        self._void = len(self._text)
        self._draw(force=True)

    def entry(self, entry: Entry) -> None:
        """Add a timeline line."""
        self._entries.append(entry)
        self._draw(force=True)

    def outcome(self, result: ScenarioResult) -> None:
        """Freeze the panel with the whole timeline, then the outcome line."""
        self._stop()
        line = Text("  ")
        if result.ok:
            line.append("✓ ", style="bold green")
        else:
            line.append("✗ FAILED ", style="bold red")
        line.append(_arrows(result.outcome), style="bold" if result.ok else "red")
        self._console.print(line)
        for problem in result.problems:
            self._console.print(f"    problem: {problem}", style="red")

    def summary(self, results: Sequence[ScenarioResult], elapsed: float) -> None:
        """The closing table."""
        self._stop()
        passed = sum(r.ok for r in results)
        table = Table(
            title="Summary",
            caption=f"{passed}/{len(results)} scenarios ok in {elapsed:.1f} s",
            title_justify="left",
            box=box.SIMPLE_HEAD,
            collapse_padding=True,
        )
        # What l0 did is told under each scenario: the table keeps to the numbers.
        for header in SUMMARY_HEADERS[:-1]:
            table.add_column(
                header,
                justify="left" if header in _TEXT_COLUMNS else "right",
                min_width=len(header),
                no_wrap=True,
            )
        for result, row in zip(results, summary_rows(results), strict=True):
            cells = [Text(cell) for cell in row[:-1]]
            cells[1].stylize("green" if result.ok else "bold red")
            table.add_row(*cells)
        self._console.print()
        self._console.print(table)

    def message(self, text: str) -> None:
        """A line of its own."""
        self._stop()
        self._console.print(text, style="bold")

    def close(self) -> None:
        """Stop a live panel that is still drawn (interrupted)."""
        self._stop()

    def _stop(self) -> None:
        if self._live is not None:
            live, self._live = self._live, None
            live.update(self._render(rows=None))  # drawn by stop(), without the cursor
            live.stop()
