"""What the demo saw of a scenario: its timeline, its counters, and the story of what l0 did.

Synchronous and free of I/O: a :class:`Recorder` is fed l0's callbacks and the consumer's
stream events (with the time passed in by its clock), and hands every new timeline line to a
sink (the view).
"""

from __future__ import annotations

import contextlib
import http
from collections.abc import Callable, Sequence
from typing import Any, Literal

import attrs

from l0 import events
from l0._errors import (
    AllStreamsExhausted,
    GuardrailViolationError,
    L0Error,
    NetworkError,
    StreamTimeout,
)
from l0.adapters import ProviderError
from l0.structured import RULE_NAME as STRUCTURED_RULE

__all__ = ["Entry", "Kind", "Recorder", "ScenarioResult", "Track", "describe_error"]

Kind = Literal["info", "fault", "recovery", "ok", "error"]
"""How a timeline line reads: what happened, a fault, l0 recovering, success, failure."""


@attrs.frozen(kw_only=True)
class Entry:
    """One line of a scenario's timeline: ``at`` seconds after the scenario started."""

    at: float
    text: str
    kind: Kind = "info"


@attrs.frozen(kw_only=True)
class ScenarioResult:
    """How a scenario went: the row of the closing summary table.

    ``ok`` is false if the stream failed, or (against the local provider, where the faults are
    known) if l0 did not do what the scenario shows; ``problems`` says what went wrong.
    ``story`` is what l0 did, in order (``"stalled 0.6 s -> timeout -> retry 1 -> ..."``).
    ``ttft``: seconds from the start to the first token the reader saw; ``tokens_per_second``:
    the tokens of the output kept, over the time from its first token to the end.
    """

    name: str
    title: str
    ok: bool
    story: tuple[str, ...]
    problems: tuple[str, ...] = ()
    attempts: int = 0
    retries: int = 0
    fallbacks: int = 0
    ttft: float | None = None
    tokens_per_second: float | None = None
    duration: float = 0.0

    @property
    def outcome(self) -> str:
        """The story as one line."""
        return " -> ".join(self.story) if self.story else "nothing happened"


def _seconds(value: float) -> str:
    return f"{value:.2f} s" if value < 10 else f"{value:.1f} s"


def describe_error(error: BaseException) -> str:
    """A short description of why an attempt failed."""
    if isinstance(error, ProviderError) and error.status_code is not None:
        text = f"HTTP {error.status_code}"
        with contextlib.suppress(ValueError):
            text += f" {http.HTTPStatus(error.status_code).phrase}"
        if error.retry_after is not None:
            text += f", Retry-After {_seconds(error.retry_after)}"
        return text
    if isinstance(error, NetworkError):
        cause = error.__cause__
        return f"connection lost ({type(cause).__name__})" if cause else "connection lost"
    if isinstance(error, AllStreamsExhausted):
        return f"all {len(error.errors)} attempt(s) failed"
    if isinstance(error, StreamTimeout):
        return f"{error.kind} timeout after {_seconds(error.elapsed)}"
    if isinstance(error, L0Error):
        message = str(error)
        return f"{error.code.value}: {message[:90]}"
    return f"{type(error).__name__}: {str(error)[:90]}"


