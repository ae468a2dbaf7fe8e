"""check_adapter: every built-in and provider adapter conforms, and broken adapters are caught."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx
import pytest

import l0
from l0.adapters import Adapter, Chunk, Finish, Usage
from l0.adapters import _registry as registry
from l0.adapters._conformance import check_adapter
from l0.adapters._httpx import SSERequest
from l0.adapters._providers import provider_adapters
from l0.adapters._sse import ServerSentEvent
from l0.testing import FakeAdapter, Script, fake_stream

_TEXT = {"choices": [{"index": 0, "delta": {"content": "Hi"}, "finish_reason": None}]}
_TOOL = {"choices": [{"index": 0, "delta": {"tool_calls": [
    {"index": 0, "id": "c", "function": {"name": "f", "arguments": "{}"}}]}}]}  # fmt: skip
_REASONING = {"choices": [{"index": 0, "delta": {"reasoning_content": "hmm"}}]}
_FINISH = {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
_USAGE = {"choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}}
_ERROR = {"error": {"message": "overloaded", "type": "server_error"}}
_OPENAI_DICTS = [_TEXT, _TOOL, _REASONING, _FINISH, _USAGE, _ERROR, {"choices": "bad"}]

_EVENT_ITEMS: list[Any] = [
    "text",
    l0.Token(value="t"),
    l0.Data(payload={"k": 1}),
    {"type": "token", "value": "x"},
    {"type": "progress", "percent": 50.0},
    {"type": "error", "error": "e"},
    {"type": "done"},
    Usage(input_tokens=1),
]


def _sse_samples() -> list[ServerSentEvent]:
    events = [ServerSentEvent(data=json.dumps(d)) for d in _OPENAI_DICTS]
    return [*events, ServerSentEvent(data="{broken"), ServerSentEvent(event="error", data="x")]


def _sdk_chunks() -> list[Any]:
    openai = pytest.importorskip("openai")
    from openai.types.chat import ChatCompletionChunk  # noqa: PLC0415

    base = {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "m"}
    del openai
    return [ChatCompletionChunk.model_validate({**base, **d}) for d in _OPENAI_DICTS[:5]]


def _samples(adapter: Adapter) -> list[Any]:
    if adapter.name in {"async-iterator", "iterable", FakeAdapter.name}:
        return _EVENT_ITEMS
    if adapter.name in {"openai", "litellm"}:
        return _OPENAI_DICTS
    if adapter.name == "httpx-sse":
        return _sse_samples()
    return []


def _streams(adapter: Adapter) -> list[object]:
    if adapter.name == "httpx-sse":
        return [SSERequest(client=httpx.AsyncClient(), url="http://x", json={})]
    if adapter.name == FakeAdapter.name:
        return [fake_stream(Script(text="a"))]
    if adapter.name == "iterable":
        return [["a", "b"]]
    return []


_ALL = [*registry.registered(), FakeAdapter()]  # the shipped adapters, providers first


@pytest.mark.parametrize("adapter", _ALL, ids=[a.name for a in _ALL])
def test_every_shipped_adapter_conforms(adapter: Adapter) -> None:
    """Built-in, provider and testing adapters pass the conformance suite."""
    check_adapter(adapter, samples=_samples(adapter), streams=_streams(adapter))


def test_openai_adapter_conforms_on_sdk_objects() -> None:
    """The openai adapter converts the SDK's own chunk objects purely."""
    adapter = next(a for a in provider_adapters() if a.name == "openai")
    check_adapter(adapter, samples=_sdk_chunks())


def test_sdk_errors_are_handled() -> None:
    """map_error of the provider adapters handles real SDK exceptions without raising."""
    openai = pytest.importorskip("openai")
    import importlib  # noqa: PLC0415

    h = importlib.import_module("httpx2" if int(openai.__version__.split(".")[0]) >= 3 else "httpx")
    request = h.Request("POST", "http://x")
    errors = [
        openai.RateLimitError("r", response=h.Response(429, request=request), body=None),
        openai.APIConnectionError(request=request),
        openai.APIError("in band", request, body="text body"),
    ]
    for adapter in provider_adapters():
        check_adapter(adapter, errors=errors)


# -- broken adapters are caught ----------------------------------------------------------------


async def _items(obj: tuple[Any, ...]) -> AsyncIterator[Any]:
    for item in obj[1:]:
        yield item


