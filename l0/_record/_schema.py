"""What a recording is made of: one msgspec record per engine input, answer or output.

A recording is the list of records of one stream, in the order they happened. Each record is
one JSON object with a ``k`` tag (its kind) and ``v``, the schema version it was written
with. Three families:

* **inputs**: the calls the runtime made on the engine (``start``, ``begin``, ``text``,
  ``item``, ``wait``, ``timeout``, ``ended``, ``failed``...), with the time ``now`` they
  carried, and for content the time ``t`` it arrived;
* **answers**: what the engine asked its collaborators and got back (``clock`` reads,
  guardrail and drift verdicts, retry-budget and circuit-breaker answers, retry hooks), so a
  re-execution needs none of them;
* **outputs**: the observability events (``event``), and the ``end`` record (outcome, final
  state).

The first record (``head``) holds the seed, the option values and the rest of what the
engine was built from.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any, Literal, cast

import msgspec

from l0._engine import StartAttempt
from l0._engine._actions import RuleCall
from l0._errors import (
    AllStreamsExhausted,
    ConfigError,
    ErrorCode,
    GuardrailViolationError,
    L0Error,
    RetryReason,
    StreamTimeout,
)
from l0._events._observability import AnyObservabilityEvent, FailureType, GuardrailViolation
from l0._events._stream import Reset, SourceEvent, StreamEvent
from l0._guardrails._drift import DriftResult
from l0.adapters._base import Fault, Finish, ToolCallDelta, Usage

__all__ = [
    "INPUT_KINDS",
    "SCHEMA_VERSION",
    "Abort",
    "Admit",
    "AnyRecord",
    "AsyncFailed",
    "AsyncVerdict",
    "Attempt",
    "Begin",
    "Breaker",
    "Budget",
    "Clock",
    "Drift",
    "End",
    "ErrorRecord",
    "Event",
    "Failed",
    "Guard",
    "Header",
    "Hook",
    "Interrupt",
    "Item",
    "Ready",
    "Record",
    "Start",
    "TakeFailure",
    "Text",
    "TimedOut",
    "Wait",
    "decode_chunk",
    "decode_record",
    "encode_chunk",
    "encode_record",
    "error_from_record",
    "error_record",
    "json_data",
]

SCHEMA_VERSION = 1
"""The version of the record format written by this l0 (``v`` in every record)."""


class Record(msgspec.Struct, frozen=True, kw_only=True, tag_field="k"):
    """Base of every record: ``k`` is its kind, ``v`` the schema version it was written with."""

    v: int = SCHEMA_VERSION


class Attempt(msgspec.Struct, frozen=True, kw_only=True):
    """An attempt the engine asked for (its ``StartAttempt``)."""

    source_index: int
    attempt: int
    delay: float
    is_retry: bool
    is_fallback: bool

    @classmethod
    def of(cls, action: StartAttempt) -> Attempt:
        """The record of ``action``."""
        return cls(
            source_index=action.source_index,
            attempt=action.attempt,
            delay=action.delay,
            is_retry=action.is_retry,
            is_fallback=action.is_fallback,
        )


class ErrorRecord(msgspec.Struct, frozen=True, kw_only=True):
    """An :class:`~l0.L0Error` with what it takes to rebuild an equal one.

    ``name`` is its class, ``base`` the nearest l0 class it derives from (what a rebuilt error
    is when ``name`` is a class of your own); ``cause`` is the repr of the exception it was
    mapped from, for reading only.
    """

    name: str
    base: str
    message: str
    code: str
    retryable: bool
    retry_after: float | None = None
    failure_type: str = "unknown"
    retry_reason: str = "unknown"
    counts_toward_limit: bool = True
    metadata: dict[str, Any] = msgspec.field(default_factory=dict[str, Any])
    kind: str | None = None
    elapsed: float | None = None
    limit: float | None = None
    fatal: bool | None = None
    violations: list[GuardrailViolation] | None = None
    errors: list[ErrorRecord] | None = None
    cause: str | None = None
    detail: str | None = None


class Header(Record, frozen=True, kw_only=True, tag="head"):
    """The first record: what the engine was built from."""

    stream_id: str
    seed: int
    created: float
    """Unix time the stream started."""
    wall_offset: float
    outer_deadline: float | None
    """The caller's deadline on the runtime's clock (``None``: none)."""
    sources: int
    zero_backoff: bool
    options: dict[str, Any]
    """The option values (see ``l0._record._options``)."""
    l0_version: str


class Start(Record, frozen=True, kw_only=True, tag="start"):
    """``engine.start(now)``."""

    now: float


class Admit(Record, frozen=True, kw_only=True, tag="admit"):
    """``engine.admit(now, action)`` (a circuit breaker was asked about the attempt)."""

    now: float
    action: Attempt


class Begin(Record, frozen=True, kw_only=True, tag="begin"):
    """``engine.begin_attempt(now, action)``."""

    now: float
    action: Attempt


class Ready(Record, frozen=True, kw_only=True, tag="ready"):
    """``engine.attempt_ready(now, ...)``: the factory returned a stream."""

    now: float
    adapter: str
    stream_type: str
    requires_finish: bool


class Text(Record, frozen=True, kw_only=True, tag="text"):
    """``engine.on_text(text)``, at time ``t``."""

    t: float
    text: str


class Item(Record, frozen=True, kw_only=True, tag="item"):
    """``engine.on_item(...)`` at time ``t``: the adapter's converted ``chunk`` (see
    :func:`encode_chunk`), or the ``error`` its conversion failed with."""

    t: float
    chunk: Any = None
    error: ErrorRecord | None = None


class Wait(Record, frozen=True, kw_only=True, tag="wait"):
    """``engine.wait_deadline(now)``: a read started waiting."""

    now: float


class TimedOut(Record, frozen=True, kw_only=True, tag="timeout"):
    """``engine.timed_out(now)``."""

    now: float


class Ended(Record, frozen=True, kw_only=True, tag="ended"):
    """``engine.source_ended(now)``."""

    now: float


class TakeFailure(Record, frozen=True, kw_only=True, tag="take"):
    """``engine.take_failure(now)``: the attempt ends with a verdict of the token path."""

    now: float


class Failed(Record, frozen=True, kw_only=True, tag="failed"):
    """``engine.source_failed(error, now)``."""

    now: float
    error: ErrorRecord


class Abort(Record, frozen=True, kw_only=True, tag="abort"):
    """``engine.abort(now)``."""

    now: float


class Interrupt(Record, frozen=True, kw_only=True, tag="interrupt"):
    """``engine.interrupt(now)``: the consumer stopped without an outcome."""

    now: float


class AsyncVerdict(Record, frozen=True, kw_only=True, tag="averdict"):
    """``engine.async_verdict(found)``: what the asynchronous guardrail rules found."""

    found: list[GuardrailViolation]
    calls: list[RuleCall] = msgspec.field(default_factory=list[RuleCall])
    """How each rule's call went (GUARDRAIL_CALLBACK_START/END)."""


