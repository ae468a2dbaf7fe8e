"""Fallbacks, zero output, truncation, and in-band error events."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

import l0
from l0 import ErrorCode
from tests._sources import Raise, Recorder, Script, boom, collect, text_after_last_reset

pytestmark = pytest.mark.usefixtures("zero_backoff")


# -- fallbacks ---------------------------------------------------------------------------------


async def test_fallback_is_used_once_the_primary_is_exhausted() -> None:
    """Primary fails every retry: the fallback's output is the result, after a Reset."""
    rec = Recorder()
    primary = Script(["pri", "mary", Raise(boom)])
    fallback = Script(["fall", "back"])
    stream = l0.run(
        primary,
        fallbacks=[fallback],
        retry=l0.Retry(attempts=1),
        on_start=rec.sync("on_start"),
        on_fallback=rec.sync("on_fallback"),
    )
    events = await collect(stream)
    assert [type(e) for e in events] == [
        l0.Token,
        l0.Token,
        l0.ErrorEvent,
        l0.Reset,
        l0.Token,
        l0.Token,
        l0.ErrorEvent,
        l0.Reset,
        l0.Token,
        l0.Token,
        l0.Complete,
    ]
    last_error = events[6]
    assert isinstance(last_error, l0.ErrorEvent)
    assert (last_error.will_retry, last_error.will_fallback) == (False, True)
    reset = events[7]
    assert isinstance(reset, l0.Reset)
    assert (reset.discarded, reset.attempt, reset.source_index) == (7, 1, 1)
    assert text_after_last_reset(events) == "fallback"
    assert stream.state.content == "fallback"
    assert "pri" not in stream.state.content
    assert stream.state.fallback_index == 1
    assert rec.args("on_fallback") == [(0, "Retries exhausted")]
    assert rec.args("on_start") == [(1, False, False), (2, True, False), (1, False, True)]
    assert (primary.calls, fallback.calls) == (2, 1)
    assert primary.closed == [True, True]
    assert fallback.closed == [True]


async def test_read_returns_only_the_fallbacks_text() -> None:
    """read() never includes the primary's partial output."""
    primary = Script(["partial", Raise(boom)])
    stream = l0.run(primary, fallbacks=[Script(["fb"])], retry=None)
    assert await stream.read() == "fb"
    assert stream.state.fallback_index == 1


async def test_fallback_reason_for_a_failure_that_is_not_retried() -> None:
    """A failure excluded by retry_on goes straight to the fallback, naming the reason."""
    rec = Recorder()
    primary = Script([Raise(boom)])
    stream = l0.run(
        primary,
        fallbacks=[Script(["fb"])],
        retry=l0.Retry(retry_on={"network_error"}),
        on_fallback=rec.sync("on_fallback"),
    )
    assert await stream.read() == "fb"
    assert primary.calls == 1
    assert rec.args("on_fallback") == [(0, "Stream error (STREAM_ERROR)")]


async def test_second_fallback_after_the_first_fails() -> None:
    """Fallbacks are tried in order; each source gets its own retry budget."""
    rec = Recorder()
    primary = Script([Raise(boom)])
    first = Script([Raise(boom)])
    second = Script(["second"])
    stream = l0.run(
        primary,
        fallbacks=[first, second],
        retry=l0.Retry(attempts=1),
        on_fallback=rec.sync("on_fallback"),
    )
    assert await stream.read() == "second"
    assert (primary.calls, first.calls, second.calls) == (2, 2, 1)
    assert stream.state.fallback_index == 2
    assert rec.args("on_fallback") == [(0, "Retries exhausted"), (1, "Retries exhausted")]


async def test_all_sources_failing_lists_every_attempts_error() -> None:
    """Every source failing ends with AllStreamsExhausted listing each attempt's error in order."""
    sources = [Script(["x", Raise(boom)]), Script([]), Script([Raise(ConnectionResetError)])]
    stream = l0.run(sources[0], fallbacks=sources[1:], retry=l0.Retry(attempts=1, max_retries=1))
    with pytest.raises(l0.AllStreamsExhausted) as info:
        await stream.read()
    errors = info.value.errors
    assert [(e.source_index, e.attempt, e.code) for e in errors] == [
        (0, 1, ErrorCode.STREAM_ERROR),
        (0, 2, ErrorCode.STREAM_ERROR),
        (1, 1, ErrorCode.ZERO_OUTPUT),
        (1, 2, ErrorCode.ZERO_OUTPUT),
        (2, 1, ErrorCode.NETWORK_ERROR),
        (2, 2, ErrorCode.NETWORK_ERROR),
    ]
    assert info.value.__cause__ is errors[-1]
    assert [s.calls for s in sources] == [2, 2, 2]
    assert all(all(s.closed) for s in sources)


