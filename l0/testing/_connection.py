"""One connection of the test server: read requests, play their scripts, record what happened."""

from __future__ import annotations

import socket
import struct
from typing import Any

import anyio
import anyio.abc
import msgspec

from l0.testing._http import (
    LAST_CHUNK,
    BadRequest,
    Request,
    RequestParser,
    encode_chunk,
    response_head,
)
from l0.testing._openai import ChunkMaker, error_body, models_list
from l0.testing._records import ConnectionRecord
from l0.testing._script import (
    Drop,
    End,
    HttpError,
    InBandError,
    KeepAlive,
    MalformedLine,
    Plan,
    Script,
    Sleep,
    TextDelta,
    ToolDelta,
    Truncate,
    compile_plan,
)
from l0.testing._state import ScriptLookupError, ServerState

__all__ = ["Connection"]

CHAT_PATH = "/v1/chat/completions"
MODELS_PATH = "/v1/models"
DEFAULT_MODEL = "l0-test"

_GONE = (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError)
_ENCODER = msgspec.json.Encoder()


def _event(payload: Any) -> bytes:
    return encode_chunk(b"data: " + _ENCODER.encode(payload) + b"\n\n")


class Connection:
    """Serves the requests of one accepted socket until either side closes it.

    While a response is being sent, a watcher task reads from the socket too, so a client that
    goes away mid-response is noticed at once (not only at the next write), the response is
    cancelled and the connection recorded as abandoned.
    """

    def __init__(
        self, state: ServerState, stream: anyio.abc.SocketStream, record: ConnectionRecord
    ) -> None:
        self._state = state
        self._stream = stream
        self._record = record
        self._parser = RequestParser()
        self._client_gone = False
        self._completed = False

    async def run(self) -> None:
        """Serve requests until the connection is to be closed."""
        while True:
            try:
                request = await self._next_request()
            except BadRequest as exc:
                await self._reject(exc)
                return
            if request is None or not await self._serve(request):
                return

    # -- reading ----------------------------------------------------------------------------------

    async def _receive(self) -> bytes | None:
        try:
            return await self._stream.receive()
        except anyio.EndOfStream:
            self._state.mark_closing(self._record, "client", "eof")
        except _GONE:
            self._state.mark_closing(self._record, "client", "reset")
        self._client_gone = True
        return None

    async def _next_request(self) -> Request | None:
        while (request := self._parser.next_request()) is None:
            data = await self._receive()
            if data is None:
                return None
            self._parser.feed(data)
        return request

    async def _watch(self, scope: anyio.CancelScope) -> None:
        # Runs while a response is sent: bytes are kept for the next request (pipelining).
        while (data := await self._receive()) is not None:
            self._parser.feed(data)
        scope.cancel()

    # -- writing ----------------------------------------------------------------------------------

    async def _send(self, data: bytes) -> None:
        await self._stream.send(data)

    async def _send_final(self, data: bytes) -> None:
        await self._stream.send(data)
        self._completed = True

    def _drop(self, reset: bool) -> None:
        # The socket is closed by the server's handler as soon as we return.
        if reset:
            raw = self._stream.extra(anyio.abc.SocketAttribute.raw_socket)
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self._state.mark_closing(self._record, "server", "drop")

    async def _send_json(
        self,
        status: int,
        body: Any,
        *,
        keep_alive: bool = True,
        extra: list[tuple[str, str]] | None = None,
    ) -> None:
        payload = _ENCODER.encode(body)
        headers = [("content-type", "application/json"), ("content-length", str(len(payload)))]
        headers.extend(extra or ())
        if not keep_alive:
            headers.append(("connection", "close"))
        await self._send_final(response_head(status, headers) + payload)

    async def _reject(self, exc: BadRequest) -> None:
        self._state.mark_closing(self._record, "server", "bad-request")
        body = error_body(str(exc), "invalid_request_error")
        try:
            with anyio.fail_after(5):
                await self._send_json(exc.status, body, keep_alive=False)
        except (*_GONE, TimeoutError):
            pass

    # -- one request ------------------------------------------------------------------------------

    async def _serve(self, request: Request) -> bool:
        """Answer ``request``; whether the connection stays open for another one."""
        body: Any = None
        if request.body:
            try:
                body = msgspec.json.decode(request.body)
            except msgspec.DecodeError:
                body = None
        script: Script | None = None
        problem: str | None = None
        if request.path == CHAT_PATH and request.method == "POST":
            if not isinstance(body, dict):
                problem = "the request body must be a JSON object"
            else:
                try:
                    script = self._state.select(request, body)  # pyright: ignore[reportUnknownArgumentType]
                except ScriptLookupError as exc:
                    problem = str(exc)
        index = self._state.record_request(self._record, request, body, script).index

        self._completed = False
        keep = False
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._watch, tg.cancel_scope)
            try:
                keep = await self._respond(request, index, body, script, problem)
            except _GONE:
                self._client_gone = True
                self._state.mark_closing(self._record, "client", "reset")
                keep = False
            tg.cancel_scope.cancel()
        if self._client_gone:
            self._record.abandoned = not self._completed
            self._state.notify()
            return False
        if keep and not request.keep_alive:
            self._state.mark_closing(self._record, "server", "connection-close")
            return False
        return keep

    async def _respond(
        self, request: Request, index: int, body: Any, script: Script | None, problem: str | None
    ) -> bool:
        keep_alive = request.keep_alive
        if request.path == MODELS_PATH:
            if request.method != "GET":
                return await self._method_not_allowed(keep_alive)
            names = [DEFAULT_MODEL, *self._state.scripts]
            await self._send_json(200, models_list(names), keep_alive=keep_alive)
            return True
        if request.path != CHAT_PATH:
            error = error_body(f"no route for {request.path}", "invalid_request_error")
            await self._send_json(404, error, keep_alive=keep_alive)
            return True
        if request.method != "POST":
            return await self._method_not_allowed(keep_alive)
        if problem is not None or script is None:
            error = error_body(problem or "no script", "invalid_request_error")
            await self._send_json(400, error, keep_alive=keep_alive)
            return True
        options = body.get("stream_options")
        include_usage = isinstance(options, dict) and options.get("include_usage") is True  # pyright: ignore[reportUnknownMemberType]
        plan = compile_plan(script, include_usage=include_usage)
        model = body.get("model")
        if plan.script.model is not None:
            model = plan.script.model
        elif not isinstance(model, str):
            model = DEFAULT_MODEL
        maker = ChunkMaker(f"chatcmpl-l0-{index}", model)
        if plan.headers_delay:
            await anyio.sleep(plan.headers_delay)
        if plan.http_error is not None:
            await self._http_error(plan.http_error, keep_alive)
            return True
        if body.get("stream") is True:
            return await self._stream_events(plan, maker, keep_alive)
        return await self._complete(plan, maker, keep_alive)

    async def _method_not_allowed(self, keep_alive: bool) -> bool:
        error = error_body("method not allowed", "invalid_request_error")
        await self._send_json(405, error, keep_alive=keep_alive)
        return True

    async def _http_error(self, fault: HttpError, keep_alive: bool) -> None:
        await self._send_json(
            fault.status, fault.body(), keep_alive=keep_alive, extra=fault.headers()
        )

    async def _stream_events(self, plan: Plan, maker: ChunkMaker, keep_alive: bool) -> bool:
        headers = [
            ("content-type", "text/event-stream; charset=utf-8"),
            ("cache-control", "no-cache"),
            ("transfer-encoding", "chunked"),
        ]
        if not keep_alive:
            headers.append(("connection", "close"))
        await self._send(response_head(200, headers) + _event(maker.role()))
        for step in plan.steps:
            if isinstance(step, Sleep):
                await anyio.sleep(step.seconds)
            elif isinstance(step, (TextDelta, ToolDelta)):
                await self._send(_event(maker.content(step)))
            elif isinstance(step, MalformedLine):
                await self._send(encode_chunk(step.line.encode() + b"\n\n"))
            elif isinstance(step, End):
                tail = _event(maker.finish(step.finish_reason))
                if step.usage is not None:
                    tail += _event(maker.usage(step.usage))
                tail += encode_chunk(b"data: [DONE]\n\n") + LAST_CHUNK
                await self._send_final(tail)
            elif isinstance(step, Drop):
                self._drop(step.reset)
                return False
            elif isinstance(step, Truncate):
                await self._send_final(LAST_CHUNK)
            elif isinstance(step, InBandError):
                await self._send_final(_event(maker.in_band_error(step)) + LAST_CHUNK)
            else:
                await self._keep_alive(step)
                await self._send_final(LAST_CHUNK)
        return True

    async def _keep_alive(self, step: KeepAlive) -> None:
        sent = 0
        while step.count is None or sent < step.count:
            await anyio.sleep(step.interval)
            await self._send(encode_chunk(b": keep-alive\n\n"))
            sent += 1

    async def _complete(self, plan: Plan, maker: ChunkMaker, keep_alive: bool) -> bool:
        """A non-stream answer: the same steps, sent as one ``chat.completion`` (or a failure)."""
        content: list[TextDelta | ToolDelta] = []
        for step in plan.steps:
            if isinstance(step, Sleep):
                await anyio.sleep(step.seconds)
            elif isinstance(step, (TextDelta, ToolDelta)):
                content.append(step)
            elif isinstance(step, MalformedLine):
                payload = step.line.removeprefix("data:").strip().encode()
                headers = [
                    ("content-type", "application/json"),
                    ("content-length", str(len(payload))),
                ]
                if not keep_alive:
                    headers.append(("connection", "close"))
                await self._send_final(response_head(200, headers) + payload)
                return True
            elif isinstance(step, (End, Truncate)):
                end = step if isinstance(step, End) else None
                await self._send_json(200, maker.completion(content, end), keep_alive=keep_alive)
            elif isinstance(step, Drop):
                self._drop(step.reset)
                return False
            elif isinstance(step, InBandError):
                error = error_body(step.message, step.error_type, step.code)
                await self._send_json(500, error, keep_alive=keep_alive)
            else:
                # Keep-alives only: nothing useful ever comes; the server gives up and hangs up.
                if step.count is None:
                    await anyio.sleep_forever()
                else:
                    await anyio.sleep(step.interval * step.count)
                self._state.mark_closing(self._record, "server", "drop")
                return False
        return True
