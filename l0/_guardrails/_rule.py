"""Rules: immutable, shareable definitions, and the per-attempt checkers they start.

A :class:`Rule` holds no state of its own. For every attempt the engine calls
:meth:`Rule.start` (or :meth:`Guardrails.start <l0._guardrails._set.Guardrails.start>`) and
gets a fresh checker, which is the only place where the rule's incremental state lives::

    checker = rule.start()
    checker.feed(delta, offset)   # new text since the last check -> violations found in it
    ...
    checker.finish(full_text)     # end of the attempt -> the remaining violations

Both calls are synchronous and pure. A checker reports each distinct violation once per
attempt, and ``finish`` first checks whatever part of ``full_text`` was never fed, so the
engine does not need to flush its last batch.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Hashable, Iterable, Sequence
from typing import Any, ClassVar, Literal, Protocol, TypeAlias, cast

import attrs
import msgspec

from l0._errors import ConfigError
from l0._events._observability import GuardrailViolation

__all__ = [
    "NO_VIOLATIONS",
    "SEVERITIES",
    "AsyncRuleChecker",
    "CheckResult",
    "Checker",
    "Finding",
    "Reporter",
    "Rule",
    "RuleChecker",
    "Severity",
    "check_count",
    "check_severity",
]

Severity: TypeAlias = Literal["warning", "error", "fatal"]
"""What a violation does: ``warning`` is recorded, ``error`` fails the attempt (retry or
fall back), ``fatal`` stops the stream (no retry, no fallback)."""

SEVERITIES: tuple[Severity, ...] = ("warning", "error", "fatal")

NO_VIOLATIONS: tuple[GuardrailViolation, ...] = ()
"""What ``feed`` and ``finish`` return when there is nothing to report (shared, never copied)."""


def check_severity(where: str, value: object) -> Severity:
    """``value`` if it is a severity, else :class:`~l0.ConfigError` naming ``where``."""
    if value not in SEVERITIES:
        raise ConfigError(f"{where} must be one of {list(SEVERITIES)}, got {value!r}")
    return value


def check_count(where: str, value: object, minimum: int) -> int:
    """``value`` if it is an int >= ``minimum``, else :class:`~l0.ConfigError` naming ``where``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{where} must be an int >= {minimum}, got {value!r}")
    return value


class Finding(msgspec.Struct, frozen=True):
    """What a user-written check returns to report one violation.

    ``position`` is relative to the text the check was given (the window for a streaming
    check, the whole output for a completion check); the checker makes it absolute.
    ``kind`` names the problem; findings with the same ``kind`` (or, without one, the same
    message) and position are reported once per attempt. ``severity`` overrides the rule's.
    """

    message: str
    position: int | None = None
    kind: str | None = None
    metadata: dict[str, Any] | None = None
    severity: Severity | None = None


CheckResult: TypeAlias = str | Finding | Iterable[str | Finding] | None
"""What a user check returns: ``None`` (no violation), a message, a :class:`Finding`, or an
iterable of messages and findings."""

StreamingCheck: TypeAlias = Callable[[str], CheckResult | Awaitable[CheckResult]]
CompletionCheck: TypeAlias = Callable[[str], CheckResult | Awaitable[CheckResult]]


class RuleChecker(Protocol):
    """The per-attempt state of one synchronous rule."""

    @property
    def rule(self) -> Rule:
        """The rule this checker runs."""
        ...

    def feed(self, delta: str, offset: int) -> Sequence[GuardrailViolation]:
        """Check ``delta``, the output from character ``offset`` on; new violations only."""
        ...

    def finish(self, full_text: str) -> Sequence[GuardrailViolation]:
        """Check the unfed rest of ``full_text``, then run the completion check."""
        ...


class AsyncRuleChecker(Protocol):
    """The per-attempt state of one asynchronous rule (run off the token path)."""

    @property
    def rule(self) -> Rule:
        """The rule this checker runs."""
        ...

    async def feed(self, delta: str, offset: int) -> Sequence[GuardrailViolation]:
        """Check ``delta``, the output from character ``offset`` on; new violations only."""
        ...

    async def finish(self, full_text: str) -> Sequence[GuardrailViolation]:
        """Check the unfed rest of ``full_text``, then run the completion check."""
        ...