class AsyncFailed(Record, frozen=True, kw_only=True, tag="afailed"):
    """``engine.async_failed(exc)``: an asynchronous rule raised (``raised`` is its repr)."""

    raised: str
    calls: list[RuleCall] = msgspec.field(default_factory=list[RuleCall])
    kind: str | None = None
    """The type name of what it raised; ``said``, its text."""
    said: str | None = None
    """How each rule's call went, the raising one last."""


class Clock(Record, frozen=True, kw_only=True, tag="clock"):
    """Answer: the engine read its clock."""

    value: float


class Guard(Record, frozen=True, kw_only=True, tag="guard"):
    """Answer: the synchronous guardrail rules' verdict on new output (``feed``) or at the end
    (``finish``); ``raised`` is the repr of what a rule raised instead (``kind`` its type's
    name, ``said`` its text)."""

    op: Literal["feed", "finish"]
    found: list[GuardrailViolation] = msgspec.field(default_factory=list[GuardrailViolation])
    raised: str | None = None
    kind: str | None = None
    said: str | None = None


class Drift(Record, frozen=True, kw_only=True, tag="drift"):
    """Answer: the drift detector's verdict on new output (``None``: no check completed)."""

    result: DriftResult | None = None


class Budget(Record, frozen=True, kw_only=True, tag="budget"):
    """Answer: what the retry budget gave for a retry (``None``: refused)."""

    taken: float | None


class Breaker(Record, frozen=True, kw_only=True, tag="breaker"):
    """Answer: the circuit breaker's ``allow`` (a bool) or ``state`` (a string)."""

    op: Literal["allow", "state"]
    value: bool | str


