"""Resuming from the last good output (``continue_from_last_good_token``), end to end."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

import l0
from l0.adapters import ToolCallDelta
from l0.events import EventType
from tests._sources import Recorder, collect

TEXT = "The quick brown fox jumps over the lazy dog. It was not amused at all."


def tokens(text: str, size: int = 3) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


class Resumable:
    """Attempt 1 streams ``TEXT`` and drops after ``cut`` characters; the next attempt plays the
    model continuing: it repeats the last ``overlap`` characters of what it was given, then the
    rest. Records each attempt's context."""

    def __init__(self, cut: int, overlap: int, size: int = 3) -> None:
        self.cut = cut
        self.overlap = overlap
        self.size = size
        self.contexts: list[l0.AttemptContext] = []

    def __call__(self, ctx: l0.AttemptContext) -> AsyncIterator[str]:
        self.contexts.append(ctx)
        return self._play(ctx)

    async def _play(self, ctx: l0.AttemptContext) -> AsyncIterator[str]:
        if not ctx.checkpoint:
            for piece in tokens(TEXT[: self.cut], self.size):
                yield piece
            raise ConnectionResetError("dropped")
        start = len(ctx.checkpoint)
        assert TEXT.startswith(ctx.checkpoint)
        for piece in tokens(TEXT[start - self.overlap :], self.size):
            yield piece


@pytest.mark.parametrize(("cut", "overlap"), [(12, 0), (12, 2), (30, 3), (30, 9), (45, 20), (1, 1)])
async def test_resumed_text_is_exact_with_no_reset(
    zero_backoff: None, cut: int, overlap: int
) -> None:
    """Whatever the drop point and the overlap (none, part of a chunk, several chunks), the
    consumer's text continues seamlessly: no Reset, no loss, no duplication."""
    source = Resumable(cut, overlap)
    stream = l0.run(
        source, continue_from_last_good_token=l0.ContinuationConfig(min_overlap=1), retry=l0.Retry()
    )
    events = await collect(stream)
    assert not [e for e in events if isinstance(e, l0.Reset)]
    assert [type(e) for e in events].count(l0.ErrorEvent) == 1
    text = "".join(e.value for e in events if isinstance(e, l0.Token))
    assert text == TEXT
    assert stream.state.content == TEXT
    assert len(source.contexts) == 2
    resumed = source.contexts[1]
    assert resumed.is_resume
    assert resumed.checkpoint == TEXT[:cut]
    assert resumed.continuation_prompt == l0.ContinuationConfig().instruction


async def test_resume_events_and_callbacks(zero_backoff: None) -> None:
    """CHECKPOINT_SAVED every N tokens (delta + offset + length), CONTINUATION_START and
    RESUME_START with the checkpoint, on_resume(checkpoint, token_count), on_checkpoint with
    what the event carries (the text added since the previous checkpoint: linear overall)."""
    rec = Recorder()
    seen: list[Any] = []
    source = Resumable(cut=30, overlap=3)
    stream = l0.run(
        source,
        continue_from_last_good_token=True,
        check_intervals=l0.CheckIntervals(checkpoint=4),
        on_event=seen.append,
        on_resume=rec.sync("on_resume"),
        on_checkpoint=rec.sync("on_checkpoint"),
    )
    assert await stream.read() == TEXT
    saved = [e for e in seen if e.event_type is EventType.CHECKPOINT_SAVED]
    assert saved, "checkpoints were saved"
    rebuilt = ""
    for event in saved:
        if event.offset < len(rebuilt):  # a later attempt's checkpoints continue the same text
            rebuilt = rebuilt[: event.offset]
        assert event.offset == len(rebuilt)
        rebuilt += event.checkpoint
        assert event.length == len(rebuilt)
    assert TEXT.startswith(rebuilt)
    first = saved[0]
    assert first.token_count == 4
    assert first.checkpoint == "".join(tokens(TEXT)[:4])
    assert rec.args("on_checkpoint") == [(e.checkpoint, e.token_count) for e in saved]
    types = [e.event_type for e in seen]
    assert types.index(EventType.CONTINUATION_START) < types.index(EventType.RESUME_START)
    resume = next(e for e in seen if e.event_type is EventType.RESUME_START)
    assert resume.checkpoint == TEXT[:30]
    assert rec.args("on_resume") == [(TEXT[:30], 10)]
    summary = next(e for e in seen if e.event_type is EventType.SESSION_SUMMARY)
    assert summary.checkpoints_created == len(saved)


