"""race: the first candidate with valid content wins; losers are cancelled and closed first."""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx
import pytest

import l0
from l0._multi import CandidateOutcome, ContentRejected, RaceResult, race
from l0.testing import FakeServer
from l0.testing import Script as ServerScript
from l0.testing import SlowHeaders as ServerSlowHeaders
from l0.testing import Stall as ServerStall
from tests._sources import Raise, Script, Stall, assert_slept, boom, paced


def running_tasks() -> set[int]:
    """Ids of the tasks alive in the event loop now."""
    return {task.id for task in anyio.get_running_tasks()}


def statuses(result: RaceResult) -> list[str]:
    return [o.status for o in result.outcomes]


# -- who wins -----------------------------------------------------------------------------------


@pytest.mark.timing
async def test_first_to_complete_wins_and_losers_are_closed_before_return(
    anyio_backend: Any,
) -> None:
    """The faster candidate wins; the slow one is cancelled and its source closed by return."""
    slow = Script([Stall(10), "slow answer"])
    fast = Script(paced("fast", " answer"))
    start = anyio.current_time()
    result = await race([slow, fast], retry=None)
    elapsed = anyio.current_time() - start
    # Checked before anything else runs: race itself closed the loser.
    assert slow.started == [True]
    assert slow.closed == [True]
    assert fast.closed == [True]
    assert result.index == 1
    assert result.text == "fast answer"
    assert await result.read() == "fast answer"
    assert statuses(result) == ["cancelled", "won"]
    assert result.winner.state is not None
    assert result.winner.state.completed is True
    assert [o.index for o in result.losers] == [0]
    assert elapsed < 1
    assert_slept(anyio_backend, elapsed, 0.0)


async def test_failed_candidate_does_not_win() -> None:
    """A candidate that fails first is recorded as failed; the one that completes wins."""
    broken = Script([Raise(boom)])
    good = Script(paced("ok", Stall(0.01), "!"))
    result = await race([broken, good], retry=None)
    assert result.index == 1
    assert result.text == "ok!"
    assert statuses(result) == ["failed", "won"]
    error = result.outcomes[0].error
    assert isinstance(error, l0.L0Error)
    assert broken.closed == [True]


async def test_every_candidate_failing_raises_all_streams_exhausted_with_each_error() -> None:
    """No winner: one AllStreamsExhausted (not an exception group) with every error, in order."""
    first = Script([Raise(lambda: RuntimeError("first"))])
    second = Script([Stall(0.01), Raise(lambda: RuntimeError("second"))])
    with pytest.raises(l0.AllStreamsExhausted) as info:
        await race([first, second], retry=None)
    errors = info.value.errors
    assert len(errors) == 2
    assert "first" in (errors[0].detail or "")
    assert "second" in (errors[1].detail or "")
    assert first.all_closed
    assert second.all_closed


async def test_each_candidate_keeps_its_own_retries(zero_backoff: None) -> None:
    """Factories go through l0.run with the shared options: a glitch is retried in place."""
    flaky = Script([Raise(boom)], ["recovered"])
    result = await race([flaky], retry=l0.Retry(attempts=2))
    assert result.text == "recovered"
    assert flaky.calls == 2
    assert result.state.model_retry_count + result.state.network_retry_count == 1


async def test_validate_rejects_a_finished_candidate() -> None:
    """With validate, a candidate that finishes first but fails the predicate is 'rejected'."""
    wrong = Script(["nonsense"])
    right = Script(paced("the", Stall(0.01), " answer: 42"))
    result = await race([wrong, right], validate=lambda text: "42" in text, retry=None)
    assert result.index == 1
    assert statuses(result) == ["rejected", "won"]
    error = result.outcomes[0].error
    assert isinstance(error, ContentRejected)
    assert error.text == "nonsense"


