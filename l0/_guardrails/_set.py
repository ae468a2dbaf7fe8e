"""``Guardrails``: an immutable set of rules, its presets, and its per-attempt checkers."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import overload

import attrs

from l0._errors import ConfigError
from l0._events._observability import GuardrailViolation
from l0._guardrails._json import json_rule, strict_json_rule
from l0._guardrails._latex import latex_rule
from l0._guardrails._markdown import markdown_rule
from l0._guardrails._output import repetition_rule, zero_output_rule
from l0._guardrails._patterns import pattern_rule
from l0._guardrails._rule import NO_VIOLATIONS, AsyncRuleChecker, Checker, Rule, RuleChecker
from l0._guardrails._stall import stall_rule

__all__ = ["AsyncGuardrailsChecker", "Guardrails", "GuardrailsChecker"]


def _to_rules(rules: Iterable[Rule]) -> tuple[Rule, ...]:
    if isinstance(rules, Rule):
        raise ConfigError("Guardrails takes an iterable of rules, got a single Rule")
    out = tuple(rules)
    names: set[str] = set()
    for rule in out:
        if not isinstance(rule, Rule):  # pyright: ignore[reportUnnecessaryIsInstance]
            raise ConfigError(f"Guardrails takes Rule objects, got {rule!r}")
        if rule.name in names:
            raise ConfigError(f"Guardrails: two rules are named {rule.name!r}")
        names.add(rule.name)
    return out


@attrs.frozen
class Guardrails(Sequence[Rule]):
    """An immutable, ordered set of :class:`Rule` objects with unique names.

    Behaves like a tuple of rules (``len``, indexing, iteration, ``+`` with rules).
    :meth:`start` gives the per-attempt checker of the synchronous rules,
    :meth:`start_async` that of the asynchronous ones. Every preset returns fresh rules.
    """

    rules: tuple[Rule, ...] = attrs.field(default=(), converter=_to_rules)

    # --- sequence protocol

    def __len__(self) -> int:
        return len(self.rules)

    def __iter__(self) -> Iterator[Rule]:
        return iter(self.rules)

    @overload
    def __getitem__(self, index: int) -> Rule: ...
    @overload
    def __getitem__(self, index: slice) -> Guardrails: ...
    def __getitem__(self, index: int | slice) -> Rule | Guardrails:
        if isinstance(index, slice):
            return Guardrails(self.rules[index])
        return self.rules[index]

    def __add__(self, other: Iterable[Rule]) -> Guardrails:
        return Guardrails((*self.rules, *other))

    # --- queries and variations

    @property
    def names(self) -> tuple[str, ...]:
        """The rules' names, in order."""
        return tuple(rule.name for rule in self.rules)

    @property
    def has_async(self) -> bool:
        """Whether any rule is asynchronous (needs :meth:`start_async` and a checker task)."""
        return any(rule.is_async for rule in self.rules)

    def without(self, *names: str) -> Guardrails:
        """The same set without the rules named ``names``."""
        unknown = set(names) - set(self.names)
        if unknown:
            raise ConfigError(f"Guardrails.without: no rules named {sorted(unknown)}")
        return Guardrails(rule for rule in self.rules if rule.name not in names)

    def start(self) -> GuardrailsChecker:
        """Fresh per-attempt checkers for the synchronous rules."""
        return GuardrailsChecker(tuple(rule.start() for rule in self.rules if not rule.is_async))

    def start_async(self) -> AsyncGuardrailsChecker:
        """Fresh per-attempt checkers for the asynchronous rules (empty if there are none)."""
        return AsyncGuardrailsChecker(
            tuple(rule.start_async() for rule in self.rules if rule.is_async)
        )

    # --- presets

    @classmethod
    def none(cls) -> Guardrails:
        """No rules at all."""
        return cls()

    @classmethod
    def minimal(cls) -> Guardrails:
        """``json`` (error) and ``zero_output`` (error): cheap, almost never wrong."""
        return cls((json_rule(), zero_output_rule()))

    @classmethod
    def recommended(cls) -> Guardrails:
        """The default for prose, chat and code answers.

        ``json`` (error), ``markdown`` (warning), ``pattern`` with every category
        (warning), ``zero_output`` (error), ``stall`` (error), ``repetition`` (warning).
        """
        return cls(
            (
                json_rule(),
                markdown_rule(),
                pattern_rule(),
                zero_output_rule(),
                stall_rule(),
                repetition_rule(),
            )
        )

    @classmethod
    def strict(cls) -> Guardrails:
        """Everything, and most of it fails the attempt.

        ``json`` (error), ``markdown`` (error), ``latex`` (warning: ``$`` is ambiguous),
        ``pattern`` (``refusal``, ``instruction_leakage``, ``placeholders`` and
        ``format_collapse`` error; ``meta_commentary`` and ``hedging`` warning),
        ``zero_output`` (error), ``stall`` (error), ``repetition`` (error).
        """
        return cls(
            (
                json_rule(),
                markdown_rule(severity="error"),
                latex_rule(),
                pattern_rule(
                    severities={
                        "refusal": "error",
                        "instruction_leakage": "error",
                        "placeholders": "error",
                        "format_collapse": "error",
                    }
                ),
                zero_output_rule(),
                stall_rule(),
                repetition_rule(severity="error"),
            )
        )

    @classmethod
    def json_only(cls) -> Guardrails:
        """For output that must be exactly one JSON object or array.

        ``json`` with ``require=True`` (error: anything but JSON fails at its first
        character), ``strict_json`` (error), ``zero_output`` (error).
        """
        return cls((json_rule(require=True), strict_json_rule(), zero_output_rule()))

    @classmethod
    def markdown_only(cls) -> Guardrails:
        """``markdown`` (error) and ``zero_output`` (error)."""
        return cls((markdown_rule(severity="error"), zero_output_rule()))

    @classmethod
    def latex_only(cls) -> Guardrails:
        """``latex`` (error) and ``zero_output`` (error)."""
        return cls((latex_rule(severity="error"), zero_output_rule()))


