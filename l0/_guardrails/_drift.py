"""Drift detection: is the output derailing? Incremental, windowed, bounded memory.

The stream is evaluated in consecutive blocks of ``DriftConfig.window`` characters. Each
complete block updates running baselines (entropy, tone, markdown structure) and short
histories (recent blocks, sentences, word n-grams), and each drift type gets a score in
[0, 1] whose nominal trigger point is 0.5 (``DriftConfig.threshold``). Because blocks sit at
fixed offsets, the verdicts do not depend on how the stream is cut into deltas; the cost is
O(len(delta)) per call plus O(window) per completed block, whatever the output's length.
"""

from __future__ import annotations

import functools
import math
import re
from collections import Counter, deque
from typing import Any, Literal, TypeAlias, cast, get_args

import attrs
import msgspec

from l0._errors import ConfigError
from l0._guardrails._lexicon import MAX_PHRASE_LENGTH, phrases_of
from l0._guardrails._text import CodeSplitter, PhraseIndex, UnitSplitter, normalize

__all__ = [
    "DriftAction",
    "DriftConfig",
    "DriftDetector",
    "DriftMonitor",
    "DriftResult",
    "DriftType",
]

DriftType: TypeAlias = Literal[
    "tone_shift",
    "meta_commentary",
    "repetition",
    "entropy_spike",
    "format_collapse",
    "markdown_collapse",
    "hedging",
]
DRIFT_TYPES: tuple[DriftType, ...] = get_args(DriftType)

DriftAction: TypeAlias = Literal["record", "retry", "halt"]
"""What the engine does on drift: record it, fail the attempt (retry), or stop the stream."""

_WORDS = re.compile(r"[a-z]+")
_NGRAM_WORDS = re.compile(r"\w+")
_MARKDOWN = re.compile(
    r"(?m:^)[ \t]{0,3}(?:#{1,6}[ \t]|[-*+][ \t]|\d{1,3}[.)][ \t]|>|\||```|~~~)"
    r"|\*\*|__|`"
)
_INFORMAL_SIGNS = re.compile(r"!{2,}|:\)|:D|;\)|[\u2600-\u27bf\U0001f300-\U0001faff]")

