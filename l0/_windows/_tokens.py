"""Token estimation: a documented heuristic, tiktoken when it is installed, or your own callable.

The heuristic counts *quarter tokens* per character and rounds the total up:

=====================================================  =============
character                                              weight
=====================================================  =============
ASCII letters, digits, spaces, tabs, other controls    1/4 token
ASCII punctuation and symbols (``!"#$%&'()*+,-./`` ...)  1/2 token
newline                                                1/2 token
non-ASCII below U+2E80 (accents, Greek, Cyrillic ...)  1/2 token
U+2E80 and above (CJK, kana, hangul, emoji ...)        1 token
=====================================================  =============

That is about 4 characters per token for English prose and a little more tokens than real
tokenizers give for code, so a budget computed with it errs on the safe side. Because each
character has a fixed weight and the total is rounded up, the estimate is *subadditive*:
``estimate(a + b) <= estimate(a) + estimate(b)``. The chunkers rely on that to promise that no
chunk's estimate exceeds the window's size.
"""

from __future__ import annotations

import functools
import importlib
import re
from collections.abc import Callable
from typing import Any, Literal, TypeAlias

from l0._errors import ConfigError, FeatureNotEnabled

__all__ = ["TokenEstimator", "estimate_tokens", "resolve_estimator", "tiktoken_estimator"]

TokenEstimator: TypeAlias = Callable[[str], int]
"""A callable giving the number of tokens of a text."""

EstimatorSpec: TypeAlias = "TokenEstimator | Literal['auto', 'heuristic', 'tiktoken'] | None"

_PUNCT = re.compile(r"[!-/:-@\[-`{-~]")
_NON_ASCII = re.compile(r"[^\x00-\x7f]")
_WIDE = re.compile(r"[\u2e80-\U0010ffff]")

DEFAULT_ENCODING = "cl100k_base"


def _count(pattern: re.Pattern[str], text: str) -> int:
    return pattern.subn("", text)[1]


def estimate_tokens(text: str) -> int:
    """The heuristic token count of ``text`` (see the table in this module's docstring).

    .. versionadded:: 0.1
    """
    if not text:
        return 0
    quarters = len(text) + _count(_PUNCT, text) + text.count("\n")
    if not text.isascii():
        wide = _count(_WIDE, text)
        quarters += _count(_NON_ASCII, text) - wide + 3 * wide
    return (quarters + 3) // 4


@functools.cache
def _encoding(name: str) -> Any:
    tiktoken = importlib.import_module("tiktoken")  # optional, imported on first use
    return tiktoken.get_encoding(name)


def tiktoken_estimator(encoding: str = DEFAULT_ENCODING) -> TokenEstimator:
    """An exact counter using tiktoken's ``encoding`` (``FeatureNotEnabled`` if unavailable).

    Special-token text such as ``<|endoftext|>`` in a document is counted as ordinary text.

    .. versionadded:: 0.1
    """
    try:
        enc = _encoding(encoding)
    except ImportError as exc:
        raise FeatureNotEnabled("token counting with tiktoken needs: pip install tiktoken") from exc
    except Exception as exc:  # unknown encoding, or its file could not be fetched
        raise FeatureNotEnabled(f"tiktoken encoding {encoding!r} is not available: {exc}") from exc

    def count(text: str) -> int:
        return len(enc.encode(text, disallowed_special=()))

    count.__name__ = f"tiktoken_{encoding}"
    return count


@functools.cache
def _auto() -> TokenEstimator:
    try:
        return tiktoken_estimator()
    except FeatureNotEnabled:
        return estimate_tokens


def _checked(fn: Callable[[str], Any]) -> TokenEstimator:
    def count(text: str) -> int:
        value = fn(text)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ConfigError(f"estimate_tokens must return an int >= 0, {fn!r} returned {value!r}")
        return value

    return count


def resolve_estimator(spec: EstimatorSpec) -> TokenEstimator:
    """The estimator for ``estimate_tokens=``.

    ``None`` or ``"auto"``: tiktoken (``cl100k_base``) when it is installed and its encoding
    loads, else the heuristic; ``"heuristic"``: :func:`estimate_tokens`; ``"tiktoken"``: tiktoken
    or ``FeatureNotEnabled``; a callable: used as it is (its results are checked).
    """
    if spec is None or spec == "auto":
        return _auto()
    if spec == "heuristic":
        return estimate_tokens
    if spec == "tiktoken":
        return tiktoken_estimator()
    if callable(spec):
        return spec if spec is estimate_tokens else _checked(spec)
    raise ConfigError(
        f"estimate_tokens must be a callable, 'auto', 'heuristic' or 'tiktoken', got {spec!r}"
    )
