"""JSON healing: turn what a model wrote into the JSON it meant, and say what was changed.

:func:`heal` first tries a strict decode (msgspec); text that decodes is returned untouched with
no corrections, so valid JSON can never be damaged. Anything else goes through one
left-to-right pass of a state machine (:class:`_Pass`) that copies the text to its output,
repairing as it goes, with an explicit stack instead of recursion (nesting depth is bounded only
by memory). The pass is linear in the length of the text; see :func:`heal` for the rules.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from typing import Any, Final, Literal

import msgspec

from l0._structured._errors import InvalidJSON
from l0._structured._lexical import (
    CONTROL_ESCAPES,
    DQ_RUN,
    HEX,
    JS_LITERALS,
    LITERAL_PREFIXES,
    LITERAL_WORDS,
    WORD_RUN,
    WS_RUN,
    run_end,
    scan_number,
)
from l0._structured._locate import candidates, fenced_block, skip_blank

__all__ = ["Correction", "CorrectionKind", "Healed", "heal", "parse"]

CorrectionKind = Literal[
    "strip_fence",
    "strip_prose",
    "remove_comment",
    "remove_whitespace",
    "remove_trailing_comma",
    "remove_comma",
    "remove_bracket",
    "insert_comma",
    "insert_colon",
    "single_quotes",
    "quote_key",
    "escape_quote",
    "fix_escape",
    "escape_control",
    "close_string",
    "close_bracket",
    "python_literal",
    "js_literal",
    "complete_literal",
    "fix_number",
    "drop_incomplete",
]
"""What a :class:`Correction` did. See :func:`heal` for each kind."""


class Correction(msgspec.Struct, frozen=True, kw_only=True):
    """One repair made by :func:`heal`: its ``kind`` and the ``position`` (an index into the
    original text) where it applies."""

    kind: CorrectionKind
    position: int


class Healed(msgspec.Struct, frozen=True, kw_only=True):
    """The result of :func:`heal`: the healed JSON ``text`` and the ``corrections`` made."""

    text: str
    corrections: tuple[Correction, ...] = ()

    @property
    def changed(self) -> bool:
        """True when the text had to be corrected (valid JSON comes back with False)."""
        return bool(self.corrections)


_DECODE_ERRORS: Final = (ValueError, RecursionError)
"""What a strict decode raises: msgspec.DecodeError and UnicodeEncodeError (lone surrogates)
are ValueErrors; msgspec raises RecursionError past ~1000 levels of nesting."""

_SQ_RUN: Final = re.compile(r"[^'\"\\\x00-\x1f]*")
_SCALAR_START: Final = frozenset('"-0123456789')
_MAX_ATTEMPTS: Final = 8
"""Failed start positions tolerated when prose comes before the value."""

# parser states
_VALUE, _KEY, _COLON, _AFTER, _END = range(5)
_OBJ, _ARR = 0, 1
_CLOSERS: Final = ("}", "]")


class _Failure(Exception):
    """A healing pass gave up at ``position``."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(message)
        self.message = message
        self.position = position