class Reporter:
    """Once-only reporting of violations, shared by the synchronous and asynchronous checkers."""

    __slots__ = ("_consumed", "_finished", "_idle", "_out", "_seen", "rule")

    def __init__(self, rule: Rule) -> None:
        self.rule: Rule = rule
        self._consumed = 0
        self._finished = False
        self._idle = False
        """Set by a checker whose streaming check has nothing left to do: ``feed`` (and the
        catch-up scan of ``finish``) then skip it; the completion check still runs."""
        self._seen: set[Hashable] = set()
        self._out: list[GuardrailViolation] | None = None

    def report(
        self,
        kind: str,
        message: str,
        position: int | None,
        *,
        key: Hashable = None,
        metadata: dict[str, Any] | None = None,
        severity: Severity | None = None,
        recoverable: bool | None = None,
    ) -> bool:
        """Record a violation unless its key (default ``(kind, position)``) was seen before.

        Returns whether it was new. ``metadata`` gets ``kind`` added; ``severity`` and
        ``recoverable`` default to the rule's.
        """
        if key is None:
            key = (kind, position)
        seen = self._seen
        if key in seen:
            return False
        seen.add(key)
        meta: dict[str, Any] = {"kind": kind}
        if metadata:
            meta.update(metadata)
        rule = self.rule
        violation = GuardrailViolation(
            rule_id=rule.name,
            message=message,
            severity=severity or rule.severity,
            recoverable=rule.recoverable if recoverable is None else recoverable,
            position=position,
            metadata=meta,
        )
        if self._out is None:
            self._out = [violation]
        else:
            self._out.append(violation)
        return True

    def _take(self) -> Sequence[GuardrailViolation]:
        out = self._out
        if out is None:
            return NO_VIOLATIONS
        self._out = None
        return out

    def _advance(self, delta: str, offset: int) -> None:
        """Validate a feed at ``offset`` and account for ``delta``."""
        if offset != self._consumed or self._finished:
            if self._finished:
                raise RuntimeError(f"rule {self.rule.name!r}: feed() after finish()")
            raise ValueError(
                f"rule {self.rule.name!r}: feed() at offset {offset}, expected "
                f"{self._consumed} (deltas must be contiguous)"
            )
        self._consumed = offset + len(delta)

    def _end(self, full_text: str) -> int | None:
        """Mark finished; the offset of the unfed rest of ``full_text``, None if done already."""
        if self._finished:
            return None
        consumed = self._consumed
        if len(full_text) < consumed:
            raise ValueError(
                f"rule {self.rule.name!r}: finish() got {len(full_text)} characters but "
                f"{consumed} were already fed"
            )
        self._finished = True
        self._consumed = len(full_text)
        return consumed


class Checker(Reporter):
    """Base of the synchronous checkers: offsets, the catch-up at ``finish``, reporting once.

    Subclasses override :meth:`_scan` (incremental, called with each delta and, with
    ``final=True``, once more at the end with the unfed rest, possibly empty) and
    :meth:`_complete` (the completion check, given the whole output), and call
    :meth:`report`. A subclass that never looks at deltas sets ``feeds = False``; the set
    checker then skips it in ``feed``. One whose streaming check is over for this attempt
    (nothing it could still see would change a verdict) sets ``self._idle = True``: its
    ``_scan`` is not called again.
    """

    __slots__ = ()

    feeds: ClassVar[bool] = True

    def feed(self, delta: str, offset: int) -> Sequence[GuardrailViolation]:
        """Check ``delta``, the output from character ``offset`` on; new violations only.

        Deltas must be contiguous: ``offset`` is the length of everything fed before.
        """
        if offset != self._consumed or self._finished:
            self._advance(delta, offset)  # raises
        self._consumed = offset + len(delta)
        if delta and not self._idle:
            self._scan(delta, offset, False)
            out = self._out
            if out is not None:
                self._out = None
                return out
        return NO_VIOLATIONS

    def finish(self, full_text: str) -> Sequence[GuardrailViolation]:
        """Check the unfed rest of ``full_text``, then run the completion check.

        A second call returns nothing.
        """
        consumed = self._end(full_text)
        if consumed is None:
            return NO_VIOLATIONS
        if self.feeds and not self._idle:
            self._scan(full_text[consumed:] if consumed else full_text, consumed, True)
        self._complete(full_text)
        return self._take()

    def _scan(self, delta: str, offset: int, final: bool) -> None:
        """Look at ``delta`` (at ``offset``); ``final`` on the last call, at ``finish``."""

    def _complete(self, full_text: str) -> None:
        """The completion check."""


# --------------------------------------------------------------------------- the rule


def _check_name(_inst: object, _attr: object, value: object) -> None:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"Rule.name must be a non-empty string, got {value!r}")


def _check_rule_severity(_inst: object, _attr: object, value: object) -> None:
    check_severity("Rule.severity", value)


def _default_recoverable(rule: Rule) -> bool:
    return rule.severity != "fatal"


