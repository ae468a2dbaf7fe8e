"""Lexical pieces shared by the healer and the partial parser.

Every pattern here is a single character class under ``*``: it matches a run of characters in
one left-to-right sweep and has nothing to backtrack into, so each use is linear in the length
of the run it returns.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = [
    "CONTROL_ESCAPES",
    "DQ_RUN",
    "HEX",
    "JS_LITERALS",
    "LITERAL_PREFIXES",
    "LITERAL_WORDS",
    "WORD_RUN",
    "WS",
    "WS_RUN",
    "run_end",
    "scan_number",
]

WS: Final = frozenset(" \t\n\r")
"""JSON's whitespace (and the only whitespace it allows)."""

WS_RUN: Final = re.compile(r"[ \t\n\r]*")
DQ_RUN: Final = re.compile(r'[^"\\\x00-\x1f]*')
"""Plain characters of a double-quoted string: no quote, backslash or control character."""

HEX: Final = frozenset("0123456789abcdefABCDEF")

WORD_RUN: Final = re.compile(r"""[^\s"',:{}\[\]/#`]*""")
"""A bare word: an unquoted key, a number or a literal (stops at JSON punctuation)."""

JS_LITERALS: Final = frozenset(
    {
        "undefined",
        "NaN",
        "nan",
        "Infinity",
        "-Infinity",
        "+Infinity",
        "inf",
        "-inf",
        "+inf",
    }
)
"""Words of JavaScript (and Python's float()) that JSON has no value for: healed to null."""

CONTROL_ESCAPES: Final[dict[str, str]] = {chr(c): f"\\u{c:04x}" for c in range(0x20)}
CONTROL_ESCAPES.update({"\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"})

LITERAL_WORDS: Final[dict[str, str]] = {
    "true": "true",
    "false": "false",
    "null": "null",
    "True": "true",
    "False": "false",
    "None": "null",
}
"""JSON's literals and Python's, each mapped to the JSON literal."""
LITERAL_PREFIXES: Final[dict[str, str]] = {
    word[:k]: json for word, json in LITERAL_WORDS.items() for k in range(1, len(word) + 1)
}
"""Every non-empty prefix of a JSON or Python literal, mapped to the JSON literal it starts."""

_DIGITS: Final = frozenset("0123456789")


def run_end(pattern: re.Pattern[str], text: str, i: int, hi: int) -> int:
    """The index after the run of ``pattern`` (one of the ``*_RUN`` patterns) at ``i``."""
    m = pattern.match(text, i, hi)
    return i if m is None else m.end()


def scan_number(word: str, *, truncated: bool) -> str | None:
    """A JSON number for ``word`` (a run of number-ish characters), or None if it is not one.

    Strict JSON comes back unchanged. Otherwise the usual slips are repaired: a leading ``+``,
    leading zeros, ``.5``, ``5.``, and, when ``truncated`` (the text ends right after ``word``),
    a dangling ``.``, ``e``, ``e-`` (dropped: ``1.`` becomes ``1``). Hand-written, one pass.
    """
    n = len(word)
    i = 0
    sign = ""
    if i < n and word[i] in "+-":
        sign = "-" if word[i] == "-" else ""
        i += 1
    start = i
    while i < n and word[i] in _DIGITS:
        i += 1
    int_part = word[start:i]
    frac: str | None = None
    if i < n and word[i] == ".":
        i += 1
        start = i
        while i < n and word[i] in _DIGITS:
            i += 1
        frac = word[start:i]
    exp: str | None = None
    exp_sign = ""
    if i < n and word[i] in "eE" and (int_part or frac):
        e = word[i]
        i += 1
        if i < n and word[i] in "+-":
            exp_sign = word[i]
            i += 1
        start = i
        while i < n and word[i] in _DIGITS:
            i += 1
        exp = word[start:i]
        if exp:
            exp_sign = e + exp_sign
    if i != n or not (int_part or frac):
        return None
    stripped = int_part.lstrip("0")
    int_part = stripped or "0"
    if frac is not None and not frac:
        frac = None if truncated else "0"
    if exp is not None and not exp:
        if not truncated:
            return None
        exp = None
    return (
        sign
        + int_part
        + ("" if frac is None else "." + frac)
        + ("" if exp is None else exp_sign + exp)
    )
