"""The three real clients of the fault matrix (raw httpx, the openai SDK, litellm), each as a
stream factory against the local fault server whose script is chosen per attempt.

A :class:`Model` plays a fake model that honours continuation: it decides each attempt's
:class:`~l0.testing.Script` from the :class:`l0.AttemptContext` and sends it in the
``x-l0-script`` header, so the test server plays exactly that attempt's answer:

* an attempt streams ``TEXT`` whole, or, when it resumes (``ctx.checkpoint``), continues it
  after the checkpoint, repeating the checkpoint's last ``overlap`` characters first, in small
  pieces (so the repeat crosses chunk boundaries), as a real model asked to continue would;
* the attempts listed in ``faults`` inject those faults on the way.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

import httpx

import l0
from l0.adapters import SSERequest
from l0.testing import SCRIPT_HEADER, FakeServer, Script, ScriptFault

__all__ = [
    "CHAT_PATH",
    "CLIENTS",
    "MESSAGES",
    "TEXT",
    "Model",
    "has_litellm",
    "has_openai",
    "open_client",
]

TEXT = "Streams break in the real world, and l0 makes them whole again, token by token."
MESSAGES: list[dict[str, Any]] = [{"role": "user", "content": "Say the sentence."}]
CLIENTS = ("httpx", "openai", "litellm")
CHAT_PATH = "/v1/chat/completions"


def has_openai() -> bool:
    return importlib.util.find_spec("openai") is not None


def has_litellm() -> bool:
    return importlib.util.find_spec("litellm") is not None


def _pieces(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


class Model:
    """Decides each attempt's script (see the module docstring) and records what it was asked.

    ``faults`` maps ``(source_index, attempt)`` to the faults of that attempt; ``texts`` may give
    a source its own text (a fallback that says something else).
    """

    def __init__(
        self,
        faults: Mapping[tuple[int, int], Sequence[ScriptFault]],
        *,
        text: str = TEXT,
        overlap: int = 4,
        piece: int = 5,
    ) -> None:
        self.faults = dict(faults)
        self.text = text
        self.overlap = overlap
        self.piece = piece
        self.contexts: list[l0.AttemptContext] = []

    def script(self, ctx: l0.AttemptContext) -> Script:
        self.contexts.append(ctx)
        faults = list(self.faults.get((ctx.source_index, ctx.attempt), ()))
        if ctx.checkpoint:
            assert self.text.startswith(ctx.checkpoint), (ctx.checkpoint, self.text)
            start = len(ctx.checkpoint) - min(self.overlap, len(ctx.checkpoint))
            return Script(text=_pieces(self.text[start:], self.piece), faults=faults)
        return Script(text=self.text, faults=faults)

    def messages(self, ctx: l0.AttemptContext) -> list[dict[str, Any]]:
        if ctx.checkpoint:
            return l0.continuation_messages(MESSAGES, ctx.checkpoint, ctx.continuation_prompt)
        return [dict(m) for m in MESSAGES]

    def headers(self, ctx: l0.AttemptContext, extra: Mapping[str, str] | None) -> dict[str, str]:
        return {SCRIPT_HEADER: self.script(ctx).to_json(), **(extra or {})}


def _litellm() -> Any:
    # The cost map shipped with litellm, not one fetched from the network (there is none).
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm  # noqa: PLC0415 - slow to import: only when a test needs it

    litellm.suppress_debug_info = True
    return litellm


_WARM: set[str] = set()


async def _warm_up(kind: str) -> None:
    """Once per process, one request through the client on a server of its own: the first
    call of an SDK loads and caches a lot (litellm its provider tables, openai its platform
    headers), taking far longer than the tight first-token deadlines of the tests."""
    if kind in _WARM or kind == "httpx":
        return
    import openai  # noqa: PLC0415 - optional: only the tests that use it

    async with (
        FakeServer() as server,
        openai.AsyncOpenAI(base_url=server.base_url, api_key="sk-warm-up", max_retries=0) as sdk,
    ):
        if kind == "litellm":
            stream = await _litellm().acompletion(
                model="openai/gpt-test",
                api_base=server.base_url,
                api_key="sk-warm-up",
                messages=MESSAGES,
                stream=True,
                client=sdk,
            )
        else:
            stream = await sdk.chat.completions.create(
                model="gpt-test",
                messages=MESSAGES,  # pyright: ignore[reportArgumentType]
                stream=True,
            )
        async for _ in stream:
            pass
    _WARM.add(kind)


@asynccontextmanager
async def open_client(
    kind: str, server: FakeServer, *, api_key: str = "sk-test"
) -> AsyncIterator[Callable[[Model], Callable[[l0.AttemptContext], Any]]]:
    """A client of ``kind`` for ``server`` (closed on exit, so its pooled connections close
    too), given as a function from a :class:`Model` to the stream factory for ``l0.run``.

    The SDK clients send one ``GET /v1/models`` first (see below): count chat completions by
    their path (:data:`CHAT_PATH`)."""
    if kind == "httpx":
        async with httpx.AsyncClient(timeout=None) as http:
            url = f"{server.base_url}/chat/completions"
            auth = {"authorization": f"Bearer {api_key}"}

            def httpx_factory(model: Model) -> Callable[[l0.AttemptContext], Any]:
                def factory(ctx: l0.AttemptContext) -> SSERequest:
                    body = {"model": "gpt-test", "messages": model.messages(ctx), "stream": True}
                    return SSERequest(
                        client=http, url=url, json=body, headers=model.headers(ctx, auth)
                    )

                return factory

            yield httpx_factory
        return

    import openai  # noqa: PLC0415 - optional: only the tests that use it

    await _warm_up(kind)
    async with openai.AsyncOpenAI(
        base_url=server.base_url, api_key=api_key, max_retries=0, timeout=60
    ) as sdk:
        # A new client computes its platform headers on a worker thread on its first request
        # (slow, on trio above all): do it now, not under a test's first-token deadline.
        await sdk.models.list()
        if kind == "openai":

            def openai_factory(model: Model) -> Callable[[l0.AttemptContext], Any]:
                async def factory(ctx: l0.AttemptContext) -> Any:
                    return await sdk.chat.completions.create(
                        model="gpt-test",
                        messages=model.messages(ctx),  # pyright: ignore[reportArgumentType]
                        stream=True,
                        extra_headers=model.headers(ctx, None),
                    )

                return factory

            yield openai_factory
            return

        assert kind == "litellm", kind
        litellm = _litellm()

        def litellm_factory(model: Model) -> Callable[[l0.AttemptContext], Any]:
            async def factory(ctx: l0.AttemptContext) -> Any:
                return await litellm.acompletion(
                    model="openai/gpt-test",
                    api_base=server.base_url,
                    api_key=api_key,
                    messages=model.messages(ctx),
                    stream=True,
                    num_retries=0,
                    max_retries=0,
                    client=sdk,  # ours, so that closing it closes its connections
                    extra_headers=model.headers(ctx, None),
                )

            return factory

        yield litellm_factory
