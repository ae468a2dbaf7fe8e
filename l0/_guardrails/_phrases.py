"""Phrase scanning: the matches of a set of regexes in a stream, in bounded time per delta.

A regex may come with *triggers*, one of which every match contains: the regex is only run
around the places where one appeared. Finding the triggers is one C-level pass (for ASCII
text: ``translate``, ``split`` and a set intersection), which is what keeps curated phrase
lists cheap; the regexes themselves run rarely, and over little text.
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Sequence

from l0._guardrails._text import ASCII_WORDS, MARGIN

if sys.version_info >= (3, 11):
    from re import _parser as _sre_parse  # pyright: ignore[reportPrivateUsage]
else:  # pragma: no cover - Python 3.10
    import sre_parse as _sre_parse

__all__ = ["PhraseIndex", "PhraseScanner", "match_width"]

_WORD = re.compile(r"\w+")

_TRIGGER_CARRY = 40
"""The longest trigger word is shorter than this; a longer partial word can never be one."""


def match_width(regex: re.Pattern[str]) -> int | None:
    """The most characters ``regex`` can match (look-arounds aside), None if unbounded."""
    try:
        width = int(_sre_parse.parse(regex.pattern, regex.flags).getwidth()[1])
    except Exception:  # pragma: no cover - treat parser trouble as unbounded
        return None
    return width if width < _sre_parse.MAXREPEAT else None


class PhraseIndex:
    """The immutable part of a :class:`PhraseScanner`: regexes and their trigger index.

    Built once per rule and shared by the scanners of every attempt (:meth:`scanner`).
    A regex may come with triggers, one of which every match contains: lowercase words
    (``\\w+``, matched as whole words) or lowercase substrings (anything else, e.g.
    ``"<|"``), both looked for in the lowercased text. Without triggers (``None``) a regex is
    run over every delta.

    ``lengths`` gives, for regexes whose look-ahead stays within ``MARGIN`` characters (as
    the curated ones do), the longest match: with it a regex is only run from ``length``
    characters before the first trigger it is live for, stays live only until ``length``
    characters after the last one have been seen, and is not run again over text where no
    match can start any more. The matches found are the same, at the same calls.
    """

    __slots__ = (
        "always",
        "ascii_map",
        "ascii_words",
        "lengths",
        "max_length",
        "plain_keys",
        "regexes",
        "sub_keep",
        "substrings",
        "tracked",
        "word_map",
        "words",
    )

    def __init__(
        self,
        regexes: Sequence[re.Pattern[str]],
        triggers: Sequence[frozenset[str] | None],
        max_length: int,
        *,
        lengths: Sequence[int | None] | None = None,
    ) -> None:
        self.regexes = tuple(regexes)
        self.max_length = max_length
        widths = list(lengths) if lengths is not None else [None] * len(self.regexes)
        self.tracked = tuple(
            w is not None and w <= max_length and t is not None
            for w, t in zip(widths, triggers, strict=True)
        )
        self.lengths = tuple(
            w if w is not None and tracked else max_length
            for w, tracked in zip(widths, self.tracked, strict=True)
        )
        word_map: dict[str, list[int]] = {}
        substrings: dict[str, list[int]] = {}
        always: list[int] = []
        for index, words in enumerate(triggers):
            if words is None:
                always.append(index)
                continue
            for word in words:
                target = word_map if _WORD.fullmatch(word) else substrings
                target.setdefault(word, []).append(index)
        self.always = tuple(always)
        self.word_map = {word: tuple(indices) for word, indices in word_map.items()}
        self.words = frozenset(word_map)
        # The same for ASCII text, looked up among the words of an ASCII delta as bytes.
        self.ascii_map = {
            word.encode("ascii"): indices
            for word, indices in self.word_map.items()
            if word.isascii()
        }
        self.ascii_words = frozenset(self.ascii_map)
        # Substring triggers grouped by one character they contain (preferably not a letter
        # or digit): one `in` test per group rules most of them out at once.
        groups: dict[str, list[tuple[str, tuple[int, ...]]]] = {}
        for sub, indices in substrings.items():
            key = next((c for c in sub if not c.isalnum()), sub[0])
            groups.setdefault(key, []).append((sub, tuple(indices)))
        self.substrings = tuple((key, tuple(items)) for key, items in groups.items())
        self.sub_keep = max((len(sub) for sub in substrings), default=1) - 1
        # Keys that are ASCII and not letters: lowercasing ASCII text neither makes nor
        # removes one, so they can be looked for before lowercasing.
        self.plain_keys = all(key.isascii() and not key.isalpha() for key in groups)

    def scanner(self) -> PhraseScanner:
        """A fresh scanner (per-attempt state) over this index."""
        return PhraseScanner(self)


def _widen(
    hits: dict[int, tuple[int, int]], indices: tuple[int, ...], first: int, last: int
) -> None:
    for i in indices:
        seen = hits.get(i)
        if seen is None:
            hits[i] = (first, last)
        else:
            hits[i] = (min(seen[0], first), max(seen[1], last))


def _locate(hits: dict[int, tuple[int, int]], index: PhraseIndex, coded: bytes, start: int) -> None:
    """Add to ``hits`` the trigger words in ``coded`` (translated text from ``start``)."""
    padded = b" " + coded + b" "
    for word in index.ascii_words.intersection(padded.split()):
        key = b" " + word + b" "
        _widen(hits, index.ascii_map[word], start + padded.find(key), start + padded.rfind(key))


class PhraseScanner:
    """Finds the matches of a :class:`PhraseIndex`'s regexes in a stream, in bounded time.

    Each delta is scanned together with the last ``max_length + MARGIN + 40`` characters
    before it, so a match of at most ``max_length`` characters is found even when it is cut
    between deltas; a match that ends within ``MARGIN`` characters of the text seen so far
    waits for more text (a trailing ``\\b`` or look-ahead must not decide on a cut). A regex
    with triggers is only run around the places where one of them appeared.

    :meth:`feed` returns ``(index, match, window_start)`` for each new match: the absolute
    position of the match is ``window_start + match.start()``. Matches of one regex do not
    overlap and come in order.
    """

    __slots__ = (
        "_carry",
        "_horizon",
        "_index",
        "_keep",
        "_last_end",
        "_live",
        "_overlap",
        "_sub_carry",
        "_tail",
        "_tried",
        "_triggers",
    )

    def __init__(self, index: PhraseIndex) -> None:
        self._index = index
        self._overlap = index.max_length + MARGIN + _TRIGGER_CARRY
        self._keep = self._overlap + 1
        self._tail = ""
        self._carry = ""
        self._sub_carry = ""
        count = len(index.regexes)
        self._last_end = [0] * count  # where the last match of each regex ended
        # For a regex with a known length: no unreported match starts before _tried, and
        # (while it is live) none after _horizon, the start of the last trigger seen.
        self._tried = [0] * count
        self._horizon = [-1] * count
        self._live: dict[int, float] = dict.fromkeys(index.always, math.inf)
        self._triggers = bool(index.words or index.substrings)

    def _triggered(
        self, delta: str, offset: int, final: bool, words: tuple[bytes, list[bytes]] | None
    ) -> dict[int, tuple[int, int]]:
        """The regexes whose triggers appear in ``delta`` (with the carries), each with where
        the first and the last of them start (absolute; bounds when not known exactly)."""
        index = self._index
        hits: dict[int, tuple[int, int]] = {}
        if index.words:
            carry = self._carry
            if words is not None and delta and carry.isascii():
                self._shared_words(words, carry, offset, final, hits)
            else:
                text = carry + delta if carry else delta
                if text.isascii():
                    # The words as lowercase bytes, by translate and split.
                    coded = text.encode("ascii").translate(ASCII_WORDS)
                    found = coded.split()
                    if found and not final and coded[-1] != 32:  # ends inside a word
                        self._carry = found[-1][-_TRIGGER_CARRY:].decode("ascii")
                    else:
                        self._carry = ""
                    if not index.ascii_words.isdisjoint(found):
                        _locate(hits, index, coded, offset - len(carry))
                else:
                    lowered = carry + delta.lower() if carry else delta.lower()
                    seen = _WORD.findall(lowered)
                    tail = lowered[-1:]
                    if seen and not final and (tail.isalnum() or tail == "_"):
                        self._carry = seen[-1][-_TRIGGER_CARRY:]
                    else:
                        self._carry = ""
                    for word in index.words.intersection(seen):
                        # Lowercasing may change lengths: bounds only.
                        _widen(
                            hits, index.word_map[word], offset - _TRIGGER_CARRY, offset + len(delta)
                        )
        if index.substrings:
            sub_carry = self._sub_carry
            keep = index.sub_keep
            if index.plain_keys and delta.isascii():
                # Lowercasing ASCII text changes no key character: look for them first.
                for key, _items in index.substrings:
                    if key in delta or key in sub_carry:
                        break
                else:
                    if keep:
                        self._sub_carry = (
                            delta[-keep:].lower()
                            if len(delta) >= keep
                            else (sub_carry + delta.lower())[-keep:]
                        )
                    return hits
            low = delta.lower()
            text = sub_carry + low if sub_carry else low
            exact = text.isascii()  # then every position maps to one of the text
            start = offset - len(sub_carry)
            for key, items in index.substrings:
                if key in text:
                    for sub, indices in items:
                        at = text.find(sub)
                        if at < 0:
                            continue
                        if exact:
                            _widen(hits, indices, start + at, start + text.rfind(sub))
                        else:
                            _widen(hits, indices, offset - keep, offset + len(delta))
            self._sub_carry = text[-keep:] if keep else ""
        return hits

    def _shared_words(
        self,
        words: tuple[bytes, list[bytes]],
        carry: str,
        offset: int,
        final: bool,
        hits: dict[int, tuple[int, int]],
    ) -> None:
        """:meth:`_triggered` for an ASCII delta whose words the caller has (``words``)."""
        index = self._index
        coded, found = words
        joined = b""  # the carried word, completed by the delta's first one
        if carry:
            joined = carry.encode("ascii")
            if found and coded[0] != 32:
                joined += found[0]
        if found and not final and coded[-1] != 32:  # ends inside a word
            last = joined if joined and len(found) == 1 and coded[0] != 32 else found[-1]
            self._carry = last[-_TRIGGER_CARRY:].decode("ascii")
        else:
            self._carry = ""
        # (A trigger found as the delta's first word, when it goes on a carried word, only
        # makes its regexes run a little more: the matches found are the same.)
        if not index.ascii_words.isdisjoint(found):
            _locate(hits, index, coded, offset)
        if joined in index.ascii_map:
            at = offset - len(carry)
            _widen(hits, index.ascii_map[joined], at, at)

    def _start(self, hits: dict[int, tuple[int, int]], end: int) -> None:
        """Make the regexes of ``hits`` live (``end``: where the text seen so far ends)."""
        index = self._index
        live = self._live
        tracked = index.tracked
        lengths = index.lengths
        tried = self._tried
        horizon = self._horizon
        for i, (first, last) in hits.items():
            length = lengths[i]
            if not tracked[i]:
                live[i] = end + length + MARGIN
                continue
            if tried[i] > horizon[i]:
                # Every match with an earlier trigger is dealt with; one containing these
                # starts after first - length.
                tried[i] = max(tried[i], first - length)
            horizon[i] = max(horizon[i], last)
            live[i] = horizon[i] + length + MARGIN  # by then all such matches are seen

    def feed(
        self,
        delta: str,
        offset: int,
        final: bool = False,
        words: tuple[bytes, list[bytes]] | None = None,
    ) -> list[tuple[int, re.Match[str], int]]:
        """New matches in the text up to the end of ``delta`` (which starts at ``offset``).

        ``words``, for an ASCII ``delta``: ``(coded, coded.split())`` with ``coded`` its
        translation by :data:`~l0._guardrails._text.ASCII_WORDS`, if the caller has them.
        """
        end = offset + len(delta)
        live = self._live
        index = self._index
        if self._triggers and (delta or final):
            hits = self._triggered(delta, offset, final, words)
            if hits:
                self._start(hits, end)
        keep = self._keep
        if not live:
            self._tail = delta[-keep:] if len(delta) >= keep else (self._tail + delta)[-keep:]
            return []
        tracked = index.tracked
        lengths = index.lengths
        tried = self._tried
        horizon = self._horizon
        tail = self._tail
        window = tail + delta
        window_start = offset - len(tail)
        base = max(0, len(tail) - self._overlap)
        limit = len(window) if final else len(window) - MARGIN
        found: list[tuple[int, re.Match[str], int]] = []
        settled: list[int] = []
        last_end = self._last_end
        regexes = index.regexes
        for i, due in live.items():
            pos = max(base, last_end[i] - window_start, tried[i] - window_start)
            if not tracked[i]:
                for m in regexes[i].finditer(window, pos):
                    if m.end() > limit:
                        break
                    if m.end() == m.start():
                        continue
                    found.append((i, m, window_start))
                    last_end[i] = window_start + m.end()
            else:
                length = lengths[i]
                top = horizon[i] - window_start  # no match starts after this
                stop = top + length + MARGIN  # nor needs a character from here on
                waiting = -1
                for m in regexes[i].finditer(window, pos, min(stop, len(window))):
                    if m.start() > top:
                        break
                    if m.end() > limit:
                        waiting = m.start()
                        break
                    if m.end() == m.start():
                        continue
                    found.append((i, m, window_start))
                    last_end[i] = window_start + m.end()
                # Where a match may still start: one needs text not seen yet (a character
                # of its own or of its look-ahead), or is the one that waits for more.
                done = min(end - length - MARGIN + 1, horizon[i] + 1)
                if waiting >= 0:
                    done = min(done, window_start + waiting)
                tried[i] = max(tried[i], done)
            if due <= end:
                settled.append(i)
        for i in settled:
            del live[i]
        self._tail = window[-keep:]
        if len(found) > 1:
            found.sort(key=lambda item: (item[2] + item[1].start(), item[0]))
        return found