def heal(text: str) -> Healed:
    """Heal ``text`` into JSON, reporting every correction made.

    Valid JSON comes back exactly as given, with no corrections. Otherwise, in one pass:

    * ``strip_fence``: a fenced Markdown code block whose content starts with ``{``
      or ``[`` is preferred to the text around it. ``strip_prose``: text before and after the
      value is dropped. A text that starts with ``{`` or ``[`` (after whitespace and comments)
      starts with its value. Otherwise each later ``{`` or ``[`` that looks like the start of
      a value (judging by what follows it: a key, a string, a bracket, a number, a literal)
      is tried in turn, and the longest value that heals wins (so ``See [1]: {...}`` gives
      the object); after eight failures the search stops. A text that starts with ``"``, a
      digit or ``-`` is a candidate at its start too (``"a [b] c`` heals to ``"a [b] c"``);
      one that starts otherwise is tried as a bare scalar when nothing else heals
      (``'abc`` heals to ``"abc"``, ``tr`` to ``true``).
    * Outside strings only: ``remove_comment`` (``//``, ``/* */``, ``#``),
      ``remove_trailing_comma`` (before a closer or at the end), ``remove_comma`` (a stray or
      doubled one), ``remove_whitespace`` (non-JSON whitespace such as U+00A0),
      ``remove_bracket`` (a closer that matches nothing open), ``insert_comma`` and
      ``insert_colon`` where one is missing between members.
    * ``single_quotes``: ``'x'`` becomes ``"x"`` (inner ``"`` escaped); ``quote_key``: bare
      object keys are quoted; ``escape_quote``: inside an object or array, a quote followed by
      a letter is taken as part of the string (``"the "best" one"``), an apostrophe
      likewise (``'it's'``); ``fix_escape``: an invalid escape keeps its backslash as a
      character; ``escape_control``: raw control characters in strings are escaped.
    * ``python_literal``: ``True``/``False``/``None``; ``js_literal``: ``undefined``, ``NaN``,
      ``Infinity`` become ``null``; ``fix_number``: ``+1``, ``01``, ``.5``, ``5.``.
    * Truncation, at the end of the text: ``close_string`` closes an open string (an
      unfinished escape is dropped); ``complete_literal`` finishes ``tr`` as ``true``;
      ``fix_number`` trims ``1.`` or ``1e`` to ``1``; ``drop_incomplete`` drops a member that
      has no value yet (``"key"``, ``"key":``, ``"ke``, a lone ``-``) together with its
      comma, rather than inventing a ``null``; a trailing comma is removed; and
      ``close_bracket`` closes the open arrays and objects, innermost first. A closer that
      skips open containers (``{"a": [1}``) closes them as well.

    Raises:
        InvalidJSON: no JSON value could be recovered (position and preview attached).
    """
    try:
        msgspec.json.decode(text)
    except _DECODE_ERRORS:
        pass
    else:
        return Healed(text=text)
    out, corrections = _heal_slow(text)
    return Healed(text=out, corrections=tuple(corrections))


def parse(text: str) -> Any:
    """Heal ``text`` (see :func:`heal`) and decode it: the Python value it holds.

    Raises:
        InvalidJSON: the text cannot be healed, or the healed JSON cannot be decoded by msgspec
            (nesting deeper than about 1000 levels, a number beyond the float range).
    """
    try:
        return msgspec.json.decode(text)
    except _DECODE_ERRORS:
        pass
    healed, _ = _heal_slow(text)
    try:
        return msgspec.json.decode(healed)
    except _DECODE_ERRORS as exc:
        raise InvalidJSON(f"healed JSON does not decode: {exc}", text=healed) from exc


