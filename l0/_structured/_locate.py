"""Where the JSON value is in a model's reply: Markdown fences, prose, comments around it.

Every search here moves forward only (``str.find`` and single-class runs), so finding the value
is linear in the length of the text; see :func:`~l0._structured._heal.heal` for the rules.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final

from l0._structured._lexical import (
    JS_LITERALS,
    LITERAL_PREFIXES,
    LITERAL_WORDS,
    WORD_RUN,
    WS_RUN,
    run_end,
)

__all__ = ["candidates", "fenced_block", "skip_blank"]

_LOOKAHEAD: Final = 256
"""How far past a bracket (after whitespace and comments) a candidate start is judged."""


def fenced_block(text: str) -> tuple[int, int, int] | None:
    """(fence position, content start, content end) of the first Markdown code block whose
    content starts with ``{`` or ``[``; an unclosed block runs to the end of the text."""
    pos = _line_start_fence(text, 0)
    while pos != -1:
        eol = text.find("\n", pos + 3)
        if eol == -1:
            return None
        start = eol + 1
        end = _line_start_fence(text, start)
        stop = len(text) if end == -1 else text.rfind("\n", start - 1, end)
        k = run_end(WS_RUN, text, start, stop)
        if k < stop and text[k] in "{[":
            return pos, start, stop
        if end == -1:
            return None
        pos = _line_start_fence(text, end + 3)
    return None


def _line_start_fence(text: str, start: int) -> int:
    """Index of the first ```` ``` ```` at or after ``start`` that begins a line (after
    indentation), or -1. A raw newline never occurs inside a JSON string, so such a fence
    cannot be part of a JSON value."""
    pos = text.find("```", start)
    while pos != -1:
        k = pos
        while k > start and text[k - 1] in " \t":
            k -= 1
        if k == start or text[k - 1] == "\n":
            return pos
        pos = text.find("```", pos + 3)
    return -1


def candidates(text: str, start: int, hi: int) -> Iterator[int]:
    """Each ``{`` or ``[`` in ``text[start:hi]`` that may start a value, in order."""
    brace = text.find("{", start, hi)
    bracket = text.find("[", start, hi)
    blank_until = start  # brackets before this are in whitespace or comments already seen
    while brace != -1 or bracket != -1:
        if bracket == -1 or (brace != -1 and brace < bracket):
            at = brace
            brace = text.find("{", brace + 1, hi)
        else:
            at = bracket
            bracket = text.find("[", bracket + 1, hi)
        if at < blank_until:
            continue
        starts, blank_until = _starts_value(text, at, hi)
        if starts:
            yield at


def skip_blank(text: str, i: int, hi: int) -> int:
    """The index of the first character at or after ``i`` that is not whitespace or in a
    comment."""
    while True:
        i = run_end(WS_RUN, text, i, hi)
        if i >= hi:
            return hi
        c = text[i]
        if c == "#" or (c == "/" and text.startswith("//", i)):
            j = text.find("\n", i, hi)
        elif c == "/" and text.startswith("/*", i):
            j = text.find("*/", i + 2, hi)
            j = -1 if j == -1 else j + 2
        else:
            return i
        if j == -1:
            return hi
        i = j


def _starts_value(text: str, at: int, hi: int) -> tuple[bool, int]:
    """Whether the bracket at ``at`` may start a value, judging by what follows it, and where
    the whitespace and comments after it end.

    Looks at most ``_LOOKAHEAD`` characters past whitespace and comments, so that examining
    every bracket of the text stays linear.
    """
    limit = min(hi, at + 1 + _LOOKAHEAD)
    k = skip_blank(text, at + 1, limit)
    if k >= hi:
        return True, k
    if k >= limit:
        return False, k
    c = text[k]
    if text[at] == "{":
        if c in "\"'}":
            return True, k
        word = run_end(WORD_RUN, text, k, limit)
        colon = skip_blank(text, word, limit)
        return word > k and colon < limit and text[colon] == ":", k
    if c in "{[\"']-0123456789.":
        return True, k
    j = run_end(WORD_RUN, text, k, hi)
    word = text[k:j]
    return word in LITERAL_WORDS or word in JS_LITERALS or (j >= hi and word in LITERAL_PREFIXES), k
