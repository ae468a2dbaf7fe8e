"""Observability events: the typed, wire-stable record of what a stream did.

Every event is a frozen :class:`msgspec.Struct` deriving from
:class:`ObservabilityEvent`.  On the wire (msgspec JSON) field names are
camelCase (``streamId``, ``tokenCount``) and the ``type`` tag carries the
SCREAMING_SNAKE event name, e.g. ``{"type": "SESSION_START", ...}``, so the
format matches the canonical specification key
``monitoring.observabilityEvents``.

Use :func:`encode_event` and :func:`decode_event` for (de)serialisation; they
share module-level encoder and decoder instances.
"""

import enum
from typing import Any, Literal, TypeAlias, Union, get_args

import msgspec

__all__ = [
    "EVENT_CLASSES",
    "AbortCompleted",
    "AbortRequested",
    "AdapterDetected",
    "AdapterWrapEnd",
    "AdapterWrapStart",
    "AnyObservabilityEvent",
    "AttemptStart",
    "CheckpointSaved",
    "Complete",
    "ConnectionDropped",
    "ConnectionRestored",
    "ContinuationStart",
    "DriftCheckResult",
    "DriftCheckSkipped",
    "Error",
    "EventType",
    "FailureType",
    "FallbackEnd",
    "FallbackModelSelected",
    "FallbackStart",
    "GuardrailCallbackEnd",
    "GuardrailCallbackStart",
    "GuardrailPhaseEnd",
    "GuardrailPhaseStart",
    "GuardrailRuleEnd",
    "GuardrailRuleResult",
    "GuardrailRuleStart",
    "GuardrailViolation",
    "NetworkError",
    "NetworkRecovery",
    "ObservabilityEvent",
    "RecoveryStrategy",
    "ResumeStart",
    "RetryAttempt",
    "RetryEnd",
    "RetryGiveUp",
    "RetryStart",
    "SessionEnd",
    "SessionStart",
    "SessionSummary",
    "StreamInit",
    "StreamReady",
    "StructuredAutoCorrectEnd",
    "StructuredAutoCorrectStart",
    "StructuredParseEnd",
    "StructuredParseError",
    "StructuredParseStart",
    "StructuredValidationEnd",
    "StructuredValidationError",
    "StructuredValidationStart",
    "TimeoutReset",
    "TimeoutStart",
    "TimeoutTriggered",
    "ToolCompleted",
    "ToolError",
    "ToolRequested",
    "ToolResult",
    "ToolStart",
    "decode_event",
    "encode_event",
]

FailureType: TypeAlias = Literal[
    "network", "model", "tool", "timeout", "abort", "zero_output", "unknown"
]
"""Root-cause classification of an error."""

RecoveryStrategy: TypeAlias = Literal["retry", "fallback", "continue", "halt"]
"""What l0 does next after an error."""