@attrs.frozen(kw_only=True)
class Rule:
    """A guardrail rule: immutable, shareable between streams, no state of its own.

    ``start()`` returns a fresh :class:`RuleChecker` for one attempt (``start_async()`` for
    an asynchronous rule, ``is_async``). ``severity`` is what the rule's violations do
    (``warning`` recorded, ``error`` retry, ``fatal`` stop); ``recoverable`` defaults to
    ``severity != "fatal"``. ``checks_streaming`` / ``checks_completion`` say which checks the
    rule has (informational: every checker accepts both calls).

    Build your own with :meth:`streaming`, :meth:`completion` or :meth:`define`, or pass a
    ``factory`` (``Callable[[Rule], RuleChecker]``) for a fully custom incremental rule.
    Change a built-in rule with :func:`attrs.evolve`, e.g.
    ``attrs.evolve(json_rule(), severity="fatal", recoverable=False)``.
    """

    name: str = attrs.field(validator=_check_name)
    severity: Severity = attrs.field(default="error", validator=_check_rule_severity)
    recoverable: bool = attrs.field(default=attrs.Factory(_default_recoverable, takes_self=True))
    description: str = ""
    checks_streaming: bool = True
    checks_completion: bool = True
    _factory: Callable[[Rule], RuleChecker] | None = attrs.field(
        default=None, alias="factory", repr=False
    )
    _async_factory: Callable[[Rule], AsyncRuleChecker] | None = attrs.field(
        default=None, alias="async_factory", repr=False
    )

    def __attrs_post_init__(self) -> None:
        if (self._factory is None) == (self._async_factory is None):
            raise ConfigError(f"Rule {self.name!r} needs exactly one of factory, async_factory")
        for field, value in (("factory", self._factory), ("async_factory", self._async_factory)):
            if value is not None and not callable(value):
                raise ConfigError(
                    f"Rule {self.name!r}: {field} must be callable, got {type(value).__name__}"
                )

    @property
    def is_async(self) -> bool:
        """Whether the rule's checks are coroutines (run in the stream's checker task)."""
        return self._async_factory is not None

    def start(self) -> RuleChecker:
        """A fresh checker for one attempt of a synchronous rule."""
        if self._factory is None:
            raise TypeError(f"rule {self.name!r} is asynchronous: use start_async()")
        return self._factory(self)

    def start_async(self) -> AsyncRuleChecker:
        """A fresh checker for one attempt of an asynchronous rule."""
        if self._async_factory is None:
            raise TypeError(f"rule {self.name!r} is synchronous: use start()")
        return self._async_factory(self)

    @classmethod
    def define(
        cls,
        name: str,
        *,
        streaming: StreamingCheck | None = None,
        completion: CompletionCheck | None = None,
        severity: Severity = "error",
        recoverable: bool | None = None,
        overlap: int = 0,
        description: str = "",
        is_async: bool | None = None,
    ) -> Rule:
        """A rule from plain functions; see :meth:`streaming` and :meth:`completion`.

        Both functions must be of the same kind, plain or ``async def``. ``is_async``
        overrides the detection, for callables that return awaitables without being
        coroutine functions.
        """
        checks = [fn for fn in (streaming, completion) if fn is not None]
        if not checks:
            raise ConfigError(f"Rule {name!r} needs a streaming or a completion check")
        for fn in checks:
            if not callable(fn):
                raise ConfigError(f"Rule {name!r}: checks must be callables, got {fn!r}")
        check_count(f"Rule {name!r} overlap", overlap, 0)
        if is_async is None:
            kinds = {inspect.iscoroutinefunction(fn) for fn in checks}
            if len(kinds) > 1:
                raise ConfigError(f"Rule {name!r}: mix of async and plain checks")
            is_async = kinds.pop()
        severity = check_severity(f"Rule {name!r} severity", severity)
        if recoverable is None:
            recoverable = severity != "fatal"
        common: dict[str, Any] = {
            "name": name,
            "severity": severity,
            "recoverable": recoverable,
            "description": description,
            "checks_streaming": streaming is not None,
            "checks_completion": completion is not None,
        }
        if is_async:
            a_stream = cast("Callable[[str], Awaitable[CheckResult]] | None", streaming)
            a_complete = cast("Callable[[str], Awaitable[CheckResult]] | None", completion)

            def start_async(rule: Rule) -> AsyncRuleChecker:
                return _AsyncFunctionChecker(rule, a_stream, a_complete, overlap)

            return cls(async_factory=start_async, **common)
        s_stream = cast("Callable[[str], CheckResult] | None", streaming)
        s_complete = cast("Callable[[str], CheckResult] | None", completion)

        def start(rule: Rule) -> RuleChecker:
            return _FunctionChecker(rule, s_stream, s_complete, overlap)

        return cls(factory=start, **common)

    @classmethod
    def streaming(
        cls,
        name: str,
        check: StreamingCheck,
        *,
        severity: Severity = "error",
        recoverable: bool | None = None,
        overlap: int = 0,
        description: str = "",
        is_async: bool | None = None,
    ) -> Rule:
        """A rule whose check runs on each new piece of output.

        ``check(window)`` gets the new text preceded by up to ``overlap`` characters of the
        text before it (so a phrase cut between two checks is still seen whole), never the
        whole output: its cost does not grow with the output. It returns a
        :data:`CheckResult`; positions in findings are relative to ``window``.
        """
        return cls.define(
            name,
            streaming=check,
            severity=severity,
            recoverable=recoverable,
            overlap=overlap,
            description=description,
            is_async=is_async,
        )

    @classmethod
    def completion(
        cls,
        name: str,
        check: CompletionCheck,
        *,
        severity: Severity = "error",
        recoverable: bool | None = None,
        description: str = "",
        is_async: bool | None = None,
    ) -> Rule:
        """A rule whose check runs once, on the whole output, when the attempt ends."""
        return cls.define(
            name,
            completion=check,
            severity=severity,
            recoverable=recoverable,
            description=description,
            is_async=is_async,
        )