class Recorder:
    """Collects one scenario's timeline, counters and story.

    ``now`` is the clock (:func:`anyio.current_time` in the demo); ``sink`` receives each new
    :class:`Entry` as it is recorded. Streams report through a :class:`Track` each
    (:meth:`track`), tokens and resets the consumer saw through :meth:`token` and :meth:`reset`.
    """

    def __init__(self, now: Callable[[], float], sink: Callable[[Entry], None]) -> None:
        self._now = now
        self._sink = sink
        self.started_at = now()
        self.entries: list[Entry] = []
        self.story: list[str] = []
        self._keys: list[str | None] = []  # of the story's steps
        self._repeats: dict[str, int] = {}
        self.discarded = 0
        self.problems: list[str] = []
        self.attempts = 0
        self.retries = 0
        self.fallbacks = 0
        self.timeouts = 0
        self.resets = 0
        self.resumed_at: list[int] = []
        self.violations: list[events.GuardrailViolation] = []
        self.waits: list[float] = []
        self.first_token_at: float | None = None
        self._output_from: float | None = None  # the first token of the output kept
        self.tokens = 0
        self._parts: list[str] = []  # the text the reader sees now

    @property
    def text(self) -> str:
        """The text the reader sees now (since the last reset)."""
        return "".join(self._parts)

    def elapsed(self) -> float:
        """Seconds since the scenario started."""
        return self._now() - self.started_at

    def note(self, text: str, kind: Kind = "info") -> None:
        """Add a line to the timeline."""
        entry = Entry(at=self.elapsed(), text=text, kind=kind)
        self.entries.append(entry)
        self._sink(entry)

    def tell(self, step: str, *, key: str | None = None) -> None:
        """Add a step to the story of what l0 did.

        A step with the ``key`` of an earlier one replaces that one: what repeats (the same
        failure, more retries) does not make the story longer.
        """
        if key is not None and key in self._keys:
            self.story[self._keys.index(key)] = step
            return
        self.story.append(step)
        self._keys.append(key)

    def tell_again(self, step: str) -> None:
        """Add a step that may repeat: told once, with how many times it happened."""
        count = self._repeats[step] = self._repeats.get(step, 0) + 1
        self.tell(step if count == 1 else f"{step} (x{count})", key=f"again:{step}")

    def expect(self, condition: bool, problem: str) -> None:
        """Record ``problem`` unless ``condition`` holds."""
        if not condition:
            self.problems.append(problem)

    def track(
        self,
        sources: Sequence[str],
        label: str | None = None,
        echo: Callable[[str], None] | None = None,
    ) -> Track:
        """A new stream's callbacks; ``sources`` names its primary and its fallbacks.

        ``echo`` is given each token as ``on_token`` sees it (for consumers that do not see
        the tokens themselves, such as a structured stream's).
        """
        return Track(self, tuple(sources), label, echo)

    def token(self, text: str) -> None:
        """The consumer received a token."""
        if self.first_token_at is None:
            self.first_token_at = self._now()
            self.note("first token", "ok")
        if self._output_from is None:
            self._output_from = self._now()
        self.tokens += 1
        self._parts.append(text)

    def reset(self, discarded: int) -> None:
        """The consumer was told to forget ``discarded`` characters."""
        self.resets += 1
        self.tokens = 0
        self._output_from = None
        self._parts.clear()
        self.discarded += discarded
        self.note(f"reset: {discarded} chars of the failed attempt discarded", "recovery")
        self.tell(f"{self.discarded} chars discarded", key="reset")

    def result(self, name: str, title: str, *, completed: bool) -> ScenarioResult:
        """The scenario's :class:`ScenarioResult`, as of now."""
        end = self._now()
        ttft = tps = None
        if self.first_token_at is not None:
            ttft = self.first_token_at - self.started_at
        if self._output_from is not None and end > self._output_from and self.tokens:
            tps = self.tokens / (end - self._output_from)
        return ScenarioResult(
            name=name,
            title=title,
            ok=completed and not self.problems,
            story=tuple(self.story),
            problems=tuple(self.problems),
            attempts=self.attempts,
            retries=self.retries,
            fallbacks=self.fallbacks,
            ttft=ttft,
            tokens_per_second=tps,
            duration=end - self.started_at,
        )


