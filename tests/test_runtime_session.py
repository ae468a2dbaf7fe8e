"""Sessions: shared defaults, per-stream overrides, and the session's scope."""

from __future__ import annotations

from typing import Any

import pytest

import l0
from l0.events import EventType
from tests._sources import Raise, Recorder, Script, boom, paced

pytestmark = pytest.mark.usefixtures("zero_backoff")


async def test_session_defaults_apply_to_its_streams() -> None:
    """retry and on_event given to l0.session() apply to every s.run()."""
    seen: list[Any] = []
    src = Script([Raise(boom)], ["never"])
    async with l0.session(retry=None, on_event=seen.append, context={"tenant": "t"}) as s:
        stream = s.run(src)
        with pytest.raises(l0.AllStreamsExhausted):
            await stream.read()
    assert src.calls == 1
    assert seen
    assert {e.stream_id for e in seen} == {stream.stream_id}
    assert all(e.context == {"tenant": "t"} for e in seen)


async def test_stream_keywords_override_session_defaults_one_by_one() -> None:
    """A stream's own keywords replace the session's, one by one; the others are kept."""
    rec = Recorder()
    seen: list[Any] = []
    async with l0.session(
        retry=None, on_retry=rec.sync("session_on_retry"), on_event=seen.append
    ) as s:
        src = Script([Raise(boom)], ["ok"])
        stream = s.run(src, retry=l0.Retry(attempts=1), on_retry=rec.sync("stream_on_retry"))
        assert await stream.read() == "ok"
    assert src.calls == 2
    assert rec.names() == ["stream_on_retry"]
    assert rec.args("stream_on_retry") == [(2, "Stream error")]
    assert EventType.RETRY_ATTEMPT in [e.event_type for e in seen]


async def test_a_stream_sink_is_added_to_the_session_sink() -> None:
    """on_event is the exception to one-by-one merging: the session's sink still sees a stream
    that has its own (the session's monitoring sees all its streams); giving the same sink
    again does not double the events."""
    session_seen: list[Any] = []
    stream_seen: list[Any] = []
    async with l0.session(on_event=session_seen.append) as s:
        assert await s.run(Script(["a"]), on_event=stream_seen.append).read() == "a"
        first = len(session_seen)
        assert await s.run(Script(["b"]), on_event=session_seen.append).read() == "b"
    assert first > 0
    assert [e.event_type for e in session_seen[:first]] == [e.event_type for e in stream_seen]
    assert len(session_seen) == 2 * first


async def test_none_disables_a_session_default() -> None:
    """Passing None for a callback or retry in s.run() disables the session's default."""
    seen: list[Any] = []
    async with l0.session(on_event=seen.append, retry=l0.Retry(attempts=3)) as s:
        src = Script([Raise(boom)], ["ok"])
        with pytest.raises(l0.AllStreamsExhausted):
            await s.run(src, on_event=None, retry=None).read()
    assert seen == []
    assert src.calls == 1


async def test_session_streams_are_independent() -> None:
    """Streams of one session have their own ids and states."""
    async with l0.session() as s:
        one, two = s.run(Script(["1"])), s.run(Script(["2"]))
        assert (await one.read(), await two.read()) == ("1", "2")
    assert one.stream_id != two.stream_id
    assert one.state is not two.state


def test_session_run_outside_async_with_is_a_config_error() -> None:
    """s.run() before entering the session raises ConfigError."""
    s = l0.session()
    with pytest.raises(l0.ConfigError, match="async with"):
        s.run(Script(["a"]))


async def test_session_run_after_exit_is_a_config_error() -> None:
    """s.run() after leaving the session raises ConfigError."""
    async with l0.session() as s:
        pass
    with pytest.raises(l0.ConfigError):
        s.run(Script(["a"]))


async def test_session_cannot_be_entered_twice_at_once() -> None:
    """Entering a session that is already open raises ConfigError."""
    s = l0.session()
    async with s:
        with pytest.raises(l0.ConfigError):
            async with s:
                pass


async def test_session_exit_closes_unfinished_streams_not_finished_ones() -> None:
    """Leaving the session closes streams still open; finished ones keep their result."""
    running_src = Script(paced("a", "b", "c"))
    async with l0.session() as s:
        finished = s.run(Script(["done"]))
        assert await finished.read() == "done"
        running = s.run(running_src)
        async for _ in running:
            break
    assert running_src.closed == [True]
    assert finished.state.content == "done"
    assert finished.state.completed is True
    with pytest.raises(l0.StreamClosed):
        await running.read()