async def test_fatal_errors_do_not_fall_back() -> None:
    """A fatal failure (INVALID_STREAM) is raised at once; the fallback is never called."""
    fallback = Script(["fb"])
    stream = l0.run(Script(["a", 42]), fallbacks=[fallback])
    with pytest.raises(l0.InvalidStream):
        await stream.read()
    assert fallback.calls == 0


# -- zero output -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("script", "expected_types"),
    [
        ([], [l0.ErrorEvent, l0.Token, l0.Complete]),
        ([" ", "\n\t"], [l0.Token, l0.Token, l0.ErrorEvent, l0.Reset, l0.Token, l0.Complete]),
        ([l0.Progress(percent=1.0)], [l0.Progress, l0.ErrorEvent, l0.Token, l0.Complete]),
    ],
    ids=["nothing", "whitespace", "progress-only"],
)
async def test_zero_output_is_retried(
    script: Sequence[Any], expected_types: list[type[l0.StreamEvent]]
) -> None:
    """A source yielding nothing (or only whitespace / progress) fails with ZERO_OUTPUT, retried."""
    src = Script(script, ["ok"])
    stream = l0.run(src)
    events = await collect(stream)
    assert [type(e) for e in events] == expected_types
    error_event = next(e for e in events if isinstance(e, l0.ErrorEvent))
    assert isinstance(error_event.error, l0.ZeroOutput)
    assert error_event.error.code == ErrorCode.ZERO_OUTPUT
    assert error_event.will_retry is True
    assert stream.state.content == "ok"
    assert src.calls == 2


async def test_whitespace_then_text_is_output() -> None:
    """Leading whitespace followed by text is real output (no ZERO_OUTPUT)."""
    src = Script(["  ", "hi"])
    assert await l0.run(src).read() == "  hi"
    assert src.calls == 1


async def test_data_without_text_is_output() -> None:
    """A source yielding only a Data event has produced output and completes."""
    data = l0.Data(payload=b"\x89PNG", mime_type="image/png")
    src = Script([data])
    stream = l0.run(src)
    events = await collect(stream)
    assert [type(e) for e in events] == [l0.Data, l0.Complete]
    assert stream.state.data == [data]
    assert src.calls == 1


# -- truncation --------------------------------------------------------------------------------


class FinishRequired(l0.adapters.Adapter):
    """An adapter for a provider whose streams must end with a Finish chunk."""

    name = "test-finish-required"
    requires_finish = True


async def test_missing_finish_chunk_is_truncation_and_retried() -> None:
    """With requires_finish, a source ending without Finish fails with STREAM_TRUNCATED."""
    src = Script(["cut ", "off"], ["whole", l0.adapters.Finish(reason="stop")])
    stream = l0.run(src, adapter=FinishRequired())
    events = await collect(stream)
    assert [type(e) for e in events] == [
        l0.Token,
        l0.Token,
        l0.ErrorEvent,
        l0.Reset,
        l0.Token,
        l0.Complete,
    ]
    error = events[2].error  # type: ignore[attr-defined]
    assert isinstance(error, l0.StreamTruncated)
    assert error.code == ErrorCode.STREAM_TRUNCATED
    assert stream.state.content == "whole"
    assert stream.state.finish_reason == "stop"
    assert src.calls == 2


async def test_finish_chunk_completes_the_stream() -> None:
    """With requires_finish, a Finish chunk at the end completes the stream (its reason kept)."""
    src = Script(["all ", "there", l0.adapters.Finish(reason="length")])
    stream = l0.run(src, adapter=FinishRequired())
    assert await stream.read() == "all there"
    assert stream.state.finish_reason == "length"
    assert src.calls == 1


async def test_truncation_is_not_checked_without_requires_finish() -> None:
    """The built-in adapters do not require a Finish chunk."""
    src = Script(["no ", "finish"])
    assert await l0.run(src).read() == "no finish"
    assert src.calls == 1


# -- in-band error events ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "error_item",
    [
        lambda: l0.ErrorEvent(error=l0.SourceError("boom"), will_retry=False, will_fallback=False),
        lambda: {"type": "error", "error": "boom"},
    ],
    ids=["ErrorEvent", "error-dict"],
)
async def test_error_event_from_the_source_fails_the_attempt(error_item: Any) -> None:
    """An error event yielded by the source fails the attempt, which is retried."""
    src = Script(["a", error_item(), "after"], ["ok"])
    stream = l0.run(src)
    events = await collect(stream)
    assert [type(e) for e in events] == [
        l0.Token,
        l0.ErrorEvent,
        l0.Reset,
        l0.Token,
        l0.Complete,
    ]
    error_event = events[1]
    assert isinstance(error_event, l0.ErrorEvent)
    assert error_event.will_retry is True
    # The source's own L0Error keeps its message; an error dict's text is the detail.
    assert "boom" in (error_event.error.detail or error_event.error.message)
    assert stream.state.content == "ok"
    assert src.calls == 2
    assert src.closed == [True, True]
