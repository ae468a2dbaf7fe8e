"""``DriftMonitor``: the per-attempt state of drift detection.

The output is evaluated in consecutive blocks of ``DriftConfig.window`` characters; each
complete block gets one measurement per drift type (see :mod:`l0._guardrails._signals`) and
updates running baselines and short histories, kept as running sums so that a block costs
the same however long the output already is.
"""

from __future__ import annotations

import functools
import math
import re
from collections import deque

from l0._guardrails._drift import DRIFT_TYPES, DriftAction, DriftConfig, DriftResult, DriftType
from l0._guardrails._lexicon import MAX_PHRASE_LENGTH, phrases_of
from l0._guardrails._phrases import PhraseIndex
from l0._guardrails._signals import (
    NgramWindow,
    entropy,
    informal_signs,
    markdown_markers,
    tone_counts,
)
from l0._guardrails._text import ASCII_WORDS, CodeSplitter, UnitSplitter, normalize

__all__ = ["DriftMonitor"]

_NGRAM_WORDS = re.compile(r"\w+")
_WORD_CAP = 64
# ASCII_WORDS output -> "x" for word characters: a run of 65 of them is a word over 64.
_WORD_BYTES = bytes(32 if b == 32 else 120 for b in range(256))
_WORD_RUN = b"x" * (_WORD_CAP + 1)

_SENTENCE_WINDOW = 64
_MIN_NGRAMS = 40

_Words = tuple[bytes, list[bytes]]


@functools.lru_cache(maxsize=16)
def _phrase_index(categories: frozenset[str]) -> tuple[tuple[str, ...], PhraseIndex]:
    phrases = phrases_of(categories)
    index = PhraseIndex(
        [p.regex for p in phrases],
        [p.triggers for p in phrases],
        MAX_PHRASE_LENGTH,
        lengths=[p.width for p in phrases],
    )
    return tuple(p.category for p in phrases), index


def _is_word_char(char: str) -> bool:
    return char.isalnum() or char == "_"


