"""Incremental JSON parsing for streams: partial values and field events while tokens arrive.

:class:`PartialJSON` is a push parser. Each :meth:`~PartialJSON.feed` continues from where the
previous one stopped (its state is a handful of variables plus the stack of open containers),
so the total work is linear in the length of the stream, whatever the chunking; a parser that
re-parses the growing buffer on every token (jiter's partial mode, or healing the buffer each
time) does quadratic work. ``bench/json_partial.py`` measures both.
"""

from __future__ import annotations

import re
from typing import Any, Final, NoReturn

import msgspec

from l0._errors import ConfigError, StreamClosed
from l0._structured._errors import InvalidJSON
from l0._structured._lexical import LITERAL_PREFIXES, WS, WS_RUN, scan_number

__all__ = ["Done", "FieldComplete", "PartialEvent", "PartialJSON"]


class PartialEvent(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    """Base of the events :meth:`PartialJSON.feed` returns."""


class FieldComplete(PartialEvent, frozen=True, kw_only=True, tag="field_complete"):
    """A value inside the document is complete: a string, number or literal, or an object or
    array after its closing bracket (after the events of its own fields).

    ``path`` leads from the top-level value to it: object keys and array indexes, e.g.
    ``("items", 0, "name")``.
    """

    path: tuple[str | int, ...]
    value: Any


class Done(PartialEvent, frozen=True, kw_only=True, tag="done"):
    """The top-level value is complete; the parser ignores whatever follows it."""

    value: Any


_STR_RUN: Final = re.compile(r'[^"\\]*')
_NUM_RUN: Final = re.compile(r"[0-9eE.+\-]*")
_WORD_RUN: Final = re.compile(r"[A-Za-z]*")
_PROSE_RUN: Final = re.compile(r"[^{\[]*")
_ESCAPES: Final = {
    '"': '"',
    "\\": "\\",
    "/": "/",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "'": "'",
}
_LITERALS: Final[dict[str, Any]] = {
    "true": True,
    "false": False,
    "null": None,
    "True": True,
    "False": False,
    "None": None,
}
_NUMBER_START: Final = frozenset("-0123456789")
_VALUE_START: Final = frozenset('{["-0123456789tfnTFN')

# states; the first five skip whitespace
_VALUE = 0  # a value is expected (top level, array element, member value)
_KEY = 1  # a key or "}" is expected
_COLON = 2
_AFTER = 3  # "," or a closer is expected
_ROOT = 4  # before the value: whitespace, a Markdown fence line, prose
_PROSE = 5  # skipping prose up to the first { or [
_FENCE = 6  # skipping the rest of a ``` line
_STRING = 7
_ESCAPE = 8
_UNICODE = 9
_NUMBER = 10
_LITERAL = 11
_SLASH = 12  # "/" seen: a comment starts
_LINE_COMMENT = 13
_BLOCK_COMMENT = 14
_BLOCK_STAR = 15  # "*" seen inside a block comment
_DONE = 16

_STRING_STATES: Final = frozenset({_STRING, _ESCAPE, _UNICODE})


class PartialJSON:
    """Parse a JSON document that arrives in pieces.

    Feed it the deltas of a stream; it returns the events that each delta completes and keeps
    :attr:`value`, the best value so far, up to date::

        parser = PartialJSON()
        for delta in deltas:
            for event in parser.feed(delta):
                ...  # FieldComplete(path=("items", 0, "name"), value="...") ... Done(value)
        parser.close()

    Rules:

    * Input is JSON, with some leniency: ``//`` and ``/* */`` comments, trailing commas,
      Python's ``True``/``False``/``None``, raw control characters in strings and an unknown
      escape (``\\'`` is ``'``; ``\\x`` stays ``\\x``) are accepted. Whitespace, a Markdown
      fence line (three backticks) and, when the text does not start with a value, prose up
      to the first ``{`` or ``[`` are skipped (a bracket in that prose is taken for the
      value; a leading number or literal is the value); anything after the top-level value
      is ignored.
      Any other deviation raises :class:`~l0._structured._errors.InvalidJSON` (heal the full
      text with :func:`~l0._structured._heal.heal` instead).
    * :attr:`value` holds open objects and arrays with the members complete so far; a number
      or literal appears once it is complete (a number is complete at the character after it,
      or at :meth:`close`), a key and its member once the key is complete and its value has
      started. An unfinished string value is included as received so far when
      ``partial_strings`` is true (the default), else left out until it is complete.
    * The objects in :attr:`value` are the parser's own and change as input arrives (the
      completed ones, which :class:`FieldComplete` carries, no longer change). Copy what you
      keep.
    * Events are the same, in the same order, however the document is split into deltas.

    Cost: linear in the input. Each event's ``path`` is a new tuple as long as the nesting
    depth, which ``max_depth`` bounds (deeper input raises ``InvalidJSON``). Reading
    :attr:`value` while a string is open joins that string so far.
    """

    def __init__(self, *, partial_strings: bool = True, max_depth: int = 1000) -> None:
        if isinstance(max_depth, bool) or not isinstance(max_depth, int) or max_depth < 1:  # pyright: ignore[reportUnnecessaryIsInstance]
            raise ConfigError(f"PartialJSON max_depth must be an int >= 1, got {max_depth!r}")
        self._partial_strings = partial_strings
        self._max_depth = max_depth
        self._state = _ROOT
        self._stack: list[dict[str, Any] | list[Any]] = []
        self._paths: list[tuple[str | int, ...]] = []
        self._key = ""
        self._buf: list[str] = []  # pieces of the current string, number or literal
        self._is_key = False  # the current string is an object key
        self._hex = ""  # digits of the current \\u escape
        self._high = -1  # len(_buf) right after a \\u high surrogate was appended
        self._placeholder = False  # an unfinished string was appended to the array on top
        self._comment_return = _ROOT
        self._root: Any = None
        self._offset = 0  # characters fed before the current delta
        self._events: list[PartialEvent] = []
        self._error: InvalidJSON | None = None
        self._closed = False

    @property
    def done(self) -> bool:
        """True once the top-level value is complete."""
        return self._state == _DONE

    @property
    def consumed(self) -> int:
        """How many characters have been fed."""
        return self._offset

    @property
    def value(self) -> Any:
        """The best value so far (None before a value has started); see the class notes."""
        if self._partial_strings and self._state in _STRING_STATES and not self._is_key:
            high_last = self._high == len(self._buf)
            text = "".join(self._buf)
            self._buf[:] = [text] if text else []
            self._high = len(self._buf) if high_last else -1
            if not self._stack:
                return text
            parent = self._stack[-1]
            if isinstance(parent, dict):
                parent[self._key] = text
            elif self._placeholder:
                parent[-1] = text
            else:
                parent.append(text)
                self._placeholder = True
        return self._root

    def close(self) -> list[PartialEvent]:
        """End of input: completes a top-level number or literal; returns the last events.

        The document may still be incomplete (see :attr:`done`); :attr:`value` stays readable.
        Feeding after :meth:`close` raises ``StreamClosed``.
        """
        if self._closed:
            return []
        self._closed = True
        events: list[PartialEvent] = []
        if self._error is None and not self._stack and self._state in {_NUMBER, _LITERAL}:
            self._events = events
            try:
                self._state = self._end_scalar(0, literal=self._state == _LITERAL)
            except InvalidJSON as exc:
                self._error = exc
                raise
        return events

    def feed(self, delta: str) -> list[PartialEvent]:
        """Parse the next piece of the document; returns the events it completes, in order.

        Raises:
            InvalidJSON: the input is not JSON (every later call raises it again; the events
                this delta completed before the error are not returned, :attr:`value` still
                holds what was parsed).
            StreamClosed: :meth:`close` was called.
        """
        if self._closed:
            raise StreamClosed("PartialJSON.feed() after close()")
        if self._error is not None:
            raise self._error
        events: list[PartialEvent] = []
        self._events = events
        try:
            self._run(delta)
        except InvalidJSON as exc:
            self._error = exc
            raise
        self._offset += len(delta)
        return events

    # ------------------------------------------------------------------ the state machine

    def _run(self, s: str) -> None:
        n = len(s)
        i = 0
        state = self._state
        buf = self._buf
        while i < n:
            if state == _STRING:
                j = m.end() if (m := _STR_RUN.match(s, i)) else i
                if j > i:
                    buf.append(s[i:j])
                    i = j
                    if i >= n:
                        break
                if s[i] == '"':
                    i += 1
                    text = "".join(buf)
                    buf.clear()
                    self._high = -1
                    if self._is_key:
                        self._key = text
                        state = _COLON
                    else:
                        state = self._add(text)
                else:  # backslash
                    i += 1
                    state = _ESCAPE
                continue

            c = s[i]
            if c in WS and state <= _ROOT:
                i = m.end() if (m := WS_RUN.match(s, i)) else i
                continue

            if state == _AFTER:
                if c == ",":
                    state = _KEY if isinstance(self._stack[-1], dict) else _VALUE
                    i += 1
                elif c == "}" or c == "]":  # noqa: PLR1714
                    state = self._close(c, i)
                    i += 1
                elif c == "/":
                    self._comment_return = state
                    state = _SLASH
                    i += 1
                else:
                    self._fail(f"expected ',' or a closing bracket, got {c!r}", i)
            elif state == _KEY:
                if c == '"':
                    self._is_key = True
                    state = _STRING
                    i += 1
                elif c == "}":
                    state = self._close(c, i)
                    i += 1
                elif c == "/":
                    self._comment_return = state
                    state = _SLASH
                    i += 1
                else:
                    self._fail(f"expected a key, got {c!r}", i)
            elif state == _COLON:
                if c == ":":
                    state = _VALUE
                    i += 1
                elif c == "/":
                    self._comment_return = state
                    state = _SLASH
                    i += 1
                else:
                    self._fail(f"expected ':', got {c!r}", i)
            elif state == _VALUE:
                if c == '"':
                    self._is_key = False
                    state = _STRING
                    i += 1
                elif c == "{" or c == "[":  # noqa: PLR1714
                    self._open(c, i)
                    state = _KEY if c == "{" else _VALUE
                    i += 1
                elif c in _NUMBER_START:
                    state = _NUMBER
                elif c in "tfnTFN":
                    state = _LITERAL
                elif c == "]" and self._stack and isinstance(self._stack[-1], list):
                    state = self._close(c, i)  # empty array, or a trailing comma
                    i += 1
                elif c == "/":
                    self._comment_return = state
                    state = _SLASH
                    i += 1
                else:
                    self._fail(f"expected a value, got {c!r}", i)
            elif state == _NUMBER:
                j = m.end() if (m := _NUM_RUN.match(s, i)) else i
                if j > i:
                    buf.append(s[i:j])
                    i = j
                if i < n:
                    state = self._end_scalar(i, literal=False)
            elif state == _LITERAL:
                j = m.end() if (m := _WORD_RUN.match(s, i)) else i
                if j > i:
                    buf.append(s[i:j])
                    i = j
                    word = "".join(buf)
                    if word not in LITERAL_PREFIXES:
                        if not self._stack:
                            buf.clear()
                            state = _PROSE  # "The answer is {...}"
                            continue
                        self._fail(f"not a JSON literal: {word[:20]!r}", i)
                if i < n:
                    state = self._end_scalar(i, literal=True)
            elif state == _ESCAPE:
                if c == "u":
                    self._hex = ""
                    state = _UNICODE
                else:
                    esc = _ESCAPES.get(c)
                    buf.append("\\" + c if esc is None else esc)
                    state = _STRING
                i += 1
            elif state == _UNICODE:
                j = min(n, i + 4 - len(self._hex))
                digits = s[i:j]
                if not all(h in "0123456789abcdefABCDEF" for h in digits):
                    self._fail("invalid \\u escape", i)
                i = j
                self._hex += digits
                if len(self._hex) == 4:
                    self._unicode(int(self._hex, 16))
                    state = _STRING
            elif state == _ROOT:
                if c in _VALUE_START:
                    state = _VALUE
                elif c == "`":
                    state = _FENCE
                elif c == "/":
                    self._comment_return = state
                    state = _SLASH
                    i += 1
                elif c == "\ufeff":
                    i += 1
                else:
                    state = _PROSE
            elif state == _PROSE:
                i = m.end() if (m := _PROSE_RUN.match(s, i)) else i
                if i < n:
                    state = _VALUE
            elif state == _FENCE:
                j = s.find("\n", i)
                if j == -1:
                    i = n
                else:
                    i = j + 1
                    state = _ROOT
            elif state == _SLASH:
                if c == "/":
                    state = _LINE_COMMENT
                elif c == "*":
                    state = _BLOCK_COMMENT
                elif self._comment_return == _ROOT:
                    state = _PROSE
                    continue
                else:
                    self._fail("unexpected '/'", i - 1)
                i += 1
            elif state == _LINE_COMMENT:
                j = s.find("\n", i)
                if j == -1:
                    i = n
                else:
                    i = j + 1
                    state = self._comment_return
            elif state == _BLOCK_COMMENT:
                j = s.find("*", i)
                if j == -1:
                    i = n
                else:
                    i = j + 1
                    state = _BLOCK_STAR
            elif state == _BLOCK_STAR:
                if c == "/":
                    state = self._comment_return
                elif c != "*":
                    state = _BLOCK_COMMENT
                i += 1
            else:  # _DONE: ignore the rest
                i = n
        self._state = state

    def _fail(self, message: str, i: int) -> NoReturn:
        position = self._offset + i
        raise InvalidJSON(f"{message} at {position}", position=position)

    def _unicode(self, code: int) -> None:
        buf = self._buf
        if 0xDC00 <= code <= 0xDFFF and self._high == len(buf) and buf:
            last = buf[-1]
            high = ord(last[-1])
            buf[-1] = last[:-1] + chr(0x10000 + ((high - 0xD800) << 10) + (code - 0xDC00))
            self._high = -1
            return
        buf.append(chr(code))
        self._high = len(buf) if 0xD800 <= code <= 0xDBFF else -1

    def _end_scalar(self, i: int, *, literal: bool) -> int:
        """Complete the number or literal in ``_buf``; returns the next state."""
        word = "".join(self._buf)
        self._buf.clear()
        if literal:
            if word not in _LITERALS:
                if not self._stack:
                    return _PROSE
                self._fail(f"not a JSON literal: {word[:20]!r}", i)
            return self._add(_LITERALS[word])
        if scan_number(word, truncated=False) != word:
            self._fail(f"not a JSON number: {word[:20]!r}", i)
        try:
            value = float(word) if any(c in word for c in ".eE") else int(word)
        except ValueError:  # more digits than int() converts
            self._fail(f"number too long: {word[:20]!r}...", i)
        return self._add(value)

    def _add(self, value: Any) -> int:
        """Store a completed scalar; returns the next state."""
        stack = self._stack
        if not stack:
            self._root = value
            self._events.append(Done(value=value))
            return _DONE
        parent = stack[-1]
        if isinstance(parent, dict):
            key = self._key
            parent[key] = value
            self._events.append(FieldComplete(path=(*self._paths[-1], key), value=value))
        else:
            if self._placeholder:
                parent[-1] = value
                self._placeholder = False
            else:
                parent.append(value)
            self._events.append(
                FieldComplete(path=(*self._paths[-1], len(parent) - 1), value=value)
            )
        return _AFTER

    def _open(self, c: str, i: int) -> None:
        stack = self._stack
        if len(stack) >= self._max_depth:
            self._fail(f"nested deeper than {self._max_depth}", i)
        child: dict[str, Any] | list[Any] = {} if c == "{" else []
        if not stack:
            self._root = child
            path: tuple[str | int, ...] = ()
        else:
            parent = stack[-1]
            if isinstance(parent, dict):
                parent[self._key] = child
                path = (*self._paths[-1], self._key)
            else:
                parent.append(child)
                path = (*self._paths[-1], len(parent) - 1)
        stack.append(child)
        self._paths.append(path)

    def _close(self, c: str, i: int) -> int:
        """Close the container on top with ``c``; returns the next state."""
        stack = self._stack
        if not stack or isinstance(stack[-1], dict) != (c == "}"):
            self._fail(f"unexpected {c!r}", i)
        child = stack.pop()
        path = self._paths.pop()
        if not stack:
            self._events.append(Done(value=child))
            return _DONE
        self._events.append(FieldComplete(path=path, value=child))
        return _AFTER
