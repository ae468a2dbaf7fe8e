"""OpenAI wire shapes (chat completion chunks, completions, errors) built from plan steps."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from l0.testing._script import End, InBandError, TextDelta, TokenUsage, ToolDelta

__all__ = ["CREATED", "ChunkMaker", "error_body", "models_list"]

CREATED = 1_700_000_000
"""The ``created`` timestamp of every fake response (fixed, so output is deterministic)."""


def error_body(message: str, kind: str, code: str | None = None) -> dict[str, Any]:
    """An OpenAI-style error object."""
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def models_list(names: Sequence[str]) -> dict[str, Any]:
    """The body of ``GET /v1/models``."""
    data = [{"id": n, "object": "model", "created": CREATED, "owned_by": "l0"} for n in names]
    return {"object": "list", "data": data}


def _usage(usage: TokenUsage) -> dict[str, int]:
    completion = usage.completion_tokens or 0
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": completion,
        "total_tokens": usage.prompt_tokens + completion,
    }


class ChunkMaker:
    """Builds the chunks (and the non-stream completion) of one response."""

    def __init__(self, completion_id: str, model: str) -> None:
        self.completion_id = completion_id
        self.model = model

    def _chunk(
        self, delta: dict[str, Any] | None, finish_reason: str | None = None
    ) -> dict[str, Any]:
        choices: list[dict[str, Any]] = []
        if delta is not None:
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
            choices.append(choice)
        return {
            "id": self.completion_id,
            "object": "chat.completion.chunk",
            "created": CREATED,
            "model": self.model,
            "system_fingerprint": None,
            "choices": choices,
        }

    def role(self) -> dict[str, Any]:
        """The first chunk: the assistant role, empty content."""
        return self._chunk({"role": "assistant", "content": ""})

    def content(self, step: TextDelta | ToolDelta) -> dict[str, Any]:
        """The chunk of one content step."""
        if isinstance(step, TextDelta):
            return self._chunk({"content": step.text})
        call: dict[str, Any] = {"index": step.index}
        if step.first:
            call["id"] = step.call_id
            call["type"] = "function"
            call["function"] = {"name": step.name, "arguments": step.fragment}
        else:
            call["function"] = {"arguments": step.fragment}
        return self._chunk({"tool_calls": [call]})

    def finish(self, reason: str) -> dict[str, Any]:
        """The chunk carrying ``finish_reason``."""
        return self._chunk({}, reason)

    def usage(self, usage: TokenUsage) -> dict[str, Any]:
        """The ``include_usage`` chunk: no choices, just ``usage``."""
        chunk = self._chunk(None)
        chunk["usage"] = _usage(usage)
        return chunk

    @staticmethod
    def in_band_error(fault: InBandError) -> dict[str, Any]:
        """The in-band error event."""
        return error_body(fault.message, fault.error_type, fault.code)

    def completion(
        self,
        content: Sequence[TextDelta | ToolDelta],
        end: End | None,
        prompt_tokens: int = 0,
    ) -> dict[str, Any]:
        """A non-stream ``chat.completion`` with ``content``; ``end=None``: no finish reason."""
        text = "".join(s.text for s in content if isinstance(s, TextDelta))
        calls = [
            {
                "id": s.call_id,
                "type": "function",
                "function": {"name": s.name, "arguments": s.arguments},
            }
            for s in content
            if isinstance(s, ToolDelta) and s.last
        ]
        content_value = None if calls and not text else text
        message: dict[str, Any] = {"role": "assistant", "content": content_value, "refusal": None}
        if calls:
            message["tool_calls"] = calls
        if end is not None and end.usage is not None:
            usage = _usage(end.usage)
        else:
            count = sum(1 for s in content if isinstance(s, TextDelta))
            usage = _usage(TokenUsage(prompt_tokens=prompt_tokens, completion_tokens=count))
        return {
            "id": self.completion_id,
            "object": "chat.completion",
            "created": CREATED,
            "model": self.model,
            "system_fingerprint": None,
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "logprobs": None,
                    "finish_reason": end.finish_reason if end is not None else None,
                }
            ],
            "usage": usage,
        }
