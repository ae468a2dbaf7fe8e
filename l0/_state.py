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
    :class:`~l0.Reset` event (unless the stream resumes from its checkpoint: then the output
    is kept and the next attempt continues it).
    """

    __slots__ = (
        "_joined",
        "_joined_parts",
        "_parts",
        "aborted",
        "attempt",
        "checkpoint_length",
        "completed",
        "data",
        "drift_detected",
        "error",
        "errors",
        "fallback_index",
        "finish_reason",
        "length",
        "model_retry_count",
        "network_retry_count",
        "progress",
        "time_to_first_token",
        "token_count",
        "tool_calls",
        "usage",
        "violations",
    )

    def __init__(self) -> None:
        self._parts: list[str] = []  # append-only within an attempt
        self._joined = ""  # "".join(_parts[:_joined_parts]), extended on demand
        self._joined_parts = 0
        self.length = 0
        """``len(content)``, kept as the output arrives."""
        self.token_count = 0
        self.checkpoint_length = 0
        """How much of ``content`` is the checkpoint (the last known good output)."""
        self.model_retry_count = 0
        self.network_retry_count = 0
        self.fallback_index = 0
        self.attempt = 1
        self.completed = False
        self.aborted = False
        self.drift_detected = False
        self.finish_reason: str | None = None
        self.usage: dict[str, Any] | None = None
        self.time_to_first_token: float | None = None
        """Seconds from the start of the current attempt to its first content."""
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
        if self._joined_parts < len(parts):
            self._joined += "".join(parts[self._joined_parts :])
            self._joined_parts = len(parts)
        return self._joined

    @property
    def content_length(self) -> int:
        """``len(content)``."""
        return self.length

    @property
    def checkpoint(self) -> str:
        """The last known good output a resumed attempt continues from (``""``: none)."""
        return self.content[: self.checkpoint_length] if self.checkpoint_length else ""

    def add(self, text: str) -> None:
        """Append output text (the engine's token path inlines this)."""
        self._parts.append(text)
        self.length += len(text)

    @property
    def retry_count(self) -> int:
        """Retries of every kind so far."""
        return self.model_retry_count + self.network_retry_count

    def discard_output(self) -> int:
        """Forget the current attempt's output; returns how many characters were discarded."""
        discarded = self.length
        self._parts.clear()
        self._joined = ""
        self._joined_parts = 0
        self.length = 0
        self.checkpoint_length = 0
        self.token_count = 0
        self.finish_reason = None
        self.time_to_first_token = None
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
            "usage": dict(self.usage) if self.usage is not None else None,
            "timeToFirstTokenMs": (
                self.time_to_first_token * 1000 if self.time_to_first_token is not None else None
            ),
        }

    def __repr__(self) -> str:
        return (
            f"State(tokens={self.token_count}, chars={self.content_length}, "
            f"attempt={self.attempt}, fallback_index={self.fallback_index}, "
            f"completed={self.completed})"
        )