class Hook(Record, frozen=True, kw_only=True, tag="hook"):
    """Answer: a retry hook (``should_retry`` or ``calculate_delay``) returned ``value``."""

    name: Literal["should_retry", "calculate_delay"]
    value: bool | float | None


class Event(Record, frozen=True, kw_only=True, tag="event"):
    """Output: an observability event, as it was emitted."""

    event: AnyObservabilityEvent


class End(Record, frozen=True, kw_only=True, tag="end"):
    """The last record: how the stream ended, and its final state (``State.snapshot()``)."""

    now: float
    status: Literal["completed", "failed", "aborted", "interrupted", "unfinished"]
    state: dict[str, Any]
    error: ErrorRecord | None = None


AnyRecord = (
    Header
    | Start
    | Admit
    | Begin
    | Ready
    | Text
    | Item
    | Wait
    | TimedOut
    | Ended
    | TakeFailure
    | Failed
    | Abort
    | Interrupt
    | AsyncVerdict
    | AsyncFailed
    | Clock
    | Guard
    | Drift
    | Budget
    | Breaker
    | Hook
    | Event
    | End
)
"""Every kind of record."""

INPUT_KINDS: frozenset[type[Record]] = frozenset(
    {
        Start,
        Admit,
        Begin,
        Ready,
        Text,
        Item,
        Wait,
        TimedOut,
        Ended,
        TakeFailure,
        Failed,
        Abort,
        Interrupt,
        AsyncVerdict,
        AsyncFailed,
    }
)
"""The records that are calls on the engine."""


def _enc_hook(obj: Any) -> Any:
    """Values JSON has no form for are kept as their repr (recording never fails on them)."""
    return {"$repr": repr(obj)}


_encoder = msgspec.json.Encoder(enc_hook=_enc_hook)
_decoder: msgspec.json.Decoder[AnyRecord] = msgspec.json.Decoder(AnyRecord)


def encode_record(record: Record) -> bytes:
    """One record as compact JSON (no newline)."""
    return _encoder.encode(record)


def json_data(obj: Any) -> Any:
    """``obj`` as the JSON data a store holds for it (tuples are lists, and so on)."""
    return msgspec.json.decode(_encoder.encode(obj))


def decode_record(data: bytes | str) -> Record:
    """A record from its JSON. Raises :class:`~l0.ConfigError` if it is not one (or was written
    by a newer schema version than this l0 reads)."""
    try:
        record = _decoder.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise ConfigError(f"not an l0 recording record: {exc}") from exc
    if record.v > SCHEMA_VERSION:
        raise ConfigError(
            f"the record was written with schema version {record.v}; this l0 reads up to "
            f"{SCHEMA_VERSION}: upgrade l0 to read it"
        )
    return record


# --- errors ---------------------------------------------------------------------------------


def _l0_base(error: L0Error) -> str:
    import l0._errors as errors  # noqa: PLC0415 - a module, already loaded

    for cls in type(error).__mro__:
        if getattr(errors, cls.__name__, None) is cls:
            return cls.__name__
    return "L0Error"  # pragma: no cover - every L0Error derives from L0Error


def error_record(error: L0Error) -> ErrorRecord:
    """``error`` as a record (see :class:`ErrorRecord`)."""
    cause = error.__cause__
    kind = elapsed = limit = fatal = violations = errors = None
    if isinstance(error, StreamTimeout):
        kind, elapsed, limit = error.kind, error.elapsed, error.limit
    if isinstance(error, GuardrailViolationError):
        fatal = error.fatal
        violations = [v for v in error.violations if isinstance(v, GuardrailViolation)]
    if isinstance(error, AllStreamsExhausted):
        errors = [error_record(e) for e in error.errors]
    return ErrorRecord(
        name=type(error).__name__,
        base=_l0_base(error),
        message=error.message,
        code=error.code.value,
        retryable=error.retryable,
        retry_after=error.retry_after,
        failure_type=error.failure_type,
        retry_reason=error.retry_reason,
        counts_toward_limit=error.counts_toward_limit,
        metadata=dict(error.metadata),
        kind=kind,
        elapsed=elapsed,
        limit=limit,
        fatal=fatal,
        violations=violations,
        errors=errors,
        cause=repr(cause) if cause is not None else None,
        detail=error.detail,
    )