async def test_validate_rejecting_everyone_raises() -> None:
    """If every candidate is rejected, that is AllStreamsExhausted with ContentRejected errors."""
    with pytest.raises(l0.AllStreamsExhausted) as info:
        await race([Script(["a"]), Script(["b"])], validate=lambda _: False, retry=None)
    assert all(isinstance(e, ContentRejected) for e in info.value.errors)


async def test_a_crashing_validate_propagates_unwrapped_and_closes_all() -> None:
    """A bug in the predicate is raised as itself (no ExceptionGroup); every source is closed."""
    other = Script([Stall(10), "x"])

    def predicate(text: str) -> bool:
        raise ValueError("bad predicate")

    with pytest.raises(ValueError, match="bad predicate"):
        await race([Script([Stall(0.01), "a"]), other], validate=predicate, retry=None)
    assert other.closed == [True]


async def test_prebuilt_streams_are_candidates() -> None:
    """Already-built l0.Streams race with their own options."""
    a = Script([Stall(10), "late"])
    b = Script([Stall(0.01), "early"])
    result = await race([l0.run(a, retry=None), l0.run(b, retry=None)])
    assert result.index == 1
    assert a.closed == [True]


async def test_every_loser_stream_is_closed_even_one_that_never_started() -> None:
    """After race, the losers' streams are closed: using one raises StreamClosed."""
    hedged = l0.run(Script(["never asked"]))
    result = await race([l0.run(Script(["early"])), hedged], hedge=1)
    assert statuses(result) == ["won", "not_started"]
    assert hedged.done
    with pytest.raises(l0.StreamClosed):
        await hedged.read()
    slow = l0.run(Script([Stall(10), "late"]))
    result = await race([slow, l0.run(Script([Stall(0.01), "early"]))])
    assert statuses(result) == ["cancelled", "won"]
    assert slow.done
    with pytest.raises(l0.StreamClosed):
        await slow.read()


async def test_race_of_one() -> None:
    """A single candidate simply runs."""
    result = await race([Script(["solo"])])
    assert (result.index, result.text, statuses(result)) == (0, "solo", ["won"])


async def test_events_of_the_winner_replay_in_order(zero_backoff: None) -> None:
    """Iterating the result gives the winner's events, retries and Reset included."""
    src = Script(["partial", Raise(boom)], ["done"])
    result = await race([src], retry=l0.Retry(attempts=2))
    kinds = [type(e).__name__ async for e in result]
    assert kinds == ["Token", "ErrorEvent", "Reset", "Token", "Complete"]
    # Iterating again replays the same events (the stream itself is closed).
    assert [type(e).__name__ async for e in result] == kinds


# -- live winner ("first_token") ------------------------------------------------------------------


@pytest.mark.timing
async def test_first_token_mode_returns_a_live_winner(anyio_backend: Any) -> None:
    """The first candidate to produce a token wins at once and is streamed on by the caller."""
    slow = Script([Stall(10), "slow"])
    fast = Script([Stall(0.01), "Hel", Stall(0.2), "lo", Stall(0.2), "!"])
    start = anyio.current_time()
    result = await race([slow, fast], require="first_token", retry=None)
    assert_slept(anyio_backend, anyio.current_time() - start, 0.01)
    assert result.index == 1
    assert slow.closed == [True]  # the loser: closed before race returned
    assert fast.closed == [False]  # the winner: live
    assert result.text == "Hel"
    async with result:
        tokens = [e.text async for e in result if e.is_token]
    assert tokens == ["Hel", "lo", "!"]
    assert result.text == "Hello!"
    assert fast.closed == [True]
    assert_slept(anyio_backend, anyio.current_time() - start, 0.41)


async def test_live_winner_closed_early_closes_its_source() -> None:
    """Closing a live winner without reading it closes its source (the caller owns it)."""
    fast = Script(["a", Stall(10), "b"])
    result = await race([fast], require="first_token", retry=None)
    assert fast.closed == [False]
    await result.aclose()
    assert fast.closed == [True]


