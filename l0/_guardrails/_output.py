"""Rules about the output as a whole: ``zero_output`` and ``repetition``."""

from __future__ import annotations

import re
from collections import deque

from l0._guardrails._rule import Checker, Rule, Severity, check_count, check_severity
from l0._guardrails._text import CodeSplitter, UnitSplitter, normalize

__all__ = ["repetition_rule", "zero_output_rule"]

_ALNUM = re.compile(r"[^\W_]")
_NON_SPACE = re.compile(r"\S")


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
            self._idle = True  # the completion check needs nothing more

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
        splitter = self._units
        units: list[tuple[str, int]] = []
        if not final and "\n" not in delta:
            # Part of a line (the common case): one piece, no list of pieces needed.
            if self._code.inline(delta):
                splitter.skip()
                return
            if splitter.inline(delta, offset):
                return  # no unit ends in it
            splitter.feed(delta, offset, units)
        else:
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
        if len(text) < self._min_length and text.isascii():
            return  # too short, even once normalized
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
                f"repetition: a sentence or line appears {count} times",  # the text: metadata
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