def _heal_slow(text: str) -> tuple[str, list[Correction]]:
    """Find the value (see :func:`heal`) and repair it."""
    lo, hi = 0, len(text)
    outside: list[Correction] = []
    fence = fenced_block(text)
    if fence is not None:
        fence_at, lo, hi = fence
        outside.append(Correction(kind="strip_fence", position=fence_at))
        if text[:fence_at].strip() or text[hi:].strip("`\n\r\t "):
            outside.append(Correction(kind="strip_prose", position=0))
    first = skip_blank(text, lo, hi)
    if first >= hi:
        raise InvalidJSON("no JSON value in the text", text=text, position=lo)
    failure: _Failure | None = None
    best: _Pass | None = None
    if text[first] in "{[":  # the text starts with the value: take it if it heals
        best = _Pass(text, hi)
        try:
            best.run(lo)
        except _Failure as exc:
            failure, best = exc, None
    if best is None:  # prose first: the longest value among the candidates
        failures = 0
        skip_until = 0
        starts: Iterator[int] = candidates(text, first + 1, hi)
        if text[first] in _SCALAR_START:  # "a [b] c"... is a string, not prose
            starts = itertools.chain((lo,), starts)
        for at in starts:
            if at < skip_until:
                continue  # inside a value found already
            attempt = _Pass(text, hi)
            try:
                attempt.run(at)
            except _Failure as exc:
                failure = failure or exc
                failures += 1
                if failures >= _MAX_ATTEMPTS:
                    break
                continue
            skip_until = attempt.end
            if best is None or attempt.end - at > best.end - best.start:
                best = attempt
    if best is None and text[first] not in _SCALAR_START and text[first] not in "{[":  # 'abc, tr
        best = _Pass(text, hi)
        try:
            best.run(lo)
        except _Failure as exc:
            failure, best = failure or exc, None
    if best is None:
        assert failure is not None
        raise InvalidJSON(
            f"cannot heal into JSON: {failure.message} at {failure.position}",
            text=text,
            position=failure.position,
        )
    corrections = best.corrections
    if text[lo : best.start].strip(" \t\n\r"):
        corrections.insert(0, Correction(kind="strip_prose", position=lo))
    return "".join(best.out), outside + corrections


