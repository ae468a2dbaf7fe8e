"""Incremental text machinery shared by the rules and by drift detection.

Every class here consumes a stream delta by delta in time linear in the delta (plus a bounded
window) and produces the same results however the stream is cut into deltas: decisions are
made on complete lines, sentences and words, never on where a delta happens to end.

Regular expressions here and in the rules are written so that the engine cannot backtrack
more than a bounded amount at any position: no nested quantifiers, no unbounded repetition
followed by something that can fail inside the repeated run.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = [
    "MARGIN",
    "CodeSplitter",
    "FenceState",
    "LineBuffer",
    "PhraseIndex",
    "PhraseScanner",
    "UnitSplitter",
    "fence_line",
    "normalize",
]

_FENCE = re.compile(r"[ \t]*(`{3,}|~{3,})(.*)")
_BOUNDARY = re.compile(r"[.!?]+|\n")
_WORD = re.compile(r"\w+")
_INLINE_SPACE = frozenset(" \t\r\f\v")

MARGIN = 8
"""Characters of look-ahead a pattern may need after its match: a match ending closer than
this to the end of the text seen so far waits for more text (or for the end)."""

_TRIGGER_CARRY = 40
"""The longest trigger word is shorter than this; a longer partial word can never be one."""


def normalize(text: str) -> str:
    """Lowercase with runs of whitespace collapsed to one space and the ends stripped."""
    return " ".join(text.lower().split())


# --------------------------------------------------------------------------- lines and fences


class LineBuffer:
    """Cuts a stream into complete lines (without their ``\\n``), with their start offsets.

    Holds the current partial line only; total time is linear in the stream.
    """

    __slots__ = ("_parts", "_start")

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._start = 0

    def feed(self, delta: str, offset: int) -> list[tuple[str, int]]:
        """The lines completed by ``delta`` (which starts at ``offset``)."""
        if "\n" not in delta:
            if delta:
                self._parts.append(delta)
            return []
        pieces = delta.split("\n")
        parts = self._parts
        parts.append(pieces[0])
        lines = [("".join(parts), self._start)]
        parts.clear()
        pos = offset + len(pieces[0]) + 1
        for piece in pieces[1:-1]:
            lines.append((piece, pos))
            pos += len(piece) + 1
        if pieces[-1]:
            parts.append(pieces[-1])
        self._start = pos
        return lines

    def flush(self) -> tuple[str, int] | None:
        """The final line if it has no ``\\n`` (call at the end)."""
        if not self._parts:
            return None
        line = "".join(self._parts)
        self._parts.clear()
        return line, self._start


def fence_line(line: str) -> tuple[str, int, str] | None:
    """``(char, length, info)`` if ``line`` is a code fence (``````` or ``~~~``), else None.

    Any indentation is accepted: models indent fences inside list items freely.
    """
    m = _FENCE.match(line)
    if m is None:
        return None
    run, info = m.group(1), m.group(2)
    if run[0] == "`" and "`" in info:
        return None
    return run[0], len(run), info.strip()


class FenceState:
    """Whether the stream is inside a fenced code block, updated one complete line at a time."""

    __slots__ = ("char", "length", "start")

    def __init__(self) -> None:
        self.char = ""
        """The open fence's character, "" when outside a fenced block."""
        self.length = 0
        self.start = 0
        """Offset of the open fence's line."""

    def line(self, line: str, start: int) -> bool:
        """Account for ``line`` (at ``start``); whether it is code (a fence or inside one)."""
        fence = fence_line(line) if ("`" in line or "~" in line) else None
        if self.char:
            closes = fence is not None and fence[0] == self.char and fence[1] >= self.length
            if closes and fence is not None and not fence[2]:
                self.char = ""
            return True
        if fence is not None:
            self.char, self.length, self.start = fence[0], fence[1], start
            return True
        return False


class CodeSplitter:
    """Splits a stream into pieces tagged as code (in a fenced block) or prose.

    A line's tag is decided at its start (the opening fence line itself is prose, the
    closing one code), so the tags do not depend on how the stream is cut. Memory: the
    first 256 characters of the current line.
    """

    __slots__ = ("_code", "_fence", "_head", "_line_start")

    _HEAD = 256

    def __init__(self) -> None:
        self._fence = FenceState()
        self._head = ""
        self._line_start = 0
        self._code = False

    def feed(self, delta: str, offset: int) -> list[tuple[str, int, bool]]:
        """``(piece, offset, is_code)`` pieces covering ``delta`` in order."""
        head_room = self._HEAD - len(self._head)
        if "\n" not in delta:
            if head_room > 0 and delta:
                self._head += delta[:head_room]
            return [(delta, offset, self._code)] if delta else []
        out: list[tuple[str, int, bool]] = []
        code = self._code
        seg = 0
        pos = 0
        while True:
            nl = delta.find("\n", pos)
            if nl < 0:
                break
            head = self._head
            if len(head) < self._HEAD:
                head += delta[pos : min(nl, pos + self._HEAD - len(head))]
            self._fence.line(head, self._line_start)
            self._head = ""
            self._line_start = offset + nl + 1
            pos = nl + 1
            now_code = bool(self._fence.char)
            if now_code != code:
                out.append((delta[seg:pos], offset + seg, code))
                seg = pos
                code = now_code
        if seg < len(delta):
            out.append((delta[seg:], offset + seg, code))
        if pos < len(delta):
            self._head = delta[pos : pos + self._HEAD]
        self._code = code
        return out


class UnitSplitter:
    """Cuts prose into units: sentences (``.``, ``!`` or ``?`` then a space) and lines.

    Units are emitted as ``(text, start)`` once complete; the text of a unit is capped at
    512 characters (the rest still counts for where the unit ends).
    """

    __slots__ = ("_len", "_parts", "_pending", "_start")

    _CAP = 512

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._len = 0
        self._start = 0
        self._pending = False

    def _add(self, text: str, at: int) -> None:
        if not text:
            return
        if not self._parts:
            self._start = at
        room = self._CAP - self._len
        if room > 0:
            self._parts.append(text[:room])
            self._len += min(room, len(text))

    def _emit(self, out: list[tuple[str, int]]) -> None:
        if self._parts:
            out.append(("".join(self._parts), self._start))
            self._parts.clear()
            self._len = 0

    def feed(self, piece: str, offset: int, out: list[tuple[str, int]]) -> None:
        """Append to ``out`` the units completed by ``piece`` (at ``offset``)."""
        if not piece:
            return
        pos = 0
        if self._pending:
            self._pending = False
            if piece[0] in _INLINE_SPACE:
                self._emit(out)
        n = len(piece)
        for m in _BOUNDARY.finditer(piece):
            end = m.end()
            if piece[m.start()] == "\n":
                self._add(piece[pos : m.start()], offset + pos)
                self._emit(out)
                pos = end
            elif end == n:
                self._pending = True
            elif piece[end] in _INLINE_SPACE:
                self._add(piece[pos:end], offset + pos)
                self._emit(out)
                pos = end
        if pos < n:
            self._add(piece[pos:], offset + pos)

    def skip(self) -> None:
        """Forget the current unit (the text that follows starts a new one)."""
        self._parts.clear()
        self._len = 0
        self._pending = False

    def flush(self, out: list[tuple[str, int]]) -> None:
        """Emit the last unit (call at the end)."""
        self._pending = False
        self._emit(out)


# --------------------------------------------------------------------------- phrase scanning


class PhraseIndex:
    """The immutable part of a :class:`PhraseScanner`: regexes and their trigger index.

    Built once per rule and shared by the scanners of every attempt (:meth:`scanner`).
    A regex may come with triggers, one of which every match contains: lowercase words
    (``\\w+``, matched as whole words) or lowercase substrings (anything else, e.g.
    ``"<|"``), both looked for in the lowercased text. Without triggers (``None``) a regex is
    run over every delta.
    """

    __slots__ = ("always", "max_length", "regexes", "sub_keep", "substrings", "word_map", "words")

    def __init__(
        self,
        regexes: Sequence[re.Pattern[str]],
        triggers: Sequence[frozenset[str] | None],
        max_length: int,
    ) -> None:
        self.regexes = tuple(regexes)
        self.max_length = max_length
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
        # Substring triggers grouped by one character they contain (preferably not a letter
        # or digit): one `in` test per group rules most of them out at once.
        groups: dict[str, list[tuple[str, tuple[int, ...]]]] = {}
        for sub, indices in substrings.items():
            key = next((c for c in sub if not c.isalnum()), sub[0])
            groups.setdefault(key, []).append((sub, tuple(indices)))
        self.substrings = tuple((key, tuple(items)) for key, items in groups.items())
        self.sub_keep = max((len(sub) for sub in substrings), default=1) - 1

    def scanner(self) -> PhraseScanner:
        """A fresh scanner (per-attempt state) over this index."""
        return PhraseScanner(self)


class PhraseScanner:
    """Finds the matches of a :class:`PhraseIndex`'s regexes in a stream, in bounded time.

    Each delta is scanned together with the last ``max_length + MARGIN + 40`` characters
    before it, so a match of at most ``max_length`` characters is found even when it is cut
    between deltas; a match that ends within ``MARGIN`` characters of the text seen so far
    waits for more text (a trailing ``\\b`` or look-ahead must not decide on a cut). A regex
    with triggers is only run around the places where one of them appeared, which is what
    keeps curated phrase lists cheap.

    :meth:`feed` returns ``(index, match, window_start)`` for each new match: the absolute
    position of the match is ``window_start + match.start()``. Matches of one regex do not
    overlap and come in order.
    """

    __slots__ = (
        "_carry",
        "_index",
        "_keep",
        "_last_end",
        "_live",
        "_overlap",
        "_sub_carry",
        "_tail",
    )

    def __init__(self, index: PhraseIndex) -> None:
        self._index = index
        self._overlap = index.max_length + MARGIN + _TRIGGER_CARRY
        self._keep = self._overlap + 1
        self._tail = ""
        self._carry = ""
        self._sub_carry = ""
        self._last_end = [0] * len(index.regexes)
        self._live: dict[int, float] = dict.fromkeys(index.always, float("inf"))

    def _triggered(self, delta: str, final: bool) -> list[int]:
        """Indices of the regexes whose triggers appear in ``delta`` (with the carry)."""
        index = self._index
        low = delta.lower()
        hit: list[int] = []
        if index.words:
            text = self._carry + low if self._carry else low
            words = _WORD.findall(text)
            last = text[-1:]
            if words and not final and (last.isalnum() or last == "_"):
                self._carry = words[-1][-_TRIGGER_CARRY:]
            else:
                self._carry = ""
            for word in index.words.intersection(words):
                hit.extend(index.word_map[word])
        if index.substrings:
            text = self._sub_carry + low if self._sub_carry else low
            for key, items in index.substrings:
                if key in text:
                    for sub, indices in items:
                        if sub in text:
                            hit.extend(indices)
            self._sub_carry = text[-index.sub_keep :] if index.sub_keep else ""
        return hit

    def feed(
        self, delta: str, offset: int, final: bool = False
    ) -> list[tuple[int, re.Match[str], int]]:
        """New matches in the text up to the end of ``delta`` (which starts at ``offset``)."""
        end = offset + len(delta)
        live = self._live
        index = self._index
        if (index.words or index.substrings) and (delta or final):
            hit = self._triggered(delta, final)
            if hit:
                due = end + index.max_length + MARGIN
                for i in hit:
                    live[i] = due
        tail = self._tail
        keep = self._keep
        if not live:
            self._tail = delta[-keep:] if len(delta) >= keep else (tail + delta)[-keep:]
            return []
        window = tail + delta
        window_start = offset - len(tail)
        base = max(0, len(tail) - self._overlap)
        limit = len(window) if final else len(window) - MARGIN
        found: list[tuple[int, re.Match[str], int]] = []
        settled: list[int] = []
        last_end = self._last_end
        regexes = index.regexes
        for i, due in live.items():
            pos = max(base, last_end[i] - window_start)
            for m in regexes[i].finditer(window, pos):
                if m.end() > limit:
                    break
                if m.end() == m.start():
                    continue
                found.append((i, m, window_start))
                last_end[i] = window_start + m.end()
            if due <= end:
                settled.append(i)
        for i in settled:
            del live[i]
        self._tail = window[-keep:]
        if len(found) > 1:
            found.sort(key=lambda item: item[2] + item[1].start())
        return found
