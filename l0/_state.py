"""The live state of a stream (``stream.state``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from l0._errors import L0Error
    from l0._events._stream import Data, Progress, ToolCall

__all__ = ["Phase", "State"]


Phase = Literal[
    "init",
    "connecting",
    "streaming",
    "resuming",
    "retrying",
    "falling_back",
    "completed",
    "failed",
    "aborted",
]
"""The lifecycle phase of a stream, as the engine moves through it:

* ``init``: not started yet;
* ``connecting``: an attempt began; waiting for its source and its first content;
* ``resuming``: an attempt that continues the checkpoint, before its first new content;
* ``streaming``: content is arriving;
* ``retrying`` / ``falling_back``: an attempt failed; the next one (on the same source / on the
  next source) starts after its backoff;
* ``completed``, ``failed``, ``aborted``: the end (``aborted`` also when the consumer stopped
  early or was cancelled).
"""


class State:
    """What a stream has produced so far, and how it got there.

    ``content`` only ever holds the output of the current (finally: the successful) attempt:
    when an attempt fails, its partial output is discarded here and consumers get a
    :class:`~l0.Reset` event (unless the stream resumes from its checkpoint: then the output
    is kept and the next attempt continues it).
    """

    __slots__ = (
        "_extra",
        "_joined",
        "_joined_parts",
        "_len",
        "_len_parts",
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
        "model_retry_count",
        "network_retry_count",
        "phase",
        "progress",
        "time_to_first_token",
        "tool_calls",
        "usage",
        "violations",
    )

    def __init__(self) -> None:
        # The output: one part per token (plus ``_extra`` parts of whole messages); append-only
        # within an attempt. Counts and lengths are derived from it on demand, so the token
        # path only appends.
        self._parts: list[str] = []
        self._extra = 0
        self._joined = ""  # "".join(_parts[:_joined_parts]), extended on demand
        self._joined_parts = 0
        self._len = 0  # sum(len(p) for p in _parts[:_len_parts]), extended on demand
        self._len_parts = 0
        self.checkpoint_length: int = 0
        """How much of ``content`` is the checkpoint (the last known good output)."""
        self.phase: Phase = "init"
        """Where the stream's lifecycle is (see :data:`Phase`); ``on_phase(old, new)`` is
        called on every change."""
        self.model_retry_count: int = 0
        self.network_retry_count: int = 0
        self.fallback_index: int = 0
        self.attempt: int = 1
        self.completed: bool = False
        self.aborted: bool = False
        self.drift_detected: bool = False
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
    def token_count(self) -> int:
        """How many text deltas the output holds (a resumed stream keeps counting)."""
        return len(self._parts) - self._extra

    @property
    def length(self) -> int:
        """``len(content)``, without joining it."""
        parts = self._parts
        if self._len_parts < len(parts):
            self._len += sum(map(len, parts[self._len_parts :]))
            self._len_parts = len(parts)
        return self._len

    @property
    def content_length(self) -> int:
        """``len(content)``."""
        return self.length

    @property
    def checkpoint(self) -> str:
        """The last known good output a resumed attempt continues from (``""``: none)."""
        return self.content[: self.checkpoint_length] if self.checkpoint_length else ""

    def add(self, text: str) -> None:
        """Append output text that is not a token (a whole message's content)."""
        self._parts.append(text)
        self._extra += 1

    @property
    def retry_count(self) -> int:
        """Retries of every kind so far."""
        return self.model_retry_count + self.network_retry_count

    def discard_output(self) -> int:
        """Forget the current attempt's output; returns how many characters were discarded."""
        discarded = self.length
        self._parts.clear()  # in place: the engine holds this list
        self._extra = 0
        self._joined = ""
        self._joined_parts = 0
        self._len = 0
        self._len_parts = 0
        self.checkpoint_length = 0
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