class _Pass:
    """One healing pass over ``text[start:hi]``: copies it to ``out``, repairing as it goes."""

    def __init__(self, text: str, hi: int) -> None:
        self.text = text
        self.hi = hi
        self.out: list[str] = []
        self.corrections: list[Correction] = []
        self.start = 0
        self.end = hi  # where the value (and what the pass removed after it) ends

    def fix(self, kind: CorrectionKind, position: int) -> None:
        self.corrections.append(Correction(kind=kind, position=position))

    def run(self, start: int) -> None:
        """Heal the value starting at ``start`` into ``out``; raises ``_Failure``."""
        self.start = start
        text, hi, out, fix = self.text, self.hi, self.out, self.fix
        stack: list[int] = []  # _OBJ / _ARR, innermost last
        n_open = [0, 0]
        state = _VALUE
        after_colon = False  # in _VALUE: the value of an object member
        comma_at = -1  # out index of the comma before the current member, or -1
        mark = 0  # out index where the current member starts (for dropping it)
        i = start
        while True:
            j = run_end(WS_RUN, text, i, hi)
            if j > i:
                if stack:
                    out.append(text[i:j])
                i = j
            if i >= hi:
                break
            c = text[i]
            if c == "#" or (c == "/" and i + 1 < hi and text[i + 1] in "/*"):
                fix("remove_comment", i)
                if c == "/" and text[i + 1] == "*":
                    j = text.find("*/", i + 2, hi)
                    i = hi if j == -1 else j + 2
                else:
                    j = text.find("\n", i, hi)
                    i = hi if j == -1 else j
                continue
            if c.isspace():
                fix("remove_whitespace", i)
                i += 1
                continue
            if state == _END:
                fix("strip_prose", i)
                self.end = i
                break
            in_obj = bool(stack) and stack[-1] == _OBJ

            # a missing comma or colon, or the end of the value and prose after it
            if state == _AFTER and c not in ",}]":
                if in_obj:
                    missing_comma = c in "\"'" or self._is_key_word(i)
                else:
                    missing_comma = c in "\"'{[" or self._is_scalar_word(i)
                if not missing_comma:
                    fix("strip_prose", i)
                    self.end = i
                    break
                fix("insert_comma", i)
                comma_at = mark = len(out)
                if out[-1].isspace():  # keep the comma next to the value: "1, 2", not "1 ,2"
                    comma_at = mark = comma_at - 1
                    out.insert(comma_at, ",")
                else:
                    out.append(",")
                state = _KEY if in_obj else _VALUE
            elif state == _COLON and c not in ":}],":
                fix("insert_colon", i)
                if out[-1].isspace():
                    out.insert(len(out) - 1, ":")
                else:
                    out.append(":")
                state = _VALUE
                after_colon = True

            if c in "}]":
                kind = _OBJ if c == "}" else _ARR
                if not stack:
                    raise _Failure(f"unexpected {c!r}", i)
                if n_open[kind] == 0:
                    fix("remove_bracket", i)
                    i += 1
                    continue
                if stack[-1] == kind and state == _COLON:
                    raise _Failure("object key without a value", i)
                while True:
                    top = stack[-1]
                    if top != kind:
                        fix("close_bracket", i)
                    self._finish_member(state, after_colon, comma_at, mark, i)
                    out.append(_CLOSERS[top])
                    stack.pop()
                    n_open[top] -= 1
                    state, after_colon, comma_at = _AFTER, False, -1
                    if top == kind:
                        break
                if not stack:
                    state = _END
                i += 1
                continue

            if c == ",":
                if state == _AFTER:
                    comma_at = len(out)
                    mark = comma_at
                    out.append(",")
                    state = _KEY if in_obj else _VALUE
                elif state in {_KEY, _VALUE} and stack and not after_colon:
                    fix("remove_comma", i)
                else:
                    raise _Failure("unexpected ','", i)
                i += 1
                continue

            if c == ":":
                if state != _COLON:
                    raise _Failure("unexpected ':'", i)
                out.append(":")
                state = _VALUE
                after_colon = True
                i += 1
                continue

            # a key or a value starts here
            if comma_at == -1 and not after_colon:
                mark = len(out)
            comma_at = -1
            if state == _KEY:
                if c in "\"'":
                    i, closed = self._string(i, in_container=True)
                    if not closed:
                        state = _COLON
                        break
                else:
                    j = run_end(WORD_RUN, text, i, hi)
                    if j == i:
                        raise _Failure(f"unexpected {c!r} where a key belongs", i)
                    if j >= hi:
                        i = hi
                        state = _COLON
                        break
                    fix("quote_key", i)
                    out.append(msgspec.json.encode(text[i:j]).decode())
                    i = j
                state = _COLON
                continue

            # state == _VALUE
            after_colon = False
            if c in "{[":
                kind = _OBJ if c == "{" else _ARR
                stack.append(kind)
                n_open[kind] += 1
                out.append(c)
                state = _KEY if kind == _OBJ else _VALUE
                i += 1
                continue
            if c in "\"'":
                i, closed = self._string(i, in_container=bool(stack))
                if not closed:
                    fix("close_string", hi)
                    out.append('"')
            else:
                i = self._word(i, mark if stack else -1)
            state = _AFTER if stack else _END

        # the end of the text (or of the value, or prose after it)
        if state == _VALUE and not stack and not after_colon:
            raise _Failure("no value", i)
        while stack:
            top = stack.pop()
            self._finish_member(state, after_colon, comma_at, mark, hi)
            fix("close_bracket", hi)
            out.append(_CLOSERS[top])
            state, after_colon, comma_at = _AFTER, False, -1

    def _finish_member(
        self, state: int, after_colon: bool, comma_at: int, mark: int, at: int
    ) -> None:
        """Before closing a container: drop a dangling comma or member."""
        if state == _COLON or (state == _VALUE and after_colon):
            self.fix("drop_incomplete", at)
            del self.out[mark:]
        elif comma_at != -1:
            self.fix("remove_trailing_comma", at)
            self.out[comma_at] = ""

    def _is_scalar_word(self, i: int) -> bool:
        """Whether a number or literal (a missing comma before it) starts at ``i``."""
        text, hi = self.text, self.hi
        j = run_end(WORD_RUN, text, i, hi)
        word = text[i:j]
        return bool(word) and (
            word in LITERAL_WORDS
            or word in JS_LITERALS
            or (j >= hi and word in LITERAL_PREFIXES)
            or scan_number(word, truncated=j >= hi) is not None
        )

    def _is_key_word(self, i: int) -> bool:
        """Whether a bare key followed by ``:`` starts at ``i``."""
        text, hi = self.text, self.hi
        j = run_end(WORD_RUN, text, i, hi)
        k = run_end(WS_RUN, text, j, hi)
        return j > i and k < hi and text[k] == ":"

    def _word(self, i: int, mark: int) -> int:
        """A bare value (number or literal) at ``i``; returns the index after it.

        ``mark`` is where the member started in ``out`` (-1 at the top level): a lone sign or
        dot at the end of the text is dropped from there.
        """
        text, hi, out = self.text, self.hi, self.out
        j = run_end(WORD_RUN, text, i, hi)
        word = text[i:j]
        truncated = j >= hi
        if word in {"true", "false", "null"}:
            out.append(word)
        elif word in {"True", "False", "None"}:
            self.fix("python_literal", i)
            out.append(LITERAL_PREFIXES[word])
        elif word in JS_LITERALS:
            self.fix("js_literal", i)
            out.append("null")
        elif truncated and word in LITERAL_PREFIXES:
            self.fix("complete_literal", i)
            out.append(LITERAL_PREFIXES[word])
        else:
            number = scan_number(word, truncated=truncated) if word else None
            if number is not None:
                if number != word:
                    self.fix("fix_number", i)
                out.append(number)
            elif truncated and word and word in "+-." and mark >= 0:
                self.fix("drop_incomplete", i)
                del out[mark:]
            elif not word:
                raise _Failure(f"unexpected {text[i]!r}", i)
            else:
                raise _Failure(f"not a JSON value: {word[:20]!r}", i)
        return j

    def _string(self, i: int, *, in_container: bool) -> tuple[int, bool]:
        """Copy the string opening at ``i`` as a double-quoted JSON string.

        Returns the index after it and whether it was closed (False: the text ended inside).
        """
        text, hi, out = self.text, self.hi, self.out
        quote = text[i]
        if quote == "'":
            self.fix("single_quotes", i)
        run = DQ_RUN if quote == '"' else _SQ_RUN
        out.append('"')
        i += 1
        while True:
            j = run_end(run, text, i, hi)
            if j > i:
                out.append(text[i:j])
                i = j
            if i >= hi:
                return i, False
            c = text[i]
            if c == quote:
                if in_container and self._quote_is_inner(i + 1):
                    self.fix("escape_quote", i)
                    out.append('\\"' if quote == '"' else "'")
                    i += 1
                    continue
                out.append('"')
                return i + 1, True
            if c == '"':  # in a single-quoted string
                out.append('\\"')
                i += 1
            elif c == "\\":
                i = self._escape(i, quote)
                if i >= hi:
                    return hi, False
            else:
                self.fix("escape_control", i)
                out.append(CONTROL_ESCAPES[c])
                i += 1

    def _quote_is_inner(self, k: int) -> bool:
        """A quote followed by a letter is part of the string, not its end."""
        k = run_end(WS_RUN, self.text, k, self.hi)
        return k < self.hi and self.text[k].isalpha()

    def _escape(self, i: int, quote: str) -> int:
        """Copy the escape at ``i`` (a backslash); returns the index after it, or ``hi`` when
        the text ends inside it (the unfinished escape is dropped)."""
        text, hi, out = self.text, self.hi, self.out
        if i + 1 >= hi:
            return hi
        e = text[i + 1]
        if e in '"\\/bfnrt':
            out.append(text[i : i + 2])
            return i + 2
        if e == "u":
            digits = text[i + 2 : min(i + 6, hi)]
            if all(h in HEX for h in digits):
                if len(digits) == 4:
                    out.append(text[i : i + 6])
                    return i + 6
                return hi  # truncated inside \uXXXX
        elif e == "'":
            if quote == '"':
                self.fix("fix_escape", i)
            out.append("'")
            return i + 2
        self.fix("fix_escape", i)
        out.append("\\\\")
        return i + 1
