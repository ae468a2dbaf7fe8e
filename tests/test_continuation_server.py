"""Resuming against the local fault server over raw HTTP SSE: the connection drops at many
points of a known text and the continuation repeats part of what it was given; the final text
is exact (no loss, no duplication) and the consumer never sees a Reset."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx
import pytest

import l0
from l0.adapters import openai_sse
from l0.testing import Drop, FakeServer, Script, split_tokens

TEXT = "Streams fail in the real world. l0 resumes them from the last good token, exactly."
TOKENS = split_tokens(TEXT)
MESSAGES = [{"role": "user", "content": "Say the sentence."}]


def body(ctx: l0.AttemptContext) -> dict[str, Any]:
    messages: list[dict[str, Any]] = [dict(m) for m in MESSAGES]
    if ctx.checkpoint:
        messages = l0.continuation_messages(messages, ctx.checkpoint, ctx.continuation_prompt)
    return {"model": "test-model", "messages": messages}


@pytest.fixture
async def client(l0_server: FakeServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=l0_server.base_url, timeout=None) as http:
        yield http


def pieces(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


@pytest.mark.parametrize("cut", [1, 3, 6, len(TOKENS) - 1])
@pytest.mark.parametrize(
    ("overlap", "size"),
    [(0, 4), (1, 4), (4, 4), (11, 3)],  # none, one character, a whole chunk, several chunks
)
async def test_drop_anywhere_then_resume_exactly(
    l0_server: FakeServer,
    client: httpx.AsyncClient,
    zero_backoff: None,
    cut: int,
    overlap: int,
    size: int,
) -> None:
    checkpoint = "".join(TOKENS[:cut])
    overlap = min(overlap, len(checkpoint))
    continuation = TEXT[len(checkpoint) - overlap :]
    l0_server.enqueue(
        Script(text=TEXT, faults=[Drop(after=cut)]),
        Script(text=pieces(continuation, size)),
    )
    stream = l0.run(
        openai_sse(client, json=body),
        continue_from_last_good_token=l0.ContinuationConfig(min_overlap=1),
    )
    with anyio.fail_after(10):
        events = [event async for event in stream]
    assert not any(isinstance(e, l0.Reset) for e in events)
    assert "".join(e.value for e in events if isinstance(e, l0.Token)) == TEXT
    assert stream.state.content == TEXT
    # The second request asked the model to continue the checkpoint.
    second = l0_server.requests[1].json
    assert second["messages"][-2] == {"role": "assistant", "content": checkpoint}
    assert second["messages"][-1]["role"] == "user"
    # The dropped connection was closed (the client's pooled keep-alive one may stay open).
    assert l0_server.connections[0].closed_by is not None


async def test_a_plain_body_is_continued_automatically(
    l0_server: FakeServer, client: httpx.AsyncClient, zero_backoff: None
) -> None:
    """With a plain request body (no body function), openai_sse itself sends the continuation
    messages when the stream resumes."""
    cut = 4
    checkpoint = "".join(TOKENS[:cut])
    l0_server.enqueue(
        Script(text=TEXT, faults=[Drop(after=cut)]),
        Script(text=TEXT[len(checkpoint) - 2 :]),
    )
    stream = l0.run(
        openai_sse(client, json={"model": "test-model", "messages": MESSAGES}),
        continue_from_last_good_token=l0.ContinuationConfig(min_overlap=1),
    )
    with anyio.fail_after(10):
        assert await stream.read() == TEXT
    second = l0_server.requests[1].json
    assert second["messages"][0] == MESSAGES[0]
    assert second["messages"][-2] == {"role": "assistant", "content": checkpoint}
    assert second["messages"][-1] == {
        "role": "user",
        "content": l0.ContinuationConfig().instruction,
    }
