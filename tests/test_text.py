"""Text normalisation: newlines, whitespace, indentation, dedent, offset-preserving normalising."""

from __future__ import annotations

import re
import textwrap
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import l0
from l0._text import (
    dedent,
    normalize_indentation,
    normalize_newlines,
    normalize_whitespace,
    normalize_with_offsets,
)

WHITESPACEY = st.lists(
    st.sampled_from(
        ["a", "b", ".", " ", "  ", "\t", "\n", "\r", "\r\n", "\x0b", "\u00a0", "\u2028", "\x1c"]
    ),
    max_size=40,
).map("".join)
OPTIONS = st.fixed_dictionaries(
    {},
    optional={
        "collapse": st.booleans(),
        "trim_lines": st.booleans(),
        "keep_indentation": st.booleans(),
        "max_blank_lines": st.none() | st.integers(0, 3),
        "strip": st.booleans(),
        "single_line": st.booleans(),
    },
)


def _reference(text: str, max_blank_lines: int | None = None) -> str:
    """A slow, obviously-correct version of the default options."""
    lines = normalize_newlines(text).split("\n")
    out: list[str] = []
    for line in lines:
        indent = re.match(r"[^\S\n]*", line).group()  # type: ignore[union-attr]
        rest = re.sub(r"[^\S\n]+", " ", line[len(indent) :]).rstrip()
        out.append(indent + rest if rest else "")
    joined = "\n".join(out).strip()
    if max_blank_lines is not None:
        limit = max_blank_lines + 1
        joined = re.sub(f"\n{{{limit + 1},}}", "\n" * limit, joined)
    return joined


# --------------------------------------------------------------------------- newlines


@pytest.mark.parametrize(
    ("text", "expected"),
    [("a\r\nb", "a\nb"), ("a\rb", "a\nb"), ("a\r\r\nb", "a\n\nb"), ("a\nb", "a\nb"), ("", "")],
)
def test_normalize_newlines(text: str, expected: str) -> None:
    """\\r\\n and lone \\r become \\n, and nothing else changes."""
    assert normalize_newlines(text) == expected


# --------------------------------------------------------------------------- whitespace


@pytest.mark.parametrize(
    ("text", "options", "expected"),
    [
        ("  a   b  \n\n\n  c\td  ", {}, "a b\n\n\n  c d"),
        ("a  \r\n  b", {}, "a\n  b"),
        ("a  \n  b", {"keep_indentation": False}, "a\nb"),
        ("a\n\n\n\nb", {"max_blank_lines": 1}, "a\n\nb"),
        ("a\n \n\t\n \nb", {"max_blank_lines": 0}, "a\nb"),
        ("a \n\t b\r\nc", {"single_line": True}, "a b c"),
        ("  a  ", {"strip": False}, "  a"),
        ("a  b  ", {"collapse": False}, "a  b"),
        ("a \n b", {"trim_lines": False, "strip": False}, "a \n b"),
        ("a\u00a0\u00a0b", {}, "a b"),
        ("", {}, ""),
        ("   \n\t ", {}, ""),
    ],
)
def test_normalize_whitespace_examples(text: str, options: dict[str, Any], expected: str) -> None:
    """Each option does what its docstring says."""
    assert normalize_whitespace(text, **options) == expected


@given(WHITESPACEY, st.none() | st.integers(0, 3))
def test_defaults_match_a_line_by_line_reference(text: str, max_blank_lines: int | None) -> None:
    """The one-pass normaliser equals a slow line-by-line version of the default options."""
    actual = normalize_whitespace(text, max_blank_lines=max_blank_lines)
    assert actual == _reference(text, max_blank_lines)


@given(WHITESPACEY)
def test_single_line_matches_collapsing_every_run(text: str) -> None:
    """single_line: every whitespace run becomes one space, the ends are stripped."""
    assert normalize_whitespace(text, single_line=True) == re.sub(r"\s+", " ", text).strip()


@given(WHITESPACEY, OPTIONS)
def test_normalizing_is_idempotent(text: str, options: dict[str, Any]) -> None:
    """Normalising normalised text changes nothing."""
    once = normalize_whitespace(text, **options)
    assert normalize_whitespace(once, **options) == once
    assert "\r" not in once


def test_bad_max_blank_lines_is_a_config_error() -> None:
    """max_blank_lines must be None or a non-negative int."""
    for bad in (-1, True, 1.5):
        with pytest.raises(l0.ConfigError, match="max_blank_lines"):
            normalize_whitespace("a", max_blank_lines=bad)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- offsets


@given(WHITESPACEY, OPTIONS)
def test_offsets_text_equals_the_plain_normaliser(text: str, options: dict[str, Any]) -> None:
    """normalize_with_offsets(...).text is exactly normalize_whitespace(...)."""
    assert normalize_with_offsets(text, **options).text == normalize_whitespace(text, **options)


