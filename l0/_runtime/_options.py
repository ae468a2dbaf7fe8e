"""Options of a stream, session defaults, and the attempt context given to factories."""

from __future__ import annotations

import enum
import inspect
import types
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final, TypedDict, cast

import attrs

from l0._budget import CircuitBreaker, RetryBudget
from l0._config import CheckIntervals, Retry, Timeout
from l0._engine._continuation import ContinuationConfig
from l0._engine._tools import ToolCallMode, ToolSchemas
from l0._errors import ConfigError, L0Error

if TYPE_CHECKING:
    from l0._guardrails import DriftConfig, DriftDetector, Guardrails, Rule
    from l0._record._store import Store
    from l0.adapters import Adapter

__all__ = [
    "CALLBACK_NAMES",
    "UNSET",
    "AttemptContext",
    "Factory",
    "Options",
    "RunOptions",
    "UnsetType",
    "merge",
]


class UnsetType(enum.Enum):
    """The type of :data:`UNSET`."""

    UNSET = enum.auto()

    def __repr__(self) -> str:
        return "UNSET"


UNSET: Final = UnsetType.UNSET
"""Sentinel for "not given here: inherit the session's value" (``None`` means "disable")."""

CALLBACK_NAMES: tuple[str, ...] = (
    "on_start",
    "on_complete",
    "on_error",
    "on_event",
    "on_violation",
    "on_retry",
    "on_fallback",
    "on_resume",
    "on_checkpoint",
    "on_timeout",
    "on_abort",
    "on_drift",
    "on_tool_call",
    "on_token",
    "on_phase",
)


@attrs.frozen(kw_only=True)
class AttemptContext:
    """What a factory is told about the attempt it is called for.

    ``attempt`` is 1-based per source, ``source_index`` is 0 for the primary and *i* for
    ``fallbacks[i - 1]``; ``error`` is why the previous attempt failed. When the stream resumes
    (``continue_from_last_good_token``), ``checkpoint`` is the output to continue (``""``
    otherwise) and ``continuation_prompt`` what to ask the model (see
    :class:`~l0.ContinuationConfig`): send both, e.g. with :func:`l0.continuation_messages`, and l0
    removes the new output's repeat of the checkpoint.
    """

    attempt: int
    source_index: int
    is_retry: bool
    is_fallback: bool
    checkpoint: str = ""
    continuation_prompt: str = ""
    error: L0Error | None = None

    @property
    def is_resume(self) -> bool:
        """Whether this attempt continues a checkpoint."""
        return bool(self.checkpoint)


Factory = Callable[..., Any]
"""A callable returning a stream (or an awaitable of one); may take an :class:`AttemptContext`."""


Callback = Callable[..., Any]
"""A lifecycle callback, sync or async."""


class RunOptions(TypedDict, total=False):
    """The keywords of :func:`l0.run`, :func:`l0.session`, ``Session.run`` and :func:`l0.wrap`.

    Leaving one out inherits the session's value (or the default); ``None`` disables retries,
    deadlines or fallbacks. See :func:`l0.run` for what each one means.
    """

    fallbacks: Sequence[Factory] | None
    retry: Retry | None
    timeout: Timeout | None
    check_intervals: CheckIntervals
    context: Mapping[str, Any] | None
    adapter: Adapter | str | None
    seed: int | None
    continue_from_last_good_token: bool | ContinuationConfig | None
    guardrails: Guardrails | Sequence[Rule] | None
    drift: bool | DriftConfig | DriftDetector | None
    tools: Sequence[Mapping[str, Any]] | Mapping[str, Any] | None
    tool_calls: ToolCallMode
    keep_raw: bool | int
    retry_budget: RetryBudget | None
    circuit_breaker: CircuitBreaker | None
    record: Store | None
    on_start: Callback | None
    on_complete: Callback | None
    on_error: Callback | None
    on_event: Callback | None
    on_violation: Callback | None
    on_retry: Callback | None
    on_fallback: Callback | None
    on_resume: Callback | None
    on_checkpoint: Callback | None
    on_timeout: Callback | None
    on_abort: Callback | None
    on_drift: Callback | None
    on_tool_call: Callback | None
    on_token: Callback | None
    on_phase: Callback | None


