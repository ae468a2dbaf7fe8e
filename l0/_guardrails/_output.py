"""Rules about the output as a whole: ``zero_output``, ``stall`` and ``repetition``."""

from __future__ import annotations

import re
from collections import deque

from l0._errors import ConfigError
from l0._guardrails._rule import Checker, Rule, Severity, check_count, check_severity
from l0._guardrails._text import CodeSplitter, UnitSplitter, normalize

__all__ = ["repetition_rule", "stall_rule", "zero_output_rule"]

_ALNUM = re.compile(r"[^\W_]")
_NON_SPACE = re.compile(r"\S")
_LONG_RUN = re.compile(r"(.)\1{15,}", re.DOTALL)
_WORD = re.compile(r"\w+")


def _recoverable(severity: Severity, recoverable: bool | None) -> bool:
    return severity != "fatal" if recoverable is None else recoverable


# --------------------------------------------------------------------------- zero output


class _ZeroOutputChecker(Checker):
    """Remembers whether any non-space, and any letter or digit, has been seen."""

    __slots__ = ("_content", "_visible")

    def __init__(self, rule: Rule) -> None:
        super().__init__(rule)
        self._visible = False
        self._content = False

    def _scan(self, delta: str, offset: int, final: bool) -> None:
        if self._content:
            return
        if not self._visible and _NON_SPACE.search(delta) is not None:
            self._visible = True
        if self._visible and _ALNUM.search(delta) is not None:
            self._content = True

    def _complete(self, full_text: str) -> None:
        if self._content:
            return
        if not full_text:
            self.report("empty", "the output is empty", 0)
        elif not self._visible:
            self.report("whitespace_only", "the output is only whitespace", 0)
        else:
            self.report(
                "noise_only",
                "the output has no letters or digits, only punctuation or symbols",
                0,
                metadata={"sample": full_text.strip()[:40]},
            )


def zero_output_rule(
    *, severity: Severity = "error", recoverable: bool | None = None, name: str = "zero_output"
) -> Rule:
    """At completion: the output is empty, only whitespace, or noise (no letter or digit).

    Tracked incrementally (a flag once a letter or digit was seen), so completion costs
    nothing more. Default severity ``error``: retry.
    """
    severity = check_severity("zero_output_rule severity", severity)
    return Rule(
        name=name,
        severity=severity,
        recoverable=_recoverable(severity, recoverable),
        description="the output is not empty, whitespace or noise",
        checks_streaming=False,
        factory=_ZeroOutputChecker,
    )


# --------------------------------------------------------------------------- stall


def _is_word_char(char: str) -> bool:
    return char.isalnum() or char == "_"  # exactly ``\\w`` for str patterns