class GuardrailsChecker:
    """The per-attempt state of a set's synchronous rules.

    ``feed`` and ``finish`` run every rule's checker and return the new violations, in rule
    order. ``checkers`` gives each rule's checker, for callers that time or report rules
    one by one (feed a checker either through the set or directly, not both).
    """

    __slots__ = ("_consumed", "_direct", "_feeding", "_finished", "checkers")

    def __init__(self, checkers: tuple[RuleChecker, ...]) -> None:
        self.checkers: tuple[RuleChecker, ...] = checkers
        # Checkers built on Checker (and not overriding feed) are driven directly: the set
        # validates the offsets once and calls their _scan, which saves a few calls per rule
        # and lets checkers whose streaming check is over drop out.
        self._direct: tuple[Checker | None, ...] = tuple(
            c if isinstance(c, Checker) and type(c).feed is Checker.feed else None for c in checkers
        )
        self._feeding: tuple[tuple[RuleChecker, Checker | None], ...] = ()
        self._consumed = 0
        self._finished = False
        self._refresh()

    def _refresh(self) -> None:
        """The checkers to feed: not those that never look at deltas or are done with them."""
        self._feeding = tuple(
            (c, direct)
            for c, direct in zip(self.checkers, self._direct, strict=True)
            if getattr(c, "feeds", True) and not (direct is not None and direct._idle)  # pyright: ignore[reportPrivateUsage]
        )

    def _sync(self) -> None:
        """Give the directly driven checkers the set's offset (before a call they check)."""
        for direct in self._direct:
            if direct is not None:
                direct._consumed = self._consumed  # pyright: ignore[reportPrivateUsage]

    def __bool__(self) -> bool:
        return bool(self.checkers)

    def feed(self, delta: str, offset: int) -> Sequence[GuardrailViolation]:
        """Check ``delta``, the output from character ``offset`` on; new violations only."""
        if offset != self._consumed or self._finished:
            # Let the checkers report the misuse exactly as when fed one by one.
            self._sync()
            found: list[GuardrailViolation] = []
            for checker in self.checkers:
                found.extend(checker.feed(delta, offset))
            self._consumed = offset + len(delta)
            return found or NO_VIOLATIONS
        self._consumed = offset + len(delta)
        out: list[GuardrailViolation] | None = None
        stale = False
        for checker, direct in self._feeding:
            if direct is None:
                news = checker.feed(delta, offset)
                if not news:
                    continue
            else:
                # What Checker.feed does, but the bookkeeping (done once above).
                if direct._idle:  # pyright: ignore[reportPrivateUsage]
                    stale = True
                    continue
                if not delta:
                    continue
                direct._scan(delta, offset, False)  # pyright: ignore[reportPrivateUsage]
                news = direct._out  # pyright: ignore[reportPrivateUsage]
                if news is None:
                    continue
                direct._out = None  # pyright: ignore[reportPrivateUsage]
            if out is None:
                out = list(news)
            else:
                out.extend(news)
        if stale:
            self._refresh()
        return NO_VIOLATIONS if out is None else out

    def finish(self, full_text: str) -> Sequence[GuardrailViolation]:
        """Check the unfed rest of ``full_text``, then the completion checks; new only."""
        if not self._finished:
            self._sync()
        self._finished = True
        out: list[GuardrailViolation] = []
        for checker in self.checkers:
            out.extend(checker.finish(full_text))
        return out or NO_VIOLATIONS


class AsyncGuardrailsChecker:
    """The per-attempt state of a set's asynchronous rules (for the checker task).

    Rules are awaited one after another, so their verdicts come in a stable order.
    """

    __slots__ = ("checkers",)

    def __init__(self, checkers: tuple[AsyncRuleChecker, ...]) -> None:
        self.checkers: tuple[AsyncRuleChecker, ...] = checkers

    def __bool__(self) -> bool:
        return bool(self.checkers)

    async def feed(self, delta: str, offset: int) -> Sequence[GuardrailViolation]:
        """Check ``delta``, the output from character ``offset`` on; new violations only."""
        out: list[GuardrailViolation] = []
        for checker in self.checkers:
            out.extend(await checker.feed(delta, offset))
        return out or NO_VIOLATIONS

    async def finish(self, full_text: str) -> Sequence[GuardrailViolation]:
        """Check the unfed rest of ``full_text``, then the completion checks; new only."""
        out: list[GuardrailViolation] = []
        for checker in self.checkers:
            out.extend(await checker.finish(full_text))
        return out or NO_VIOLATIONS