class _Good(Adapter):
    name = "good"
    requires_finish = True

    def detect(self, obj: object) -> bool:
        return isinstance(obj, tuple) and obj[:1] == ("mine",)

    def open(self, obj: Any) -> AsyncIterator[Any]:
        return _items(obj)

    def convert(self, item: Any) -> Chunk | Sequence[Chunk] | None:
        return Finish() if item == "END" else str(item)


class _Impure(_Good):
    name = "impure"

    def __init__(self) -> None:
        self.calls = 0

    def convert(self, item: Any) -> Chunk | Sequence[Chunk] | None:
        self.calls += 1
        return f"{item}{self.calls}"


class _Greedy(_Good):
    name = "greedy"

    def detect(self, obj: object) -> bool:
        return True


class _Raising(_Good):
    name = "raising"

    def detect(self, obj: object) -> bool:
        return obj.startswith("x")  # type: ignore[attr-defined]

    def map_error(self, exc: Exception) -> l0.L0Error | None:
        raise RuntimeError("oops")


class _Importing(_Good):
    name = "importing"

    def detect(self, obj: object) -> bool:
        import sys  # noqa: PLC0415

        sys.modules.setdefault("l0_conformance_fake_sdk", type(sys)("l0_conformance_fake_sdk"))
        return False


class _Worded(_Good):
    name = "worded"

    def map_error(self, exc: Exception) -> l0.L0Error | None:
        return l0.NetworkError("x") if "429" in str(exc) else None


class _BadChunks(_Good):
    name = "bad-chunks"

    def convert(self, item: Any) -> Chunk | Sequence[Chunk] | None:
        if item == "END":
            return Finish()
        if item == "complete":
            return l0.Complete(state=None)  # type: ignore[arg-type]
        if item == "raise":
            raise KeyError(item)
        return [object()]  # type: ignore[list-item]


class _Mutating(_Good):
    name = "mutating"

    def convert(self, item: Any) -> Chunk | Sequence[Chunk] | None:
        if isinstance(item, dict):
            item["seen"] = True
        return Finish()


class _AsyncConvert(_Good):
    name = "async-convert"

    async def convert(self, item: Any) -> Any:  # type: ignore[override]
        return item


class _TextMismatch(_Good):
    name = "text-mismatch"
    text_items = True

    def convert(self, item: Any) -> Chunk | Sequence[Chunk] | None:
        return Finish() if item == "END" else item.upper()


class _BadAttrs(_Good):
    name = ""
    backends = frozenset({"curio"})  # type: ignore[assignment]
    requires_finish = "yes"  # type: ignore[assignment]


@pytest.mark.parametrize(
    ("adapter", "samples", "streams", "problem"),
    [
        (_Impure(), ["a", "END"], [], "is not pure"),
        (_Greedy(), ["END"], [], "claims a plain"),
        (_Raising(), ["END"], [], "detect(NoneType) raised"),
        (_Raising(), ["END"], [], "map_error(ValueError) raised"),
        (_Importing(), ["END"], [], "imported modules"),
        (_Worded(), ["END"], [], "decides by the message"),
        (_BadChunks(), ["x", "END"], [], "not an l0 chunk"),
        (_BadChunks(), ["complete", "END"], [], "only l0 can emit it"),
        (_BadChunks(), ["raise", "END"], [], "only l0 errors may escape"),
        (_Mutating(), [{"a": 1}], [], "changed its input"),
        (_AsyncConvert(), ["a"], [], "must be synchronous"),
        (_TextMismatch(), ["END"], [], "both paths must agree"),
        (_Good(), ["just text"], [], "no sample converts to Finish"),
        (_Good(), ["END"], [("other",)], "does not accept the stream"),
        (_BadAttrs(), [], [], "name must be a non-empty str"),
        (_BadAttrs(), [], [], "backends must be"),
        (_BadAttrs(), [], [], "requires_finish must be a bool"),
    ],
)
def test_broken_adapters_are_reported(
    adapter: Adapter, samples: list[Any], streams: list[object], problem: str
) -> None:
    """Each broken contract is named in the AssertionError."""
    with pytest.raises(AssertionError, match="does not conform") as caught:
        check_adapter(adapter, samples=samples, streams=streams)
    assert problem in str(caught.value)


def test_a_good_custom_adapter_passes() -> None:
    """A small conforming adapter passes, with its streams and samples."""
    check_adapter(_Good(), samples=["a", "END"], streams=[("mine", 1)])


def test_not_an_adapter_is_a_type_error() -> None:
    """check_adapter needs an Adapter instance."""
    with pytest.raises(TypeError):
        check_adapter(object())  # type: ignore[arg-type]
