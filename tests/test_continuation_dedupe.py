"""The overlap remover: exact, whatever the chunking (property-tested)."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import l0
from l0._engine._continuation import ContinuationConfig, Deduper, continuation_messages


def run(checkpoint: str, chunks: list[str], config: ContinuationConfig | None = None) -> str:
    dedupe = Deduper(checkpoint, config or ContinuationConfig(min_overlap=1))
    out = [dedupe.feed(c) for c in chunks]
    out.append(dedupe.finish())
    return "".join(out)


def chunked(text: str, cuts: list[int]) -> list[str]:
    points = sorted({c % (len(text) + 1) for c in cuts} | {0, len(text)})
    return [text[a:b] for a, b in itertools.pairwise(points)]


@pytest.mark.parametrize(
    ("checkpoint", "new", "expected"),
    [
        ("Hello wor", "world!", "ld!"),  # several characters
        ("Hello wor", "r and more", " and more"),  # one character
        ("Hello", " there", " there"),  # none
        ("abc", "abcabc", "abc"),  # the whole checkpoint, then more
        ("The cat sat", "cat sat on the mat", " on the mat"),
        ("", "anything", "anything"),
    ],
)
def test_examples(checkpoint: str, new: str, expected: str) -> None:
    assert run(checkpoint, [new]) == expected
    assert run(checkpoint, list(new)) == expected  # one character at a time


def test_min_overlap_keeps_a_short_coincidence() -> None:
    """With the default min_overlap=2 a one-letter match is kept as new text."""
    assert run("Hello wor", ["r and more"], ContinuationConfig()) == "r and more"
    assert run("Hello wor", ["or and more"], ContinuationConfig()) == " and more"


def test_output_is_held_back_only_while_a_longer_repeat_is_possible() -> None:
    dedupe = Deduper("one two three", ContinuationConfig(min_overlap=1))
    assert dedupe.feed("thr") == ""  # could still be "three..."
    assert dedupe.feed("ee and") == " and"
    assert dedupe.done
    assert dedupe.removed == 5
    assert dedupe.feed(" four") == " four"


def test_a_new_output_shorter_than_the_overlap_is_decided_at_the_end() -> None:
    """An output that ends while a repeat is still possible is decided with what arrived: a
    complete repeat of the checkpoint's end is removed, a partial one is new text."""
    dedupe = Deduper("one two three", ContinuationConfig(min_overlap=1))
    assert dedupe.feed("thr") == ""
    assert dedupe.finish() == "thr"  # not the end of the checkpoint: new text
    dedupe = Deduper("one two three", ContinuationConfig(min_overlap=1))
    assert dedupe.feed("two thr") == ""
    assert dedupe.feed("ee") == ""
    assert dedupe.finish() == ""  # all of it repeated the checkpoint's end


def test_normalisation_keeps_the_new_outputs_own_characters() -> None:
    config = ContinuationConfig(min_overlap=1, normalize_whitespace=True, ignore_case=True)
    assert run("The  Quick\nbrown", ["quick brown", " fox"], config) == " fox"
    assert run("end.", ["END.  Next"], config) == "  Next"


def test_max_overlap_bounds_the_hold_back() -> None:
    config = ContinuationConfig(min_overlap=1, max_overlap=3)
    dedupe = Deduper("aaaaaaaa", config)
    assert dedupe.feed("aaaa") == "a"  # at most 3 removed


def test_config_errors() -> None:
    with pytest.raises(l0.ConfigError):
        ContinuationConfig(min_overlap=5, max_overlap=2)
    with pytest.raises(l0.ConfigError):
        ContinuationConfig(min_overlap=-1)


def test_continuation_messages() -> None:
    msgs = continuation_messages([{"role": "user", "content": "hi"}], "partial", "go on")
    assert msgs == [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "partial"},
        {"role": "user", "content": "go on"},
    ]


@settings(max_examples=300, deadline=None)
@given(
    text=st.text(alphabet="ab \n.", min_size=1, max_size=60),
    split=st.integers(min_value=0, max_value=60),
    overlap=st.integers(min_value=0, max_value=60),
    cuts=st.lists(st.integers(min_value=0, max_value=200), max_size=8),
)
def test_any_chunking_gives_the_same_result(
    text: str, split: int, overlap: int, cuts: list[int]
) -> None:
    """The result does not depend on how the new output is chunked, and when the new output is
    an exact repeat of k checkpoint characters followed by the true rest, the text is whole:
    checkpoint + result == the original text, for the longest repeat rule."""
    split %= len(text) + 1
    checkpoint, rest = text[:split], text[split:]
    overlap = min(overlap, len(checkpoint))
    new = checkpoint[len(checkpoint) - overlap :] + rest
    config = ContinuationConfig(min_overlap=1)
    whole = run(checkpoint, [new], config)
    assert run(checkpoint, chunked(new, cuts), config) == whole
    # The remover never invents text: the result is a suffix of the new output.
    assert new.endswith(whole)
    # When the rest cannot itself start with more of the checkpoint, the result is exact.
    dedupe = Deduper(checkpoint, config)
    dedupe.feed(new)
    dedupe.finish()
    if dedupe.removed == overlap:
        assert checkpoint + whole == text
