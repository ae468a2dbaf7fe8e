"""The ``stall`` rule: character runs and word loops, in time linear in the output.

Word loops are found in two steps. The rule is about runs of *near repeats*: words equal
to one of the ``max_period`` words before them (a loop of period ``p`` is a run of words
each equal to the word ``p`` before it, so every word of it is a near repeat). Prose is
full of isolated near repeats ("the", "of") but almost never has long runs of them, and a
run long enough to report contains a word whose index (counted from the start of the prose,
or from the last code block) is a multiple of the shortest reportable run. So only those
sampled words are looked at as a rule, with one C-level membership test each; around a
sampled near repeat the run is followed word by word with the exact per-period counts.
The verdicts, positions and periods are those of counting every word (the reference
algorithm, kept in the tests), whatever the chunking.
"""

from __future__ import annotations

import re

from l0._errors import ConfigError
from l0._guardrails._rule import Checker, Rule, Severity, check_count, check_severity
from l0._guardrails._text import ASCII_WORDS, CodeSplitter

__all__ = ["stall_rule"]

_LONG_RUN = re.compile(r"(.)\1{15,}", re.DOTALL)
_WORD = re.compile(r"\w+")
_MAX_PERIOD = 64
_WORD_CAP = 64  # characters of a word that count (a longer one is cut by a delta boundary)


def _is_word_char(char: str) -> bool:
    return char.isalnum() or char == "_"  # exactly ``\\w`` for str patterns