class DriftMonitor:
    """The per-attempt state of drift detection; feed it the output as it arrives."""

    __slots__ = (
        "_baseline_tone",
        "_buffer",
        "_buffered",
        "_carry",
        "_code",
        "_config",
        "_ent_m2",
        "_ent_mean",
        "_ent_n",
        "_hedges",
        "_kinds",
        "_last_char",
        "_md_baseline",
        "_md_busy",
        "_md_recent",
        "_ngram",
        "_phrase_categories",
        "_position",
        "_recent_hedges",
        "_recent_tone",
        "_reported",
        "_scanner",
        "_sentence_counts",
        "_sentences",
        "_table",
        "_tone_now",
        "_units",
        "_wants",
    )

    def __init__(self, config: DriftConfig) -> None:
        self._config = config
        types = config.types
        self._kinds: tuple[DriftType, ...] = tuple(t for t in DRIFT_TYPES if t in types)
        # meta_commentary, format_collapse, hedging (phrases), tone, markdown, entropy,
        # repetition: which measurements a block gets.
        self._wants = (
            "meta_commentary" in types,
            "format_collapse" in types,
            "hedging" in types,
            "tone_shift" in types,
            "markdown_collapse" in types,
            "entropy_spike" in types,
            "repetition" in types,
        )
        self._buffer: list[str] = []
        self._buffered = 0
        self._position = 0
        self._last_char = "\n"
        self._reported: set[str] = set()
        categories, index = _phrase_index(
            frozenset(t for t in ("meta_commentary", "format_collapse", "hedging") if t in types)
        )
        self._phrase_categories = categories
        self._scanner = index.scanner()
        self._code = CodeSplitter()
        self._units = UnitSplitter()
        self._carry = ""  # a word cut by the end of the last block (lowercased)
        self._table: bool | None = None  # whether the current line is a table row
        self._recent_tone: deque[tuple[int, int]] = deque()
        self._tone_now = [0, 0]  # formal, informal markers of the recent blocks
        self._baseline_tone = [0, 0]  # ... and of the blocks before them
        self._recent_hedges: deque[int] = deque()
        self._hedges = 0  # hedges in the recent blocks
        self._md_recent: deque[tuple[int, int]] = deque()
        self._md_busy = 0  # recent blocks with a marker or a line break
        self._md_baseline = 0
        self._ent_n = 0
        self._ent_mean = 0.0
        self._ent_m2 = 0.0
        self._sentences: deque[str] = deque()
        self._sentence_counts: dict[str, int] = {}
        self._ngram = NgramWindow(config.ngram, config.ngram_window)

    @property
    def config(self) -> DriftConfig:
        """The configuration."""
        return self._config

    @property
    def action(self) -> DriftAction:
        """What the engine should do when drift is detected (``config.action``)."""
        return self._config.action

    @property
    def _ngrams(self) -> list[tuple[bytes, ...]]:
        """The word n-grams of the window, oldest first (for inspection)."""
        return self._ngram.grams

    @property
    def _ngram_counts(self) -> dict[tuple[bytes, ...], int]:
        """How often each n-gram of the window occurs in it (for inspection)."""
        counts: dict[tuple[bytes, ...], int] = {}
        for gram in self._ngram.grams:
            counts[gram] = counts.get(gram, 0) + 1
        return counts

    def feed(self, delta: str) -> DriftResult | None:
        """Account for ``delta``; a result if at least one block was completed, else None.

        None means no check ran (not enough new text since the last block).
        """
        if not delta:
            return None
        size = self._config.window
        self._buffer.append(delta)
        self._buffered += len(delta)
        if self._buffered < size:
            return None
        text = "".join(self._buffer)
        threshold = self._config.threshold
        reported = self._reported
        kinds = self._kinds
        new: dict[DriftType, float] = {}
        scores: dict[str, float] = {}
        i = 0
        while len(text) - i >= size:
            scores = self._block(text[i : i + size] if i or len(text) != size else text)
            i += size
            for kind in kinds:
                score = scores[kind]
                if score >= threshold and kind not in reported:
                    reported.add(kind)
                    new[kind] = score
        rest = text[i:]
        self._buffer = [rest] if rest else []
        self._buffered = len(rest)
        types: tuple[DriftType, ...] = tuple(new)
        return DriftResult(
            detected=bool(types),
            types=types,
            confidence=max(new.values()) if new else 0.0,
            # (every score is >= 0, so the types not measured, at 0.0, change nothing)
            score=max(map(scores.__getitem__, kinds)) if kinds else 0.0,
            threshold=threshold,
            details=scores,
            position=self._position,
        )

    # --- one block

    def _block(self, block: str) -> dict[str, float]:
        meta, collapse, hedging, tone, markdown, spike, repetition = self._wants
        start = self._position
        self._position += len(block)
        scores: dict[str, float] = {}
        # The block's words, found once for the checks that look at words.
        words: _Words | None = None
        if block.isascii():
            coded = block.encode("ascii").translate(ASCII_WORDS)
            words = (coded, coded.split())
        if meta or collapse or hedging:
            self._phrases(block, start, scores, words)
        if tone:
            self._tone(block, scores, words)
        if markdown:
            self._markdown(block, scores)
        if spike:
            self._entropy(block, scores)
        if repetition:
            self._repetition(block, start, scores, words)
        self._last_char = block[-1]
        return scores

    def _phrases(
        self, block: str, start: int, scores: dict[str, float], words: _Words | None
    ) -> None:
        meta, collapse, hedging = self._wants[:3]
        found_meta = found_collapse = found_hedges = 0
        matches = self._scanner.feed(block, start, False, words)
        for index, _m, _window_start in matches:
            category = self._phrase_categories[index]
            if category == "hedging":
                found_hedges += 1
            elif category == "meta_commentary":
                found_meta += 1
            else:
                found_collapse += 1
        if meta:
            scores["meta_commentary"] = 1.0 if found_meta else 0.0
        if collapse:
            scores["format_collapse"] = 1.0 if found_collapse else 0.0
        if hedging:
            config = self._config
            recent = self._recent_hedges
            recent.append(found_hedges)
            hedges = self._hedges + found_hedges
            if len(recent) > config.recent_blocks:
                hedges -= recent.popleft()
            self._hedges = hedges
            scores["hedges"] = float(hedges)
            scores["hedging"] = min(1.0, hedges / (2 * config.hedging_limit))

    def _tone(self, block: str, scores: dict[str, float], words: _Words | None) -> None:
        formal, informal = tone_counts(block, self._last_char, words)
        informal += informal_signs(block)
        recent = self._recent_tone
        recent.append((formal, informal))
        now = self._tone_now
        now_formal = now[0] + formal
        now_informal = now[1] + informal
        if len(recent) > self._config.recent_blocks:
            old_formal, old_informal = recent.popleft()
            now_formal -= old_formal
            now_informal -= old_informal
            self._baseline_tone[0] += old_formal
            self._baseline_tone[1] += old_informal
        now[0] = now_formal
        now[1] = now_informal
        base_formal, base_informal = self._baseline_tone
        score = 0.0
        if base_formal + base_informal >= 3 and now_formal + now_informal >= 3:
            base = (base_informal - base_formal) / (base_informal + base_formal)
            current = (now_informal - now_formal) / (now_informal + now_formal)
            score = abs(current - base) / 2
            scores["tone"] = current
            scores["tone_baseline"] = base
        scores["tone_shift"] = score

    def _markdown(self, block: str, scores: dict[str, float]) -> None:
        config = self._config
        markers = markdown_markers(block, self._last_char)
        lines = block.count("\n")
        recent = self._md_recent
        recent.append((markers, lines))
        busy = self._md_busy + (1 if markers or lines else 0)
        if len(recent) > config.markdown_blocks:
            old_markers, old_lines = recent.popleft()
            self._md_baseline += old_markers
            if old_markers or old_lines:
                busy -= 1
        self._md_busy = busy
        collapsed = self._md_baseline >= 3 and len(recent) == config.markdown_blocks and not busy
        scores["markdown_collapse"] = 1.0 if collapsed else 0.0

    def _entropy(self, block: str, scores: dict[str, float]) -> None:
        config = self._config
        h = entropy(block)
        scores["entropy"] = h
        score = 0.0
        n = self._ent_n
        if n >= config.entropy_baseline:
            std = math.sqrt(self._ent_m2 / (n - 1)) if n > 1 else 0.0
            required = max(config.entropy_z * std, config.entropy_delta)
            score = min(1.0, abs(h - self._ent_mean) / (2 * required))
            scores["entropy_baseline"] = self._ent_mean
        scores["entropy_spike"] = score
        # Welford's running mean and variance over the earlier blocks
        n += 1
        d = h - self._ent_mean
        self._ent_mean += d / n
        self._ent_m2 += d * (h - self._ent_mean)
        self._ent_n = n

    def _repetition(
        self, block: str, start: int, scores: dict[str, float], found: _Words | None
    ) -> None:
        config = self._config
        units: list[tuple[str, int]] = []
        words: list[bytes] = []
        pieces = self._code.feed(block, start)
        if (
            found is not None
            and len(pieces) == 1
            and not pieces[0][2]
            and "|" not in block
            and self._table is not True
            and ("\n" not in block or _WORD_RUN not in found[0].translate(_WORD_BYTES))
        ):
            # All prose, no table row, no word longer than 64 characters: the block's words.
            self._units.feed(block, start, units)
            self._block_words(block, found[1], words)
        else:
            for piece, at, code in pieces:
                if code:
                    self._units.skip()
                    self._carry = ""
                    self._table = None
                else:
                    self._units.feed(piece, at, units)
                    self._prose_words(piece, words)
        worst_sentence = 0
        for text, _ in units:
            if len(text) < 20 and text.isascii():
                continue  # too short to count, even once normalized
            key = normalize(text)
            if len(key) >= 20 and key[0] != "|":  # table rows repeat by nature
                count = self._sentence(key)
                worst_sentence = max(worst_sentence, count)
        ngrams = self._ngram
        ngrams.add(words)
        window = len(ngrams)
        ratio = ngrams.dups / window if window >= _MIN_NGRAMS else 0.0
        scores["ngram_repetition"] = ratio
        scores["repetition"] = max(
            min(1.0, ratio), min(1.0, worst_sentence / (2 * config.sentence_repeats))
        )

    def _block_words(self, block: str, found: list[bytes], words: list[bytes]) -> None:
        """What :meth:`_prose_words` does for a block of prose without table rows, given its
        words (which may be changed: this is their last use)."""
        carry = self._carry
        if carry:
            if found and _is_word_char(block[0]):
                found[0] = (carry + found[0].decode())[:_WORD_CAP].encode()
            else:
                words.append(carry.encode())
            self._carry = ""
        if found and _is_word_char(block[-1]):
            self._carry = found.pop().decode()[:_WORD_CAP]  # (the carry may not be ASCII)
        words.extend(found)
        line = block[block.rfind("\n") + 1 :]
        if "\n" in block or self._table is None:
            self._table = None if line.isspace() or not line else False
        else:
            self._table = False

    def _prose_words(self, piece: str, words: list[bytes]) -> None:
        """Append the words completed in ``piece`` (prose), skipping table rows.

        Words are lowercased ``\\w+`` runs (UTF-8), at most 64 characters if cut by a block
        boundary or a line end.
        """
        for i, segment in enumerate(piece.split("\n") if "\n" in piece else (piece,)):
            if i:  # a line break ends the word and the line
                if self._carry:
                    words.append(self._carry.encode())
                    self._carry = ""
                self._table = None
            if self._table is None:
                stripped = segment.lstrip()
                if not stripped:
                    continue
                self._table = stripped[0] == "|"
            if self._table:
                continue
            if segment.isascii():
                found = segment.encode("ascii").translate(ASCII_WORDS).split()
            else:
                found = [w.encode() for w in _NGRAM_WORDS.findall(segment.lower())]
            carry = self._carry
            if carry:
                if found and _is_word_char(segment[0]):
                    found[0] = (carry + found[0].decode())[:_WORD_CAP].encode()
                else:
                    words.append(carry.encode())
                self._carry = ""
            if found and _is_word_char(segment[-1]):
                self._carry = found.pop().decode()[:_WORD_CAP]
            words.extend(found)

    def _sentence(self, key: str) -> int:
        sentences = self._sentences
        counts = self._sentence_counts
        if len(sentences) == _SENTENCE_WINDOW:
            old = sentences.popleft()
            left = counts[old] - 1
            if left:
                counts[old] = left
            else:
                del counts[old]
        sentences.append(key)
        count = counts.get(key, 0) + 1
        counts[key] = count
        return count
