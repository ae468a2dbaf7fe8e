"""Observability events: the typed lifecycle record of a stream (``on_event`` receives them).

Field names are snake_case in Python and camelCase on the wire (:func:`encode_event`).
"""

from typing import TYPE_CHECKING, Any

from l0._events._observability import EVENT_CLASSES as EVENT_CLASSES
from l0._events._observability import AbortCompleted as AbortCompleted
from l0._events._observability import AbortRequested as AbortRequested
from l0._events._observability import AdapterDetected as AdapterDetected
from l0._events._observability import AdapterWrapEnd as AdapterWrapEnd
from l0._events._observability import AdapterWrapStart as AdapterWrapStart
from l0._events._observability import AnyObservabilityEvent as AnyObservabilityEvent
from l0._events._observability import AttemptStart as AttemptStart
from l0._events._observability import CheckpointSaved as CheckpointSaved
from l0._events._observability import Complete as Complete
from l0._events._observability import ConnectionDropped as ConnectionDropped
from l0._events._observability import ConnectionRestored as ConnectionRestored
from l0._events._observability import ContinuationStart as ContinuationStart
from l0._events._observability import DriftCheckResult as DriftCheckResult
from l0._events._observability import DriftCheckSkipped as DriftCheckSkipped
from l0._events._observability import Error as Error
from l0._events._observability import EventType as EventType
from l0._events._observability import FailureType as FailureType
from l0._events._observability import FallbackEnd as FallbackEnd
from l0._events._observability import FallbackModelSelected as FallbackModelSelected
from l0._events._observability import FallbackStart as FallbackStart
from l0._events._observability import GuardrailCallbackEnd as GuardrailCallbackEnd
from l0._events._observability import GuardrailCallbackStart as GuardrailCallbackStart
from l0._events._observability import GuardrailPhaseEnd as GuardrailPhaseEnd
from l0._events._observability import GuardrailPhaseStart as GuardrailPhaseStart
from l0._events._observability import GuardrailRuleEnd as GuardrailRuleEnd
from l0._events._observability import GuardrailRuleResult as GuardrailRuleResult
from l0._events._observability import GuardrailRuleStart as GuardrailRuleStart
from l0._events._observability import GuardrailViolation as GuardrailViolation
from l0._events._observability import NetworkError as NetworkError
from l0._events._observability import NetworkRecovery as NetworkRecovery
from l0._events._observability import ObservabilityEvent as ObservabilityEvent
from l0._events._observability import RecoveryStrategy as RecoveryStrategy
from l0._events._observability import ResumeStart as ResumeStart
from l0._events._observability import RetryAttempt as RetryAttempt
from l0._events._observability import RetryEnd as RetryEnd
from l0._events._observability import RetryGiveUp as RetryGiveUp
from l0._events._observability import RetryStart as RetryStart
from l0._events._observability import SessionEnd as SessionEnd
from l0._events._observability import SessionStart as SessionStart
from l0._events._observability import SessionSummary as SessionSummary
from l0._events._observability import StreamInit as StreamInit
from l0._events._observability import StreamReady as StreamReady
from l0._events._observability import StructuredAutoCorrectEnd as StructuredAutoCorrectEnd
from l0._events._observability import StructuredAutoCorrectStart as StructuredAutoCorrectStart
from l0._events._observability import StructuredParseEnd as StructuredParseEnd
from l0._events._observability import StructuredParseError as StructuredParseError
from l0._events._observability import StructuredParseStart as StructuredParseStart
from l0._events._observability import StructuredValidationEnd as StructuredValidationEnd
from l0._events._observability import StructuredValidationError as StructuredValidationError
from l0._events._observability import StructuredValidationStart as StructuredValidationStart
from l0._events._observability import TimeoutReset as TimeoutReset
from l0._events._observability import TimeoutStart as TimeoutStart
from l0._events._observability import TimeoutTriggered as TimeoutTriggered
from l0._events._observability import ToolCompleted as ToolCompleted
from l0._events._observability import ToolError as ToolError
from l0._events._observability import ToolRequested as ToolRequested
from l0._events._observability import ToolResult as ToolResult
from l0._events._observability import ToolStart as ToolStart
from l0._events._observability import decode_event as decode_event
from l0._events._observability import encode_event as encode_event

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
    "ConsensusAnalysis",
    "ConsensusEnd",
    "ConsensusEvent",
    "ConsensusEventType",
    "ConsensusOutputCollected",
    "ConsensusResolution",
    "ConsensusStart",
    "ConsensusStreamEnd",
    "ConsensusStreamStart",
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


# The events of l0.consensus (not among a stream's 52): imported on first use.
_CONSENSUS = frozenset(
    {
        "ConsensusAnalysis",
        "ConsensusEnd",
        "ConsensusEvent",
        "ConsensusEventType",
        "ConsensusOutputCollected",
        "ConsensusResolution",
        "ConsensusStart",
        "ConsensusStreamEnd",
        "ConsensusStreamStart",
    }
)

if TYPE_CHECKING:
    from l0._multi._events import ConsensusAnalysis as ConsensusAnalysis
    from l0._multi._events import ConsensusEnd as ConsensusEnd
    from l0._multi._events import ConsensusEvent as ConsensusEvent
    from l0._multi._events import ConsensusEventType as ConsensusEventType
    from l0._multi._events import ConsensusOutputCollected as ConsensusOutputCollected
    from l0._multi._events import ConsensusResolution as ConsensusResolution
    from l0._multi._events import ConsensusStart as ConsensusStart
    from l0._multi._events import ConsensusStreamEnd as ConsensusStreamEnd
    from l0._multi._events import ConsensusStreamStart as ConsensusStreamStart


def __getattr__(name: str) -> Any:
    if name not in _CONSENSUS:
        raise AttributeError(f"module 'l0.events' has no attribute {name!r}")
    from l0._multi import _events  # noqa: PLC0415 - l0.consensus's own, loaded on use

    value = getattr(_events, name)
    globals()[name] = value
    return value


def _fixup_module_metadata() -> None:
    namespace = globals()
    for name in __all__:
        if name in _CONSENSUS:
            continue
        obj = namespace[name]
        if getattr(obj, "__module__", "") == "l0._events._observability":
            try:
                obj.__module__ = __name__
            except (AttributeError, TypeError):  # pragma: no cover - aliases refuse
                continue


_fixup_module_metadata()
del _fixup_module_metadata
