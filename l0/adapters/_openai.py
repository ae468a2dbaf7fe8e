"""OpenAI chat completion chunks as l0 chunks, and the adapter for the openai SDK's streams.

One conversion serves every path: a ``chat.completion.chunk`` decoded from raw SSE JSON (the
``"httpx-sse"`` adapter), the same as a ``dict``, and the openai SDK's chunk objects (read by
attribute). What each part of a chunk becomes:

* ``delta.content``: text;
* ``delta.refusal``: text too. A refusal is the model's answer: it is what a user is shown,
  guardrails check it, and ``read()`` returns it (a structured-output parse of it fails, as it
  should). The chunk itself is in ``stream.raw()`` for code that must tell the two apart;
* ``delta.reasoning_content`` / ``delta.reasoning`` (sent by some OpenAI-compatible servers):
  :class:`~l0.Data` events with ``payload`` the reasoning text, ``mime_type="text/plain"`` and
  ``metadata={"type": "reasoning"}``. They are not text output, but they are content for the
  deadlines: a model that reasons for a minute before answering is not stalled;
* ``delta.tool_calls[i]`` (and the legacy ``delta.function_call``):
  :class:`~l0.adapters.ToolCallDelta` fragments; l0 delivers each call whole at the finish;
* ``choices[0].finish_reason``: :class:`~l0.adapters.Finish`; ``usage``:
  :class:`~l0.adapters.Usage`;
* ``{"error": {...}}`` in the stream: a :class:`~l0.adapters.Fault` with a
  :class:`~l0.adapters.ProviderError` (see :func:`~l0.adapters._errors.payload_error`).

Only the choice with ``index`` 0 is read (l0 streams one answer; ask for ``n=1``).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Awaitable, Mapping, Sequence
from typing import Any, cast

import msgspec

from l0._errors import InvalidStream, L0Error, NetworkError
from l0._events._stream import Data
from l0.adapters._base import Adapter, Chunk, Fault, Finish, ToolCallDelta, Usage
from l0.adapters._errors import (
    StreamProtocolError,
    headers_of,
    payload_error,
    status_error,
    transport_error,
)
from l0.adapters._sse import ServerSentEvent

__all__ = ["OpenAIAdapter", "convert_chunk", "convert_sse_event", "map_openai_error"]


# -- the wire shape (decoded straight from JSON; unknown fields are skipped) --------------------


class _Function(msgspec.Struct):
    name: Any = None
    arguments: Any = None


class _ToolCall(msgspec.Struct):
    index: Any = None
    id: Any = None
    function: _Function | None = None


class _Delta(msgspec.Struct):
    content: Any = None
    refusal: Any = None
    reasoning_content: Any = None
    reasoning: Any = None
    tool_calls: list[_ToolCall] | None = None
    function_call: _Function | None = None


class _Choice(msgspec.Struct):
    index: Any = 0
    delta: _Delta | None = None
    finish_reason: Any = None


class _Usage(msgspec.Struct):
    prompt_tokens: Any = None
    completion_tokens: Any = None
    total_tokens: Any = None


class _WireChunk(msgspec.Struct):
    choices: list[_Choice] | None = None
    usage: _Usage | None = None
    error: Any = None


_DECODER = msgspec.json.Decoder(_WireChunk)


# -- conversion -----------------------------------------------------------------------------------


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _text(value: object) -> str | None:
    """Text content: a string, or the text parts of a list of content parts."""
    if isinstance(value, str):
        return value or None
    if isinstance(value, list):
        parts: list[str] = []
        for part in cast("list[Any]", value):
            if isinstance(part, Mapping):
                part_map = cast("Mapping[str, Any]", part)
                text = part_map.get("text")
                if part_map.get("type", "text") == "text" and isinstance(text, str):
                    parts.append(text)
        return "".join(parts) or None
    return None


def _reasoning(text: str) -> Data:
    return Data(payload=text, mime_type="text/plain", metadata={"type": "reasoning"})


_MISSING: Any = object()
_PYDANTIC: dict[type, bool] = {}


def _get(obj: object, name: str) -> Any:
    """``getattr(obj, name, None)``, without a pydantic model's slow miss (its ``__getattr__``
    raises, about 2 us): fields are in its ``__dict__``, extra keys in ``__pydantic_extra__``."""
    cls = type(obj)
    pydantic = _PYDANTIC.get(cls)
    if pydantic is None:
        pydantic = _PYDANTIC[cls] = hasattr(cls, "__pydantic_fields__")
    if pydantic:
        value = obj.__dict__.get(name, _MISSING)
        if value is _MISSING:
            extra: Any = getattr(obj, "__pydantic_extra__", None)
            return extra.get(name) if extra else None
        return value
    return getattr(obj, name, None)


def _tool_calls(delta: Any, out: list[Chunk]) -> None:
    calls: Any = _get(delta, "tool_calls")
    if calls:
        for position, call in enumerate(cast("Sequence[Any]", calls)):
            index = _int(_get(call, "index"))
            function: Any = _get(call, "function")
            name: Any = _get(function, "name") if function is not None else None
            arguments: Any = _get(function, "arguments") if function is not None else None
            call_id: Any = _get(call, "id")
            out.append(
                ToolCallDelta(
                    # Some servers leave out the index when they send each call whole.
                    index=position if index is None else index,
                    id=call_id if isinstance(call_id, str) and call_id else None,
                    name=name if isinstance(name, str) and name else None,
                    arguments=arguments if isinstance(arguments, str) else "",
                )
            )
    legacy: Any = _get(delta, "function_call")
    if legacy is not None:
        name = _get(legacy, "name")
        arguments = _get(legacy, "arguments")
        out.append(
            ToolCallDelta(
                index=0,
                name=name if isinstance(name, str) and name else None,
                arguments=arguments if isinstance(arguments, str) else "",
            )
        )


def _from_attrs(chunk: Any) -> Chunk | list[Chunk] | None:
    """Convert a chunk read by attribute (a wire struct or an SDK object)."""
    error: Any = _get(chunk, "error")
    if error is not None:
        return Fault(error=payload_error(error, provider="openai"))
    out: list[Chunk] = []
    choices: Any = _get(chunk, "choices")
    if choices:
        choice: Any = None
        for candidate in cast("Sequence[Any]", choices):
            if _get(candidate, "index") in (0, None):
                choice = candidate
                break
        if choice is not None:
            delta: Any = _get(choice, "delta")
            finish: Any = _get(choice, "finish_reason")
            if delta is not None:
                content = _text(_get(delta, "content"))
                reasoning: Any = _get(delta, "reasoning_content") or _get(delta, "reasoning")
                refusal: Any = _get(delta, "refusal")
                if (
                    content is not None
                    and finish is None
                    and reasoning is None
                    and not refusal
                    and not _get(delta, "tool_calls")
                    and _get(delta, "function_call") is None
                    and _get(chunk, "usage") is None
                ):
                    return content  # the token path: a plain text delta
                if isinstance(reasoning, str) and reasoning:
                    out.append(_reasoning(reasoning))
                if content is not None:
                    out.append(content)
                if isinstance(refusal, str) and refusal:
                    out.append(refusal)
                _tool_calls(delta, out)
            if isinstance(finish, str) and finish:
                out.append(Finish(reason=finish))
    usage: Any = _get(chunk, "usage")
    if usage is not None:
        out.append(
            Usage(
                input_tokens=_int(_get(usage, "prompt_tokens")),
                output_tokens=_int(_get(usage, "completion_tokens")),
                total_tokens=_int(_get(usage, "total_tokens")),
            )
        )
    if not out:
        return None
    return out[0] if len(out) == 1 else out


def convert_chunk(chunk: Any) -> Chunk | list[Chunk] | None:
    """One ``chat.completion.chunk`` (a ``dict``, or an object such as the openai SDK's
    ``ChatCompletionChunk``) as l0 chunks. Pure: no I/O, no state.

    A ``dict`` of the wrong shape gives a :class:`~l0.adapters.Fault` with a
    :class:`~l0.adapters.StreamProtocolError`.

    .. versionadded:: 0.1
    """
    if isinstance(chunk, Mapping):
        try:
            wire = msgspec.convert(chunk, _WireChunk)
        except msgspec.ValidationError as exc:
            error = StreamProtocolError(f"malformed chat.completion.chunk: {exc}")
            error.__cause__ = exc
            return Fault(error=error)
        return _from_attrs(wire)
    return _from_attrs(chunk)


def convert_sse_event(event: ServerSentEvent) -> Chunk | list[Chunk] | None:
    """One server-sent event of an OpenAI-compatible stream as l0 chunks (pure).

    ``data`` is a chunk as JSON; an ``event: error`` event is an in-band error; blank data and
    ``[DONE]`` (which the reader stops at) give nothing; anything else that is not such a
    chunk is a :class:`~l0.adapters.Fault` with a :class:`~l0.adapters.StreamProtocolError`.

    .. versionadded:: 0.1
    """
    data = event.data
    if event.event == "error":
        try:
            payload: Any = json.loads(data)
        except ValueError:
            payload = data
        return Fault(error=payload_error(payload, provider="openai"))
    try:
        wire = _DECODER.decode(data)
    except msgspec.DecodeError as exc:
        stripped = data.strip()
        if not stripped or stripped == "[DONE]":
            return None
        error = StreamProtocolError(f"malformed data line in the event stream ({exc})")
        error.__cause__ = exc
        return Fault(error=error)
    return _from_attrs(wire)


# -- the openai SDK -------------------------------------------------------------------------------


def _is_openai_type(cls: type) -> bool:
    module = cls.__module__
    return module == "openai" or module.startswith("openai.")


_CHUNK_TYPES: set[type] = set()
"""The openai SDK's ``ChatCompletionChunk`` classes seen so far (pydantic models)."""


