"""Raw httpx + SSE against any OpenAI-compatible endpoint: the fastest path, asyncio and trio.

``openai_sse(client, url, json=...)`` is a stream factory for :func:`l0.run`. Each attempt gets
an :class:`SSERequest` (nothing sent yet); the ``"httpx-sse"`` adapter opens it into a reader
that sends the POST with ``client.send(..., stream=True)`` on its first read (so the request
itself is under the initial-token deadline), turns an error status into an l0 error before
reading the body, parses the body with :class:`~l0.adapters.SSEParser`, and stops at
``data: [DONE]``. l0 closes the reader on every path (end, error, retry, abort, cancellation),
and closing it closes the response. After a clean ``[DONE]`` the rest of the body (normally
just the end of the chunked encoding) is read briefly, so the connection goes back to the
client's pool instead of being dropped.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

import anyio
import attrs
import msgspec

from l0._engine._continuation import continuation_messages
from l0._errors import ConfigError, L0Error
from l0.adapters._base import Adapter, Chunk
from l0.adapters._errors import (
    StreamProtocolError,
    payload_error,
    status_error,
    transport_error,
)
from l0.adapters._openai import convert_sse_event
from l0.adapters._sse import (
    DEFAULT_MAX_EVENT_SIZE,
    DEFAULT_MAX_LINE_LENGTH,
    ServerSentEvent,
    SSEComment,
    SSEParser,
    check_limit,
)

if TYPE_CHECKING:
    import httpx

    from l0._runtime._options import AttemptContext

__all__ = ["HttpxSSEAdapter", "SSEFactory", "SSERequest", "openai_sse"]

_ERROR_BODY_LIMIT = 64 * 1024  # bytes of an error response read for its message
_DRAIN_LIMIT = 64 * 1024  # bytes read after [DONE] to hand the connection back to the pool
_DRAIN_SECONDS = 0.5

Body = Mapping[str, Any]
BodyFactory = Callable[["AttemptContext"], Body]


def _check_headers(where: str, headers: object) -> None:
    if headers is not None and not isinstance(headers, Mapping):
        raise ConfigError(f"{where} must be a mapping of header names to values or None")


def _validate_headers(_inst: object, _attr: object, value: object) -> None:
    _check_headers("SSERequest.headers", value)


def _header_names(headers: Mapping[str, str] | None) -> str:
    # Header values (Authorization, API keys) never appear in a repr, hence in logs.
    return "None" if headers is None else f"<headers {sorted(headers)} (values hidden)>"


def _validate_limit(_inst: object, attr: attrs.Attribute[Any], value: object) -> None:
    check_limit(f"SSERequest.{attr.name}", value)


@attrs.frozen(kw_only=True)
class SSERequest:
    """One attempt's request, not sent yet: what an :func:`openai_sse` factory returns.

    The ``"httpx-sse"`` adapter detects it by type. Build one yourself to stream from a
    factory of your own (``l0.run(lambda: SSERequest(client=..., url=..., json=...))``).

    .. versionadded:: 0.1
    """

    client: httpx.AsyncClient
    url: str | httpx.URL
    json: Any
    method: str = "POST"
    headers: Mapping[str, str] | None = attrs.field(
        default=None, validator=_validate_headers, repr=_header_names
    )
    max_line_length: int = attrs.field(default=DEFAULT_MAX_LINE_LENGTH, validator=_validate_limit)
    max_event_size: int = attrs.field(default=DEFAULT_MAX_EVENT_SIZE, validator=_validate_limit)


def _with_stream(body: Body) -> dict[str, Any]:
    out = dict(body)
    out.setdefault("stream", True)
    return out


@attrs.frozen
class SSEFactory:
    """A stream factory for :func:`l0.run`: each call (l0 passes the
    :class:`~l0.AttemptContext`) builds the attempt's :class:`SSERequest`. Made by
    :func:`openai_sse`.

    .. versionadded:: 0.1
    """

    client: httpx.AsyncClient
    url: str | httpx.URL
    json: Body | BodyFactory
    headers: Mapping[str, str] | None = attrs.field(default=None, repr=_header_names)
    max_line_length: int = DEFAULT_MAX_LINE_LENGTH
    max_event_size: int = DEFAULT_MAX_EVENT_SIZE

    def __call__(self, context: AttemptContext, /) -> SSERequest:
        """The request of the attempt that ``context`` describes."""
        if callable(self.json):
            body = self.json(context)
        else:
            body = self.json
            messages = body.get("messages")
            if context.checkpoint and isinstance(messages, Sequence):
                # Resuming: ask the model to continue its partial reply (a body function
                # decides this for itself).
                body = {
                    **body,
                    "messages": continuation_messages(
                        cast("Sequence[Mapping[str, Any]]", messages),
                        context.checkpoint,
                        context.continuation_prompt,
                    ),
                }
        return SSERequest(
            client=self.client,
            url=self.url,
            json=_with_stream(body),
            headers=self.headers,
            max_line_length=self.max_line_length,
            max_event_size=self.max_event_size,
        )


def openai_sse(
    client: httpx.AsyncClient,
    url: str | httpx.URL = "/chat/completions",
    *,
    json: Body | BodyFactory,
    headers: Mapping[str, str] | None = None,
    max_line_length: int = DEFAULT_MAX_LINE_LENGTH,
    max_event_size: int = DEFAULT_MAX_EVENT_SIZE,
) -> SSEFactory:
    """A stream factory that POSTs ``json`` to an OpenAI-compatible chat completions endpoint
    with ``client`` and streams the answer as server-sent events.

    ``url`` is resolved against the client's ``base_url`` (so a client made with
    ``base_url="https://api.example/v1"`` needs only the default); ``json`` is the request body,
    or a function of the :class:`~l0.AttemptContext` returning it (to ask a retry to continue
    from ``context.checkpoint``, say). ``"stream": true`` is added unless the body says
    otherwise. ``headers`` are added to the client's (``Authorization`` and such).

    The client is yours: l0 never closes it. Timeouts are l0's (``l0.Timeout``): give the client
    a generous ``timeout`` of its own, or ``None``.

    .. versionadded:: 0.1
    """
    import httpx  # noqa: PLC0415 - imported when used: `import l0` stays light

    if not isinstance(client, httpx.AsyncClient):  # pyright: ignore[reportUnnecessaryIsInstance]
        raise ConfigError(f"openai_sse() needs an httpx.AsyncClient, got {type(client).__name__}")
    if not callable(json) and not isinstance(json, Mapping):  # pyright: ignore[reportUnnecessaryIsInstance]
        raise ConfigError("openai_sse(json=...) must be a mapping or a function returning one")
    if not isinstance(url, (str, httpx.URL)):  # pyright: ignore[reportUnnecessaryIsInstance]
        raise ConfigError(f"openai_sse(url=...) must be a str or httpx.URL, got {url!r}")
    _check_headers("openai_sse(headers=...)", headers)
    check_limit("openai_sse(max_line_length=...)", max_line_length)
    check_limit("openai_sse(max_event_size=...)", max_event_size)
    return SSEFactory(
        client,
        url,
        json,
        headers,
        max_line_length=max_line_length,
        max_event_size=max_event_size,
    )


class _SSEReader:
    """The async iterator of one attempt's events (a class, not a generator: it has no cancel
    scope to straddle a yield, and ``aclose`` works whether or not it ever started).

    httpx reads a body through a chain of async generators. One left suspended when the
    response is closed would be finalized by the garbage collector (trio warns about each), so
    :meth:`_release` closes the response and then runs the chain to its end: with the
    connection closed that takes one step, and every generator in it finishes.
    """

    __slots__ = (
        "_body",
        "_closed",
        "_done",
        "_events",
        "_exhausted",
        "_next",
        "_parser",
        "_request",
        "_response",
    )

    def __init__(self, request: SSERequest) -> None:
        self._request = request
        self._parser = SSEParser(
            max_line_length=request.max_line_length, max_event_size=request.max_event_size
        )
        self._response: httpx.Response | None = None
        self._body: AsyncIterator[bytes] | None = None
        self._exhausted = False  # the body's generators have all finished
        self._events: list[ServerSentEvent | SSEComment] = []
        self._next = 0
        self._done = False  # [DONE] seen, or the body ended
        self._closed = False

    def __aiter__(self) -> _SSEReader:
        return self

    async def __anext__(self) -> ServerSentEvent:
        events = self._events
        while True:
            while self._next < len(events):
                event = events[self._next]
                self._next += 1
                if type(event) is ServerSentEvent:
                    if event.data == "[DONE]":
                        self._done = True
                        raise StopAsyncIteration
                    return event
                # a comment (keep-alive): proof of life, not content
            if self._done:
                raise StopAsyncIteration
            if self._body is None:
                await self._start()
            data = await self._read()
            if data is None:
                self._done = True
                self._parser.close()  # raises a deferred protocol error; drops a partial event
                raise StopAsyncIteration
            events = self._events = self._parser.feed(data)
            self._next = 0

    async def _read(self) -> bytes | None:
        """The body's next bytes, ``None`` at its end."""
        body = cast("AsyncIterator[bytes]", self._body)
        try:
            return await body.__anext__()
        except StopAsyncIteration:
            self._exhausted = True
            return None
        except BaseException:
            self._exhausted = True  # an exception came out through every generator
            raise

    async def _start(self) -> None:
        if self._closed:
            raise StopAsyncIteration
        request = self._request
        client = request.client
        built = client.build_request(
            request.method, request.url, json=request.json, headers=request.headers
        )
        response = self._response = await client.send(built, stream=True)
        self._body = response.aiter_bytes()
        status = response.status_code
        if not 200 <= status < 300:
            raise await self._status_error(response)
        content_type = response.headers.get("content-type", "")
        if content_type.startswith("application/json"):
            raise await self._json_answer()

    async def _read_some(self, limit: int) -> bytes:
        parts: list[bytes] = []
        size = 0
        try:
            while size < limit:
                part = await self._read()
                if part is None:
                    break
                parts.append(part)
                size += len(part)
        finally:
            await self._release()
        return b"".join(parts)[:limit]

    async def _status_error(self, response: httpx.Response) -> L0Error:
        import httpx  # noqa: PLC0415 - loaded already: the response is one of its objects

        body: Any = None
        try:
            raw = await self._read_some(_ERROR_BODY_LIMIT)
            body = msgspec.json.decode(raw) if raw else None
        except (msgspec.DecodeError, httpx.HTTPError):
            body = None  # the status says enough
        return status_error(
            response.status_code,
            headers=response.headers,
            provider="httpx-sse",
            message=None if isinstance(body, Mapping) else response.reason_phrase,
            body=body,
        )

    async def _json_answer(self) -> L0Error:
        raw = await self._read_some(_ERROR_BODY_LIMIT)
        try:
            body: Any = msgspec.json.decode(raw)
        except msgspec.DecodeError:
            body = None
        if isinstance(body, Mapping) and "error" in body:
            return payload_error(body, provider="httpx-sse")
        return StreamProtocolError(
            "the server answered with JSON, not an event stream (does the endpoint stream "
            'chat completions, and does the body say "stream": true?)',
            retryable=False,
        )

    async def _release(self) -> None:
        """Close the response, then let the body's generators finish."""
        response = self._response
        if response is None:
            return
        try:
            await response.aclose()
        finally:
            if self._body is not None and not self._exhausted:
                with anyio.move_on_after(_DRAIN_SECONDS):
                    # The connection is closed: the next read fails (or ends) at once.
                    with contextlib.suppress(Exception):
                        while await self._read() is not None:
                            pass

    async def aclose(self) -> None:
        """Close the response (idempotent; safe before the request was sent)."""
        if self._closed:
            return
        self._closed = True
        response = self._response
        if response is None:
            return
        try:
            if self._done and not self._exhausted and not response.is_closed:
                # After [DONE] only the end of the body is left: read it (briefly) so the
                # connection goes back to the pool instead of being dropped.
                with anyio.move_on_after(_DRAIN_SECONDS):
                    size = 0
                    while size <= _DRAIN_LIMIT:
                        part = await self._read()
                        if part is None:
                            break
                        size += len(part)
        finally:
            await self._release()


class HttpxSSEAdapter(Adapter):
    """Reads :class:`SSERequest` objects (from :func:`openai_sse`): OpenAI-compatible SSE over
    httpx, on asyncio and trio. Requires the finish reason.

    .. versionadded:: 0.1
    """

    name = "httpx-sse"
    requires_finish = True

    def detect(self, obj: object) -> bool:
        """An :class:`SSERequest`."""
        return isinstance(obj, SSERequest)

    def open(self, obj: Any) -> _SSEReader:
        """A reader that sends the request on its first read."""
        return _SSEReader(cast("SSERequest", obj))

    def convert(self, item: Any) -> Chunk | Sequence[Chunk] | None:
        """See :func:`~l0.adapters._openai.convert_sse_event`."""
        return convert_sse_event(item)

    def map_error(self, exc: Exception) -> L0Error | None:
        """httpx transport errors (a timeout is flagged as one) and status errors."""
        return transport_error(exc)
