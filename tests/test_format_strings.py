"""String utilities: trim, truncate (characters, words)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

import l0
import l0.format as fmt

SMILE = "\ud83d\ude00"


def test_trim() -> None:
    """Ends and line ends lose their whitespace; inner spacing and indentation stay."""
    assert fmt.trim("  \n  a  b  \r\n    c\t\n\n") == "a  b\n    c"


@pytest.mark.parametrize(
    ("text", "limit", "kwargs", "expected"),
    [
        ("short", 10, {}, "short"),
        ("hello wonderful world", 12, {}, "hello…"),
        ("hello wonderful world", 12, {"at_word": False}, "hello wonde…"),
        ("hello wonderful world", 12, {"ellipsis": "..."}, "hello..."),
        ("supercalifragilistic", 8, {}, "superca…"),
        ("abc def", 2, {"ellipsis": "..."}, ".."),
        ("a" + SMILE + "bcdef", 3, {"at_word": False}, "a…"),
        ("anything", 0, {}, ""),
    ],
)
def test_truncate(text: str, limit: int, kwargs: dict[str, object], expected: str) -> None:
    """At most max_chars including the ellipsis; whole words; never half a surrogate pair."""
    assert fmt.truncate(text, limit, **kwargs) == expected  # type: ignore[arg-type]


@given(st.text(max_size=60), st.integers(0, 70), st.booleans())
def test_truncate_never_exceeds_the_limit(text: str, limit: int, at_word: bool) -> None:
    """The result fits, and is the text itself when the text fits."""
    out = fmt.truncate(text, limit, at_word=at_word)
    assert len(out) <= limit
    if len(text) <= limit:
        assert out == text


def test_truncate_words() -> None:
    """The first N words with their spacing, plus an ellipsis if any were dropped."""
    assert fmt.truncate_words("one  two\nthree four", 3) == "one  two\nthree…"
    assert fmt.truncate_words("one two", 2) == "one two"
    assert fmt.truncate_words("one two", 0, ellipsis="") == ""
    assert fmt.truncate_words("   ", 0) == "   "


def test_truncate_validation() -> None:
    """Limits are ints >= 0."""
    with pytest.raises(l0.ConfigError, match="max_chars"):
        fmt.truncate("x", -1)
    with pytest.raises(l0.ConfigError, match="max_words"):
        fmt.truncate_words("x", True)
