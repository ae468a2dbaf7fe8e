"""The JSON forms of the two values that are not plain data: errors and a stream's state.

An exception is written as its canonical ``to_json()`` (:class:`ErrorInfo`) and read back as a
:class:`RecordedError`; a :class:`~l0.State` as its data (``StateForm``) and read back as a
``State``. :class:`StateSnapshot` describes the canonical ``State.snapshot()``.
"""

# No ``from __future__ import annotations``: msgspec reads these Structs' annotations through
# ``__module__``, which l0's public re-export rewrites.
from collections.abc import Mapping
from typing import Annotated, Any, cast

import msgspec

from l0._errors import ErrorCategory, ErrorCode, L0Error, SourceError
from l0._events._observability import GuardrailViolation
from l0._events._stream import Data, Progress, ToolCall
from l0._state import Phase, State

__all__ = [
    "ErrorInfo",
    "RecordedError",
    "SerializationError",
    "StateForm",
    "StateSnapshot",
    "dump_state",
    "load_error",
    "load_state",
]

_Count = Annotated[int, msgspec.Meta(ge=0)]


class SerializationError(L0Error, ValueError):
    """A value has no JSON form, or JSON is not the form of the type it is decoded as.

    Raised by :func:`~l0.to_json` for a function held by a config (``Retry.should_retry``) or a
    live object (a :class:`~l0.Stream`...), and by :func:`~l0.from_json` for text that is not
    JSON, JSON of the wrong shape (the message says where: ``$.retry_on[0]``) or values the
    type's own validation refuses (then ``__cause__`` is its :class:`~l0.ConfigError`).

    .. versionadded:: 0.1
    """

    default_code = ErrorCode.INVALID_JSON