class _StallChecker(Checker):
    """A run of one character, and word loops (runs of words periodic with a short period).

    ``_runs[p]`` counts the consecutive words equal to the word ``p`` before them; a loop of
    period ``p`` covers ``_runs[p] + p`` words. Words are ``\\w+`` runs of prose (outside
    fenced code), lowercased, at most 64 characters; a word cut by the end of a delta is
    carried until a non-word character completes it.
    """

    __slots__ = (
        "_carry",
        "_carry_start",
        "_char",
        "_char_limit",
        "_char_run",
        "_char_start",
        "_code",
        "_history",
        "_needed",
        "_runs",
    )

    def __init__(self, rule: Rule, max_char_run: int, needed: tuple[int, ...]) -> None:
        super().__init__(rule)
        self._char_limit = max_char_run
        self._char = ""
        self._char_run = 0
        self._char_start = 0
        self._code = CodeSplitter()
        self._carry = ""
        self._carry_start = -1
        self._needed = needed  # _needed[p]: matches needed for a loop of period p
        self._history: deque[str] = deque(maxlen=len(needed) - 1)
        self._runs = [0] * len(needed)

    def _scan(self, delta: str, offset: int, final: bool) -> None:
        if delta:
            self._character_runs(delta, offset)
            for piece, at, code in self._code.feed(delta, offset):
                if code:
                    self._end_word()
                    self._history.clear()
                    self._runs = [0] * len(self._runs)
                else:
                    self._prose(piece, at)
        if final:
            self._end_word()

    # --- word loops

    def _end_word(self) -> None:
        if self._carry_start >= 0:
            start = self._carry_start
            self._carry_start = -1
            self._loop([self._carry], "", 0, start)

    def _prose(self, piece: str, offset: int) -> None:
        words = _WORD.findall(piece)
        carried = self._carry_start
        if carried >= 0:
            if words and _is_word_char(piece[0]):
                words[0] = (self._carry + words[0])[:64]
            else:
                words.insert(0, self._carry)
            self._carry_start = -1
        if not words:
            return
        if _is_word_char(piece[-1]):
            last = words.pop()
            joined = not words and carried >= 0 and _is_word_char(piece[0])
            self._carry = last[:64]
            self._carry_start = carried if joined else offset + len(piece) - len(last)
        self._loop(words, piece, offset, carried)

    def _loop(self, words: list[str], piece: str, offset: int, carried: int) -> None:
        history = self._history
        runs = self._runs
        needed = self._needed
        for k, word in enumerate(words):
            w = word.lower()
            if w not in history:
                if any(runs):
                    runs[:] = [0] * len(runs)
                history.append(w)
                continue
            for p in range(1, len(history) + 1):
                if history[-p] == w:
                    runs[p] += 1
                    if runs[p] >= needed[p] and "word_loop" not in self._seen:
                        self._report_loop(p, _word_start(piece, offset, k, carried))
                else:
                    runs[p] = 0
            history.append(w)

    def _report_loop(self, period: int, position: int) -> None:
        self.report(
            "word_loop",
            f"stall: the output loops over the same {period} word(s)",
            position,
            key="word_loop",
            metadata={"period": period},
        )

    # --- character runs

    def _character_runs(self, delta: str, offset: int) -> None:
        limit = self._char_limit
        start = 0
        char = self._char
        if char and delta[0] == char:
            start = len(delta) - len(delta.lstrip(char))
            self._char_run += start
            if self._char_run >= limit:
                self._report_run(char, self._char_start)
            if start == len(delta):
                return
        for m in _LONG_RUN.finditer(delta, start):
            if m.end() - m.start() >= limit:
                self._report_run(m.group(1), offset + m.start())
        last = delta[-1]
        run = len(delta) - len(delta.rstrip(last))
        self._char, self._char_run = last, run
        self._char_start = offset + len(delta) - run

    def _report_run(self, char: str, start: int) -> None:
        self.report(
            "character_run",
            f"stall: {char!r} repeated {self._char_limit}+ times in a row",
            start,
            key="character_run",
            metadata={"character": char},
        )


def _word_start(piece: str, offset: int, k: int, carried: int) -> int:
    """Offset of the ``k``-th word completed in ``piece`` (the first may be a carried one)."""
    if carried >= 0:
        if k == 0:
            return carried
        if not (piece and _is_word_char(piece[0])):
            k -= 1
    for i, m in enumerate(_WORD.finditer(piece)):
        if i == k:
            return offset + m.start()
    return offset  # pragma: no cover - k always names a word of the piece


_MAX_PERIOD = 64


