"""One structured-output call inside the l0 lifecycle.

The output is judged by a completion guardrail rule (severity ``error``): when an attempt
ends, the rule heals and validates its text, and a failure fails the attempt like any error
guardrail, so retries, fallbacks, budgets and events work exactly as for any other failure.
The rule runs synchronously inside the engine, so what it has to say (the ``STRUCTURED_*``
events, ``on_validation_error``, ``on_auto_correct``) is queued and delivered, in order, just
before the next notice of the engine: the job wraps the user's ``on_event`` and the
callbacks that always follow a completion check (``on_violation`` on failure, ``on_complete``
on success, ``on_error``).

With ``reask``, the factories are wrapped too, so that an attempt after a structured failure
sees that failure (a :class:`SchemaValidationError` or :class:`InvalidJSON`, carrying the
issues and the output) as ``ctx.error`` instead of the guardrail error that carried it.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final, Generic, TypeVar

import attrs
import msgspec

from l0._errors import AllStreamsExhausted, GuardrailViolationError, L0Error
from l0._events import _observability as obs
from l0._guardrails import Checker, Rule, RuleChecker
from l0._runtime._options import AttemptContext, wants_context
from l0._structured._errors import InvalidJSON, StructuredError
from l0._structured._heal import Correction, Healed, heal
from l0._structured._schema import Invalid, Schema
from l0._structured._validation import SchemaValidationError

if TYPE_CHECKING:
    from l0._runtime._options import Factory

__all__ = ["RULE_NAME", "Decoded", "Job"]

T = TypeVar("T")

RULE_NAME: Final = "structured-output"
"""The name of the guardrail rule that judges structured output."""

logger = logging.getLogger("l0")

_DECODE_ERRORS: Final = (ValueError, RecursionError)
_LOCATING: Final = frozenset({"strip_fence", "strip_prose"})
"""Corrections that only find the value in the text: allowed with ``auto_correct=False``."""
_STAMP: Final = (
    "attempt",
    "source_index",
    "adapter",
    "checkpoint",
    "token_count",
    "content_length",
    "model_retry_count",
    "network_retry_count",
    "fallback_index",
    "context",
)
_FLUSHED_BEFORE: Final = ("on_violation", "on_complete", "on_error")


@attrs.frozen
class Decoded:
    """A judged output that passed: its text, the JSON decoded from it and the typed data."""

    raw: str
    json_text: str
    corrections: tuple[Correction, ...]
    value: Any
    data: Any


async def _call(name: str, fn: Callable[..., Any], args: Sequence[Any]) -> None:
    """Call a user callback (sync or async); log what it raises, as l0's dispatcher does."""
    try:
        result = fn(*args)
        if inspect.isawaitable(result):
            await result
    except Exception:
        logger.exception("l0 callback %s raised; the stream goes on", name)


class _StructuredChecker(Checker):
    """The per-attempt checker of the structured-output rule: judges the whole output."""

    __slots__ = ("_job",)

    feeds = False

    def __init__(self, rule: Rule, job: Job[Any]) -> None:
        super().__init__(rule)
        self._job = job

    def _complete(self, full_text: str) -> None:
        failure = self._job.judge(full_text)
        if failure is not None:
            serial, error = failure
            self.report(
                "structured_output",
                error.message,
                None,
                metadata={
                    "failure": serial,
                    "code": error.code.value,
                    **{k: v for k, v in error.metadata.items() if k != "output"},
                },
            )