def plain_text(item: Any) -> str | None:
    """The text of an SDK ``ChatCompletionChunk`` that is nothing but a text delta (one
    choice, no finish reason, refusal, tool call, usage or extra key), exactly what
    :func:`convert_chunk` gives for it; ``None`` for any other item, which then goes through
    the full conversion. Reads the models' ``__dict__`` directly: about a quarter of the cost.
    """
    cls: type = type(cast("object", item))
    if cls not in _CHUNK_TYPES:
        if not (
            cls.__name__ == "ChatCompletionChunk"
            and _is_openai_type(cls)
            and hasattr(cls, "__pydantic_fields__")
        ):
            return None
        _CHUNK_TYPES.add(cls)
    try:
        fields: dict[str, Any] = item.__dict__
        if item.__pydantic_extra__ or fields.get("usage") is not None:
            return None
        choices: Any = fields.get("choices")
        if type(choices) is not list or len(cast("list[Any]", choices)) != 1:
            return None
        choice: Any = cast("list[Any]", choices)[0]
        chosen: dict[str, Any] = choice.__dict__
        if (
            choice.__pydantic_extra__
            or chosen.get("index") not in (0, None)
            or chosen.get("finish_reason") is not None
        ):
            return None
        delta: Any = chosen.get("delta")
        if delta is None or delta.__pydantic_extra__:
            return None
        said: dict[str, Any] = delta.__dict__
        content = said.get("content")
        if (
            type(content) is not str
            or not content
            or said.get("refusal")
            or said.get("tool_calls")
            or said.get("function_call") is not None
        ):
            return None
    except AttributeError:  # not shaped like the SDK's models after all
        return None
    return content


