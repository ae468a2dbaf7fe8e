"""l0: the reliability layer for LLM token streams.

Wrap any model stream with :func:`run` and get back a :class:`Stream` that retries, falls back,
times out, and tells you exactly what happened.
"""

import contextlib as _contextlib
import importlib as _importlib
from typing import TYPE_CHECKING, Any

from l0 import adapters as adapters
from l0 import events as events
from l0._budget import CircuitBreaker as CircuitBreaker
from l0._budget import RetryBudget as RetryBudget
from l0._budget import named as named
from l0._config import CheckIntervals as CheckIntervals
from l0._config import Retry as Retry
from l0._config import RetryContext as RetryContext
from l0._config import Timeout as Timeout
from l0._engine._continuation import ContinuationConfig as ContinuationConfig
from l0._engine._continuation import continuation_messages as continuation_messages
from l0._errors import AdapterNotFound as AdapterNotFound
from l0._errors import AllStreamsExhausted as AllStreamsExhausted
from l0._errors import CircuitOpen as CircuitOpen
from l0._errors import ConfigError as ConfigError
from l0._errors import DriftDetected as DriftDetected
from l0._errors import ErrorCategory as ErrorCategory
from l0._errors import ErrorCode as ErrorCode
from l0._errors import FeatureNotEnabled as FeatureNotEnabled
from l0._errors import GuardrailViolationError as GuardrailViolationError
from l0._errors import InvalidStream as InvalidStream
from l0._errors import L0Error as L0Error
from l0._errors import NetworkError as NetworkError
from l0._errors import SourceError as SourceError
from l0._errors import StreamAborted as StreamAborted
from l0._errors import StreamClosed as StreamClosed
from l0._errors import StreamTimeout as StreamTimeout
from l0._errors import StreamTruncated as StreamTruncated
from l0._errors import ToolCallError as ToolCallError
from l0._errors import ZeroOutput as ZeroOutput
from l0._events._stream import Complete as Complete
from l0._events._stream import Data as Data
from l0._events._stream import ErrorEvent as ErrorEvent
from l0._events._stream import Message as Message
from l0._events._stream import Progress as Progress
from l0._events._stream import Reset as Reset
from l0._events._stream import StreamEvent as StreamEvent
from l0._events._stream import Token as Token
from l0._events._stream import ToolCall as ToolCall
from l0._runtime._api import Session as Session
from l0._runtime._api import run as run
from l0._runtime._api import session as session
from l0._runtime._options import AttemptContext as AttemptContext
from l0._runtime._options import RunOptions as RunOptions
from l0._runtime._stream import Stream as Stream
from l0._runtime._wrap import wrap as wrap
from l0._schema import ErrorInfo as ErrorInfo
from l0._schema import RecordedError as RecordedError
from l0._schema import SerializationError as SerializationError
from l0._schema import StateSnapshot as StateSnapshot
from l0._schema import from_json as from_json
from l0._schema import schema as schema
from l0._schema import to_json as to_json
from l0._state import Phase as Phase
from l0._state import State as State

