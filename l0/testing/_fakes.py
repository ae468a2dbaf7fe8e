"""In-process fake sources that play scripts: fast unit tests without a socket."""

from __future__ import annotations

import collections
import json
from collections.abc import Sequence
from typing import Any, Literal

import anyio
import anyio.lowlevel

from l0._errors import SourceError
from l0._events._stream import ToolCall
from l0.adapters._base import Adapter, Chunk, Fault, Finish, Usage
from l0.adapters._builtin import convert_item
from l0.testing._openai import ChunkMaker
from l0.testing._script import (
    Drop,
    End,
    HttpError,
    InBandError,
    KeepAlive,
    MalformedLine,
    Script,
    Sleep,
    Step,
    TextDelta,
    ToolDelta,
    Truncate,
    compile_plan,
)

__all__ = ["FakeAdapter", "FakeProvider", "FakeStream", "Shape", "fake_stream"]

Shape = Literal["l0", "openai"]
"""What a fake source yields: l0 chunks, or OpenAI chat completion chunk dicts."""

_FAKE_URL = "http://l0-fake.invalid/v1/chat/completions"


def _script(script: Script | str | Sequence[str]) -> Script:
    if isinstance(script, Script):
        return script
    return Script(text=script if isinstance(script, str) else list(script))


def _http_status_error(fault: HttpError) -> Exception:
    import httpx  # noqa: PLC0415 - only needed for this fault

    request = httpx.Request("POST", _FAKE_URL)
    response = httpx.Response(
        fault.status, headers=fault.headers(), json=fault.body(), request=request
    )
    return httpx.HTTPStatusError(
        f"HTTP {fault.status} from the fake provider (l0.testing.HttpError)",
        request=request,
        response=response,
    )


def _malformed(line: str) -> json.JSONDecodeError:
    payload = line.removeprefix("data:").strip()
    try:
        json.loads(payload)
    except json.JSONDecodeError as exc:
        return exc
    return json.JSONDecodeError("malformed chunk (l0.testing.Malformed)", payload, 0)


class FakeStream:
    """An async iterator playing a :class:`Script` in-process, with the script's faults.

    With ``shape="l0"`` it yields l0 chunks: ``str`` text tokens, an :class:`l0.ToolCall` once a
    tool call's last fragment is played, then :class:`l0.adapters.Finish` and (if the script
    asks) :class:`l0.adapters.Usage`; an in-band error is an :class:`l0.adapters.Fault`.
    With ``shape="openai"`` it yields the chat completion chunk dicts the test server sends.

    Faults: a stall or keep-alive sleeps (:func:`anyio.sleep`), a drop raises
    :class:`ConnectionResetError`, a malformed line raises :class:`json.JSONDecodeError`, an
    HTTP error raises :class:`httpx.HTTPStatusError` (its response has the status, the
    ``Retry-After`` headers and the JSON body); a truncated stream just ends.

    It records its life for cleanup assertions: ``started``, ``items`` (everything yielded),
    ``ended`` (iteration ran out), ``error`` (what it raised), ``aclose_called`` and
    :attr:`closed`. A cancelled read does not close it: like a real response, it stays open
    until :meth:`aclose`.
    """

    def __init__(
        self,
        script: Script | str | Sequence[str] | None = None,
        *,
        shape: Shape = "l0",
        model: str = "l0-test",
    ) -> None:
        self.script: Script = _script(script) if script is not None else Script()
        self.shape: Shape = shape
        self.started: bool = False
        self.ended: bool = False
        self.error: BaseException | None = None
        self.aclose_called: bool = False
        self.items: list[Any] = []
        plan = compile_plan(self.script)
        self._maker = ChunkMaker("chatcmpl-l0-fake", plan.script.model or model)
        steps: list[Step | HttpError] = []
        if plan.headers_delay:
            steps.append(Sleep(plan.headers_delay))
        if plan.http_error is not None:
            steps.append(plan.http_error)
        else:
            steps.extend(plan.steps)
        self._steps = collections.deque(steps)
        self._ready: collections.deque[Any] = collections.deque()
        if shape == "openai" and plan.http_error is None:
            self._ready.append(self._maker.role())

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<FakeStream {self.shape} {state}, {len(self.items)} items>"

    @property
    def closed(self) -> bool:
        """Whether it holds nothing open any more: it ended, failed, or was closed."""
        return self.ended or self.error is not None or self.aclose_called

    def __aiter__(self) -> FakeStream:
        return self

    async def __anext__(self) -> Any:
        if self.closed:
            raise StopAsyncIteration
        self.started = True
        while not self._ready:
            if not self._steps:
                self.ended = True
                raise StopAsyncIteration
            try:
                await self._play(self._steps.popleft())
            except Exception as exc:
                self.error = exc
                raise
        item = self._ready.popleft()
        self.items.append(item)
        return item

    async def aclose(self) -> None:
        """Close it (idempotent); later reads end the iteration."""
        self.aclose_called = True
        self._steps.clear()
        self._ready.clear()
        await anyio.lowlevel.checkpoint()

    async def _play(self, step: Step | HttpError) -> None:
        openai = self.shape == "openai"
        if isinstance(step, Sleep):
            await anyio.sleep(step.seconds)
        elif isinstance(step, (TextDelta, ToolDelta)):
            if openai:
                self._ready.append(self._maker.content(step))
            elif isinstance(step, TextDelta):
                self._ready.append(step.text)
            elif step.last:
                self._ready.append(_tool_call(step))
        elif isinstance(step, End):
            if openai:
                self._ready.append(self._maker.finish(step.finish_reason))
                if step.usage is not None:
                    self._ready.append(self._maker.usage(step.usage))
            else:
                self._ready.append(Finish(reason=step.finish_reason))
                if step.usage is not None:
                    completion = step.usage.completion_tokens or 0
                    self._ready.append(
                        Usage(
                            input_tokens=step.usage.prompt_tokens,
                            output_tokens=completion,
                            total_tokens=step.usage.prompt_tokens + completion,
                        )
                    )
        elif isinstance(step, InBandError):
            if openai:
                self._ready.append(self._maker.in_band_error(step))
            else:
                error = SourceError(f"the provider sent an error event: {step.message}")
                self._ready.append(Fault(error=error))
            self._steps.clear()
        elif isinstance(step, KeepAlive):
            sent = 0
            while step.count is None or sent < step.count:
                await anyio.sleep(step.interval)
                sent += 1
        elif isinstance(step, MalformedLine):
            raise _malformed(step.line)
        elif isinstance(step, Drop):
            raise ConnectionResetError("connection dropped by the fake provider (l0.testing.Drop)")
        elif isinstance(step, HttpError):
            raise _http_status_error(step)
        else:
            assert isinstance(step, Truncate)
            self._steps.clear()