async def test_without_continuation_a_retry_starts_over_with_a_reset(zero_backoff: None) -> None:
    """The default: the partial output is discarded (Reset) and the factory gets no checkpoint."""
    source = Resumable(cut=30, overlap=0)
    calls: list[l0.AttemptContext] = []

    async def play(ctx: l0.AttemptContext) -> AsyncIterator[str]:
        calls.append(ctx)
        if len(calls) == 1:
            async for piece in source(ctx):
                yield piece
        else:
            yield TEXT

    events = await collect(l0.run(play))
    assert any(isinstance(e, l0.Reset) for e in events)
    assert calls[1].checkpoint == ""
    assert not calls[1].is_resume


async def test_a_half_streamed_tool_call_is_never_resumed(zero_backoff: None) -> None:
    """A failure while a tool call is half-streamed restarts cleanly (Reset, no checkpoint)."""
    contexts: list[l0.AttemptContext] = []

    async def play(ctx: l0.AttemptContext) -> AsyncIterator[Any]:
        contexts.append(ctx)
        if len(contexts) == 1:
            yield "Let me look. "
            yield ToolCallDelta(index=0, id="c1", name="search", arguments='{"q": "x')
            raise ConnectionResetError("dropped")
        yield "Done."

    stream = l0.run(play, continue_from_last_good_token=True)
    events = await collect(stream)
    assert any(isinstance(e, l0.Reset) for e in events)
    assert contexts[1].checkpoint == ""
    assert stream.state.content == "Done."


async def test_resuming_from_a_fallback(zero_backoff: None) -> None:
    """A fallback continues the primary's checkpoint too."""
    primary = Resumable(cut=21, overlap=0)
    fallback = Resumable(cut=0, overlap=5)
    stream = l0.run(
        primary,
        fallbacks=[fallback],
        retry=None,
        continue_from_last_good_token=l0.ContinuationConfig(min_overlap=1),
    )
    assert await stream.read() == TEXT
    assert fallback.contexts[0].checkpoint == TEXT[:21]
    assert fallback.contexts[0].is_fallback


async def test_the_users_prompt_builder_is_used() -> None:
    """``build_prompt``'s result is what the factory gets as the continuation prompt."""
    source = Resumable(cut=15, overlap=0)
    config = l0.ContinuationConfig(build_prompt=lambda cp: f"continue after {len(cp)} chars")
    stream = l0.run(
        source,
        continue_from_last_good_token=config,
        retry=l0.Retry(base_delay=0.0, max_delay=0.0),
    )
    assert await stream.read() == TEXT
    assert source.contexts[1].continuation_prompt == "continue after 15 chars"


async def test_a_model_that_only_repeats_the_checkpoint_then_stops_completes(
    zero_backoff: None,
) -> None:
    """A resumed attempt whose output is all repeat ends with the checkpoint as the text."""
    contexts: list[l0.AttemptContext] = []

    async def play(ctx: l0.AttemptContext) -> AsyncIterator[str]:
        contexts.append(ctx)
        if not ctx.checkpoint:
            yield "All of it"
            raise ConnectionResetError("dropped")
        yield "of it"

    stream = l0.run(play, continue_from_last_good_token=l0.ContinuationConfig(min_overlap=1))
    assert await stream.read() == "All of it"


def test_continuation_option_is_checked() -> None:
    with pytest.raises(l0.ConfigError, match="continue_from_last_good_token"):
        l0.run(lambda: iter(()), continue_from_last_good_token="yes")  # type: ignore[arg-type]