class Track:
    """The callbacks of one stream (``**track.options()`` into :func:`l0.run`)."""

    def __init__(
        self,
        recorder: Recorder,
        sources: tuple[str, ...],
        label: str | None,
        echo: Callable[[str], None] | None,
    ) -> None:
        self._rec = recorder
        self._echo = echo
        self._sources = sources or ("model",)
        self._prefix = f"[{label}] " if label else ""
        self._source = 0
        self._attempt_tokens = 0
        self._failed_at: float | None = None
        self._retry_after: float | None = None

    def options(self) -> dict[str, Any]:
        """The callbacks to give :func:`l0.run` (or ``l0.structured``)."""
        return {
            "on_event": self.on_event,
            "on_start": self.on_start,
            "on_error": self.on_error,
            "on_token": self.on_token,
        }

    @property
    def source(self) -> str:
        """The name of the source of the current attempt."""
        return self._sources[min(self._source, len(self._sources) - 1)]

    def _note(self, text: str, kind: Kind = "info") -> None:
        self._rec.note(self._prefix + text, kind)

    # -- callbacks ------------------------------------------------------------------------

    def on_start(self, attempt: int, is_retry: bool, is_fallback: bool) -> None:
        """``on_start``: an attempt begins."""
        rec = self._rec
        rec.attempts += 1
        if is_fallback:
            self._source += 1
            rec.fallbacks += 1
        elif is_retry:
            rec.retries += 1
        self._attempt_tokens = 0
        if self._failed_at is not None and self._retry_after is not None:
            waited = rec.elapsed() - self._failed_at
            rec.waits.append(waited)
            rec.tell(f"waited {_seconds(waited)} as told", key="waited")
        self._failed_at = self._retry_after = None
        if is_retry:
            rec.tell("retry 1" if rec.retries == 1 else f"{rec.retries} retries", key="retry")
        kind: Kind = "recovery" if is_retry or is_fallback else "info"
        self._note(f"attempt {attempt} -> {self.source}", kind)

    def on_token(self, text: str) -> None:
        """``on_token``: count this attempt's tokens (and echo them)."""
        self._attempt_tokens += 1
        if self._echo is not None:
            self._echo(text)

    def on_error(self, error: BaseException, will_retry: bool, will_fallback: bool) -> None:
        """``on_error``: an attempt failed."""
        rec = self._rec
        self._failed_at = rec.elapsed()
        self._retry_after = getattr(error, "retry_after", None)
        then = "retrying" if will_retry else "falling back" if will_fallback else "giving up"
        kind: Kind = "fault" if will_retry or will_fallback else "error"
        if isinstance(error, (StreamTimeout, GuardrailViolationError)):
            # TIMEOUT_TRIGGERED and the guardrail's result said why.
            self._note(f"attempt abandoned: {then}", kind)
            return
        what = describe_error(error)
        if isinstance(error, NetworkError) and self._attempt_tokens:
            rec.tell_again(f"dropped after {self._attempt_tokens} tokens")
        else:
            rec.tell_again(what)
        self._note(f"{what}: {then}", kind)

    def on_event(self, event: events.ObservabilityEvent) -> None:
        """``on_event``: the lifecycle events worth a line."""
        rec = self._rec
        if isinstance(event, events.TimeoutTriggered):
            rec.timeouts += 1
            waited = event.elapsed_ms / 1000
            if event.timeout_type == "inter":
                rec.tell_again(f"stalled {waited:.1f} s -> timeout")
                self._note(f"no token for {_seconds(waited)}: inter-token timeout", "fault")
            else:
                rec.tell_again(f"no first token in {waited:.1f} s -> timeout")
                self._note(f"no first token in {_seconds(waited)}: timeout", "fault")
        elif isinstance(event, events.RetryAttempt):
            self._note(f"retry in {_seconds(event.delay_ms / 1000)}", "recovery")
        elif isinstance(event, events.FallbackModelSelected):
            name = self._sources[min(event.index, len(self._sources) - 1)]
            rec.tell(f"fell back to {name}")
            self._note(f"falling back to {name}", "recovery")
        elif isinstance(event, events.CheckpointSaved):
            self._note(f"checkpoint at char {event.length}")
        elif isinstance(event, events.ResumeStart):
            rec.resumed_at.append(len(event.checkpoint))
            rec.tell(f"resumed at char {len(event.checkpoint)}")
            self._note(f"resuming from the checkpoint, char {len(event.checkpoint)}", "recovery")
        elif (
            isinstance(event, events.GuardrailRuleResult)
            and event.violation is not None
            and event.rule_id != STRUCTURED_RULE  # its STRUCTURED_* events say more
        ):
            violation = event.violation
            rec.violations.append(violation)
            rec.tell_again(f"guardrail {violation.rule_id} ({violation.severity})")
            where = f" at char {violation.position}" if violation.position is not None else ""
            self._note(
                f"guardrail {violation.rule_id} ({violation.severity}){where}: {violation.message}",
                "fault",
            )
        elif isinstance(event, events.StructuredParseError):
            rec.tell_again("no JSON in the output")
            self._note(f"no JSON in the output: {event.error}", "fault")
        elif isinstance(event, events.StructuredValidationError):
            rec.tell_again(f"invalid: {event.errors[0]}" if event.errors else "invalid")
            self._note(f"not the schema: {'; '.join(event.errors)}", "fault")
        elif isinstance(event, events.StructuredAutoCorrectEnd):
            self._note(f"JSON healed: {event.corrections_made} correction(s)", "recovery")
        elif isinstance(event, events.StructuredValidationEnd) and event.valid:
            self._note("valid against the schema", "ok")
        elif isinstance(event, events.Complete):
            self._note(f"completed: {event.token_count} tokens, {event.content_length} chars", "ok")
