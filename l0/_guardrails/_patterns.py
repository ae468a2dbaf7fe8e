"""The ``pattern`` rule (curated categories) and ``custom_pattern`` rules."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping

from l0._errors import ConfigError
from l0._guardrails._lexicon import CATEGORIES, MAX_PHRASE_LENGTH, Category, Phrase, phrases_of
from l0._guardrails._phrases import PhraseIndex
from l0._guardrails._rule import Checker, Rule, Severity, check_count, check_severity

__all__ = ["custom_pattern_rule", "pattern_rule"]


@functools.lru_cache(maxsize=64)
def _curated_index(phrases: tuple[Phrase, ...]) -> PhraseIndex:
    """The index of a choice of curated phrases (built once, shared by every rule)."""
    return PhraseIndex(
        [p.regex for p in phrases],
        [p.triggers for p in phrases],
        MAX_PHRASE_LENGTH,
        lengths=[p.width for p in phrases],
    )


class _PhraseChecker(Checker):
    """Scans the stream for curated phrases; the first match of each is reported."""

    __slots__ = ("_phrases", "_scanner", "_severities")

    def __init__(
        self,
        rule: Rule,
        phrases: tuple[Phrase, ...],
        index: PhraseIndex,
        severities: Mapping[str, Severity],
    ) -> None:
        super().__init__(rule)
        self._phrases = phrases
        self._severities = severities
        self._scanner = index.scanner()

    def _scan(self, delta: str, offset: int, final: bool) -> None:
        for index, m, window_start in self._scanner.feed(delta, offset, final):
            if index in self._seen:
                continue
            phrase = self._phrases[index]
            severity = self._severities.get(phrase.category)
            self.report(
                phrase.category,
                f"{phrase.category.replace('_', ' ')}: {phrase.label!r}",  # the match: metadata
                window_start + m.start(),
                key=index,
                metadata={"category": phrase.category, "pattern": phrase.label, "match": m.group()},
                severity=severity,
                recoverable=False if severity == "fatal" else None,
            )


def _categories(include: Iterable[str] | None, exclude: Iterable[str]) -> frozenset[str]:
    for value, what in ((include, "include"), (exclude, "exclude")):
        if isinstance(value, str):
            raise ConfigError(f"pattern_rule {what} must be a collection of categories")
    chosen = frozenset(CATEGORIES if include is None else include)
    dropped = frozenset(exclude)
    unknown = (chosen | dropped) - frozenset(CATEGORIES)
    if unknown:
        raise ConfigError(
            f"pattern_rule: unknown categories {sorted(unknown)}; valid: {list(CATEGORIES)}"
        )
    return chosen - dropped


def pattern_rule(
    *,
    include: Iterable[Category] | None = None,
    exclude: Iterable[Category] = (),
    severity: Severity = "warning",
    severities: Mapping[Category, Severity] | None = None,
    recoverable: bool | None = None,
    name: str = "pattern",
) -> Rule:
    """Curated phrases that signal a bad answer, by category.

    Categories (all by default; pick with ``include``, drop with ``exclude``):

    * ``meta_commentary``: "As an AI language model", "I don't have personal opinions",
      "my training data"...
    * ``hedging``: "I'm not entirely sure", "it's hard to say for sure", "may or may not"...
    * ``refusal``: "I'm sorry, but I can't", "I can't help with that", "I must decline"...
    * ``instruction_leakage``: "my system prompt", "I was instructed to", "ignore previous
      instructions"...
    * ``placeholders``: "[INSERT NAME]", "[Your company]", "lorem ipsum", "TODO", "FIXME"...
    * ``format_collapse``: chat-template tokens (``<|im_start|>``, ``[INST]``, ``<<SYS>>``)
      and the model writing the other side's turn (``Human:``, ``### Response:`` at a line
      start).

    Checked during streaming over the new text plus a bounded overlap, and only around the
    places where a phrase's key words appear. Each phrase is reported once per attempt (its
    first occurrence). Severity ``warning`` for every category by default (``severity``, the
    rule's); ``severities`` overrides it per category (a ``fatal`` category's violations are
    not recoverable).
    """
    chosen = _categories(include, exclude)
    severity = check_severity("pattern_rule severity", severity)
    overrides: dict[str, Severity] = {}
    for category, value in (severities or {}).items():
        if category not in CATEGORIES:
            raise ConfigError(f"pattern_rule severities: unknown category {category!r}")
        overrides[category] = check_severity(f"pattern_rule severities[{category!r}]", value)
    phrases = phrases_of(chosen)
    index = _curated_index(phrases)

    def start(rule: Rule) -> _PhraseChecker:
        return _PhraseChecker(rule, phrases, index, overrides)

    return Rule(
        name=name,
        severity=severity,
        recoverable=severity != "fatal" if recoverable is None else recoverable,
        description="phrases: " + ", ".join(c for c in CATEGORIES if c in chosen),
        checks_completion=False,
        factory=start,
    )


class _CustomPatternChecker(Checker):
    __slots__ = ("_message", "_patterns", "_scanner")

    def __init__(self, rule: Rule, index: PhraseIndex, message: str | None) -> None:
        super().__init__(rule)
        self._patterns = index.regexes
        self._message = message
        self._scanner = index.scanner()

    def _scan(self, delta: str, offset: int, final: bool) -> None:
        for index, m, window_start in self._scanner.feed(delta, offset, final):
            if index in self._seen:
                continue
            pattern = self._patterns[index].pattern
            message = self._message or f"matched pattern {pattern!r}"  # the match: metadata
            self.report(
                "pattern",
                message.format(match=m.group(), pattern=pattern) if self._message else message,
                window_start + m.start(),
                key=index,
                metadata={"pattern": pattern, "match": m.group()},
            )


def custom_pattern_rule(
    name: str,
    patterns: str | re.Pattern[str] | Iterable[str | re.Pattern[str]],
    *,
    severity: Severity = "error",
    recoverable: bool | None = None,
    message: str | None = None,
    ignore_case: bool = False,
    max_length: int = 128,
    description: str = "",
) -> Rule:
    """A rule that rejects output matching any of ``patterns`` (regexes).

    Checked during streaming over the new text plus ``max_length`` characters of overlap:
    a match longer than ``max_length`` can be missed when it is cut between two checks, so
    keep patterns bounded (``\\w{1,40}``, not ``\\w+``), and free of nested quantifiers
    (they are your regexes: catastrophic backtracking in them is not guarded against).
    Each pattern is reported once per attempt (its first match). ``message`` may use
    ``{match}`` and ``{pattern}``. String patterns are compiled with ``re.IGNORECASE`` when
    ``ignore_case``. Default severity ``error``.
    """
    items = [patterns] if isinstance(patterns, (str, re.Pattern)) else list(patterns)
    if not items:
        raise ConfigError(f"custom_pattern_rule {name!r}: no patterns")
    compiled: list[re.Pattern[str]] = []
    for item in items:
        if isinstance(item, re.Pattern):
            compiled.append(item)
            continue
        try:
            compiled.append(re.compile(item, re.IGNORECASE if ignore_case else 0))
        except re.error as exc:
            raise ConfigError(f"custom_pattern_rule {name!r}: bad pattern {item!r}: {exc}") from exc
    check_count(f"custom_pattern_rule {name!r} max_length", max_length, 1)
    severity = check_severity(f"custom_pattern_rule {name!r} severity", severity)
    frozen = tuple(compiled)
    index = PhraseIndex(frozen, [None] * len(frozen), max_length)

    def start(rule: Rule) -> _CustomPatternChecker:
        return _CustomPatternChecker(rule, index, message)

    return Rule(
        name=name,
        severity=severity,
        recoverable=severity != "fatal" if recoverable is None else recoverable,
        description=description or f"custom patterns: {[p.pattern for p in frozen]}",
        checks_completion=False,
        factory=start,
    )