def stall_rule(
    *,
    max_char_run: int = 200,
    max_period: int = 8,
    min_repeats: int = 4,
    min_words: int = 16,
    severity: Severity = "error",
    recoverable: bool | None = None,
    name: str = "stall",
) -> Rule:
    """During streaming: the output stopped making progress.

    * ``character_run``: one character repeated ``max_char_run`` times in a row
      (``"aaaa…"``, ``"\\n\\n\\n…"``), anywhere, code included.
    * ``word_loop``: outside fenced code blocks, the same sequence of ``p <= max_period``
      words repeated back to back at least ``min_repeats`` times and over at least
      ``min_words`` words ("the the the …", "I will now I will now I will now …").
      Words are compared case-insensitively, punctuation ignored.

    Each kind is reported once per attempt. Memory: the last ``max_period`` words
    (``max_period`` is at most 64). Default
    severity ``error``: a looping model is retried.
    """
    check_count("stall_rule max_char_run", max_char_run, 16)
    check_count("stall_rule max_period", max_period, 1)
    if max_period > _MAX_PERIOD:
        # Its per-attempt tables grow with it: a huge value would hang here.
        raise ConfigError(f"stall_rule max_period must be <= {_MAX_PERIOD}, got {max_period!r}")
    check_count("stall_rule min_repeats", min_repeats, 2)
    check_count("stall_rule min_words", min_words, 2)
    severity = check_severity("stall_rule severity", severity)
    needed = (0, *(max(min_words, p * min_repeats) - p for p in range(1, max_period + 1)))

    def start(rule: Rule) -> _StallChecker:
        return _StallChecker(rule, max_char_run, needed)

    return Rule(
        name=name,
        severity=severity,
        recoverable=_recoverable(severity, recoverable),
        description="no character runs or word loops",
        checks_completion=False,
        factory=start,
    )


# --------------------------------------------------------------------------- repetition


class _RepetitionChecker(Checker):
    """Counts each prose sentence or line among the last ``window`` ones."""

    __slots__ = ("_code", "_counts", "_max", "_min_length", "_recent", "_units", "_window")

    def __init__(self, rule: Rule, max_repeats: int, window: int, min_length: int) -> None:
        super().__init__(rule)
        self._max = max_repeats
        self._min_length = min_length
        self._code = CodeSplitter()
        self._units = UnitSplitter()
        self._recent: deque[str] = deque()
        self._counts: dict[str, int] = {}
        self._window = window

    def _scan(self, delta: str, offset: int, final: bool) -> None:
        units: list[tuple[str, int]] = []
        splitter = self._units
        for piece, at, code in self._code.feed(delta, offset):
            if code:
                splitter.skip()
            else:
                splitter.feed(piece, at, units)
        if final:
            splitter.flush(units)
        for text, start in units:
            self._unit(text, start)

    def _unit(self, text: str, start: int) -> None:
        key = normalize(text)
        if len(key) < self._min_length or key[0] == "|":
            return
        recent = self._recent
        counts = self._counts
        if len(recent) == self._window:
            old = recent.popleft()
            left = counts[old] - 1
            if left:
                counts[old] = left
            else:
                del counts[old]
        recent.append(key)
        count = counts.get(key, 0) + 1
        counts[key] = count
        if count > self._max:
            self.report(
                "repeated_text",
                f"repetition: {key[:60]!r} appears {count} times",
                start,
                key=key,
                metadata={"text": key[:200], "count": count},
            )


def repetition_rule(
    *,
    max_repeats: int = 3,
    window: int = 200,
    min_length: int = 20,
    severity: Severity = "warning",
    recoverable: bool | None = None,
    name: str = "repetition",
) -> Rule:
    """During streaming: the same sentence or line more than ``max_repeats`` times.

    Units are sentences (ended by ``.``, ``!`` or ``?`` and a space) and lines, outside
    fenced code blocks and tables, compared case-insensitively with whitespace collapsed;
    units shorter than ``min_length`` characters ("Yes.", "}", "---") are ignored. Counted
    among the last ``window`` units (bounded memory), each repeated text reported once per
    attempt.
    Default severity ``warning``; ``stall`` catches back-to-back loops.
    """
    check_count("repetition_rule max_repeats", max_repeats, 1)
    check_count("repetition_rule window", window, 2)
    check_count("repetition_rule min_length", min_length, 1)
    severity = check_severity("repetition_rule severity", severity)

    def start(rule: Rule) -> _RepetitionChecker:
        return _RepetitionChecker(rule, max_repeats, window, min_length)

    return Rule(
        name=name,
        severity=severity,
        recoverable=_recoverable(severity, recoverable),
        description="no sentence or line repeated too often",
        checks_completion=False,
        factory=start,
    )
