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

__all__ = [
    "ASCII_WORDS",
    "MARGIN",
    "CodeSplitter",
    "FenceState",
    "LineBuffer",
    "UnitSplitter",
    "fence_line",
    "normalize",
]

_FENCE = re.compile(r"[ \t]*(`{3,}|~{3,})(.*)")
# ``[.!?]+|\n``, written to start with a character class so that the engine skips to the
# next candidate quickly (a charset prefix) instead of trying every position.
_BOUNDARY = re.compile(r"[\n.!?](?:(?<=[.!?])[.!?]*)?")
_INLINE_SPACE = frozenset(" \t\r\f\v")

MARGIN = 8
"""Characters of look-ahead a pattern may need after its match: a match ending closer than
this to the end of the text seen so far waits for more text (or for the end)."""


def _word_table() -> bytes:
    table = bytearray(b" " * 256)
    for code in range(128):
        char = chr(code)
        if char.isalnum() or char == "_":
            table[code] = ord(char.lower())
    return bytes(table)


ASCII_WORDS = _word_table()
"""``bytes.translate`` table for ASCII text: word characters (``\\w``) lowercased, every
other character a space, so ``text.encode("ascii").translate(ASCII_WORDS).split()`` is
``[w.lower() for w in re.findall(r"\\w+", text)]`` as bytes, at a fraction of the cost."""


def normalize(text: str) -> str:
    """Lowercase with runs of whitespace collapsed to one space and the ends stripped."""
    if text.isascii():
        low = text.lower().strip()
        # No control character (so no whitespace but " ") and no double space: done.
        if low.isprintable() and "  " not in low:
            return low
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

    def add(self, delta: str) -> None:
        """Account for ``delta``, which has no ``\\n`` (it only extends the current line)."""
        self._parts.append(delta)

    def pending(self, chars: str) -> bool:
        """Whether the current partial line contains any of ``chars``."""
        parts = self._parts
        if not parts:
            return False
        if len(parts) > 1:
            parts[:] = ["".join(parts)]
        line = parts[0]
        return any(c in line for c in chars)

    def skip(self, delta: str, offset: int) -> None:
        """Like :meth:`feed` (``delta`` has a ``\\n``), for a caller that needs no lines."""
        nl = delta.rfind("\n")
        parts = self._parts
        parts.clear()
        if nl + 1 < len(delta):
            parts.append(delta[nl + 1 :])
        self._start = offset + nl + 1

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

    def inline(self, delta: str) -> bool:
        """Account for ``delta``, which has no ``\\n``; whether it is code (what
        :meth:`feed` tells for it, without building the list)."""
        head = self._head
        if len(head) < self._HEAD:
            self._head = head + delta[: self._HEAD - len(head)] if head else delta[: self._HEAD]
        return self._code

    def feed(self, delta: str, offset: int) -> list[tuple[str, int, bool]]:
        """``(piece, offset, is_code)`` pieces covering ``delta`` in order."""
        head = self._head
        head_room = self._HEAD - len(head)
        if "\n" not in delta:
            if head_room > 0 and delta:
                self._head = head + delta[:head_room] if head else delta[:head_room]
            return [(delta, offset, self._code)] if delta else []
        if "`" not in delta and "~" not in delta and "`" not in head and "~" not in head:
            # No line completed here can be a fence: the state stays as it is.
            nl = delta.rfind("\n")
            self._head = delta[nl + 1 : nl + 1 + self._HEAD]
            self._line_start = offset + nl + 1
            return [(delta, offset, self._code)]
        out: list[tuple[str, int, bool]] = []
        fence = self._fence
        code = self._code
        seg = 0
        pos = 0
        while True:
            nl = delta.find("\n", pos)
            if nl < 0:
                break
            head = self._head
            stop = min(nl, pos + self._HEAD - len(head)) if len(head) < self._HEAD else pos
            # (a line with no backtick or tilde in its head changes nothing outside a fence)
            if (
                fence.char
                or "`" in head
                or "~" in head
                or delta.find("`", pos, stop) >= 0
                or delta.find("~", pos, stop) >= 0
            ):
                fence.line(head + delta[pos:stop], self._line_start)
            self._head = ""
            self._line_start = offset + nl + 1
            pos = nl + 1
            now_code = bool(fence.char)
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
        parts = self._parts
        if not parts:
            self._start = at
        room = self._CAP - self._len
        if room >= len(text):
            parts.append(text)
            self._len += len(text)
        elif room > 0:
            parts.append(text[:room])
            self._len = self._CAP

    def _emit(self, out: list[tuple[str, int]]) -> None:
        if self._parts:
            out.append(("".join(self._parts), self._start))
            self._parts.clear()
            self._len = 0

    def inline(self, piece: str, offset: int) -> bool:
        """Account for ``piece`` if no unit can end in it (no boundary character, no sentence
        end pending); False, doing nothing, if one may."""
        if self._pending or "." in piece or "!" in piece or "?" in piece or "\n" in piece:
            return False
        self._add(piece, offset)
        return True

    def feed(self, piece: str, offset: int, out: list[tuple[str, int]]) -> None:
        """Append to ``out`` the units completed by ``piece`` (at ``offset``)."""
        if not piece:
            return
        if self._pending:
            self._pending = False
            if piece[0] in _INLINE_SPACE:
                self._emit(out)
        if "." not in piece and "\n" not in piece and "!" not in piece and "?" not in piece:
            self._add(piece, offset)  # no boundary: the unit goes on
            return
        parts = self._parts
        cap = self._CAP
        pos = 0
        n = len(piece)
        for m in _BOUNDARY.finditer(piece):
            first, end = m.span()
            if piece[first] == "\n":
                cut = first  # a line ends
            elif end == n:
                self._pending = True  # a sentence ends if a space follows
                continue
            elif piece[end] in _INLINE_SPACE:
                cut = end  # a sentence ends
            else:
                continue
            if parts:  # the unit began in an earlier piece
                self._add(piece[pos:cut], offset + pos)
                self._emit(out)
            elif cut > pos:
                out.append(
                    (piece[pos:cut] if cut - pos <= cap else piece[pos : pos + cap], offset + pos)
                )
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