def _tool_call(step: ToolDelta) -> ToolCall:
    try:
        arguments = json.loads(step.arguments)
    except json.JSONDecodeError:
        arguments = None
    if not isinstance(arguments, dict):
        raise TypeError(
            f"tool call {step.name!r}: arguments {step.arguments!r} are not a JSON object; "
            "play this script with shape='openai' (or over the test server) to send them as is"
        )
    return ToolCall(id=step.call_id, name=step.name, arguments=arguments)  # pyright: ignore[reportUnknownArgumentType]


def fake_stream(
    script: Script | str | Sequence[str] | None = None, *, shape: Shape = "l0"
) -> FakeStream:
    """A :class:`FakeStream` playing ``script`` (a Script, its text, or its list of tokens)."""
    return FakeStream(script, shape=shape)


class FakeProvider:
    """A stream factory for :func:`l0.run`: call *i* plays ``scripts[i]`` (the last repeats).

    Records every stream it made (:attr:`streams`) and the :class:`l0.AttemptContext` it was
    called with (:attr:`contexts`), so tests can check retries, continuation and cleanup.
    """

    def __init__(self, *scripts: Script | str | Sequence[str], shape: Shape = "l0") -> None:
        self.scripts: list[Script] = [_script(s) for s in scripts] or [Script()]
        self.shape: Shape = shape
        self.streams: list[FakeStream] = []
        self.contexts: list[Any] = []

    def __call__(self, *context: Any) -> FakeStream:
        """The next stream (l0 passes the attempt context: it is recorded)."""
        self.contexts.extend(context)
        script = self.scripts[min(len(self.streams), len(self.scripts) - 1)]
        stream = FakeStream(script, shape=self.shape)
        self.streams.append(stream)
        return stream

    @property
    def calls(self) -> int:
        """How many streams it made."""
        return len(self.streams)

    @property
    def all_closed(self) -> bool:
        """Whether every stream it made that was started is closed."""
        return all(s.closed for s in self.streams if s.started)


class FakeAdapter(Adapter):
    """Reads ``shape="l0"`` fake streams strictly: pass ``adapter=FakeAdapter()`` to
    :func:`l0.run`.

    Unlike the built-in ``"async-iterator"`` adapter, it requires a :class:`~l0.adapters.Finish`
    chunk (so a :class:`Truncate` fault is a truncated stream, as over HTTP) and passes
    :class:`~l0.adapters.Usage` chunks on. It is not registered: name it explicitly.
    """

    name = "l0-testing-fake"
    requires_finish = True
    text_items = True

    def detect(self, obj: object) -> bool:
        """A :class:`FakeStream`."""
        return isinstance(obj, FakeStream)

    def convert(self, item: Any) -> Chunk | Sequence[Chunk] | None:
        """Usage passes through; the rest as the built-in adapter reads it."""
        if isinstance(item, Usage):
            return item
        return convert_item(item)
