"""The option values of a recorded stream: written into its header, read back to rebuild an
engine that behaves the same.

Values that are code (retry hooks, guardrail rules, drift detection, a shared retry budget or
circuit breaker) are not stored: the recording holds their *answers* instead (see
``l0._record._schema``). The header says they were there, so a re-execution knows to replay
those answers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

import attrs

from l0._config import CheckIntervals, Retry, Timeout
from l0._engine._continuation import ContinuationConfig
from l0._engine._tools import ToolSchemas

if TYPE_CHECKING:
    from l0._engine import Engine
    from l0._runtime._options import Options

__all__ = ["continuation_of", "describe", "intervals_of", "retry_of", "timeout_of", "tools_of"]


def _tools(schemas: ToolSchemas | None) -> dict[str, Any] | None:
    if schemas is None:
        return None
    validators = schemas._validators  # pyright: ignore[reportPrivateUsage]
    return {name: (v.schema if v is not None else None) for name, v in validators.items()}


def describe(engine: Engine, options: Options) -> dict[str, Any]:
    """The option values ``engine`` was built with (``options`` are the stream's own)."""
    retry = engine.retry
    timeout = engine.timeout
    intervals = options.check_intervals
    continuation = engine.continuation
    guardrails = options.guardrails
    drift = options.drift
    adapter = options.adapter
    return {
        "retry": {
            "attempts": retry.attempts,
            "max_retries": retry.max_retries,
            "base_delay": retry.base_delay,
            "max_delay": retry.max_delay,
            "strategy": retry.strategy,
            "retry_on": sorted(retry.retry_on),
            "max_retry_after": retry.max_retry_after,
            "should_retry": retry.should_retry is not None,
            "calculate_delay": retry.calculate_delay is not None,
        },
        "timeout": {
            "initial_token": timeout.initial_token,
            "inter_token": timeout.inter_token,
            "total": timeout.total,
        },
        "check_intervals": {
            "guardrails": intervals.guardrails,
            "drift": intervals.drift,
            "checkpoint": intervals.checkpoint,
        },
        "continuation": None
        if continuation is None
        else {
            "min_overlap": continuation.min_overlap,
            "max_overlap": continuation.max_overlap,
            "normalize_whitespace": continuation.normalize_whitespace,
            "ignore_case": continuation.ignore_case,
            "instruction": continuation.instruction,
            "build_prompt": continuation.build_prompt is not None,
        },
        "tools": _tools(engine.tool_schemas),
        "tool_calls": engine.tool_calls,
        "guardrails": None
        if guardrails is None
        else {
            "rules": list(guardrails.names),
            "has_async": guardrails.has_async,
            "async_rules": [rule.name for rule in guardrails if rule.is_async],
        },
        "drift": None if drift is None else attrs.asdict(drift.config),
        "retry_budget": engine.budget is not None,
        "circuit_breaker": engine.breaker is not None,
        "context": engine.context,
        "fallbacks": len(options.fallbacks),
        "adapter": adapter if isinstance(adapter, str) or adapter is None else adapter.name,
    }


def _section(options: Mapping[str, Any], name: str) -> dict[str, Any]:
    value = options.get(name)
    return dict(cast("Mapping[str, Any]", value)) if isinstance(value, Mapping) else {}


def retry_of(options: Mapping[str, Any]) -> Retry:
    """The recorded :class:`~l0.Retry` (its hooks are not: see the module docstring)."""
    fields = _section(options, "retry")
    fields.pop("should_retry", None)
    fields.pop("calculate_delay", None)
    return Retry(**fields)


def timeout_of(options: Mapping[str, Any]) -> Timeout:
    """The recorded :class:`~l0.Timeout`."""
    return Timeout(**_section(options, "timeout"))


def intervals_of(options: Mapping[str, Any]) -> CheckIntervals:
    """The recorded :class:`~l0.CheckIntervals`."""
    return CheckIntervals(**_section(options, "check_intervals"))


def continuation_of(options: Mapping[str, Any]) -> ContinuationConfig | None:
    """The recorded :class:`~l0.ContinuationConfig`; a ``build_prompt`` hook is not stored
    (the engine does not use it: only factories do)."""
    if options.get("continuation") is None:
        return None
    fields = _section(options, "continuation")
    fields.pop("build_prompt", None)
    return ContinuationConfig(**fields)


def tools_of(options: Mapping[str, Any]) -> ToolSchemas | None:
    """The recorded tool schemas."""
    tools = options.get("tools")
    if tools is None:
        return None
    return ToolSchemas(cast("Mapping[str, Any]", tools))
