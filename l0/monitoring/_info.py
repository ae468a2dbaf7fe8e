"""What the sinks know about one stream, read from its events and its context.

Observability events don't carry the model or provider: sinks take them as constructor
arguments, and per stream from the ``context`` given to :func:`l0.run` under these keys:

* ``"model"``: the model requested from the first source (``gen_ai.request.model``);
* ``"provider"``: the provider (``gen_ai.provider.name``, e.g. ``"openai"``);
* ``"operation"``: the operation (``gen_ai.operation.name``, default ``"chat"``);
* ``"fallback_models"``: the models of ``fallbacks[0]``, ``fallbacks[1]``..., so the model
  that answered (``gen_ai.response.model``) is known after a fallback.

Provider usage and the time to the first token are read from the ``state`` of the COMPLETE
event (keys ``"usage"`` and ``"timeToFirstTokenMs"``) when the runtime puts them there. No
text the model produced, no prompt and no error message is read unless ``record_content``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal, cast

from l0._events import _observability as obs

__all__ = ["Defaults", "Outcome", "StreamInfo", "completion_details"]

Outcome = Literal["completed", "failed", "aborted", "abandoned"]
"""How a stream ended; ``"abandoned"``: its end was never seen (evicted, or ``close()``)."""


class Defaults:
    """Constructor-level model/provider/operation, overridden per stream by the context."""

    __slots__ = ("model", "operation", "provider")

    def __init__(self, model: str | None, provider: str | None, operation: str) -> None:
        self.model = model
        self.provider = provider
        self.operation = operation


def _text(context: Mapping[str, Any] | None, key: str) -> str | None:
    if context is None:
        return None
    value = context.get(key)
    return value if isinstance(value, str) and value else None


def _texts(context: Mapping[str, Any] | None, key: str) -> tuple[str | None, ...]:
    if context is None:
        return ()
    value = context.get(key)
    if isinstance(value, (list, tuple)):
        items = cast("Sequence[object]", value)
        return tuple(item if isinstance(item, str) and item else None for item in items)
    return ()


class StreamInfo:
    """Mutable per-stream facts accumulated from its events."""

    __slots__ = (
        "adapter",
        "attempt",
        "attempt_start",
        "checkpoints",
        "context",
        "drift",
        "end_ts",
        "error_code",
        "error_text",
        "failure_type",
        "fallback_models",
        "fallbacks",
        "finish_reason",
        "input_tokens",
        "model",
        "model_retries",
        "network_retries",
        "operation",
        "outcome",
        "output_tokens",
        "provider",
        "resumes",
        "source_index",
        "start_ts",
        "stream_id",
        "timeouts",
        "token_count",
        "ttft",
        "violations",
    )

    def __init__(self, event: obs.ObservabilityEvent, defaults: Defaults) -> None:
        context = event.context
        self.stream_id = event.stream_id
        self.context = context
        self.start_ts = event.ts
        self.attempt_start = event.ts
        self.end_ts = event.ts
        self.model = _text(context, "model") or defaults.model
        self.provider = _text(context, "provider") or defaults.provider
        self.operation = _text(context, "operation") or defaults.operation
        self.fallback_models = _texts(context, "fallback_models")
        self.attempt = 1
        self.source_index = 0
        self.adapter: str | None = None
        self.model_retries = 0
        self.network_retries = 0
        self.fallbacks = 0
        self.timeouts = 0
        self.resumes = 0
        self.violations = 0
        self.checkpoints = 0
        self.drift = False
        self.token_count = 0
        self.finish_reason: str | None = None
        self.input_tokens: int | None = None
        self.output_tokens: int | None = None
        self.ttft: float | None = None
        self.error_code: str | None = None
        self.error_text: str | None = None
        self.failure_type: str | None = None
        self.outcome: Outcome | None = None

    @property
    def retries(self) -> int:
        """Retries of every kind so far."""
        return self.model_retries + self.network_retries

    def model_of(self, source_index: int) -> str | None:
        """The model requested from source ``source_index`` (0: the primary), if known."""
        if source_index == 0:
            return self.model
        models = self.fallback_models
        return models[source_index - 1] if source_index - 1 < len(models) else None

    @property
    def span_name(self) -> str:
        """``"{operation} {model}"`` (the GenAI span name), or the operation alone."""
        return f"{self.operation} {self.model}" if self.model else self.operation

    def count_retry(self, event: obs.Error) -> str:
        """Count the retry an ERROR event announces; returns its kind (network or model)."""
        if event.failure_type in ("network", "timeout"):
            self.network_retries += 1
            return "network"
        self.model_retries += 1
        return "model"

    def summarize(self, event: obs.SessionSummary) -> None:
        """Take the totals of SESSION_SUMMARY."""
        self.token_count = event.token_count
        self.violations = max(self.violations, event.guardrail_violations)
        self.drift = self.drift or event.drift_detected
        self.checkpoints = max(self.checkpoints, event.checkpoints_created)
        self.start_ts = min(self.start_ts, event.start_ts)

    def complete(self, event: obs.Complete) -> None:
        """Take what COMPLETE says about the successful attempt."""
        self.token_count = event.token_count
        finish, input_tokens, output_tokens, ttft = completion_details(event)
        self.finish_reason = finish
        self.input_tokens = input_tokens
        self.output_tokens = output_tokens
        self.ttft = ttft

    def fail(self, event: obs.Error, record_content: bool) -> None:
        """Take the classification (and, if allowed, the message) of an ERROR event."""
        self.error_code = event.error_code or "_OTHER"
        self.failure_type = event.failure_type
        self.error_text = error_text(event) if record_content else None


def error_text(event: obs.Error) -> str:
    """An ERROR event's message with what the original exception said (``detail``): for the
    sinks to record only with ``record_content=True``."""
    return f"{event.error}: {event.detail}" if event.detail else event.error


def _int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    return None


def completion_details(
    event: obs.Complete,
) -> tuple[str | None, int | None, int | None, float | None]:
    """``(finish_reason, input_tokens, output_tokens, ttft_seconds)`` from a COMPLETE event."""
    state = event.state
    if not state:
        return None, None, None, None
    finish = state.get("finishReason")
    usage = state.get("usage")
    input_tokens = output_tokens = None
    if isinstance(usage, Mapping):
        usage_map = cast("Mapping[str, object]", usage)
        input_tokens = _int(usage_map.get("input_tokens"))
        output_tokens = _int(usage_map.get("output_tokens"))
    ttft_ms = state.get("timeToFirstTokenMs")
    ttft = (
        float(ttft_ms) / 1000
        if isinstance(ttft_ms, (int, float)) and not isinstance(ttft_ms, bool) and ttft_ms >= 0
        else None
    )
    return (finish if isinstance(finish, str) else None), input_tokens, output_tokens, ttft