class ErrorInfo(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """The JSON form of an error: exactly what :meth:`L0Error.to_json` gives (camelCase keys).

    ``name`` is the error's class name. Errors are written in this form wherever they appear
    (``ErrorEvent.error``, ``State.errors``, ``TaskOutcome.error``...); an exception that is not
    an :class:`~l0.L0Error` is described as the :class:`~l0.SourceError` l0 wraps such errors
    in. ``ErrorInfo.of(error)`` describes one; decoding its JSON as ``ErrorInfo`` gives an equal
    description.

    .. versionadded:: 0.1
    """

    name: str
    code: ErrorCode
    category: ErrorCategory
    message: str
    timestamp: float
    has_checkpoint: bool = False
    checkpoint: str | None = None
    token_count: int | None = None
    model_retry_count: int | None = None
    network_retry_count: int | None = None
    fallback_index: int | None = None
    metadata: dict[str, Any] | None = None
    context: dict[str, Any] | None = None

    @classmethod
    def of(cls, error: BaseException) -> "ErrorInfo":
        """The description of ``error`` (its ``to_json()``)."""
        if isinstance(error, RecordedError):
            return error.info
        if not isinstance(error, L0Error):
            wrapped = SourceError(f"{type(error).__name__}: {error}")
            wrapped.__cause__ = error
            error = wrapped
        try:  # through JSON: the description is what reads back (tuples become lists...)
            return msgspec.json.decode(msgspec.json.encode(error.to_json()), type=cls)
        except (msgspec.ValidationError, TypeError) as exc:
            raise SerializationError(
                f"{type(error).__name__}.to_json() has no valid JSON form: {exc}"
            ) from exc

    def to_error(self) -> "RecordedError":
        """This description as an exception (what :func:`~l0.from_json` gives for an error)."""
        return RecordedError(self)


class RecordedError(L0Error):
    """An error read back from JSON: its :class:`ErrorInfo` as an :class:`~l0.L0Error`.

    :func:`~l0.from_json` gives one wherever a type holds an error (``ErrorEvent.error``,
    ``TaskOutcome.error``...). It is not an instance of the original class (``name`` says which
    that was) and knows only what the JSON recorded: ``code``, ``category``, ``message``,
    ``timestamp``, the checkpoint and counters, ``metadata`` and ``context``. ``info`` is the
    description itself, and ``to_json()`` gives it back unchanged.

    .. versionadded:: 0.1
    """

    def __init__(self, info: ErrorInfo) -> None:
        super().__init__(info.message, code=info.code, metadata=info.metadata)
        self.info = info
        """The description this error was read from."""
        self.name: str = info.name
        """The class name of the error that was recorded."""
        self.timestamp: float = info.timestamp
        self.checkpoint: str | None = info.checkpoint
        self.token_count: int | None = info.token_count
        self.model_retry_count: int | None = info.model_retry_count
        self.network_retry_count: int | None = info.network_retry_count
        self.fallback_index: int | None = info.fallback_index
        self.context: Mapping[str, Any] | None = info.context

    @property
    def category(self) -> ErrorCategory:
        """The recorded category."""
        return self.info.category

    @property
    def has_checkpoint(self) -> bool:
        """The recorded ``hasCheckpoint``."""
        return self.info.has_checkpoint

    def to_json(self) -> dict[str, Any]:
        """The recorded form, unchanged."""
        return cast("dict[str, Any]", msgspec.to_builtins(self.info))

    def __reduce__(self) -> tuple[Any, ...]:
        return (RecordedError, (self.info,))

    def __repr__(self) -> str:
        return f"RecordedError({self.name}: {self.message!r}, code={self.code.value})"


def load_error(info: ErrorInfo) -> RecordedError:
    """The error a decoded :class:`ErrorInfo` stands for."""
    return RecordedError(info)


class StateSnapshot(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """The canonical snapshot of a stream's state: what :meth:`State.snapshot` gives.

    camelCase keys, time to first token in milliseconds. ``StateSnapshot.of(state)`` takes
    one; to write and read a whole :class:`~l0.State`, give the state itself to
    :func:`~l0.to_json`.

    .. versionadded:: 0.1
    """

    content: str
    token_count: _Count
    checkpoint: str
    model_retry_count: _Count
    network_retry_count: _Count
    fallback_index: _Count
    completed: bool
    aborted: bool
    finish_reason: str | None
    usage: dict[str, Any] | None
    time_to_first_token_ms: float | None

    @classmethod
    def of(cls, state: State) -> "StateSnapshot":
        """The snapshot of ``state``."""
        return msgspec.convert(state.snapshot(), cls)


class StateForm(msgspec.Struct, kw_only=True):
    """The JSON form of a stream's :class:`~l0.State`: its data, under its attribute names.

    ``checkpoint`` is the start of ``content`` that a resumed attempt continues;
    ``time_to_first_token`` is in seconds; errors are in their canonical form (``ErrorInfo``).
    """

    content: str
    token_count: _Count = 0
    checkpoint: str = ""
    phase: Phase = "init"
    attempt: Annotated[int, msgspec.Meta(ge=1)] = 1
    model_retry_count: _Count = 0
    network_retry_count: _Count = 0
    fallback_index: _Count = 0
    completed: bool = False
    aborted: bool = False
    drift_detected: bool = False
    finish_reason: str | None = None
    usage: dict[str, Any] | None = None
    time_to_first_token: float | None = None
    tool_calls: list[ToolCall] = msgspec.field(default_factory=list[ToolCall])
    data: list[Data] = msgspec.field(default_factory=list[Data])
    progress: Progress | None = None
    violations: list[GuardrailViolation] = msgspec.field(default_factory=list[GuardrailViolation])
    error: ErrorInfo | None = None
    errors: list[ErrorInfo] = msgspec.field(default_factory=list[ErrorInfo])


# Schemas name the form after what it describes.
StateForm.__name__ = StateForm.__qualname__ = "State"
StateForm.__module__ = "l0"


def dump_state(state: State) -> StateForm:
    """The JSON form of ``state``."""
    return StateForm(
        content=state.content,
        token_count=state.token_count,
        checkpoint=state.checkpoint,
        phase=state.phase,
        attempt=state.attempt,
        model_retry_count=state.model_retry_count,
        network_retry_count=state.network_retry_count,
        fallback_index=state.fallback_index,
        completed=state.completed,
        aborted=state.aborted,
        drift_detected=state.drift_detected,
        finish_reason=state.finish_reason,
        usage=state.usage,
        time_to_first_token=state.time_to_first_token,
        tool_calls=list(state.tool_calls),
        data=list(state.data),
        progress=state.progress,
        violations=list(state.violations),
        error=None if state.error is None else ErrorInfo.of(state.error),
        errors=[ErrorInfo.of(error) for error in state.errors],
    )


def load_state(form: StateForm) -> State:
    """The :class:`~l0.State` a decoded form describes."""
    if not form.content.startswith(form.checkpoint):
        raise SerializationError("State: checkpoint must be the start of content")
    state = State()
    # The output as one part, and ``_extra`` set so that token_count is what was recorded (in
    # O(1): a huge recorded count costs nothing).
    parts = [form.content] if form.content else []
    state._parts.extend(parts)  # pyright: ignore[reportPrivateUsage]
    state._extra = len(parts) - form.token_count  # pyright: ignore[reportPrivateUsage]
    state.checkpoint_length = len(form.checkpoint)
    state.phase = form.phase
    state.attempt = form.attempt
    state.model_retry_count = form.model_retry_count
    state.network_retry_count = form.network_retry_count
    state.fallback_index = form.fallback_index
    state.completed = form.completed
    state.aborted = form.aborted
    state.drift_detected = form.drift_detected
    state.finish_reason = form.finish_reason
    state.usage = form.usage
    state.time_to_first_token = form.time_to_first_token
    state.tool_calls = form.tool_calls
    state.data = form.data
    state.progress = form.progress
    state.violations = list(form.violations)
    state.error = None if form.error is None else RecordedError(form.error)
    state.errors = [RecordedError(info) for info in form.errors]
    return state