__all__ = [
    "AdapterNotFound",
    "AllStreamsExhausted",
    "AttemptContext",
    "CandidateOutcome",
    "CheckIntervals",
    "ChunkResult",
    "ChunkRun",
    "CircuitBreaker",
    "CircuitOpen",
    "Complete",
    "ConfigError",
    "ConsensusFailed",
    "ConsensusGroup",
    "ConsensusResult",
    "ContentRejected",
    "ContinuationConfig",
    "Data",
    "Dissent",
    "DocumentChunk",
    "DriftConfig",
    "DriftDetected",
    "DriftDetector",
    "ErrorCategory",
    "ErrorCode",
    "ErrorEvent",
    "ErrorInfo",
    "FeatureNotEnabled",
    "FieldAgreement",
    "GuardrailViolationError",
    "Guardrails",
    "InvalidStream",
    "L0Error",
    "Media",
    "Message",
    "NetworkError",
    "ParallelResult",
    "Phase",
    "PipelineBranch",
    "PipelineResult",
    "PipelineStep",
    "PipelineStepFailed",
    "Pool",
    "PoolClosed",
    "PoolStats",
    "Progress",
    "RaceResult",
    "RecordedError",
    "Reset",
    "Retry",
    "RetryBudget",
    "RetryContext",
    "Rule",
    "RunOptions",
    "SerializationError",
    "Session",
    "SourceError",
    "State",
    "StateSnapshot",
    "StepResult",
    "Stream",
    "StreamAborted",
    "StreamClosed",
    "StreamEvent",
    "StreamTimeout",
    "StreamTruncated",
    "StructuredResult",
    "TaskOutcome",
    "TaskTelemetry",
    "TasksFailed",
    "Timeout",
    "Token",
    "ToolCall",
    "ToolCallError",
    "Window",
    "ZeroOutput",
    "adapters",
    "batched",
    "consensus",
    "continuation_messages",
    "estimate_tokens",
    "events",
    "from_json",
    "guardrails",
    "jaccard_similarity",
    "levenshtein_ratio",
    "named",
    "parallel",
    "pipeline",
    "pool",
    "progress_event",
    "race",
    "run",
    "schema",
    "sequential",
    "session",
    "structured",
    "structured_array",
    "structured_object",
    "structured_stream",
    "text_similarity",
    "to_data_event",
    "to_json",
    "value_similarity",
    "wrap",
]


# Imported on first use, so that ``import l0`` stays fast (guardrails compile their patterns).
_LAZY: dict[str, tuple[str, str | None]] = {
    "guardrails": ("l0.guardrails", None),
    # The module l0.structured is callable: l0.structured(...) calls structured().
    "structured": ("l0.structured", None),
    "structured_array": ("l0.structured", "structured_array"),
    "structured_object": ("l0.structured", "structured_object"),
    "structured_stream": ("l0.structured", "structured_stream"),
    "StructuredResult": ("l0.structured", "StructuredResult"),
    "ChunkResult": ("l0._windows", "ChunkResult"),
    "ChunkRun": ("l0._windows", "ChunkRun"),
    "DocumentChunk": ("l0._windows", "DocumentChunk"),
    "Window": ("l0._windows", "Window"),
    "estimate_tokens": ("l0._windows", "estimate_tokens"),
    "Media": ("l0._multimodal", "Media"),
    "progress_event": ("l0._multimodal", "progress_event"),
    "to_data_event": ("l0._multimodal", "to_data_event"),
    "DriftConfig": ("l0.guardrails", "DriftConfig"),
    "DriftDetector": ("l0.guardrails", "DriftDetector"),
    "Guardrails": ("l0.guardrails", "Guardrails"),
    "Rule": ("l0.guardrails", "Rule"),
    "CandidateOutcome": ("l0._multi", "CandidateOutcome"),
    "ConsensusFailed": ("l0._multi", "ConsensusFailed"),
    "ConsensusGroup": ("l0._multi", "ConsensusGroup"),
    "ConsensusResult": ("l0._multi", "ConsensusResult"),
    "ContentRejected": ("l0._multi", "ContentRejected"),
    "Dissent": ("l0._multi", "Dissent"),
    "FieldAgreement": ("l0._multi", "FieldAgreement"),
    "ParallelResult": ("l0._multi", "ParallelResult"),
    "PipelineResult": ("l0._multi", "PipelineResult"),
    "PipelineStep": ("l0._multi", "PipelineStep"),
    "PipelineStepFailed": ("l0._multi", "PipelineStepFailed"),
    "Pool": ("l0._multi", "Pool"),
    "PoolClosed": ("l0._multi", "PoolClosed"),
    "PoolStats": ("l0._multi", "PoolStats"),
    "RaceResult": ("l0._multi", "RaceResult"),
    "StepResult": ("l0._multi", "StepResult"),
    "TaskOutcome": ("l0._multi", "TaskOutcome"),
    "TaskTelemetry": ("l0._multi", "TaskTelemetry"),
    "batched": ("l0._multi", "batched"),
    "consensus": ("l0._multi", "consensus"),
    "jaccard_similarity": ("l0._multi", "jaccard_similarity"),
    "levenshtein_ratio": ("l0._multi", "levenshtein_ratio"),
    "parallel": ("l0._multi", "parallel"),
    "pipeline": ("l0._multi", "pipeline"),
    "pool": ("l0._multi", "pool"),
    "race": ("l0._multi", "race"),
    "sequential": ("l0._multi", "sequential"),
    "text_similarity": ("l0._multi", "text_similarity"),
    "value_similarity": ("l0._multi", "value_similarity"),
    "TasksFailed": ("l0._multi", "TasksFailed"),
    "PipelineBranch": ("l0._multi", "PipelineBranch"),
}