@given(WHITESPACEY, OPTIONS)
def test_offset_mapping_round_trips(text: str, options: dict[str, Any]) -> None:
    """to_normalized(to_original(i)) == i for every normalised offset; both maps are
    monotonic, and each normalised character comes from its mapped original character."""
    nt = normalize_with_offsets(text, **options)
    forward = [nt.to_original(i) for i in range(len(nt.text) + 1)]
    assert forward == sorted(forward)
    assert forward[-1] == len(text)
    assert all(0 <= o <= len(text) for o in forward)
    assert [nt.to_normalized(o) for o in forward] == list(range(len(nt.text) + 1))
    backward = [nt.to_normalized(j) for j in range(len(text) + 1)]
    assert backward == sorted(backward)
    assert backward[0] == 0
    assert backward[-1] == len(nt.text)
    for i, char in enumerate(nt.text):
        source = text[forward[i]]
        assert source == char or (char in " \n" and source.isspace()), (i, char, source)


def test_offset_examples() -> None:
    """A collapsed run maps to its start, a deleted one is skipped, \\r\\n maps to its \\r."""
    nt = normalize_with_offsets("  a  b \r\nc")
    assert nt.text == "a b\nc"
    assert [nt.to_original(i) for i in range(6)] == [2, 3, 5, 7, 9, 10]
    assert nt.original_span(2, 5) == (5, 10)
    assert nt.to_normalized(0) == 0  # inside the deleted leading run
    assert nt.to_normalized(4) == 2  # inside the collapsed run: just after its space
    assert nt.to_normalized(8) == 4  # inside the \r\n
    assert repr(nt).startswith("NormalizedText('a b\\nc'")


def test_offset_errors() -> None:
    """Offsets outside the text are an IndexError; a reversed span is a ValueError."""
    nt = normalize_with_offsets("a  b")
    with pytest.raises(IndexError):
        nt.to_original(4)
    with pytest.raises(IndexError):
        nt.to_normalized(-1)
    with pytest.raises(ValueError, match="after"):
        nt.original_span(2, 1)


def test_empty_text_maps_zero_to_zero() -> None:
    """The empty text has one offset, 0, in both directions."""
    nt = normalize_with_offsets("")
    assert (nt.text, nt.to_original(0), nt.to_normalized(0)) == ("", 0, 0)


def test_a_large_text_normalises_in_one_pass() -> None:
    """A 2 MB text with many whitespace runs maps offsets exactly at its far end."""
    text = "word  \t" * 300_000
    nt = normalize_with_offsets(text)
    assert nt.text == "word " * 299_999 + "word"
    assert nt.to_original(len(nt.text) - 1) == len(text) - 4
    assert nt.to_normalized(len(text) - 7) == len(nt.text) - 4


# --------------------------------------------------------------------------- indentation


@pytest.mark.parametrize(
    ("text", "options", "expected"),
    [
        ("\tx", {}, "    x"),
        (" \tx\ty", {}, "    x\ty"),
        ("\t\tx\n  y", {"tab_size": 2}, "    x\n  y"),
        ("        x", {"use_tabs": True}, "\t\tx"),
        ("      x\n\ty", {"use_tabs": True}, "\t  x\n\ty"),
        ("no indent", {}, "no indent"),
    ],
)
def test_normalize_indentation(text: str, options: dict[str, Any], expected: str) -> None:
    """Leading tabs expand to tab stops (or spaces fold into tabs); inner tabs stay."""
    assert normalize_indentation(text, **options) == expected


def test_bad_tab_size_is_a_config_error() -> None:
    """tab_size must be a positive int."""
    with pytest.raises(l0.ConfigError, match="tab_size"):
        normalize_indentation("x", tab_size=0)


# --------------------------------------------------------------------------- dedent


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("    a\n      b\n    c", "a\n  b\nc"),
        ("  a\n\n  b", "a\n\nb"),
        ("  a\n     \n  b", "a\n\nb"),
        ("\ta\n  b", "\ta\n  b"),
        ("  a\r\n  b\r\n", "a\r\nb\r\n"),
        ("", ""),
    ],
)
def test_dedent_examples(text: str, expected: str) -> None:
    """The shared prefix goes; blank lines don't count; mixed tabs/spaces share nothing."""
    assert dedent(text) == expected


@settings(max_examples=300)
@given(st.lists(st.sampled_from(["a", "b", " ", "  ", "\t", "\n"]), max_size=40).map("".join))
def test_dedent_agrees_with_textwrap(text: str) -> None:
    """On spaces, tabs and \\n, dedent() is textwrap.dedent()."""
    assert dedent(text) == textwrap.dedent(text)
