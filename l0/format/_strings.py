"""Small string utilities for prompts: trim, truncate by characters or words."""

from __future__ import annotations

import re

from l0._errors import ConfigError
from l0._text import normalize_whitespace

__all__ = ["trim", "truncate", "truncate_words"]

_WORD = re.compile(r"\S+")


def trim(text: str) -> str:
    """``text`` without whitespace at its ends or at the end of any line, newlines normalised
    (``\\r\\n`` and ``\\r`` to ``\\n``); inner spacing and indentation are kept.

    .. versionadded:: 0.1
    """
    return normalize_whitespace(text, collapse=False)


def _check(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:  # pyright: ignore[reportUnnecessaryIsInstance]
        raise ConfigError(f"{name} must be an int >= 0, got {value!r}")


def _safe_end(text: str, i: int) -> int:
    """``i``, moved back if it would split a surrogate pair."""
    if (
        0 < i < len(text)
        and "\ud800" <= text[i - 1] <= "\udbff"
        and "\udc00" <= text[i] <= "\udfff"
    ):
        return i - 1
    return i


def truncate(text: str, max_chars: int, *, ellipsis: str = "…", at_word: bool = True) -> str:
    """``text`` if it has at most ``max_chars`` characters; else its start plus ``ellipsis``,
    ``max_chars`` characters in all, cut after the last whole word when ``at_word`` (and a
    word boundary exists in the part kept). Trailing whitespace before the ellipsis is
    dropped; a surrogate pair is never split.

    .. versionadded:: 0.1
    """
    _check("max_chars", max_chars)
    if len(text) <= max_chars:
        return text
    if len(ellipsis) > max_chars:
        ellipsis = ellipsis[:max_chars]
    room = _safe_end(text, max_chars - len(ellipsis))
    cut = room
    if at_word and room < len(text) and not text[room].isspace():
        space = max(text.rfind(" ", 0, room + 1), text.rfind("\n", 0, room + 1),
                    text.rfind("\t", 0, room + 1))  # fmt: skip
        if space > 0:
            cut = space
    return text[:cut].rstrip() + ellipsis


def truncate_words(text: str, max_words: int, *, ellipsis: str = "…") -> str:
    """The first ``max_words`` words of ``text`` (its spacing kept), plus ``ellipsis`` if
    words were dropped.

    .. versionadded:: 0.1
    """
    _check("max_words", max_words)
    end = 0
    for count, match in enumerate(_WORD.finditer(text), start=1):
        if count > max_words:
            return text[:end] + ellipsis
        end = match.end()
    return text
