"""The live state of a stream (``stream.state``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from l0._errors import L0Error
    from l0._events._stream import Data, Progress, ToolCall

__all__ = ["State"]


class State:
    """What a stream has produced so far, and how it got there.

    ``content`` only ever holds the output of the current (finally: the successful) attempt:
    when an attempt fails, its partial output is discarded here and consumers get a
    :class:`~l0.Reset` event.
    """

    __slots__ = (
        "_parts",
        "aborted",
        "attempt",
        "checkpoint",
        "completed",
        "data",
        "drift_detected",
        "error",
        "errors",
        "fallback_index",
        "finish_reason",
        "model_retry_count",
        "network_retry_count",
        "progress",
        "token_count",
        "tool_calls",
        "usage",
        "violations",
    )

    def __init__(self) -> None:
        self._parts: list[str] = []
        self.token_count = 0
        self.checkpoint = ""
        self.model_retry_count = 0
        self.network_retry_count = 0
        self.fallback_index = 0
        self.attempt = 1
        self.completed = False
        self.aborted = False
        self.drift_detected = False
        self.finish_reason: str | None = None
        self.usage: dict[str, Any] | None = None
        self.tool_calls: list[ToolCall] = []
        self.data: list[Data] = []
        self.progress: Progress | None = None
        self.violations: list[Any] = []
        self.error: L0Error | None = None
        self.errors: list[L0Error] = []

    @property
    def content(self) -> str:
        """The accumulated text of the current attempt."""
        parts = self._parts
        if len(parts) > 1:
            joined = "".join(parts)
            parts[:] = [joined]
            return joined
        return parts[0] if parts else ""

    @property
    def content_length(self) -> int:
        """``len(content)``."""
        return len(self.content)

    @property
    def retry_count(self) -> int:
        """Retries of every kind so far."""
        return self.model_retry_count + self.network_retry_count

    def discard_output(self) -> int:
        """Forget the current attempt's output; returns how many characters were discarded."""
        discarded = self.content_length
        self._parts.clear()
        self.token_count = 0
        self.finish_reason = None
        self.tool_calls = []
        self.data = []
        return discarded

    def snapshot(self) -> dict[str, Any]:
        """A JSON-friendly copy (canonical camelCase keys)."""
        return {
            "content": self.content,
            "tokenCount": self.token_count,
            "checkpoint": self.checkpoint,
            "modelRetryCount": self.model_retry_count,
            "networkRetryCount": self.network_retry_count,
            "fallbackIndex": self.fallback_index,
            "completed": self.completed,
            "aborted": self.aborted,
            "finishReason": self.finish_reason,
        }

    def __repr__(self) -> str:
        return (
            f"State(tokens={self.token_count}, chars={self.content_length}, "
            f"attempt={self.attempt}, fallback_index={self.fallback_index}, "
            f"completed={self.completed})"
        )
