"""Stream events: what a consumer gets from ``async for event in stream``.

A tagged union of frozen msgspec Structs (``type`` is the tag). ``Token`` is the hot one: it holds
only its text, so building one per token costs about as much as a tuple.
"""

from typing import TYPE_CHECKING, Any, ClassVar, Union

import msgspec

if TYPE_CHECKING:
    from l0._errors import L0Error
    from l0._state import State

__all__ = [
    "Complete",
    "Data",
    "ErrorEvent",
    "Message",
    "Progress",
    "Reset",
    "StreamEvent",
    "Token",
    "ToolCall",
]


class StreamEvent(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    """Base of every stream event."""

    is_token: ClassVar[bool] = False

    @property
    def text(self) -> str:
        """The text this event adds to the output ("" for events that add none)."""
        return ""


class Token(StreamEvent, frozen=True, kw_only=True, tag="token"):
    """A piece of the model's text output."""

    is_token: ClassVar[bool] = True
    value: str

    @property
    def text(self) -> str:
        """The token's text."""
        return self.value


class Message(StreamEvent, frozen=True, kw_only=True, tag="message"):
    """A whole message at once (e.g. from a non-streaming response); its content is output."""

    content: str
    role: str = "assistant"

    @property
    def text(self) -> str:
        """The message's content."""
        return self.content


class Data(StreamEvent, frozen=True, kw_only=True, tag="data"):
    """A non-text payload produced by the model (JSON, image, audio, file...)."""

    payload: Any
    mime_type: str | None = None
    metadata: dict[str, Any] | None = None


class Progress(StreamEvent, frozen=True, kw_only=True, tag="progress"):
    """Progress reported by the source (not output)."""

    percent: float | None = None
    step: int | None = None
    total_steps: int | None = None
    message: str | None = None


class ToolCall(StreamEvent, frozen=True, kw_only=True, tag="tool_call"):
    """A complete tool call requested by the model."""

    id: str
    name: str
    arguments: dict[str, Any]


class Reset(StreamEvent, frozen=True, kw_only=True, tag="reset"):
    """The previous attempt's output was discarded: clear whatever you showed of it.

    ``discarded`` is how many characters of text were thrown away; the events that follow belong
    to attempt ``attempt`` of source ``source_index``.
    """

    reason: str
    discarded: int
    attempt: int
    source_index: int


class ErrorEvent(StreamEvent, frozen=True, kw_only=True, tag="error"):
    """An attempt failed and l0 recovers (``will_retry`` / ``will_fallback``).

    A failure that ends the stream is raised from the iteration instead.
    """

    error: "L0Error"
    will_retry: bool
    will_fallback: bool


class Complete(StreamEvent, frozen=True, kw_only=True, tag="complete"):
    """The stream finished successfully; ``state`` is its final state (the last event)."""

    state: "State"


AnyStreamEvent = Union[Token, Message, Data, Progress, ToolCall, Reset, ErrorEvent, Complete]  # noqa: UP007

SourceEvent = Union[Token, Message, Data, Progress, ToolCall]  # noqa: UP007
"""The events a source may send (the others are l0's own verdicts)."""