class Job(Generic[T]):
    """The state of one ``structured()`` call: its rule, queued notices and failures."""

    def __init__(
        self,
        schema: Schema[T],
        *,
        auto_correct: bool,
        strict_mode: bool,
        reask: bool,
        on_validation_error: Callable[..., Any] | None,
        on_auto_correct: Callable[..., Any] | None,
        callbacks: Mapping[str, Callable[..., Any] | None],
    ) -> None:
        self.schema = schema
        self.auto_correct = auto_correct
        self.strict_mode = strict_mode
        self.reask = reask
        self._on_validation_error = on_validation_error
        self._on_auto_correct = on_auto_correct
        self._user = dict(callbacks)
        self._on_event = callbacks.get("on_event")
        self.rule: Rule = Rule(
            name=RULE_NAME,
            severity="error",
            description=f"the output is JSON matching {schema.name or 'the schema'}",
            checks_streaming=False,
            factory=self._start,
        )
        self.stream_id = ""
        self.last: Decoded | None = None
        self._failures: dict[int, StructuredError] = {}
        self._pending: list[tuple[Any, ...]] = []
        self._context: dict[str, Any] | None = None
        self._last_ts = 0.0
        self._attempt = 1
        self._source = 0

    def _start(self, rule: Rule) -> RuleChecker:
        return _StructuredChecker(rule, self)

    # -- judging (inside the engine: synchronous, queues what it reports) -------------------

    def judge(self, text: str) -> tuple[int, StructuredError] | None:
        """Heal, decode and validate one attempt's output; the failure, if any, with its
        serial number. An empty output passes here: l0's zero-output check fails it."""
        if not text.strip():
            return None
        error: StructuredError
        try:
            decoded = self.decode(text, judging=True)
        except InvalidJSON as exc:
            exc.metadata["output"] = text
            error = exc
        else:
            failed = self.validate(decoded, judging=True)
            if failed is None:
                return None
            error = failed
        error.attempt = self._attempt
        error.source_index = self._source
        serial = len(self._failures)
        self._failures[serial] = error
        if self._on_validation_error is not None:
            self._pending.append(("call", "on_validation_error", self._on_validation_error,
                                  (error, self._attempt)))  # fmt: skip
        return serial, error

    def decode(self, text: str, *, judging: bool = False) -> Decoded:
        """The JSON value in ``text`` (healed unless ``strict_mode``); raises InvalidJSON.

        ``judging``: an attempt's output is being judged, so events and callbacks are queued.
        """
        started = time.perf_counter()
        emit = judging and self._on_event is not None
        if emit:
            self._event(obs.StructuredParseStart, content_length=len(text))
        try:
            try:
                value = msgspec.json.decode(text)
            except _DECODE_ERRORS as exc:
                if self.strict_mode:
                    raise InvalidJSON(
                        f"the output is not exactly JSON (strict mode): {exc}", text=text
                    ) from exc
                healed, value = self._heal(text, judging=judging)
            else:
                healed = Healed(text=text)
        except InvalidJSON as exc:
            if emit:
                self._event(obs.StructuredParseError, error=exc.message,
                            content_preview=text[:200])  # fmt: skip
                self._event(obs.StructuredParseEnd, success=False, duration_ms=_ms(started))
            raise
        if emit:
            self._event(obs.StructuredParseEnd, success=True, duration_ms=_ms(started))
        return Decoded(text, healed.text, healed.corrections, value, None)

    def _heal(self, text: str, *, judging: bool) -> tuple[Healed, Any]:
        started = time.perf_counter()
        emit = judging and self._on_event is not None
        healed: Healed | None = None
        try:
            healed = heal(text)
            value = self._decode_healed(text, healed)
        except InvalidJSON:
            if emit:
                count = len(healed.corrections) if healed is not None else 1
                self._event(obs.StructuredAutoCorrectStart, error_count=count)
                self._event(obs.StructuredAutoCorrectEnd, success=False, corrections_made=0,
                            duration_ms=_ms(started))  # fmt: skip
            raise
        if emit:
            count = len(healed.corrections)
            self._event(obs.StructuredAutoCorrectStart, error_count=count)
            self._event(obs.StructuredAutoCorrectEnd, success=True, corrections_made=count,
                        duration_ms=_ms(started))  # fmt: skip
        if judging and self._on_auto_correct is not None:
            self._pending.append(("call", "on_auto_correct", self._on_auto_correct,
                                  (text, healed)))  # fmt: skip
        return healed, value

    def _decode_healed(self, text: str, healed: Healed) -> Any:
        if not self.auto_correct:
            needed = [c for c in healed.corrections if c.kind not in _LOCATING]
            if needed:
                kinds = ", ".join(dict.fromkeys(c.kind for c in needed))
                raise InvalidJSON(
                    f"the output needs corrections ({kinds}) and auto_correct is off",
                    text=text,
                    position=needed[0].position,
                )
        try:
            return msgspec.json.decode(healed.text)
        except _DECODE_ERRORS as exc:
            raise InvalidJSON(f"healed JSON does not decode: {exc}", text=healed.text) from exc

    def validate(self, decoded: Decoded, *, judging: bool = False) -> SchemaValidationError | None:
        """Validate ``decoded.value``; on success remember the typed data (:attr:`last`)."""
        started = time.perf_counter()
        emit = judging and self._on_event is not None
        if emit:
            self._event(obs.StructuredValidationStart, schema_name=self.schema.name)
        try:
            data = self.schema.convert(decoded.value)
        except Invalid as exc:
            if emit:
                self._event(obs.StructuredValidationError, errors=[str(i) for i in exc.issues])
                self._event(obs.StructuredValidationEnd, valid=False, duration_ms=_ms(started))
            return SchemaValidationError(
                exc.issues,
                schema_name=self.schema.name,
                value=decoded.value,
                output=decoded.raw,
                corrections=decoded.corrections,
            )
        if emit:
            self._event(obs.StructuredValidationEnd, valid=True, duration_ms=_ms(started))
        self.last = attrs.evolve(decoded, data=data)
        return None

    def result_for(self, text: str) -> Decoded:
        """The judged output for the final ``text`` (judged again, quietly, if need be)."""
        last = self.last
        if last is not None and last.raw == text:
            return last
        decoded = self.decode(text)
        error = self.validate(decoded)
        if error is not None:
            raise error
        assert self.last is not None
        return self.last

    # -- notices (delivered by the wrapped callbacks) ----------------------------------------

    def _event(self, cls: Callable[..., obs.ObservabilityEvent], **fields: Any) -> None:
        self._pending.append(("event", cls, fields, time.time()))

    async def flush(self, next_ts: float | None = None) -> None:
        """Deliver the queued events and callbacks, in order (events stamped no later than
        the engine's event that follows them, and never earlier than the one before)."""
        while self._pending:
            pending, self._pending = self._pending, []
            for item in pending:
                if item[0] == "call":
                    await _call(item[1], item[2], item[3])
                    continue
                on_event = self._on_event
                if on_event is None:
                    continue
                _, cls, fields, wall = item
                ts = max(self._last_ts, wall if next_ts is None else min(wall, next_ts))
                self._last_ts = ts
                event = cls(ts=ts, stream_id=self.stream_id, context=self._context, **fields)
                await _call("on_event", on_event, (event,))

    def callbacks(self) -> dict[str, Callable[..., Any]]:
        """The callbacks to give ``l0.run``: the user's, wrapped to flush the queue first."""
        out: dict[str, Callable[..., Any]] = {}
        for name in _FLUSHED_BEFORE:
            out[name] = self._flushing(name, self._user.get(name))
        on_event = self._on_event
        if on_event is not None:

            async def event_hook(event: obs.ObservabilityEvent) -> None:
                if self._context is None:
                    self._context = event.context
                await self.flush(event.ts)
                self._last_ts = max(self._last_ts, event.ts)
                await _call("on_event", on_event, (event,))

            out["on_event"] = event_hook
        return out

    def _flushing(self, name: str, user: Callable[..., Any] | None) -> Callable[..., Any]:
        async def hook(*args: Any) -> None:
            await self.flush()
            if user is not None:
                await _call(name, user, args)

        return hook

    # -- re-asking ----------------------------------------------------------------------------

    def wrap(self, factory: Factory) -> Factory:
        """``factory``, told which attempt it serves and (with ``reask``) the structured
        failure of the previous attempt as ``ctx.error``."""
        wants = wants_context(factory)

        def attempt(ctx: AttemptContext, /) -> Any:
            self._attempt = ctx.attempt
            self._source = ctx.source_index
            if not wants:
                return factory()
            if self.reask and ctx.error is not None:
                error = self.translate(ctx.error)
                if error is not ctx.error:
                    ctx = attrs.evolve(ctx, error=error)
            return factory(ctx)

        return attempt

    def translate(self, error: L0Error) -> L0Error:
        """The structured failure a guardrail error of this job's rule carries, else ``error``."""
        if not isinstance(error, GuardrailViolationError):
            return error
        for violation in error.violations:
            if getattr(violation, "rule_id", None) != RULE_NAME:
                continue
            metadata: Mapping[str, Any] = getattr(violation, "metadata", None) or {}
            found = self._failures.get(metadata.get("failure", -1))
            if found is not None:
                for name in _STAMP:
                    setattr(found, name, getattr(error, name))
                return found
        return error

    def translate_final(self, error: L0Error) -> None:
        """Put the structured failures into the error that ended the stream (in place)."""
        if isinstance(error, AllStreamsExhausted):
            error.errors = [self.translate(e) for e in error.errors]
            cause = error.__cause__
            if isinstance(cause, L0Error):
                error.__cause__ = self.translate(cause)


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000