class EventType(str, enum.Enum):
    """Identifier of an observability event; the value is the wire ``type`` tag."""

    SESSION_START = "SESSION_START"
    STREAM_INIT = "STREAM_INIT"
    STREAM_READY = "STREAM_READY"
    SESSION_END = "SESSION_END"
    SESSION_SUMMARY = "SESSION_SUMMARY"
    ADAPTER_WRAP_START = "ADAPTER_WRAP_START"
    ADAPTER_DETECTED = "ADAPTER_DETECTED"
    ADAPTER_WRAP_END = "ADAPTER_WRAP_END"
    TIMEOUT_START = "TIMEOUT_START"
    TIMEOUT_RESET = "TIMEOUT_RESET"
    TIMEOUT_TRIGGERED = "TIMEOUT_TRIGGERED"
    NETWORK_ERROR = "NETWORK_ERROR"
    NETWORK_RECOVERY = "NETWORK_RECOVERY"
    CONNECTION_DROPPED = "CONNECTION_DROPPED"
    CONNECTION_RESTORED = "CONNECTION_RESTORED"
    ABORT_REQUESTED = "ABORT_REQUESTED"
    ABORT_COMPLETED = "ABORT_COMPLETED"
    TOOL_REQUESTED = "TOOL_REQUESTED"
    TOOL_START = "TOOL_START"
    TOOL_RESULT = "TOOL_RESULT"
    TOOL_ERROR = "TOOL_ERROR"
    TOOL_COMPLETED = "TOOL_COMPLETED"
    GUARDRAIL_PHASE_START = "GUARDRAIL_PHASE_START"
    GUARDRAIL_RULE_START = "GUARDRAIL_RULE_START"
    GUARDRAIL_RULE_RESULT = "GUARDRAIL_RULE_RESULT"
    GUARDRAIL_RULE_END = "GUARDRAIL_RULE_END"
    GUARDRAIL_PHASE_END = "GUARDRAIL_PHASE_END"
    GUARDRAIL_CALLBACK_START = "GUARDRAIL_CALLBACK_START"
    GUARDRAIL_CALLBACK_END = "GUARDRAIL_CALLBACK_END"
    DRIFT_CHECK_RESULT = "DRIFT_CHECK_RESULT"
    DRIFT_CHECK_SKIPPED = "DRIFT_CHECK_SKIPPED"
    CHECKPOINT_SAVED = "CHECKPOINT_SAVED"
    RESUME_START = "RESUME_START"
    CONTINUATION_START = "CONTINUATION_START"
    ATTEMPT_START = "ATTEMPT_START"
    RETRY_START = "RETRY_START"
    RETRY_ATTEMPT = "RETRY_ATTEMPT"
    RETRY_END = "RETRY_END"
    RETRY_GIVE_UP = "RETRY_GIVE_UP"
    FALLBACK_START = "FALLBACK_START"
    FALLBACK_MODEL_SELECTED = "FALLBACK_MODEL_SELECTED"
    FALLBACK_END = "FALLBACK_END"
    ERROR = "ERROR"
    COMPLETE = "COMPLETE"
    STRUCTURED_PARSE_START = "STRUCTURED_PARSE_START"
    STRUCTURED_PARSE_END = "STRUCTURED_PARSE_END"
    STRUCTURED_PARSE_ERROR = "STRUCTURED_PARSE_ERROR"
    STRUCTURED_VALIDATION_START = "STRUCTURED_VALIDATION_START"
    STRUCTURED_VALIDATION_END = "STRUCTURED_VALIDATION_END"
    STRUCTURED_VALIDATION_ERROR = "STRUCTURED_VALIDATION_ERROR"
    STRUCTURED_AUTO_CORRECT_START = "STRUCTURED_AUTO_CORRECT_START"
    STRUCTURED_AUTO_CORRECT_END = "STRUCTURED_AUTO_CORRECT_END"