# --------------------------------------------------------------------------- function rules


def _findings(result: object) -> Iterable[str | Finding]:
    if result is None:
        return ()
    if isinstance(result, (str, Finding)):
        return (result,)
    if isinstance(result, bool) or not isinstance(result, Iterable):
        raise TypeError(
            "a guardrail check returns None, a message, a Finding or an iterable of them; "
            f"got {result!r}"
        )
    return cast("Iterable[str | Finding]", result)


def _record(checker: Reporter, result: object, base: int) -> None:
    for item in _findings(result):
        if isinstance(item, str):
            checker.report(item, item, None)
            continue
        if not isinstance(item, Finding):  # pyright: ignore[reportUnnecessaryIsInstance]
            raise TypeError(f"a guardrail check yielded {item!r}, not a str or Finding")
        position = None if item.position is None else base + item.position
        checker.report(
            item.kind or item.message,
            item.message,
            position,
            metadata=item.metadata,
            severity=item.severity,
            recoverable=False if item.severity == "fatal" else None,
        )


class _FunctionChecker(Checker):
    __slots__ = ("_completion", "_overlap", "_streaming", "_tail")

    def __init__(
        self,
        rule: Rule,
        streaming: Callable[[str], CheckResult] | None,
        completion: Callable[[str], CheckResult] | None,
        overlap: int,
    ) -> None:
        super().__init__(rule)
        self._streaming = streaming
        self._completion = completion
        self._overlap = overlap
        self._tail = ""

    def _scan(self, delta: str, offset: int, final: bool) -> None:
        check = self._streaming
        if check is None or not delta:
            return
        tail = self._tail
        window = tail + delta if tail else delta
        result = check(window)
        if self._overlap:
            self._tail = window[-self._overlap :]
        _record(self, result, offset - len(tail))

    def _complete(self, full_text: str) -> None:
        if self._completion is not None:
            _record(self, self._completion(full_text), 0)


class _AsyncFunctionChecker(Reporter):
    """The asynchronous twin of :class:`_FunctionChecker` (awaits the user's checks)."""

    __slots__ = ("_completion", "_overlap", "_streaming", "_tail")

    def __init__(
        self,
        rule: Rule,
        streaming: Callable[[str], Awaitable[CheckResult]] | None,
        completion: Callable[[str], Awaitable[CheckResult]] | None,
        overlap: int,
    ) -> None:
        super().__init__(rule)
        self._streaming = streaming
        self._completion = completion
        self._overlap = overlap
        self._tail = ""

    async def _window(self, delta: str, offset: int) -> None:
        check = self._streaming
        if check is None or not delta:
            return
        tail = self._tail
        window = tail + delta if tail else delta
        if self._overlap:
            self._tail = window[-self._overlap :]
        _record(self, await check(window), offset - len(tail))

    async def feed(self, delta: str, offset: int) -> Sequence[GuardrailViolation]:
        """Check ``delta``, the output from character ``offset`` on; new violations only."""
        self._advance(delta, offset)
        await self._window(delta, offset)
        return self._take()

    async def finish(self, full_text: str) -> Sequence[GuardrailViolation]:
        """Check the unfed rest of ``full_text``, then run the completion check."""
        consumed = self._end(full_text)
        if consumed is None:
            return NO_VIOLATIONS
        await self._window(full_text[consumed:], consumed)
        if self._completion is not None:
            _record(self, await self._completion(full_text), 0)
        return self._take()