_FORMAL = frozenset(
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
_INFORMAL = frozenset(
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

_SENTENCE_WINDOW = 64
_MIN_NGRAMS = 40


def _positive_int(where: str) -> Any:
    def check(_inst: object, _attr: object, value: object) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"DriftConfig.{where} must be an int >= 1, got {value!r}")

    return check


def _positive_float(where: str) -> Any:
    def check(_inst: object, _attr: object, value: object) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise ConfigError(f"DriftConfig.{where} must be a number > 0, got {value!r}")

    return check


def _to_types(value: Any) -> frozenset[DriftType]:
    if isinstance(value, str):
        raise ConfigError("DriftConfig.types must be a collection of drift types, not a string")
    try:
        types = frozenset(value)
    except TypeError:
        raise ConfigError(
            f"DriftConfig.types must be a collection of drift types, got {type(value).__name__}"
        ) from None
    unknown = types - frozenset(DRIFT_TYPES)
    if unknown:
        raise ConfigError(
            f"DriftConfig.types has unknown types {sorted(unknown)}; valid: {list(DRIFT_TYPES)}"
        )
    return cast("frozenset[DriftType]", types)


def _check_action(_inst: object, _attr: object, value: object) -> None:
    if value not in get_args(DriftAction):
        raise ConfigError(
            f"DriftConfig.action must be one of {list(get_args(DriftAction))}, got {value!r}"
        )


def _check_threshold(_inst: object, _attr: object, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
        raise ConfigError(f"DriftConfig.threshold must be in (0, 1], got {value!r}")


@attrs.frozen(kw_only=True)
class DriftConfig:
    """What drift detection looks for, and what the stream does when it finds it.

    * ``types``: the drift types to detect (all by default): ``tone_shift`` (formal and
      informal markers of the recent blocks against the earlier ones), ``meta_commentary``
      ("as an AI language model"...), ``repetition`` (a sentence seen ``sentence_repeats``
      times among the last 64, or half of the last ``ngram_window`` word ``ngram``-grams
      repeated), ``entropy_spike`` (a block's character entropy away from the running mean
      of the earlier blocks by ``max(entropy_z`` standard deviations, ``entropy_delta``
      bits)), ``format_collapse`` (chat-template tokens, the model writing the user's turn),
      ``markdown_collapse`` (output that had markdown structure produces
      ``markdown_blocks`` blocks with no structure and no line break at all), ``hedging``
      (``hedging_limit`` hedges in the recent blocks).
    * ``window``: the block size in characters; drift is evaluated once per block.
    * ``recent_blocks``: how many blocks make up "recent" for tone and hedging.
    * ``threshold``: a type is detected when its score reaches it; every score is scaled so
      that its nominal limit above scores 0.5.
    * ``action``: ``record`` (report only), ``retry`` (fail the attempt) or ``halt``
      (stop the stream); carried for the engine.
    """

    types: frozenset[DriftType] = attrs.field(default=frozenset(DRIFT_TYPES), converter=_to_types)
    window: int = attrs.field(default=256, validator=_positive_int("window"))
    recent_blocks: int = attrs.field(default=2, validator=_positive_int("recent_blocks"))
    threshold: float = attrs.field(default=0.5, validator=_check_threshold)
    hedging_limit: int = attrs.field(default=3, validator=_positive_int("hedging_limit"))
    sentence_repeats: int = attrs.field(default=3, validator=_positive_int("sentence_repeats"))
    ngram: int = attrs.field(default=4, validator=_positive_int("ngram"))
    ngram_window: int = attrs.field(default=120, validator=_positive_int("ngram_window"))
    entropy_z: float = attrs.field(default=3.0, validator=_positive_float("entropy_z"))
    entropy_delta: float = attrs.field(default=1.2, validator=_positive_float("entropy_delta"))
    entropy_baseline: int = attrs.field(default=4, validator=_positive_int("entropy_baseline"))
    markdown_blocks: int = attrs.field(default=4, validator=_positive_int("markdown_blocks"))
    action: DriftAction = attrs.field(default="record", validator=_check_action)


class DriftResult(msgspec.Struct, frozen=True, kw_only=True):
    """The outcome of the drift checks on the blocks completed by one ``feed``.

    ``types`` lists the drift types detected for the first time in this attempt (each type
    is reported once), ``detected`` is whether there are any, ``confidence`` their highest
    score. ``score`` is the highest score of any type on the last block, ``threshold`` the
    configured one, ``details`` the per-type scores and raw measurements, ``position`` the
    number of characters evaluated so far.
    """

    detected: bool
    types: tuple[DriftType, ...] = ()
    confidence: float = 0.0
    score: float = 0.0
    threshold: float = 0.5
    details: dict[str, float] = msgspec.field(default_factory=dict[str, float])
    position: int = 0


def _check_config(_inst: object, _attr: object, value: object) -> None:
    if not isinstance(value, DriftConfig):
        raise ConfigError(
            f"DriftDetector.config must be an l0.DriftConfig, got {type(value).__name__}"
        )


@attrs.frozen
class DriftDetector:
    """Drift detection configured once; :meth:`start` gives the per-attempt monitor."""

    config: DriftConfig = attrs.field(factory=DriftConfig, validator=_check_config)

    @property
    def action(self) -> DriftAction:
        """``config.action``."""
        return self.config.action

    def start(self) -> DriftMonitor:
        """A fresh monitor for one attempt."""
        return DriftMonitor(self.config)


@functools.lru_cache(maxsize=16)
def _phrase_index(categories: frozenset[str]) -> tuple[tuple[str, ...], PhraseIndex]:
    phrases = phrases_of(categories)
    index = PhraseIndex(
        [p.regex for p in phrases], [p.triggers for p in phrases], MAX_PHRASE_LENGTH
    )
    return tuple(p.category for p in phrases), index


def _is_word_char(char: str) -> bool:
    return char.isalnum() or char == "_"


def _entropy(block: str) -> float:
    n = len(block)
    h = 0.0
    for count in Counter(block).values():
        p = count / n
        h -= p * math.log2(p)
    return h


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
        "_last_char",
        "_md_baseline",
        "_md_recent",
        "_ngram_counts",
        "_ngram_dups",
        "_ngrams",
        "_phrase_categories",
        "_position",
        "_recent_hedges",
        "_recent_tone",
        "_reported",
        "_scanner",
        "_sentence_counts",
        "_sentences",
        "_table",
        "_units",
        "_words",
    )

    def __init__(self, config: DriftConfig) -> None:
        self._config = config
        self._buffer: list[str] = []
        self._buffered = 0
        self._position = 0
        self._last_char = "\n"
        self._reported: set[str] = set()
        categories, index = _phrase_index(
            frozenset(
                t for t in ("meta_commentary", "format_collapse", "hedging") if t in config.types
            )
        )
        self._phrase_categories = categories
        self._scanner = index.scanner()
        self._code = CodeSplitter()
        self._units = UnitSplitter()
        self._carry = ""  # a word cut by the end of the last block
        self._table: bool | None = None  # whether the current line is a table row
        self._recent_tone: deque[tuple[int, int]] = deque()
        self._baseline_tone = [0, 0]
        self._recent_hedges: deque[int] = deque()
        self._md_recent: deque[tuple[int, int]] = deque()
        self._md_baseline = 0
        self._ent_n = 0
        self._ent_mean = 0.0
        self._ent_m2 = 0.0
        self._sentences: deque[str] = deque()
        self._sentence_counts: dict[str, int] = {}
        self._words: deque[str] = deque(maxlen=max(config.ngram - 1, 1))
        self._ngrams: deque[tuple[str, ...]] = deque()
        self._ngram_counts: dict[tuple[str, ...], int] = {}
        self._ngram_dups = 0

    @property
    def config(self) -> DriftConfig:
        """The configuration."""
        return self._config

    @property
    def action(self) -> DriftAction:
        """What the engine should do when drift is detected (``config.action``)."""
        return self._config.action

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
        new: dict[DriftType, float] = {}
        scores: dict[str, float] = {}
        i = 0
        while len(text) - i >= size:
            scores = self._block(text[i : i + size])
            i += size
            for kind in DRIFT_TYPES:
                score = scores.get(kind, 0.0)
                if score >= self._config.threshold and kind not in self._reported:
                    self._reported.add(kind)
                    new[kind] = score
        rest = text[i:]
        self._buffer = [rest] if rest else []
        self._buffered = len(rest)
        types: tuple[DriftType, ...] = tuple(new)
        return DriftResult(
            detected=bool(types),
            types=types,
            confidence=max(new.values(), default=0.0),
            score=max((scores.get(t, 0.0) for t in DRIFT_TYPES), default=0.0),
            threshold=self._config.threshold,
            details=scores,
            position=self._position,
        )

    # --- one block

    def _block(self, block: str) -> dict[str, float]:
        config = self._config
        types = config.types
        start = self._position
        self._position += len(block)
        scores: dict[str, float] = {}
        lowered = block.lower()
        if "meta_commentary" in types or "format_collapse" in types or "hedging" in types:
            self._phrases(block, start, scores)
        if "tone_shift" in types:
            self._tone(lowered, block, scores)
        if "markdown_collapse" in types:
            self._markdown(block, scores)
        if "entropy_spike" in types:
            self._entropy(block, scores)
        if "repetition" in types:
            self._repetition(block, start, scores)
        self._last_char = block[-1]
        return scores

    def _phrases(self, block: str, start: int, scores: dict[str, float]) -> None:
        config = self._config
        found = {"meta_commentary": 0, "format_collapse": 0, "hedging": 0}
        for index, _m, _window_start in self._scanner.feed(block, start):
            found[self._phrase_categories[index]] += 1
        if "meta_commentary" in config.types:
            scores["meta_commentary"] = 1.0 if found["meta_commentary"] else 0.0
        if "format_collapse" in config.types:
            scores["format_collapse"] = 1.0 if found["format_collapse"] else 0.0
        if "hedging" in config.types:
            recent = self._recent_hedges
            recent.append(found["hedging"])
            if len(recent) > config.recent_blocks:
                recent.popleft()
            hedges = sum(recent)
            scores["hedges"] = float(hedges)
            scores["hedging"] = min(1.0, hedges / (2 * config.hedging_limit))

    def _tone(self, lowered: str, block: str, scores: dict[str, float]) -> None:
        formal = informal = 0
        words = _WORDS.findall(lowered)
        # a word cut by a block boundary is not a word ("they" -> "t" + "hey")
        if words and lowered[-1].isalpha():
            words.pop()
        if words and self._last_char.isalpha() and lowered[0].isalpha():
            words.pop(0)
        for word in words:
            if word in _FORMAL:
                formal += 1
            elif word in _INFORMAL:
                informal += 1
        informal += len(_INFORMAL_SIGNS.findall(block))
        recent = self._recent_tone
        recent.append((formal, informal))
        if len(recent) > self._config.recent_blocks:
            old_formal, old_informal = recent.popleft()
            self._baseline_tone[0] += old_formal
            self._baseline_tone[1] += old_informal
        base_formal, base_informal = self._baseline_tone
        now_formal = sum(f for f, _ in recent)
        now_informal = sum(i for _, i in recent)
        score = 0.0
        if base_formal + base_informal >= 3 and now_formal + now_informal >= 3:
            base = (base_informal - base_formal) / (base_informal + base_formal)
            now = (now_informal - now_formal) / (now_informal + now_formal)
            score = abs(now - base) / 2
            scores["tone"] = now
            scores["tone_baseline"] = base
        scores["tone_shift"] = score

    def _markdown(self, block: str, scores: dict[str, float]) -> None:
        config = self._config
        markers = len(_MARKDOWN.findall(self._last_char + block, 1))
        recent = self._md_recent
        recent.append((markers, block.count("\n")))
        if len(recent) > config.markdown_blocks:
            self._md_baseline += recent.popleft()[0]
        collapsed = (
            self._md_baseline >= 3
            and len(recent) == config.markdown_blocks
            and not any(m or lines for m, lines in recent)
        )
        scores["markdown_collapse"] = 1.0 if collapsed else 0.0

    def _entropy(self, block: str, scores: dict[str, float]) -> None:
        config = self._config
        h = _entropy(block)
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

    def _repetition(self, block: str, start: int, scores: dict[str, float]) -> None:
        config = self._config
        units: list[tuple[str, int]] = []
        words: list[str] = []
        for piece, at, code in self._code.feed(block, start):
            if code:
                self._units.skip()
                self._carry = ""
                self._table = None
            else:
                self._units.feed(piece, at, units)
                self._prose_words(piece, words)
        worst_sentence = 0
        for text, _ in units:
            key = normalize(text)
            if len(key) >= 20 and not key.startswith("|"):  # table rows repeat by nature
                worst_sentence = max(worst_sentence, self._sentence(key))
        self._ngram_words(words)
        window = len(self._ngrams)
        ratio = self._ngram_dups / window if window >= _MIN_NGRAMS else 0.0
        scores["ngram_repetition"] = ratio
        scores["repetition"] = max(
            min(1.0, ratio), min(1.0, worst_sentence / (2 * config.sentence_repeats))
        )

    def _prose_words(self, piece: str, words: list[str]) -> None:
        """Append the words completed in ``piece`` (prose), skipping table rows."""
        for i, segment in enumerate(piece.split("\n")):
            if i:  # a line break ends the word and the line
                if self._carry:
                    words.append(self._carry)
                    self._carry = ""
                self._table = None
            if self._table is None:
                stripped = segment.lstrip()
                if not stripped:
                    continue
                self._table = stripped[0] == "|"
            if self._table:
                continue
            found = _NGRAM_WORDS.findall(segment.lower())
            carry = self._carry
            if carry:
                if found and _is_word_char(segment[0]):
                    found[0] = (carry + found[0])[:64]
                else:
                    words.append(carry)
                self._carry = ""
            if found and _is_word_char(segment[-1]):
                self._carry = found.pop()[:64]
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

    def _ngram_words(self, words: list[str]) -> None:
        n = self._config.ngram
        limit = self._config.ngram_window
        history = self._words
        ngrams = self._ngrams
        counts = self._ngram_counts
        for word in words:
            if len(history) == n - 1 or n == 1:
                gram = (*history, word) if n > 1 else (word,)
                if len(ngrams) == limit:
                    old = ngrams.popleft()
                    left = counts[old] - 1
                    if left:
                        counts[old] = left
                        self._ngram_dups -= 1
                    else:
                        del counts[old]
                ngrams.append(gram)
                seen = counts.get(gram, 0)
                if seen:
                    self._ngram_dups += 1
                counts[gram] = seen + 1
            if n > 1:
                history.append(word)