class _StallChecker(Checker):
    """A run of one character, and word loops (runs of words periodic with a short period).

    Words are ``\\w+`` runs of prose (outside fenced code), lowercased; a word cut by the end
    of a delta is carried until a non-word character completes it (and then counts with at
    most 64 characters). State: the last ``_keep`` words, the current run's counts.
    """

    __slots__ = (
        "_carry",
        "_carry_start",
        "_char",
        "_char_limit",
        "_char_run",
        "_char_start",
        "_code",
        "_count",
        "_history",
        "_keep",
        "_looped",
        "_needed",
        "_period",
        "_ran",
        "_runs",
        "_sample",
        "_tracking",
    )

    def __init__(self, rule: Rule, max_char_run: int, needed: tuple[int, ...]) -> None:
        super().__init__(rule)
        self._char_limit = max_char_run
        self._char = ""
        self._char_run = 0
        self._char_start = 0
        self._ran = False  # character_run reported
        self._code = CodeSplitter()
        self._carry: str = ""  # the word cut by the end of the last piece (its text so far)
        self._carry_start = -1  # where it starts, -1 when there is none
        self._needed = needed  # _needed[p]: matches in a row that make a loop of period p
        self._period = len(needed) - 1
        self._sample = min(needed[1:])  # the shortest reportable run of near repeats
        self._keep = self._sample + self._period
        self._history: list[bytes] = []  # the last _keep words since the last reset
        self._count = 0  # words since the last reset (the start, or a code block)
        self._tracking = False  # following a run of near repeats word by word
        self._runs = [0] * len(needed)  # while tracking: matches in a row per period
        self._looped = False  # word_loop reported

    def _scan(self, delta: str, offset: int, final: bool) -> None:
        if delta:
            if not self._ran:
                self._character_runs(delta, offset)
            if not self._looped:
                if "\n" in delta:
                    pieces = self._code.feed(delta, offset)
                else:  # (the common case, part of a line: no list needed)
                    pieces = ((delta, offset, self._code.inline(delta)),)
                for piece, at, code in pieces:
                    if code:
                        self._end_word()
                        self._reset()
                    else:
                        self._words(piece, at)
        if final and not self._looped:
            self._end_word()
        if self._ran and self._looped:
            self._idle = True

    # --- word loops

    def _reset(self) -> None:
        self._history = []
        self._count = 0
        self._tracking = False

    def _end_word(self) -> None:
        start = self._carry_start
        if start >= 0:
            self._carry_start = -1
            self._loop([self._carry.lower().encode()], 0, "", 0, start)

    def _words(self, piece: str, offset: int) -> None:
        """Account for the words of ``piece`` (prose at ``offset``), the one cut by its end
        carried to the next piece."""
        carried = self._carry_start
        self._carry_start = -1
        joined = carried >= 0 and _is_word_char(piece[0])  # the carried word goes on
        text = self._carry + piece if carried >= 0 else piece
        words: list[bytes]
        if text.isascii():
            coded = text.encode("ascii").translate(ASCII_WORDS)
            words = coded.split()
            if not words:
                return
            if joined:
                words[0] = words[0][:_WORD_CAP]
            if coded[-1] == 32:
                self._loop(words, 0, piece, offset, carried)
                return
            last = words[-1]  # it may go on in the next piece
            self._carry = last[:_WORD_CAP].decode("ascii")
            length = len(last)
        else:
            raw: list[str] = _WORD.findall(text)
            if not raw:
                return
            if joined:
                raw[0] = raw[0][:_WORD_CAP]
            words = [word.lower().encode() for word in raw]
            if not _is_word_char(piece[-1]):
                self._loop(words, 0, piece, offset, carried)
                return
            self._carry = raw[-1][:_WORD_CAP]  # (its case, as it will be joined)
            length = len(raw[-1])
        self._carry_start = carried if joined and len(words) == 1 else offset + len(piece) - length
        self._loop(words, 1, piece, offset, carried)

    def _loop(self, words: list[bytes], drop: int, piece: str, offset: int, carried: int) -> None:
        """Account for ``words`` but the last ``drop`` ones (the words completed in
        ``piece``, at ``offset``; ``words`` is not changed)."""
        seq = self._history + words
        total = len(seq) - drop
        first = len(self._history)  # index in seq of the first new word
        if total <= first:
            return
        base = self._count - first  # number of words (since the reset) before seq[0]
        period = self._period
        sample = self._sample
        i = first
        if self._tracking:
            i = self._track(seq, i, total, first, piece, offset, carried)
        while i < total and not self._looped:
            j = i + (-(base + i)) % sample  # the next sampled word
            if j >= total:
                break
            if seq[j] not in seq[j - period if j > period else 0 : j]:
                i = j + 1
                continue
            # A near repeat: the run it belongs to started within the last `sample` words
            # (a longer one would contain the previous sampled word, which is not one).
            k = j
            floor = j - sample + 1 if j >= sample else 0
            while k > floor and seq[k - 1] in seq[k - 1 - period if k - 1 > period else 0 : k - 1]:
                k -= 1
            self._runs = [0] * (period + 1)
            i = self._track(seq, k, total, first, piece, offset, carried)
        self._count += total - first
        self._history = seq[total - self._keep if total > self._keep else 0 : total]

    def _track(
        self,
        seq: list[bytes],
        x: int,
        total: int,
        first: int,
        piece: str,
        offset: int,
        carried: int,
    ) -> int:
        """Follow a run of near repeats from ``seq[x]`` with exact counts per period.

        Returns the index after the run's end (the first word that is no near repeat), or
        ``total`` with ``_tracking`` set if the run goes on past ``seq[total - 1]``.
        """
        runs = self._runs
        needed = self._needed
        period = self._period
        while x < total:
            word = seq[x]
            near = False
            for p in range(1, period + 1 if x >= period else x + 1):
                if seq[x - p] == word:
                    near = True
                    count = runs[p] + 1
                    runs[p] = count
                    if count >= needed[p]:
                        self._report_loop(p, _word_start(piece, offset, x - first, carried))
                        self._tracking = False
                        return total
                else:
                    runs[p] = 0
            x += 1
            if not near:
                self._tracking = False
                return x
        self._tracking = True
        return total

    def _report_loop(self, period: int, position: int) -> None:
        self._looped = True
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
                return
            if start == len(delta):
                return
        if len(delta) - start >= limit:  # else no run inside it can be long enough
            for m in _LONG_RUN.finditer(delta, start):
                if m.end() - m.start() >= limit:
                    self._report_run(m.group(1), offset + m.start())
                    return
        last = delta[-1]
        run = len(delta) - len(delta.rstrip(last)) if delta[-2:-1] == last else 1
        self._char, self._char_run = last, run
        self._char_start = offset + len(delta) - run

    def _report_run(self, char: str, start: int) -> None:
        self._ran = True
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

    Each kind is reported once per attempt. Memory: the last ``max_period`` words and a
    few more (``max_period`` is at most 64). Default severity ``error``: a looping model is
    retried.
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
        recoverable=severity != "fatal" if recoverable is None else recoverable,
        description="no character runs or word loops",
        checks_completion=False,
        factory=start,
    )
