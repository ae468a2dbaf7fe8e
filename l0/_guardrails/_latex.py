"""The ``latex`` rule: environments and math delimiters balance."""

from __future__ import annotations

import re
from collections import deque

from l0._guardrails._rule import Checker, Rule, Severity, check_severity
from l0._guardrails._text import FenceState, LineBuffer

__all__ = ["code_spans", "latex_rule"]

# One token at a time, each alternative starting with a distinct literal; bounded repeats only.
_TOKEN = re.compile(
    r"\\(begin|end)[ \t]{0,8}\{([^{}\n]{1,64})\}"  # \begin{env} / \end{env}
    r"|\\[\[\]()]"  # \[ \] \( \)
    r"|\\."  # any other escape, \\ and \$ included
    r"|\$\$|\$"
    r"|`+"
)
_BACKTICKS = re.compile(r"`+")
_MAX_ENVIRONMENTS = 256

_INLINE = frozenset(("$", "\\("))


def code_spans(line: str) -> dict[int, int]:
    """Inline code spans of ``line``: start of the opening backtick run -> end of the closing.

    CommonMark pairing: a run of n backticks is closed by the next run of exactly n; an
    unpaired run is literal text. Linear in the number of runs.
    """
    runs = [m.span() for m in _BACKTICKS.finditer(line)]
    by_length: dict[int, deque[int]] = {}
    for index, (start, end) in enumerate(runs):
        by_length.setdefault(end - start, deque()).append(index)
    spans: dict[int, int] = {}
    i = 0
    while i < len(runs):
        start, end = runs[i]
        queue = by_length[end - start]
        while queue and queue[0] <= i:
            queue.popleft()
        if queue:
            j = queue[0]
            spans[start] = runs[j][1]
            i = j + 1
        else:
            i += 1
    return spans


class _LatexChecker(Checker):
    """Line by line, outside code: a stack of environments and the open math delimiter.

    Inline ``$`` follows the usual Markdown-math convention, which keeps dollar amounts out:
    ``$`` opens only when followed by a character that is neither a space nor a digit
    (``$5`` is money), and closes only when preceded by a non-space and not followed by a
    digit. Inline math (``$``, ``\\(``) cannot run over a blank line.
    """

    __slots__ = ("_envs", "_fence", "_lines", "_math", "_math_start")

    def __init__(self, rule: Rule) -> None:
        super().__init__(rule)
        self._lines = LineBuffer()
        self._fence = FenceState()
        self._envs: list[tuple[str, int]] = []
        self._math = ""  # the open math delimiter, "" outside math
        self._math_start = 0

    def _scan(self, delta: str, offset: int, final: bool) -> None:
        for line, start in self._lines.feed(delta, offset):
            self._line(line, start)
        if final:
            last = self._lines.flush()
            if last is not None:
                self._line(*last)

    def _unclosed_inline(self) -> None:
        self.report(
            "unclosed_inline_math",
            f"LaTeX: inline math opened with {self._math!r} is not closed in its paragraph",
            self._math_start,
        )
        self._math = ""

    def _line(self, line: str, start: int) -> None:
        if self._fence.line(line, start):
            return
        if "\\" not in line and "$" not in line:
            if self._math in _INLINE and not line.strip():
                self._unclosed_inline()
            return
        spans = code_spans(line) if "`" in line else None
        pos = 0
        n = len(line)
        while True:
            m = _TOKEN.search(line, pos)
            if m is None:
                break
            at = m.start()
            pos = m.end()
            token = m.group()
            first = token[0]
            if first == "`":
                if spans is not None:
                    pos = spans.get(at, pos)
                continue
            if first == "$":
                self._dollar(token, line, at, pos, n, start)
            elif m.group(1) is not None:
                self._environment(m.group(1), m.group(2).strip(), start + at)
            elif token in ("\\[", "\\("):
                if not self._math:
                    self._math, self._math_start = token, start + at
            elif token in ("\\]", "\\)"):
                opener = "\\[" if token == "\\]" else "\\("
                if self._math == opener:
                    self._math = ""
                elif not self._math:
                    self.report(
                        "unexpected_math_close",
                        f"LaTeX: {token!r} without an opening {opener!r}",
                        start + at,
                    )

    def _dollar(self, token: str, line: str, at: int, end: int, n: int, start: int) -> None:
        math = self._math
        if token == "$$":
            if not math:
                self._math, self._math_start = "$$", start + at
            elif math in ("$$", "$"):
                self._math = ""
            return
        if not math:
            if end < n and not line[end].isspace() and not line[end].isdigit():
                self._math, self._math_start = "$", start + at
        elif math == "$":
            after_ok = end >= n or not line[end].isdigit()
            if at > 0 and not line[at - 1].isspace() and after_ok:
                self._math = ""

    def _environment(self, which: str, env: str, position: int) -> None:
        envs = self._envs
        if which == "begin":
            if len(envs) < _MAX_ENVIRONMENTS:
                envs.append((env, position))
            return
        if not envs:
            self.report(
                "unexpected_end",
                f"LaTeX: \\end{{{env}}} without \\begin{{{env}}}",
                position,
            )
            return
        if envs[-1][0] == env:
            envs.pop()
            return
        self.report(
            "mismatched_environment",
            f"LaTeX: \\end{{{env}}} closes \\begin{{{envs[-1][0]}}}",
            position,
            metadata={"expected": envs[-1][0], "found": env},
        )
        for depth in range(len(envs) - 1, -1, -1):
            if envs[depth][0] == env:
                del envs[depth:]
                break

    def _complete(self, full_text: str) -> None:
        if self._math in _INLINE:
            self._unclosed_inline()
        elif self._math:
            self.report(
                "unclosed_display_math",
                f"LaTeX: display math opened with {self._math!r} is never closed",
                self._math_start,
            )
        for env, position in self._envs:
            self.report(
                "unclosed_environment",
                f"LaTeX: \\begin{{{env}}} is never closed",
                position,
                metadata={"environment": env},
            )


def latex_rule(
    *,
    severity: Severity = "warning",
    recoverable: bool | None = None,
    name: str = "latex",
) -> Rule:
    """LaTeX balance: ``\\begin``/``\\end`` environments and math delimiters.

    Line by line, outside fenced code blocks and inline code spans. During streaming:
    ``\\end{x}`` closing a different environment or none, ``\\]``/``\\)`` without an
    opener, inline math (``$...$``, ``\\(...\\)``) left open at a blank line. At completion:
    unclosed environments, unclosed display math (``$$...$$``, ``\\[...\\]``) and inline
    math. ``$`` is read the Markdown-math way (see :class:`_LatexChecker`), so ``$5`` and
    ``$10`` in prose are not math. Escaped ``\\$`` and ``\\\\[2pt]`` are not delimiters.
    Default severity ``warning``.
    """
    severity = check_severity("latex_rule severity", severity)
    return Rule(
        name=name,
        severity=severity,
        recoverable=severity != "fatal" if recoverable is None else recoverable,
        description="LaTeX: balanced environments and math delimiters",
        factory=_LatexChecker,
    )
