"""What an adapter is, and the chunks it produces."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, ClassVar, Union

import msgspec

from l0._errors import L0Error
from l0._events._stream import StreamEvent

__all__ = ["Adapter", "Chunk", "Fault", "Finish", "ToolCallDelta", "Usage"]


class Finish(msgspec.Struct, frozen=True, kw_only=True):
    """The source says it finished normally (``reason`` as the provider put it, e.g. ``"stop"``)."""

    reason: str = "stop"


class Usage(msgspec.Struct, frozen=True, kw_only=True):
    """Token usage reported by the provider."""

    input_tokens: int | None = None
    output_tokens: int | None = None
    total_tokens: int | None = None


class Fault(msgspec.Struct, frozen=True, kw_only=True):
    """An in-band error from the provider (an error event inside the stream): fails the attempt."""

    error: L0Error


class ToolCallDelta(msgspec.Struct, frozen=True, kw_only=True):
    """A fragment of a streamed tool call (the OpenAI shape).

    Fragments with the same ``index`` are joined in order within an attempt: the first usually
    carries ``id`` and ``name``, and every one a piece of the JSON ``arguments`` text. l0 turns
    each assembled call into one :class:`~l0.ToolCall` event when the attempt's output is
    complete, so a consumer never sees half a tool call, even across a retry.
    """

    index: int = 0
    id: str | None = None
    name: str | None = None
    arguments: str = ""


Chunk = Union[str, StreamEvent, Finish, Usage, Fault, ToolCallDelta]  # noqa: UP007 - a runtime alias
"""What :meth:`Adapter.convert` produces: a text delta (``str``), an l0 event, or a signal."""


class Adapter:
    """Turns what a factory returns into an async iterator of :data:`Chunk`.

    Subclass it and override what you need, then :func:`l0.adapters.register` an instance.

    * ``name``: unique id, used for explicit hints (``l0.run(..., adapter="name")``).
    * ``backends``: the async backends it works on (``None``: all).
    * ``requires_finish``: if true, a source that ends without a :class:`Finish` chunk was
      truncated (a failure); if false, a clean end of iteration means it finished.
    * ``text_items``: if true, raw ``str`` items are text deltas and skip :meth:`convert`
      (the fast path of the built-in adapters); if false, every item goes through it.
    * ``plain_text``: optional, a function of one raw item: its text if the item is nothing
      but a plain text delta (then :meth:`convert` would give exactly that string), else
      ``None``. Such items take the token path's fast lane, like ``text_items`` strings; it
      must be much cheaper than :meth:`convert` to be worth having.
    * :meth:`detect`: does this adapter handle ``obj``? Decide by type, cheaply.
    * :meth:`open`: the async iterator of raw provider items (closed by l0 with ``aclose()`` if
      it has one).
    * :meth:`convert`: one raw item to ``None``, a chunk, or a sequence of chunks. Pure and
      synchronous, so it can be fuzzed.
    * :meth:`map_error`: translate a provider exception into an :class:`~l0.L0Error` (by type,
      status code or header, never by matching words in messages); ``None`` means "not mine".
    """

    name: ClassVar[str] = "custom"
    backends: ClassVar[frozenset[str] | None] = None
    requires_finish: ClassVar[bool] = False
    text_items: ClassVar[bool] = False
    plain_text: ClassVar[Callable[[Any], str | None] | None] = None

    def detect(self, obj: object) -> bool:
        """Whether this adapter can read ``obj``."""
        return False

    def open(self, obj: Any) -> AsyncIterator[Any]:
        """The async iterator of raw items of ``obj``."""
        return obj.__aiter__()

    def convert(self, item: Any) -> Chunk | Sequence[Chunk] | None:
        """One raw item as l0 chunks."""
        return item

    def map_error(self, exc: Exception) -> L0Error | None:
        """An l0 error for ``exc`` raised by this provider, or ``None`` to use the defaults."""
        return None

    def __repr__(self) -> str:
        return f"<l0 adapter {self.name!r}>"