async def test_live_winner_read_gives_the_whole_text() -> None:
    """read() on a live winner waits for its end and returns all of it."""
    result = await race([Script(paced("one", " two", " three"))], require="first_token")
    assert result.text == "one"
    assert await result.read() == "one two three"
    await result.aclose()


async def test_first_token_mode_with_validate_waits_for_passing_text() -> None:
    """With validate, the live winner is the first whose text so far passes the predicate."""
    chatty = Script(paced("um", " well", Stall(0.05), " READY", Stall(10), "."))
    terse = Script([Stall(0.02), "READY", Stall(10), "."])
    result = await race(
        [chatty, terse], require="first_token", validate=lambda t: "READY" in t, retry=None
    )
    try:
        assert result.index == 1
        assert result.text == "READY"
        assert chatty.closed == [True]
    finally:
        await result.aclose()
    assert terse.closed == [True]


async def test_live_validate_costs_linear_time_not_one_check_per_token() -> None:
    """The text so far is re-checked only when it has doubled: ~log2(n) checks, not n."""
    tokens = ["word "] * 4000 + ["READY"]
    seen: list[int] = []

    def ready(text: str) -> bool:
        seen.append(len(text))
        return "READY" in text

    result = await race([Script(tokens)], require="first_token", validate=ready, retry=None)
    async with result:
        assert result.text.endswith("READY")
    # First token, then at least double the length each time, then the end of the stream.
    assert len(seen) <= (4000).bit_length() + 3
    assert seen[0] == 5
    assert all(b >= 2 * a for a, b in itertools.pairwise(seen[:-1]))
    assert sum(seen) <= 4 * len(result.text)


async def test_live_validate_decides_on_a_later_check_not_only_at_the_end() -> None:
    """A candidate whose text passes mid-stream wins live, before its source ends."""
    tokens = paced(*(["x"] * 10), "READY", *(["y"] * 5), Stall(3600), "end")
    result = await race(
        [Script(tokens)], require="first_token", validate=lambda t: "READY" in t, retry=None
    )
    async with result:
        assert "READY" in result.text
        assert result.state.completed is False  # still streaming: decided live


@pytest.mark.timing
async def test_live_validate_checks_a_new_attempt_from_its_first_token(
    anyio_backend: Any, zero_backoff: None
) -> None:
    """After a retry (Reset), the new attempt's text is checked at once, not at the old mark."""
    source = Script(
        paced(*(["no "] * 50), Raise(boom)),
        ["ok", Stall(10), " rest"],
    )
    start = anyio.current_time()
    result = await race([source], require="first_token", validate=lambda t: t.startswith("ok"))
    async with result:
        assert result.text == "ok"
        assert anyio.current_time() - start < 5  # not at the end of the 10 s stall
    assert source.calls == 2


# -- hedging ------------------------------------------------------------------------------------


@pytest.mark.timing
async def test_hedge_starts_the_next_candidate_only_after_the_delay(anyio_backend: Any) -> None:
    """With hedge=0.2 the second candidate starts 0.2 s after the first (no token yet)."""
    primary = Script([Stall(10), "slow"])
    backup = Script(["fast"])
    start = anyio.current_time()
    result = await race([primary, backup], hedge=0.2, retry=None)
    assert result.index == 1
    assert_slept(anyio_backend, primary.call_times[0] - start, 0.0)
    assert_slept(anyio_backend, backup.call_times[0] - start, 0.2)
    assert primary.closed == [True]
    assert result.outcomes[0].status == "cancelled"


@pytest.mark.timing
async def test_hedge_is_not_used_when_the_first_token_comes_in_time(anyio_backend: Any) -> None:
    """A primary that streams within the hedge delay runs alone; the backup never starts."""
    primary = Script(paced("quick", Stall(0.3), " and complete"))
    backup = Script(["backup"])
    result = await race([primary, backup], hedge=0.1, retry=None)
    assert result.index == 0
    assert result.text == "quick and complete"
    assert backup.calls == 0
    assert statuses(result) == ["won", "not_started"]
    assert result.outcomes[1].started_at is None