class GuardrailViolation(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """One rule violation found by a guardrail."""

    rule_id: str
    message: str
    severity: Literal["warning", "error", "fatal"]
    recoverable: bool = True
    position: int | None = None
    """Character offset in the output where the violation was found, if known."""
    metadata: dict[str, Any] | None = None


class ObservabilityEvent(
    msgspec.Struct, frozen=True, kw_only=True, tag_field="type", rename="camel"
):
    """Common shape of every observability event.

    Subclasses inherit ``tag_field`` and ``rename``.  They repeat
    ``kw_only=True`` because msgspec applies it only to the fields declared by
    the class that sets it, and ``frozen=True`` because type checkers reject a
    (nominally) non-frozen subclass of a frozen dataclass-like base.
    """

    ts: float
    """Unix time in seconds."""
    stream_id: str
    """Identifier correlating every event of one session (a UUIDv7)."""
    context: dict[str, Any] | None = None
    """User-supplied context attached to every event of the session."""

    @property
    def event_type(self) -> EventType:
        """The :class:`EventType` of this event, read from its ``type`` tag."""
        return EventType(self.__struct_config__.tag)


# --- session -----------------------------------------------------------------


class SessionStart(ObservabilityEvent, frozen=True, kw_only=True, tag="SESSION_START"):
    """Anchor event, emitted exactly once when a session begins."""

    attempt: int
    is_retry: bool
    is_fallback: bool


class StreamInit(ObservabilityEvent, frozen=True, kw_only=True, tag="STREAM_INIT"):
    """Iteration over the underlying stream has started."""


class StreamReady(ObservabilityEvent, frozen=True, kw_only=True, tag="STREAM_READY"):
    """The connection is established and the stream can emit."""


class SessionEnd(ObservabilityEvent, frozen=True, kw_only=True, tag="SESSION_END"):
    """Definitive end-of-stream marker."""


class SessionSummary(ObservabilityEvent, frozen=True, kw_only=True, tag="SESSION_SUMMARY"):
    """Closing summary of the whole session, sufficient for replay."""

    token_count: int
    start_ts: float
    end_ts: float
    drift_detected: bool
    guardrail_violations: int
    fallback_depth: int
    retry_count: int
    checkpoints_created: int


# --- adapter -----------------------------------------------------------------


class AdapterWrapStart(ObservabilityEvent, frozen=True, kw_only=True, tag="ADAPTER_WRAP_START"):
    """Adapter detection and wrapping of the raw stream has begun."""

    stream_type: str
    adapter_id: str | None = None


class AdapterDetected(ObservabilityEvent, frozen=True, kw_only=True, tag="ADAPTER_DETECTED"):
    """An adapter was matched to the raw stream."""

    adapter_id: str


class AdapterWrapEnd(ObservabilityEvent, frozen=True, kw_only=True, tag="ADAPTER_WRAP_END"):
    """The adapter finished wrapping the raw stream."""

    adapter_id: str


# --- timeout -----------------------------------------------------------------


class TimeoutStart(ObservabilityEvent, frozen=True, kw_only=True, tag="TIMEOUT_START"):
    """A first-token or inter-token timer was armed."""

    timeout_type: Literal["initial", "inter"]
    configured_ms: float


class TimeoutReset(ObservabilityEvent, frozen=True, kw_only=True, tag="TIMEOUT_RESET"):
    """A received token re-armed the inter-token timer."""

    timeout_type: Literal["initial", "inter"]
    configured_ms: float
    token_index: int


class TimeoutTriggered(ObservabilityEvent, frozen=True, kw_only=True, tag="TIMEOUT_TRIGGERED"):
    """A timer expired before the expected token arrived."""

    timeout_type: Literal["initial", "inter"]
    elapsed_ms: float
    configured_ms: float


# --- network -----------------------------------------------------------------


class NetworkError(ObservabilityEvent, frozen=True, kw_only=True, tag="NETWORK_ERROR"):
    """A network-level failure occurred."""

    error: str
    code: str | None = None
    retryable: bool


class NetworkRecovery(ObservabilityEvent, frozen=True, kw_only=True, tag="NETWORK_RECOVERY"):
    """The network became usable again after a failure."""

    attempt_count: int
    duration_ms: float


class ConnectionDropped(ObservabilityEvent, frozen=True, kw_only=True, tag="CONNECTION_DROPPED"):
    """The connection to the provider was lost."""

    reason: str


class ConnectionRestored(ObservabilityEvent, frozen=True, kw_only=True, tag="CONNECTION_RESTORED"):
    """The connection to the provider came back."""

    duration_ms: float


# --- abort -------------------------------------------------------------------


class AbortRequested(ObservabilityEvent, frozen=True, kw_only=True, tag="ABORT_REQUESTED"):
    """Someone asked for the stream to be aborted."""

    source: Literal["user", "timeout", "error"]


class AbortCompleted(ObservabilityEvent, frozen=True, kw_only=True, tag="ABORT_COMPLETED"):
    """The stream has finished aborting."""

    token_count: int
    content_length: int


# --- tool --------------------------------------------------------------------


class ToolRequested(ObservabilityEvent, frozen=True, kw_only=True, tag="TOOL_REQUESTED"):
    """The model asked for a tool to be called."""

    tool_name: str
    tool_call_id: str
    arguments: dict[str, Any]


class ToolStart(ObservabilityEvent, frozen=True, kw_only=True, tag="TOOL_START"):
    """A tool call began executing."""

    tool_call_id: str
    tool_name: str


class ToolResult(ObservabilityEvent, frozen=True, kw_only=True, tag="TOOL_RESULT"):
    """A tool call produced a result."""

    tool_call_id: str
    result: Any
    duration_ms: float


class ToolError(ObservabilityEvent, frozen=True, kw_only=True, tag="TOOL_ERROR"):
    """A tool call failed."""

    tool_call_id: str
    error: str
    duration_ms: float


class ToolCompleted(ObservabilityEvent, frozen=True, kw_only=True, tag="TOOL_COMPLETED"):
    """A tool call finished, whether it succeeded or failed."""

    tool_call_id: str
    status: Literal["success", "error"]


# --- guardrail ---------------------------------------------------------------


class GuardrailPhaseStart(
    ObservabilityEvent, frozen=True, kw_only=True, tag="GUARDRAIL_PHASE_START"
):
    """A pre- or post-generation guardrail phase began."""

    phase: Literal["pre", "post"]
    rule_count: int


class GuardrailRuleStart(ObservabilityEvent, frozen=True, kw_only=True, tag="GUARDRAIL_RULE_START"):
    """A single guardrail rule is about to be evaluated."""

    index: int
    rule_id: str
    callback_id: str


class GuardrailRuleResult(
    ObservabilityEvent, frozen=True, kw_only=True, tag="GUARDRAIL_RULE_RESULT"
):
    """Outcome of evaluating a single guardrail rule."""

    index: int
    rule_id: str
    passed: bool
    violation: GuardrailViolation | None = None


class GuardrailRuleEnd(ObservabilityEvent, frozen=True, kw_only=True, tag="GUARDRAIL_RULE_END"):
    """A single guardrail rule finished evaluating."""

    index: int
    rule_id: str
    passed: bool
    callback_id: str
    duration_ms: float


class GuardrailPhaseEnd(ObservabilityEvent, frozen=True, kw_only=True, tag="GUARDRAIL_PHASE_END"):
    """A guardrail phase finished, with every violation it found."""

    phase: Literal["pre", "post"]
    passed: bool
    violations: list[GuardrailViolation]
    duration_ms: float


class GuardrailCallbackStart(
    ObservabilityEvent, frozen=True, kw_only=True, tag="GUARDRAIL_CALLBACK_START"
):
    """An asynchronous guardrail callback began."""

    callback_id: str
    index: int
    rule_id: str


class GuardrailCallbackEnd(
    ObservabilityEvent, frozen=True, kw_only=True, tag="GUARDRAIL_CALLBACK_END"
):
    """An asynchronous guardrail callback finished."""

    callback_id: str
    index: int
    rule_id: str
    duration_ms: float
    success: bool
    error: str | None = None


# --- drift -------------------------------------------------------------------


class DriftCheckResult(ObservabilityEvent, frozen=True, kw_only=True, tag="DRIFT_CHECK_RESULT"):
    """Result of a drift check on the output so far."""

    detected: bool
    score: float
    metrics: dict[str, Any]
    threshold: float


class DriftCheckSkipped(ObservabilityEvent, frozen=True, kw_only=True, tag="DRIFT_CHECK_SKIPPED"):
    """A drift check was not performed."""

    reason: str


# --- checkpoint / continuation -----------------------------------------------


class CheckpointSaved(ObservabilityEvent, frozen=True, kw_only=True, tag="CHECKPOINT_SAVED"):
    """A checkpoint of the output so far was stored.

    So that saving checkpoints stays linear in the output, ``checkpoint`` holds only the text
    added since the previous checkpoint, at ``offset`` in the output; ``length`` is the whole
    checkpoint's length (the full text is ``stream.state.checkpoint``). These two fields are
    l0's additions to the canonical event.
    """

    checkpoint: str
    token_count: int
    offset: int = 0
    length: int = 0


class ResumeStart(ObservabilityEvent, frozen=True, kw_only=True, tag="RESUME_START"):
    """Resumption from a stored checkpoint began."""

    checkpoint: str
    token_count: int


class ContinuationStart(ObservabilityEvent, frozen=True, kw_only=True, tag="CONTINUATION_START"):
    """Generation continuing on from a checkpoint began."""

    checkpoint: str
    token_count: int


# --- retry -------------------------------------------------------------------


class AttemptStart(ObservabilityEvent, frozen=True, kw_only=True, tag="ATTEMPT_START"):
    """A retry attempt began (never sent for the first attempt or a fallback)."""

    attempt: int
    is_retry: bool
    is_fallback: bool


class RetryStart(ObservabilityEvent, frozen=True, kw_only=True, tag="RETRY_START"):
    """The retry loop started."""

    max_attempts: int


class RetryAttempt(ObservabilityEvent, frozen=True, kw_only=True, tag="RETRY_ATTEMPT"):
    """A retry was decided on; precedes the matching ``ATTEMPT_START``."""

    attempt: int
    max_attempts: int
    reason: str
    delay_ms: float


class RetryEnd(ObservabilityEvent, frozen=True, kw_only=True, tag="RETRY_END"):
    """The retry loop ended with a successful attempt."""

    attempt: int
    success: bool


class RetryGiveUp(ObservabilityEvent, frozen=True, kw_only=True, tag="RETRY_GIVE_UP"):
    """Every retry attempt was used up without success."""

    attempt: int
    max_attempts: int
    reason: str


# --- fallback ----------------------------------------------------------------


class FallbackStart(ObservabilityEvent, frozen=True, kw_only=True, tag="FALLBACK_START"):
    """Switching from one stream to the next fallback stream."""

    from_index: int
    to_index: int


class FallbackModelSelected(
    ObservabilityEvent, frozen=True, kw_only=True, tag="FALLBACK_MODEL_SELECTED"
):
    """A fallback model was picked."""

    index: int
    reason: str


class FallbackEnd(ObservabilityEvent, frozen=True, kw_only=True, tag="FALLBACK_END"):
    """The fallback sequence finished."""

    success: bool
    final_index: int


# --- completion / error ------------------------------------------------------


class Error(ObservabilityEvent, frozen=True, kw_only=True, tag="ERROR"):
    """An error occurred, with its classification and the planned recovery."""

    error: str
    error_code: str | None = None
    failure_type: FailureType
    recovery_strategy: RecoveryStrategy
    policy: dict[str, Any]
    detail: str | None = None
    """l0 only: what the original exception or the provider said (l0's own ``error`` message
    never quotes it, since it may hold a prompt, output or key). Monitoring sinks record it
    only with ``record_content=True``."""


class Complete(ObservabilityEvent, frozen=True, kw_only=True, tag="COMPLETE"):
    """The stream finished successfully."""

    token_count: int
    content_length: int
    state: dict[str, Any] | None = None


# --- structured output -------------------------------------------------------


class StructuredParseStart(
    ObservabilityEvent, frozen=True, kw_only=True, tag="STRUCTURED_PARSE_START"
):
    """Parsing of structured output began."""

    content_length: int


class StructuredParseEnd(ObservabilityEvent, frozen=True, kw_only=True, tag="STRUCTURED_PARSE_END"):
    """Parsing of structured output finished."""

    success: bool
    duration_ms: float


class StructuredParseError(
    ObservabilityEvent, frozen=True, kw_only=True, tag="STRUCTURED_PARSE_ERROR"
):
    """Structured output could not be parsed."""

    error: str
    content_preview: str | None = None


class StructuredValidationStart(
    ObservabilityEvent, frozen=True, kw_only=True, tag="STRUCTURED_VALIDATION_START"
):
    """Schema validation of parsed output began."""

    schema_name: str | None = None


class StructuredValidationEnd(
    ObservabilityEvent, frozen=True, kw_only=True, tag="STRUCTURED_VALIDATION_END"
):
    """Schema validation of parsed output finished."""

    valid: bool
    duration_ms: float


class StructuredValidationError(
    ObservabilityEvent, frozen=True, kw_only=True, tag="STRUCTURED_VALIDATION_ERROR"
):
    """Parsed output did not satisfy its schema."""

    errors: list[str]


class StructuredAutoCorrectStart(
    ObservabilityEvent, frozen=True, kw_only=True, tag="STRUCTURED_AUTO_CORRECT_START"
):
    """Automatic correction of invalid structured output began."""

    error_count: int


class StructuredAutoCorrectEnd(
    ObservabilityEvent, frozen=True, kw_only=True, tag="STRUCTURED_AUTO_CORRECT_END"
):
    """Automatic correction of invalid structured output finished."""

    success: bool
    corrections_made: int
    duration_ms: float


# --- registry and (de)serialisation ------------------------------------------

AnyObservabilityEvent: TypeAlias = Union[  # noqa: UP007 - also used at runtime by msgspec
    SessionStart,
    StreamInit,
    StreamReady,
    SessionEnd,
    SessionSummary,
    AdapterWrapStart,
    AdapterDetected,
    AdapterWrapEnd,
    TimeoutStart,
    TimeoutReset,
    TimeoutTriggered,
    NetworkError,
    NetworkRecovery,
    ConnectionDropped,
    ConnectionRestored,
    AbortRequested,
    AbortCompleted,
    ToolRequested,
    ToolStart,
    ToolResult,
    ToolError,
    ToolCompleted,
    GuardrailPhaseStart,
    GuardrailRuleStart,
    GuardrailRuleResult,
    GuardrailRuleEnd,
    GuardrailPhaseEnd,
    GuardrailCallbackStart,
    GuardrailCallbackEnd,
    DriftCheckResult,
    DriftCheckSkipped,
    CheckpointSaved,
    ResumeStart,
    ContinuationStart,
    AttemptStart,
    RetryStart,
    RetryAttempt,
    RetryEnd,
    RetryGiveUp,
    FallbackStart,
    FallbackModelSelected,
    FallbackEnd,
    Error,
    Complete,
    StructuredParseStart,
    StructuredParseEnd,
    StructuredParseError,
    StructuredValidationStart,
    StructuredValidationEnd,
    StructuredValidationError,
    StructuredAutoCorrectStart,
    StructuredAutoCorrectEnd,
]
"""Union of every concrete event class; the type msgspec decodes into."""


def _build_event_classes() -> dict[EventType, type[ObservabilityEvent]]:
    """Map each :class:`EventType` to its class, in :class:`EventType` order."""
    classes: tuple[type[ObservabilityEvent], ...] = get_args(AnyObservabilityEvent)
    by_tag = {cls.__struct_config__.tag: cls for cls in classes}
    return {event_type: by_tag[event_type.value] for event_type in EventType}


EVENT_CLASSES: dict[EventType, type[ObservabilityEvent]] = _build_event_classes()
"""The concrete event class for every :class:`EventType`."""

_encoder = msgspec.json.Encoder()
_decoder: msgspec.json.Decoder[AnyObservabilityEvent] = msgspec.json.Decoder(AnyObservabilityEvent)


def encode_event(event: ObservabilityEvent) -> bytes:
    """Serialise *event* to JSON bytes with camelCase names and a ``type`` tag."""
    return _encoder.encode(event)


def decode_event(data: bytes | str) -> ObservabilityEvent:
    """Parse JSON produced by :func:`encode_event` back into the matching event class.

    Raises :class:`msgspec.ValidationError` for an unknown ``type`` tag or a
    field of the wrong type, and :class:`msgspec.DecodeError` for malformed JSON.
    """
    return _decoder.decode(data)
