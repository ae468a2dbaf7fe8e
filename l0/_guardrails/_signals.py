"""The measurements drift detection takes of each block, written to be cheap per character.

Each function here gives exactly what the straightforward version gives (the tests keep
that version as a reference): regex scans over the whole block are replaced by C-level
string operations where the result can be derived from them, and per-word Python loops by
whole-list operations with a fallback for the rare blocks that need the details.
"""

from __future__ import annotations

import functools
import math
import operator
import re
from collections import Counter

__all__ = [
    "FORMAL",
    "INFORMAL",
    "NgramWindow",
    "entropy",
    "informal_signs",
    "markdown_markers",
    "tone_counts",
]

FORMAL = frozenset(
    (
        "therefore",
        "furthermore",
        "moreover",
        "consequently",
        "thus",
        "hence",
        "nevertheless",
        "nonetheless",
        "accordingly",
        "whereas",
        "hereby",
        "notwithstanding",
        "subsequently",
        "additionally",
        "henceforth",
        "whereby",
        "wherein",
        "thereby",
        "regarding",
        "pursuant",
    )
)
INFORMAL = frozenset(
    (
        "gonna",
        "wanna",
        "gotta",
        "kinda",
        "sorta",
        "yeah",
        "yep",
        "yup",
        "nope",
        "lol",
        "lmao",
        "omg",
        "btw",
        "dude",
        "bro",
        "awesome",
        "cool",
        "hey",
        "ya",
        "yall",
        "ain",
        "haha",
        "hehe",
        "totally",
        "super",
        "basically",
        "stuff",
        "chill",
        "vibe",
        "vibes",
    )
)
_FORMAL_B = frozenset(w.encode("ascii") for w in FORMAL)
_INFORMAL_B = frozenset(w.encode("ascii") for w in INFORMAL)
_TONE_B = _FORMAL_B | _INFORMAL_B

_WORDS = re.compile(r"[a-z]+")
_INFORMAL_SIGNS = re.compile(r"!{2,}|:\)|:D|;\)|[\u2600-\u27bf\U0001f300-\U0001faff]")
_BANGS = re.compile(r"!{2,}")
# The line-start part of the markdown markers, anchored on the line break before it (a
# literal first character lets the engine jump from line break to line break).
_LINE_MARKER = re.compile(r"\n[ \t]{0,3}(?:#{1,6}[ \t]|[-*+][ \t]|\d{1,3}[.)][ \t]|>|\||(```)|~~~)")


def _letters_table() -> bytes:
    table = bytearray(b" " * 256)
    for code in range(ord("a"), ord("z") + 1):
        table[code] = code
        table[code - 32] = code  # A-Z
    return bytes(table)


_LETTERS = _letters_table()
_NOT_DIGIT = bytes(b for b in range(256) if chr(b) not in "0123456789_")  # to delete


# --------------------------------------------------------------------------- tone


def tone_counts(
    block: str, previous: str, found: tuple[bytes, list[bytes]] | None = None
) -> tuple[int, int]:
    """Formal and informal words of ``block`` (``previous``: the character before it).

    Words are ``[a-z]+`` runs of the lowercased block; a word cut by either end of the
    block is not counted (it is not a word: "they" -> "t" + "hey"). ``found``: the block's
    ``\\w+`` words as given by ``ASCII_WORDS``, if the caller has them (the same words when
    the block has no digit and no underscore).
    """
    if block.isascii():
        if found is not None and not found[0].translate(None, _NOT_DIGIT):
            words = found[1]
        else:
            words = block.encode("ascii").translate(_LETTERS).split()
        if _TONE_B.isdisjoint(words):
            return 0, 0  # (dropping cut words only removes some)
        words = list(words)  # (found's list is the caller's)
        if words and block[-1].isalpha():
            words.pop()
        if words and previous.isalpha() and block[0].isalpha():
            words.pop(0)
        return (
            sum(map(_FORMAL_B.__contains__, words)),
            sum(map(_INFORMAL_B.__contains__, words)),
        )
    lowered = block.lower()
    letters: list[str] = _WORDS.findall(lowered)
    if letters and lowered[-1].isalpha():
        letters.pop()
    if letters and previous.isalpha() and lowered[0].isalpha():
        letters.pop(0)
    formal = informal = 0
    for word in letters:
        if word in FORMAL:
            formal += 1
        elif word in INFORMAL:
            informal += 1
    return formal, informal