@pytest.mark.timing
async def test_hedge_starts_the_next_at_once_when_the_running_one_fails(
    anyio_backend: Any,
) -> None:
    """No need to wait out the hedge delay when every running candidate has failed."""
    primary = Script([Stall(0.05), Raise(boom)])
    backup = Script(["backup"])
    start = anyio.current_time()
    result = await race([primary, backup], hedge=5, retry=None)
    assert result.index == 1
    assert_slept(anyio_backend, backup.call_times[0] - start, 0.05)


@pytest.mark.timing
async def test_hedge_chain_staggers_each_start(anyio_backend: Any) -> None:
    """Three slow candidates start hedge seconds apart; the third, fastest, wins."""
    a = Script([Stall(10), "a"])
    b = Script([Stall(10), "b"])
    c = Script([Stall(0.01), "c"])
    start = anyio.current_time()
    result = await race([a, b, c], hedge=0.1, retry=None)
    assert result.index == 2
    offsets = [s.call_times[0] - start for s in (a, b, c)]
    for offset, expected in zip(offsets, [0.0, 0.1, 0.2], strict=True):
        assert_slept(anyio_backend, offset, expected)
    assert a.closed == [True]
    assert b.closed == [True]


@pytest.mark.timing
async def test_hedge_waits_while_a_started_candidate_streams_then_hedges_on_failure(
    anyio_backend: Any,
) -> None:
    """A primary that streams and then fails mid-way lets the backup start when it fails."""
    primary = Script(paced("par", Stall(0.3), Raise(boom)))
    backup = Script(["whole"])
    start = anyio.current_time()
    result = await race([primary, backup], hedge=0.1, retry=None)
    assert result.index == 1
    assert_slept(anyio_backend, backup.call_times[0] - start, 0.3)


# -- cancellation and leaks ---------------------------------------------------------------------


@pytest.mark.timing
async def test_cancelling_the_caller_closes_every_candidate(anyio_backend: Any) -> None:
    """A caller cancelled mid-race leaves no source open and no task running."""
    before = running_tasks()
    sources = [Script([Stall(10), "x"]) for _ in range(3)]
    with anyio.move_on_after(0.1) as scope:
        await race(sources, retry=None)
    assert scope.cancelled_caught
    assert all(s.closed == [True] for s in sources)
    assert running_tasks() == before


@pytest.mark.timing
async def test_cancelling_a_hedged_race_closes_started_and_skips_the_rest(
    anyio_backend: Any,
) -> None:
    """Cancelled before the hedge fires: the first is closed, the second never called."""
    a = Script([Stall(10), "a"])
    b = Script(["b"])
    with anyio.move_on_after(0.05):
        await race([a, b], hedge=1, retry=None)
    assert a.closed == [True]
    assert b.calls == 0


async def test_no_task_is_left_running_after_race() -> None:
    """After race returns (or raises), nothing it started is still alive."""
    before = running_tasks()
    await race([Script([Stall(10), "x"]), Script(["y"])], retry=None)
    assert running_tasks() == before
    with pytest.raises(l0.AllStreamsExhausted):
        await race([Script([Raise(boom)]), Script([Raise(boom)])], retry=None)
    assert running_tasks() == before
    result = await race([Script(["a", Stall(10), "b"])], require="first_token")
    assert running_tasks() == before
    await result.aclose()


async def test_losers_partial_output_is_reported() -> None:
    """A cancelled loser's outcome carries the text it had produced so far."""
    loser = Script(paced("half", " way", Stall(10), " there"))
    winner = Script([Stall(0.05), "done"])
    result = await race([loser, winner], retry=None)
    outcome: CandidateOutcome = result.outcomes[0]
    assert outcome.status == "cancelled"
    assert outcome.text == "half way"
    assert outcome.first_token_at is not None
    assert outcome.duration is not None