def map_openai_error(exc: BaseException, *, provider: str = "openai") -> L0Error | None:
    """An l0 error for an exception of the openai SDK (or of the httpx/httpx2 transport under
    it), by type and status; ``None`` if it is neither.

    .. versionadded:: 0.1
    """
    openai = sys.modules.get("openai")
    if openai is not None:
        if isinstance(exc, openai.APIStatusError):
            status: int = getattr(exc, "status_code", 0)
            body: Any = getattr(exc, "body", None)
            message: Any = getattr(exc, "message", None)
            if isinstance(body, Mapping) and isinstance(body.get("message"), str):  # pyright: ignore[reportUnknownMemberType]
                message = None  # the provider's own message, from the error body
            return status_error(
                status,
                headers=headers_of(exc),
                provider=provider,
                message=message if isinstance(message, str) else None,
                body=body,
            )
        if isinstance(exc, openai.APITimeoutError):
            err = NetworkError(f"{provider}: request timed out ({type(exc).__name__})")
            err.failure_type = "timeout"
            err.retry_reason = "timeout"
            return err
        if isinstance(exc, openai.APIConnectionError):
            return NetworkError(
                f"{provider}: connection error ({_cause_name(exc)})",
                retryable=not _certificate_failure(exc),
            )
        if isinstance(exc, openai.APIResponseValidationError):
            return StreamProtocolError(
                f"{provider}: the response does not match the API's schema", retryable=False
            )
        if isinstance(exc, openai.APIError):
            # An error event inside the stream (the SDK raises it); body is its error object.
            body = getattr(exc, "body", None)
            message = getattr(exc, "message", None)
            return payload_error(
                body if body is not None else (message or "error event"), provider=provider
            )
    if isinstance(exc, json.JSONDecodeError):
        # The SDK decodes each data line of the event stream with json.loads.
        return StreamProtocolError(f"{provider}: malformed data line in the event stream: {exc}")
    return transport_error(exc)