if TYPE_CHECKING:
    from l0 import guardrails as guardrails
    from l0._multi import CandidateOutcome as CandidateOutcome
    from l0._multi import ConsensusFailed as ConsensusFailed
    from l0._multi import ConsensusGroup as ConsensusGroup
    from l0._multi import ConsensusResult as ConsensusResult
    from l0._multi import ContentRejected as ContentRejected
    from l0._multi import Dissent as Dissent
    from l0._multi import FieldAgreement as FieldAgreement
    from l0._multi import ParallelResult as ParallelResult
    from l0._multi import PipelineBranch as PipelineBranch
    from l0._multi import PipelineResult as PipelineResult
    from l0._multi import PipelineStep as PipelineStep
    from l0._multi import PipelineStepFailed as PipelineStepFailed
    from l0._multi import Pool as Pool
    from l0._multi import PoolClosed as PoolClosed
    from l0._multi import PoolStats as PoolStats
    from l0._multi import RaceResult as RaceResult
    from l0._multi import StepResult as StepResult
    from l0._multi import TaskOutcome as TaskOutcome
    from l0._multi import TasksFailed as TasksFailed
    from l0._multi import TaskTelemetry as TaskTelemetry
    from l0._multi import batched as batched
    from l0._multi import consensus as consensus
    from l0._multi import jaccard_similarity as jaccard_similarity
    from l0._multi import levenshtein_ratio as levenshtein_ratio
    from l0._multi import parallel as parallel
    from l0._multi import pipeline as pipeline
    from l0._multi import pool as pool
    from l0._multi import race as race
    from l0._multi import sequential as sequential
    from l0._multi import text_similarity as text_similarity
    from l0._multi import value_similarity as value_similarity
    from l0._multimodal import Media as Media
    from l0._multimodal import progress_event as progress_event
    from l0._multimodal import to_data_event as to_data_event
    from l0._windows import ChunkResult as ChunkResult
    from l0._windows import ChunkRun as ChunkRun
    from l0._windows import DocumentChunk as DocumentChunk
    from l0._windows import Window as Window
    from l0._windows import estimate_tokens as estimate_tokens
    from l0.guardrails import DriftConfig as DriftConfig
    from l0.guardrails import DriftDetector as DriftDetector
    from l0.guardrails import Guardrails as Guardrails
    from l0.guardrails import Rule as Rule
    from l0.structured import StructuredResult as StructuredResult
    from l0.structured import structured as structured
    from l0.structured import structured_array as structured_array
    from l0.structured import structured_object as structured_object
    from l0.structured import structured_stream as structured_stream


def __getattr__(name: str) -> Any:
    where = _LAZY.get(name)
    if where is None:
        raise AttributeError(f"module 'l0' has no attribute {name!r}")
    module = _importlib.import_module(where[0])
    value = module if where[1] is None else getattr(module, where[1])
    if where[0].startswith("l0._") and getattr(value, "__module__", "").startswith("l0._"):
        with _contextlib.suppress(AttributeError, TypeError):  # builtins refuse
            value.__module__ = __name__
    globals()[name] = value
    return value


def _fixup_module_metadata() -> None:
    # Reprs, tracebacks, docs and pickle say l0.Retry, not l0._config.Retry.
    namespace = globals()
    for name in __all__:
        if name in _LAZY:
            continue
        obj = namespace[name]
        if getattr(obj, "__module__", "").startswith("l0._"):
            try:
                obj.__module__ = __name__
            except (AttributeError, TypeError):  # pragma: no cover - builtins refuse
                continue


_fixup_module_metadata()
del _fixup_module_metadata