# -- bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"hedge": -1}, "hedge"),
        ({"hedge": float("nan")}, "hedge"),
        ({"hedge": True}, "hedge"),
        ({"require": "fastest"}, "require"),
        ({"validate": "yes"}, "validate"),
    ],
)
async def test_bad_options_are_config_errors(kwargs: dict[str, Any], message: str) -> None:
    """Invalid race options raise ConfigError before anything starts."""
    src = Script(["x"])
    with pytest.raises(l0.ConfigError, match=message):
        await race([src], **kwargs)
    assert src.calls == 0


async def test_bad_candidates_are_config_errors() -> None:
    """An empty list or a candidate that is not a stream or factory is a ConfigError."""
    with pytest.raises(l0.ConfigError, match="at least one"):
        await race([])
    with pytest.raises(l0.ConfigError, match="candidate 1"):
        await race([Script(["x"]), 42])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="retries"):
        await race([Script(["x"])], retries=3)  # type: ignore[call-arg]


async def test_a_closed_stream_candidate_fails_without_stopping_the_race() -> None:
    """A candidate stream that was already closed is a failed candidate, not a crash."""
    closed = l0.run(Script(["never"]))
    await closed.aclose()
    result = await race([closed, Script(["fine"])])
    assert statuses(result) == ["failed", "won"]
    assert isinstance(result.outcomes[0].error, l0.StreamClosed)


# -- against the fault server ------------------------------------------------------------------


def sse_chat(base_url: str, model: str) -> Any:
    """A factory streaming the text deltas of an OpenAI-style SSE chat completion (httpx)."""

    async def stream() -> AsyncIterator[str]:
        body = {"model": model, "messages": [{"role": "user", "content": "hi"}], "stream": True}
        async with (
            httpx.AsyncClient(base_url=base_url) as client,
            client.stream("POST", "/chat/completions", json=body) as response,
        ):
            async for line in response.aiter_lines():
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                delta = json.loads(line[6:])["choices"][0]["delta"].get("content")
                if delta:
                    yield delta  # noqa: ASYNC119 - a provider-like source; l0 closes it

    return stream


async def test_race_against_the_fault_server_slow_primary_fast_fallback() -> None:
    """Over real HTTP: the stalled primary loses and its connection is closed by the client."""
    async with FakeServer() as server:
        server.register("slow", ServerScript(text="too late", faults=[ServerStall(seconds=3600)]))
        server.register("fast", ServerScript(text="right on time"))
        result = await race(
            [sse_chat(server.base_url, "slow"), sse_chat(server.base_url, "fast")], retry=None
        )
        assert result.index == 1
        assert result.text == "right on time"
        assert statuses(result) == ["cancelled", "won"]
        with anyio.fail_after(10):
            await server.wait_idle()
        slow = [
            c for c in server.connections if server.requests[c.requests[0]].json["model"] == "slow"
        ]
        assert len(slow) == 1
        assert slow[0].closed_by == "client"
        assert slow[0].abandoned is True


async def test_hedged_race_against_the_fault_server_slow_first_byte() -> None:
    """Hedged, over real HTTP: the primary's headers never come; the backup starts after the
    hedge delay, wins live, and the primary's connection is closed before race returns."""
    async with FakeServer() as server:
        server.register(
            "slow", ServerScript(text="too late", faults=[ServerSlowHeaders(seconds=3600)])
        )
        server.register("fast", ServerScript(text=["right ", "on ", "time"]))
        start = anyio.current_time()
        result = await race(
            [sse_chat(server.base_url, "slow"), sse_chat(server.base_url, "fast")],
            hedge=0.2,
            require="first_token",
            retry=None,
        )
        async with result:
            assert result.index == 1
            assert anyio.current_time() - start >= 0.2
            assert await result.read() == "right on time"
        assert statuses(result) == ["cancelled", "won"]
        with anyio.fail_after(10):
            await server.wait_idle()
        by_model = {server.requests[c.requests[0]].json["model"]: c for c in server.connections}
        assert by_model["slow"].closed_by == "client"
        assert by_model["fast"].closed_by is not None
