"""``l0.wrap(client)``: streaming chat completions become l0 streams; the rest passes through."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

import l0


class FakeCompletions:
    """Shaped like ``AsyncOpenAI().chat.completions``: records requests, plays scripts."""

    def __init__(self, name: str, scripts: dict[str, list[Any]]) -> None:
        self.name = name
        self.scripts = scripts
        self.requests: list[dict[str, Any]] = []

    async def create(self, **kwargs: Any) -> Any:
        self.requests.append(kwargs)
        steps = self.scripts[kwargs["model"]]
        if not kwargs.get("stream"):
            return {"text": "".join(s for s in steps if isinstance(s, str))}
        return self._play(steps)

    async def _play(self, steps: list[Any]) -> AsyncIterator[Any]:
        for step in steps:
            if isinstance(step, BaseException):
                raise step
            yield step


class FakeChat:
    def __init__(self, completions: FakeCompletions) -> None:
        self.completions = completions


class FakeClient:
    def __init__(self, name: str, scripts: dict[str, list[Any]]) -> None:
        self.chat = FakeChat(FakeCompletions(name, scripts))
        self.api_key = "sk-test"
        self.models = "models-resource"


async def test_stream_true_gives_an_l0_stream_that_retries(zero_backoff: None) -> None:
    """A dropped first attempt is retried with the same request; the result is the retry's."""
    calls = 0

    class Flaky(FakeCompletions):
        async def create(self, **kwargs: Any) -> Any:
            nonlocal calls
            calls += 1
            self.requests.append(kwargs)
            steps = ["Hel", ConnectionResetError("drop")] if calls == 1 else ["Hello", "!"]
            return self._play(steps)

    client = FakeClient("main", {})
    client.chat.completions = Flaky("main", {})
    wrapped = l0.wrap(client)
    stream = await wrapped.chat.completions.create(model="m", messages=[], stream=True)
    assert isinstance(stream, l0.Stream)
    assert await stream.read() == "Hello!"
    assert calls == 2
    assert client.chat.completions.requests == [
        {"model": "m", "messages": [], "stream": True},
        {"model": "m", "messages": [], "stream": True},
    ]


async def test_non_stream_calls_and_other_attributes_pass_through() -> None:
    """Without stream=True the client's own result comes back; other attributes are untouched."""
    client = FakeClient("main", {"m": ["a", "b"]})
    wrapped = l0.wrap(client, retry=None)
    assert await wrapped.chat.completions.create(model="m", messages=[]) == {"text": "ab"}
    assert wrapped.api_key == "sk-test"
    assert wrapped.models == "models-resource"
    assert wrapped.chat.completions.name == "main"


async def test_fallbacks_by_model_name_client_pair_and_factory(zero_backoff: None) -> None:
    """Fallbacks may be another model, another client, a (client, model) pair or a factory."""
    dead = [ConnectionResetError("down")]
    primary = FakeClient("primary", {"big": dead, "small": dead})
    other = FakeClient("other", {"big": dead, "alt": ["from other/alt"]})

    async def last_resort() -> AsyncIterator[str]:
        yield "factory"

    wrapped = l0.wrap(
        primary,
        retry=None,
        fallbacks=["small", other, (other, "alt"), last_resort],
    )
    stream = await wrapped.chat.completions.create(model="big", messages=[], stream=True)
    assert await stream.read() == "from other/alt"
    assert [r["model"] for r in primary.chat.completions.requests] == ["big", "small"]
    assert [r["model"] for r in other.chat.completions.requests] == ["big", "alt"]
    assert stream.state.fallback_index == 3


async def test_run_options_apply_to_every_wrapped_stream() -> None:
    """The wrap's keywords (callbacks here) apply to each stream it creates."""
    seen: list[str] = []
    client = FakeClient("main", {"m": ["x", "y"]})
    wrapped = l0.wrap(client, on_token=seen.append)
    stream = await wrapped.chat.completions.create(model="m", messages=[], stream=True)
    assert await stream.read() == "xy"
    assert seen == ["x", "y"]


def test_bad_fallbacks_and_options_are_config_errors() -> None:
    """A single string as fallbacks, a malformed pair, an unknown keyword: clear errors."""
    client = FakeClient("main", {"m": ["x"]})
    with pytest.raises(l0.ConfigError, match="list"):
        l0.wrap(client, fallbacks="small")  # type: ignore[arg-type]
    with pytest.raises(l0.ConfigError, match="pair"):
        l0.wrap(client, fallbacks=[(client, 3)])  # type: ignore[list-item]
    with pytest.raises(l0.ConfigError, match="a fallback must be"):
        l0.wrap(client, fallbacks=[object()])  # type: ignore[list-item]
    with pytest.raises(l0.ConfigError, match=r"no chat\.completions\.create"):
        l0.wrap(object())
    with pytest.raises(TypeError, match="unexpected keyword"):
        l0.wrap(client, retries=3).chat.completions.create(  # type: ignore[call-arg]
            model="m", messages=[], stream=True
        )


async def test_the_requests_tools_validate_the_tool_calls() -> None:
    """The ``tools`` of the request are the schemas tool calls are checked against."""
    from l0.adapters import Finish, ToolCallDelta  # noqa: PLC0415

    call = [
        ToolCallDelta(index=0, id="c1", name="lookup", arguments='{"id": "x"}'),
        Finish(reason="tool_calls"),
    ]
    client = l0.wrap(FakeClient("main", {"m": call}), retry=None)
    tools = [
        {
            "type": "function",
            "function": {
                "name": "lookup",
                "parameters": {"type": "object", "properties": {"id": {"type": "integer"}}},
            },
        }
    ]
    stream = await client.chat.completions.create(model="m", messages=[], tools=tools, stream=True)
    with pytest.raises(l0.L0Error) as info:
        await stream.read()
    causes = [info.value, *getattr(info.value, "errors", [])]
    [error] = [e for e in causes if isinstance(e, l0.ToolCallError)]
    assert error.metadata["issues"][0]["code"] == "INVALID_ARGUMENT_TYPE"
    assert error.metadata["issues"][0]["path"] == ["arguments", "id"]


async def test_the_streams_context_names_the_models_for_monitoring() -> None:
    """Each stream's context gets the request's model and the fallbacks' models (what the
    monitoring sinks report); the caller's own context keys win."""
    seen: list[Any] = []
    client = FakeClient("main", {"big": ["ok"]})
    other = FakeClient("other", {})
    wrapped = l0.wrap(client, on_event=seen.append, fallbacks=["small", (other, "alt"), other])
    stream = await wrapped.chat.completions.create(model="big", messages=[], stream=True)
    assert await stream.read() == "ok"
    assert seen[0].context == {"model": "big", "fallback_models": ("small", "alt", "big")}

    seen.clear()
    mine = l0.wrap(client, on_event=seen.append, context={"model": "mine", "user": 1})
    await (await mine.chat.completions.create(model="big", messages=[], stream=True)).read()
    assert seen[0].context == {"model": "mine", "user": 1}
