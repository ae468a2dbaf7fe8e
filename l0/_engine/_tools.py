"""Assembling streamed tool calls from their fragments (pure, per attempt)."""

from __future__ import annotations

from typing import Any, cast

import msgspec

from l0._errors import ToolCallError
from l0._events._stream import ToolCall
from l0.adapters._base import ToolCallDelta

__all__ = ["ToolAssembler"]


class _Parts:
    __slots__ = ("arguments", "id", "name")

    def __init__(self) -> None:
        self.id: str | None = None
        self.name: str | None = None
        self.arguments: list[str] = []


class ToolAssembler:
    """Joins :class:`~l0.adapters.ToolCallDelta` fragments by index, in arrival order.

    Nothing is delivered until :meth:`take` is called (when the attempt's output is complete),
    so a failed attempt's half-streamed calls are simply dropped with the attempt.
    """

    __slots__ = ("_calls",)

    def __init__(self) -> None:
        self._calls: dict[int, _Parts] = {}

    def __bool__(self) -> bool:
        return bool(self._calls)

    def add(self, delta: ToolCallDelta) -> None:
        """One fragment."""
        parts = self._calls.get(delta.index)
        if parts is None:
            parts = self._calls[delta.index] = _Parts()
        if delta.id:
            parts.id = delta.id
        if delta.name and delta.name != parts.name:
            # Providers send the whole name once; a few split it, or repeat it per fragment.
            parts.name = delta.name if parts.name is None else parts.name + delta.name
        if delta.arguments:
            parts.arguments.append(delta.arguments)

    def take(self) -> list[ToolCall | ToolCallError]:
        """Every call assembled so far, by index: a :class:`~l0.ToolCall`, or the error saying
        why it cannot be delivered. The assembler is empty afterwards."""
        out: list[ToolCall | ToolCallError] = []
        for index in sorted(self._calls):
            parts = self._calls[index]
            call_id = parts.id or f"call_{index}"
            text = "".join(parts.arguments)
            if not parts.name:
                out.append(_error(call_id, index, "the tool call has no name"))
                continue
            try:
                arguments: Any = msgspec.json.decode(text) if text.strip() else {}
            except msgspec.DecodeError as exc:
                out.append(_error(call_id, index, f"arguments are not valid JSON: {exc}"))
                continue
            if not isinstance(arguments, dict):
                kind = type(arguments).__name__
                out.append(_error(call_id, index, f"arguments are a JSON {kind}, not an object"))
                continue
            out.append(
                ToolCall(id=call_id, name=parts.name, arguments=cast("dict[str, Any]", arguments))
            )
        self._calls.clear()
        return out


def _error(call_id: str, index: int, why: str) -> ToolCallError:
    return ToolCallError(
        f"tool call {call_id!r} (index {index}): {why}",
        metadata={"tool_call_id": call_id, "index": index},
    )