def informal_signs(block: str) -> int:
    """Emphatic ``!!``, emoticons and emoji in ``block`` (non-overlapping, as a regex finds)."""
    if not block.isascii():
        return len(_INFORMAL_SIGNS.findall(block))
    # The alternatives start with different characters and are two characters long (or a
    # run of "!"), so counting each one apart gives the same total.
    signs = len(_BANGS.findall(block)) if "!!" in block else 0
    if ":" in block:
        signs += block.count(":)") + block.count(":D")
    if ";)" in block:
        signs += block.count(";)")
    return signs


# --------------------------------------------------------------------------- markdown


def markdown_markers(block: str, previous: str) -> int:
    """Markdown markers in ``block``: line-start structure (headings, list items, quotes,
    table rows, fences), ``**``, ``__`` and backticks (``previous``: the character before).

    The count a single left-to-right regex scan gives: the line-start alternatives are
    tried first at each line start, and consume no ``*``, ``_`` or backtick that the other
    alternatives could use, except a fence's three backticks (counted once, as the fence).
    """
    lines = _LINE_MARKER.findall(previous + block)
    fences = lines.count("```") if lines else 0  # their backticks are in count("`") too
    return len(lines) + block.count("**") + block.count("__") + block.count("`") - 3 * fences


# --------------------------------------------------------------------------- entropy


@functools.lru_cache(maxsize=8)
def _terms(n: int) -> dict[int, float]:
    """``p * log2(p)`` for ``p = count / n``, by count (filled on demand)."""
    return {}


def entropy(block: str) -> float:
    """Shannon entropy of the characters of ``block``, in bits per character.

    Summed in the order the characters first appear, one term per character, as the
    straightforward loop does (so the float is the same to the last bit).
    """
    n = len(block)
    counts = Counter(block).values()
    terms = _terms(n)
    try:
        values = list(map(terms.__getitem__, counts))
    except KeyError:
        for count in counts:
            if count not in terms:
                p = count / n
                terms[count] = p * math.log2(p)
        values = list(map(terms.__getitem__, counts))
    return functools.reduce(operator.sub, values, 0.0)


# --------------------------------------------------------------------------- n-grams


class NgramWindow:
    """The last ``limit`` word n-grams of a stream, and how many of them repeat.

    ``dups`` is the number of n-grams in the window that also occur earlier in it (the
    window's size minus its distinct n-grams). While the window holds no repeat, a block of
    new n-grams is checked against the set of the window's n-grams in one C-level update;
    otherwise the window's distinct n-grams are counted again once per block.
    """

    __slots__ = ("_distinct", "_grams", "_n", "_tail", "dups", "limit")

    def __init__(self, n: int, limit: int) -> None:
        self._n = n
        self.limit = limit
        self._tail: list[bytes] = []  # the last n - 1 words
        self._grams: list[tuple[bytes, ...]] = []  # the window, oldest first
        self._distinct: set[tuple[bytes, ...]] | None = set()  # its n-grams, if no repeat
        self.dups = 0

    def __len__(self) -> int:
        return len(self._grams)

    @property
    def grams(self) -> list[tuple[bytes, ...]]:
        """The window's n-grams, oldest first (for inspection)."""
        return self._grams

    def add(self, words: list[bytes]) -> None:
        """Account for the next ``words`` of the stream."""
        n = self._n
        if n == 1:
            new: list[tuple[bytes, ...]] = list(zip(words))
        else:
            seq = self._tail + words if self._tail else words
            new = list(zip(*(seq[k:] for k in range(n)), strict=False))
            self._tail = seq[-(n - 1) :]
        if not new:
            return
        grams = self._grams
        limit = self.limit
        distinct = self._distinct
        if distinct is not None:
            before = len(distinct)
            distinct.update(new)
            if len(distinct) - before == len(new):
                # All new and different: the window still has no repeat.
                grams.extend(new)
                if len(grams) > limit:
                    distinct.difference_update(grams[: len(grams) - limit])
                    del grams[: len(grams) - limit]
                return
        grams.extend(new)
        if len(grams) > limit:
            del grams[: len(grams) - limit]
        distinct = set(grams)
        self.dups = len(grams) - len(distinct)
        self._distinct = distinct if not self.dups else None