def error_from_record(record: ErrorRecord) -> L0Error:
    """An error equal to the one ``record`` was made from, as far as l0 looks at errors: its
    class (or its nearest l0 class), message, code, retry classification and metadata."""
    import l0._errors as errors  # noqa: PLC0415 - a module, already loaded

    cls = getattr(errors, record.name, None)
    if not (isinstance(cls, type) and issubclass(cls, L0Error)):
        cls = getattr(errors, record.base, L0Error)
    error = cast("L0Error", cls.__new__(cls))
    try:
        code = ErrorCode(record.code)
    except ValueError:
        code = ErrorCode.STREAM_ERROR
    L0Error.__init__(
        error,
        record.message,
        code=code,
        retryable=record.retryable,
        retry_after=record.retry_after,
        metadata=record.metadata,
    )
    error.failure_type = cast("FailureType", record.failure_type)
    error.retry_reason = cast("RetryReason", record.retry_reason)
    error.counts_toward_limit = record.counts_toward_limit
    extra: dict[str, Any] = {}
    if record.kind is not None:
        extra.update(kind=record.kind, elapsed=record.elapsed, limit=record.limit)
    if record.fatal is not None:
        extra.update(fatal=record.fatal, violations=list(record.violations or ()))
    if record.errors is not None:
        extra["errors"] = [error_from_record(e) for e in record.errors]
    for name, value in extra.items():
        with contextlib.suppress(AttributeError):
            setattr(error, name, value)
    error.detail = record.detail
    return error


# --- chunks ---------------------------------------------------------------------------------

_VERDICT_EVENTS = frozenset({"reset", "error", "complete"})


def _encode_one(chunk: Any) -> Any:
    if isinstance(chunk, str):
        return chunk
    if isinstance(chunk, StreamEvent):
        tag = chunk.__struct_config__.tag
        if tag in _VERDICT_EVENTS:
            # l0's own verdicts: a source cannot send them (the engine ignores them).
            return {"$": "verdict", "type": tag}
        return {"$": "event", "event": msgspec.to_builtins(chunk, enc_hook=_enc_hook)}
    if isinstance(chunk, Finish):
        return {"$": "finish", "reason": chunk.reason}
    if isinstance(chunk, Usage):
        return {"$": "usage", **msgspec.to_builtins(chunk)}
    if isinstance(chunk, ToolCallDelta):
        return {"$": "tool_delta", **msgspec.to_builtins(chunk)}
    if isinstance(chunk, Fault):
        return {
            "$": "fault",
            "error": msgspec.to_builtins(error_record(chunk.error), enc_hook=_enc_hook),
        }
    return {"$": "other", "type": type(chunk).__name__}


def encode_chunk(converted: Any) -> Any:
    """What an adapter's ``convert`` returned, as JSON-ready data: ``None``, a text ``str``, a
    list of chunks, or a ``{"$": kind, ...}`` object per non-text chunk. Something that is not
    an l0 chunk keeps only its type's name (the engine rejects it by that name)."""
    if converted is None:
        return None
    if isinstance(converted, (list, tuple)):
        return [_encode_one(c) for c in cast("Sequence[Any]", converted)]
    return _encode_one(converted)


_OTHER_TYPES: dict[str, type] = {}


def _decode_one(data: Any) -> Any:
    if isinstance(data, str):
        return data
    if not isinstance(data, dict):
        return data
    fields = cast("dict[str, Any]", data)
    kind = fields.get("$")
    rest = {k: v for k, v in fields.items() if k != "$"}
    if kind == "event":
        return msgspec.convert(rest["event"], SourceEvent)
    if kind == "verdict":
        return Reset(reason="", discarded=0, attempt=0, source_index=0)
    if kind == "finish":
        return Finish(reason=rest.get("reason", "stop"))
    if kind == "usage":
        return msgspec.convert(rest, Usage)
    if kind == "tool_delta":
        return msgspec.convert(rest, ToolCallDelta)
    if kind == "fault":
        return Fault(error=error_from_record(msgspec.convert(rest["error"], ErrorRecord)))
    name = str(rest.get("type", "object"))
    cls = _OTHER_TYPES.get(name)
    if cls is None:
        cls = _OTHER_TYPES[name] = type(name, (), {"__module__": __name__})
    return cls()


def decode_chunk(data: Any) -> Any:
    """The chunk(s) :func:`encode_chunk` made ``data`` from."""
    if data is None:
        return None
    if isinstance(data, list):
        return [_decode_one(c) for c in cast("list[Any]", data)]
    return _decode_one(data)
