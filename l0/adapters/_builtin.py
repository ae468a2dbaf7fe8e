"""The built-in adapters: async iterators and plain iterables of text, events or dicts."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from typing import Any

import msgspec

from l0._errors import InvalidStream, SourceError
from l0._events._stream import Complete, ErrorEvent, SourceEvent, StreamEvent, Token
from l0.adapters._base import Adapter, Chunk, Fault, Finish, ToolCallDelta, Usage

__all__ = ["AsyncIteratorAdapter", "IterableAdapter", "convert_item"]

_SOURCE_TYPES = frozenset({"token", "message", "data", "progress", "tool_call"})


def _convert_dict(item: Mapping[str, Any]) -> Chunk | None:
    kind = item.get("type")
    if kind == "token" or (kind is None and ("text" in item or "value" in item)):
        text = item.get("value", item.get("text"))
        if not isinstance(text, str):
            raise InvalidStream(
                f"token dict without a string value (keys {sorted(map(str, item))})"
            )
        return text
    if kind in {"complete", "done"}:
        reason = item.get("reason")
        return Finish(reason=reason if isinstance(reason, str) else "stop")
    if kind == "error":
        error = SourceError("the source sent an error event")
        said = item.get("error", item.get("message"))
        if said is not None:
            error.detail = str(said)  # not in the message: it may quote content
        return Fault(error=error)
    if kind in _SOURCE_TYPES:
        try:
            event: StreamEvent = msgspec.convert(dict(item), SourceEvent)
        except msgspec.ValidationError as exc:
            raise InvalidStream(f"malformed {kind} event dict: {exc}") from exc
        return event
    raise InvalidStream(f"unrecognised event dict (type={kind!r}, keys {sorted(map(str, item))})")


def convert_item(item: Any) -> Chunk | None:
    """Text, l0 stream events, l0 chunks and event dicts as chunks (``ErrorEvent``/``Complete``
    are signals)."""
    if isinstance(item, str):
        return item
    if isinstance(item, StreamEvent):
        if isinstance(item, Token):
            return item.value
        if isinstance(item, ErrorEvent):
            return Fault(error=item.error)
        if isinstance(item, Complete):
            return Finish()
        return item
    if isinstance(item, (Finish, Fault, Usage, ToolCallDelta)):
        return item
    if isinstance(item, Mapping):
        return _convert_dict(item)  # pyright: ignore[reportUnknownArgumentType]
    raise InvalidStream(
        f"cannot read a stream item of type {type(item).__name__}: expected str, an l0 event "
        "or an event dict (use an adapter for provider streams)"
    )


class AsyncIteratorAdapter(Adapter):
    """Any async iterable of ``str``, l0 stream events or event dicts."""

    name = "async-iterator"
    text_items = True

    def detect(self, obj: object) -> bool:
        """Anything with ``__aiter__``."""
        return hasattr(obj, "__aiter__")

    def convert(self, item: Any) -> Chunk | Sequence[Chunk] | None:
        """See :func:`convert_item`."""
        return convert_item(item)


async def _iterate(items: Iterable[Any]) -> AsyncIterator[Any]:
    for item in items:
        yield item


class IterableAdapter(Adapter):
    """A plain (synchronous) iterable of the same items, e.g. a list in a test."""

    name = "iterable"
    text_items = True

    def detect(self, obj: object) -> bool:
        """Iterables other than strings, bytes and mappings."""
        return isinstance(obj, Iterable) and not isinstance(obj, (str, bytes, Mapping))

    def open(self, obj: Any) -> AsyncIterator[Any]:
        """Wrap the iterable in an async generator."""
        return _iterate(obj)

    def convert(self, item: Any) -> Chunk | Sequence[Chunk] | None:
        """See :func:`convert_item`."""
        return convert_item(item)