OPTION_NAMES: frozenset[str] = frozenset(RunOptions.__annotations__)


def _check_factory(_inst: Any, attr: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and not callable(value):
        raise ConfigError(
            f"{attr.name} must be a callable returning a stream (a factory), got "
            f"{type(value).__name__}; wrap it: stream=lambda: ..."
        )


def _check_fallbacks(_inst: Any, _attr: Any, value: tuple[Any, ...]) -> None:
    for i, factory in enumerate(value):
        if not callable(factory):
            raise ConfigError(f"fallbacks[{i}] must be a callable, got {type(factory).__name__}")


def _check_callbacks(_inst: Any, _attr: Any, value: Mapping[str, Any]) -> None:
    for name, fn in value.items():
        if name not in CALLBACK_NAMES:
            raise ConfigError(f"unknown callback {name!r}; valid: {', '.join(CALLBACK_NAMES)}")
        if fn is not None and not callable(fn):
            raise ConfigError(f"{name} must be callable, got {type(fn).__name__}")


def _to_retry(value: Retry | None) -> Retry:
    if value is None:
        return Retry(attempts=0, max_retries=0)
    if not isinstance(value, Retry):  # pyright: ignore[reportUnnecessaryIsInstance]
        raise ConfigError(f"retry must be an l0.Retry or None, got {type(value).__name__}")
    return value


def _to_timeout(value: Timeout | None) -> Timeout:
    if value is None:
        return Timeout.disabled()
    if not isinstance(value, Timeout):  # pyright: ignore[reportUnnecessaryIsInstance]
        raise ConfigError(f"timeout must be an l0.Timeout or None, got {type(value).__name__}")
    return value


def _to_intervals(value: CheckIntervals) -> CheckIntervals:
    if not isinstance(value, CheckIntervals):  # pyright: ignore[reportUnnecessaryIsInstance]
        raise ConfigError(
            f"check_intervals must be an l0.CheckIntervals, got {type(value).__name__}"
        )
    return value


def _to_fallbacks(value: Sequence[Factory] | None) -> tuple[Factory, ...]:
    if value is None:
        return ()
    if callable(value):
        raise ConfigError("fallbacks must be a list of factories, got a single callable")
    given = cast("object", value)
    if isinstance(given, (str, bytes)) or not isinstance(given, Iterable):
        raise ConfigError(f"fallbacks must be a list of factories, got {type(given).__name__}")
    return tuple(cast("Iterable[Factory]", given))


def _check_adapter(_inst: Any, _attr: Any, value: object) -> None:
    from l0.adapters import Adapter  # noqa: PLC0415 - import cycle
    from l0.adapters._registry import get  # noqa: PLC0415

    if value is None or isinstance(value, Adapter):
        return
    if not isinstance(value, str):
        raise ConfigError(
            f"adapter must be an adapter's name or an l0.adapters.Adapter, got "
            f"{type(value).__name__}"
        )
    try:
        get(value)
    except L0Error as exc:
        raise ConfigError(f"adapter {value!r}: {exc.message}") from exc


def _check_seed(_inst: Any, _attr: Any, value: object) -> None:
    if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
        raise ConfigError(f"seed must be an int or None, got {type(value).__name__}")


def _to_continuation(value: bool | ContinuationConfig | None) -> ContinuationConfig | None:
    if value is None or value is False:
        return None
    if value is True:
        return ContinuationConfig()
    if not isinstance(value, ContinuationConfig):  # pyright: ignore[reportUnnecessaryIsInstance]
        raise ConfigError(
            "continue_from_last_good_token must be True, False, None or an l0.ContinuationConfig, "
            f"got {type(value).__name__}"
        )
    return value


def _to_guardrails(value: Guardrails | Sequence[Rule] | None) -> Guardrails | None:
    if value is None:
        return None
    from l0._guardrails import Guardrails, Rule  # noqa: PLC0415 - only streams that use them

    if isinstance(value, Rule):
        value = Guardrails([value])
    elif not isinstance(value, Guardrails):
        given = cast("object", value)
        if isinstance(given, (str, bytes)) or not isinstance(given, Iterable):
            raise ConfigError(
                f"guardrails must be an l0.Guardrails or a list of l0.Rule, got "
                f"{type(given).__name__}"
            )
        rules: list[Rule] = []
        for i, rule in enumerate(cast("Iterable[object]", given)):
            if not isinstance(rule, Rule):
                raise ConfigError(f"guardrails[{i}] must be an l0.Rule, got {type(rule).__name__}")
            rules.append(rule)
        value = Guardrails(rules)
    return value if value else None


def _to_drift(value: bool | DriftConfig | DriftDetector | None) -> DriftDetector | None:
    if value is None or value is False:
        return None
    from l0._guardrails import DriftConfig, DriftDetector  # noqa: PLC0415 - only when used

    if value is True:
        return DriftDetector()
    if isinstance(value, DriftConfig):
        return DriftDetector(value)
    if not isinstance(value, DriftDetector):  # pyright: ignore[reportUnnecessaryIsInstance]
        raise ConfigError(
            f"drift must be True, an l0.DriftConfig or an l0.DriftDetector, got "
            f"{type(value).__name__}"
        )
    return value


def _to_tools(value: Sequence[Mapping[str, Any]] | Mapping[str, Any] | None) -> ToolSchemas | None:
    if value is None or isinstance(value, ToolSchemas):
        return value
    return ToolSchemas(value)


def _check_tool_calls(_inst: Any, _attr: attrs.Attribute[Any], value: Any) -> None:
    if value not in ("buffered", "eager"):
        raise ConfigError(f"tool_calls must be 'buffered' or 'eager', got {value!r}")


DEFAULT_RAW_LIMIT: Final = 10_000
"""How many raw items ``keep_raw=True`` keeps (the attempt's most recent ones)."""


def _to_keep_raw(value: bool | int) -> int:
    if value is True:
        return DEFAULT_RAW_LIMIT
    if value is False or value is None:  # pyright: ignore[reportUnnecessaryComparison]
        return 0
    if not isinstance(value, int) or value < 0:  # pyright: ignore[reportUnnecessaryIsInstance]
        raise ConfigError(f"keep_raw must be True, False or a number of items >= 0, got {value!r}")
    return value


def _instance_of(cls: type, name: str) -> Callable[[Any, attrs.Attribute[Any], Any], None]:
    def check(_inst: Any, _attr: attrs.Attribute[Any], value: Any) -> None:
        if not isinstance(value, cls):
            raise ConfigError(f"{name} must be an l0.{cls.__name__}, got {type(value).__name__}")

    return check


def _check_record(_inst: Any, _attr: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and not all(
        callable(getattr(value, name, None)) for name in ("append", "read", "set_meta")
    ):
        raise ConfigError(
            f"record must be an l0.record store (MemoryStore, JsonlStore, SqliteStore, or one "
            f"implementing l0.record.Store) or None, got {type(value).__name__}"
        )


def _no_callbacks() -> dict[str, Callable[..., Any] | None]:
    return {}


@attrs.frozen(kw_only=True)
class Options:
    """Everything that configures one stream (a session holds the defaults)."""

    stream: Factory | None = attrs.field(default=None, validator=_check_factory)
    fallbacks: tuple[Factory, ...] = attrs.field(
        default=(), converter=_to_fallbacks, validator=_check_fallbacks
    )
    retry: Retry = attrs.field(factory=Retry, converter=_to_retry)
    timeout: Timeout = attrs.field(factory=Timeout, converter=_to_timeout)
    check_intervals: CheckIntervals = attrs.field(factory=CheckIntervals, converter=_to_intervals)
    context: Mapping[str, Any] | None = None
    adapter: Adapter | str | None = attrs.field(default=None, validator=_check_adapter)
    seed: int | None = attrs.field(default=None, validator=_check_seed)
    continue_from_last_good_token: ContinuationConfig | None = attrs.field(
        default=None, converter=_to_continuation
    )
    guardrails: Guardrails | None = attrs.field(default=None, converter=_to_guardrails)
    drift: DriftDetector | None = attrs.field(default=None, converter=_to_drift)
    tools: ToolSchemas | None = attrs.field(default=None, converter=_to_tools)
    tool_calls: ToolCallMode = attrs.field(default="buffered", validator=_check_tool_calls)
    keep_raw: int = attrs.field(default=0, converter=_to_keep_raw)
    retry_budget: RetryBudget | None = attrs.field(
        default=None, validator=attrs.validators.optional(_instance_of(RetryBudget, "retry_budget"))
    )
    circuit_breaker: CircuitBreaker | None = attrs.field(
        default=None,
        validator=attrs.validators.optional(_instance_of(CircuitBreaker, "circuit_breaker")),
    )
    record: Store | None = attrs.field(default=None, validator=_check_record)
    callbacks: Mapping[str, Callable[..., Any] | None] = attrs.field(
        factory=_no_callbacks, validator=_check_callbacks
    )


_FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in attrs.fields(Options))
_STREAM_FIELD: attrs.Attribute[Any] = attrs.fields(Options).stream


def merge(base: Options, given: Mapping[str, Any], *, where: str = "run()") -> Options:
    """``base`` with the keywords in ``given`` applied (:data:`UNSET` ones skipped).

    Callbacks (``on_*``) merge one by one: a stream's ``on_error`` replaces the session's
    ``on_error`` but keeps its ``on_retry``. ``on_event`` is the exception: a stream's sink is
    added to its session's (both see every event, so a session's monitoring sees all of its
    streams), and ``on_event=None`` turns the session's off for that stream. An unknown keyword
    is a ``TypeError``, as it would be for any Python function.
    """
    if len(given) == 1 and "stream" in given:
        # The common case (run(factory) with the defaults): only the factory changes, and the
        # base's other values were converted and validated when it was made.
        stream = given["stream"]
        _check_factory(None, _STREAM_FIELD, stream)
        new = object.__new__(Options)
        for name in _FIELD_NAMES:
            object.__setattr__(new, name, getattr(base, name))
        object.__setattr__(new, "stream", stream)
        return new
    changes: dict[str, Any] = {}
    callbacks = dict(base.callbacks)
    for key, value in given.items():
        if key not in OPTION_NAMES and key != "stream":
            raise TypeError(
                f"{where} got an unexpected keyword argument {key!r}; "
                f"valid: {', '.join(sorted(OPTION_NAMES))}"
            )
        if value is UNSET:
            continue
        if key in CALLBACK_NAMES:
            own = callbacks.get(key)
            if key == "on_event" and value is not None and own is not None and own != value:
                from l0.monitoring._sink import combine  # noqa: PLC0415 - sessions with sinks only

                callbacks[key] = combine(own, value)
            else:
                callbacks[key] = value
        else:
            changes[key] = value
    changes["callbacks"] = callbacks
    try:
        return attrs.evolve(base, **changes)
    except TypeError as exc:
        raise ConfigError(str(exc)) from exc


_WANTS_CONTEXT: dict[object, bool] = {}


def wants_context(factory: Factory) -> bool:
    """Whether ``factory`` takes a positional parameter (the :class:`AttemptContext`).

    Plain functions and lambdas are answered from their code object (a factory written as a
    lambda is a new function on every call, with the same code)."""
    if type(factory) is types.FunctionType and factory.__defaults__ is None:
        code = factory.__code__
        known = _WANTS_CONTEXT.get(code)
        if known is None:
            known = _WANTS_CONTEXT[code] = _wants_context(factory)
        return known
    return _wants_context(factory)


def _wants_context(factory: Factory) -> bool:
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):
        return False
    for param in signature.parameters.values():
        if param.kind in (param.POSITIONAL_ONLY, param.POSITIONAL_OR_KEYWORD, param.VAR_POSITIONAL):
            return param.default is param.empty or param.kind is param.VAR_POSITIONAL
    return False
