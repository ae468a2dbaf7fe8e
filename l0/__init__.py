"""l0: the reliability layer for LLM token streams.

Wrap any model stream with :func:`run` and get back a :class:`Stream` that retries, falls back,
times out, and tells you exactly what happened.
"""

import importlib
from typing import TYPE_CHECKING, Any

from l0 import adapters as adapters
from l0 import events as events
from l0._config import CheckIntervals as CheckIntervals
from l0._config import Retry as Retry
from l0._config import RetryContext as RetryContext
from l0._config import Timeout as Timeout
from l0._engine._continuation import Continuation as Continuation
from l0._engine._continuation import continuation_messages as continuation_messages
from l0._errors import AdapterNotFound as AdapterNotFound
from l0._errors import AllStreamsExhausted as AllStreamsExhausted
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
from l0._state import State as State

__all__ = [
    "AdapterNotFound",
    "AllStreamsExhausted",
    "AttemptContext",
    "CheckIntervals",
    "Complete",
    "ConfigError",
    "Continuation",
    "Data",
    "DriftConfig",
    "DriftDetected",
    "DriftDetector",
    "ErrorCategory",
    "ErrorCode",
    "ErrorEvent",
    "FeatureNotEnabled",
    "GuardrailViolationError",
    "Guardrails",
    "InvalidStream",
    "L0Error",
    "Message",
    "NetworkError",
    "Progress",
    "Reset",
    "Retry",
    "RetryContext",
    "Rule",
    "RunOptions",
    "Session",
    "SourceError",
    "State",
    "Stream",
    "StreamAborted",
    "StreamClosed",
    "StreamEvent",
    "StreamTimeout",
    "StreamTruncated",
    "Timeout",
    "Token",
    "ToolCall",
    "ToolCallError",
    "ZeroOutput",
    "adapters",
    "continuation_messages",
    "events",
    "guardrails",
    "run",
    "session",
    "wrap",
]


# Imported on first use, so that ``import l0`` stays fast (guardrails compile their patterns).
_LAZY: dict[str, str] = {
    "guardrails": "",
    "Guardrails": "guardrails",
    "Rule": "guardrails",
    "DriftConfig": "guardrails",
    "DriftDetector": "guardrails",
}

if TYPE_CHECKING:
    from l0 import guardrails as guardrails
    from l0.guardrails import DriftConfig as DriftConfig
    from l0.guardrails import DriftDetector as DriftDetector
    from l0.guardrails import Guardrails as Guardrails
    from l0.guardrails import Rule as Rule


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'l0' has no attribute {name!r}")
    module = importlib.import_module("l0.guardrails")
    value = module if not _LAZY[name] else getattr(module, name)
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