def _cause_name(exc: BaseException) -> str:
    cause = exc.__cause__ or exc.__context__
    return type(cause).__name__ if cause is not None else type(exc).__name__


def _certificate_failure(exc: BaseException) -> bool:
    """Whether a TLS certificate check failed somewhere in ``exc``'s causes (retrying cannot
    fix that; other TLS errors, like a reset during the handshake, are transient)."""
    ssl = sys.modules.get("ssl")
    if ssl is None:
        return False
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, ssl.SSLCertVerificationError):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


class _SDKStream:
    """openai 2.x's ``AsyncStream``, which has ``close()`` but no ``aclose``."""

    __slots__ = ("_stream",)

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def __aiter__(self) -> _SDKStream:
        return self

    def __anext__(self) -> Awaitable[Any]:
        return cast("Awaitable[Any]", self._stream.__anext__())

    async def aclose(self) -> None:
        """Close the SDK stream and its HTTP response."""
        await self._stream.close()


class OpenAIAdapter(Adapter):
    """Streams of the openai SDK: ``await client.chat.completions.create(..., stream=True)``.

    Detected by type without importing openai (``openai.AsyncStream``); requires the finish
    reason (a stream that ends without one was truncated). Tested with openai 2.x and 3.x.

    .. versionadded:: 0.1
    """

    name = "openai"
    requires_finish = True
    plain_text = staticmethod(plain_text)

    def detect(self, obj: object) -> bool:
        """An ``openai.AsyncStream``."""
        cls = type(obj)
        return cls.__name__ == "AsyncStream" and _is_openai_type(cls)

    def open(self, obj: Any) -> Any:
        """The SDK stream itself (openai 3.x closes with ``aclose``); under openai 2.x, a thin
        wrapper that closes it with its ``close()``."""
        return obj if hasattr(obj, "aclose") else _SDKStream(obj)

    def convert(self, item: Any) -> Chunk | Sequence[Chunk] | None:
        """See :func:`convert_chunk`; only chat completion chunks can be read."""
        cls: type = type(cast("object", item))
        if _is_openai_type(cls) and cls.__name__ != "ChatCompletionChunk":
            raise InvalidStream(
                f"the openai adapter reads chat.completions streams, not {cls.__name__} items"
            )
        return convert_chunk(item)

    def map_error(self, exc: Exception) -> L0Error | None:
        """See :func:`map_openai_error`."""
        return map_openai_error(exc)
