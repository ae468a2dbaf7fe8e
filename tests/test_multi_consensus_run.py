"""consensus(): CONSENSUS_* events, schemas (structured outputs), presets, fast similarity."""

from __future__ import annotations

import json
from typing import Any

import anyio
import msgspec
import pytest

import l0
import l0.events
from l0._multi import (
    ConsensusAnalysis,
    ConsensusEnd,
    ConsensusEvent,
    ConsensusEventType,
    ConsensusFailed,
    ConsensusOutputCollected,
    ConsensusResolution,
    ConsensusStart,
    ConsensusStreamEnd,
    ConsensusStreamStart,
    _compare,
    consensus,
    levenshtein_ratio,
)
from tests._sources import Raise, Script, Stall, boom


def consensus_events(events: list[Any]) -> list[ConsensusEvent]:
    return [e for e in events if isinstance(e, ConsensusEvent)]


def tags(events: list[ConsensusEvent]) -> list[str]:
    return [e.event_type.value for e in events]


# -- events ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_a_successful_run_reports_every_consensus_event_in_order(kind: str) -> None:
    """START, per task STREAM_START/STREAM_END/OUTPUT_COLLECTED, ANALYSIS, RESOLUTION, END;
    one stream id of their own, the context on each; the streams' events come too."""
    events: list[Any] = []

    async def async_sink(event: Any) -> None:
        await anyio.lowlevel.checkpoint()
        events.append(event)

    sink = events.append if kind == "sync" else async_sink
    result = await consensus(
        [Script(["Paris"]), Script(["paris"]), Script(["Lyon"])],
        on_event=sink,
        context={"request": "r-1"},
        retry=None,
    )
    ours = consensus_events(events)
    names = tags(ours)
    assert names[0] == "CONSENSUS_START"
    assert names[-3:] == ["CONSENSUS_ANALYSIS", "CONSENSUS_RESOLUTION", "CONSENSUS_END"]
    for i in range(3):
        per_task = [
            e.event_type.value
            for e in ours
            if isinstance(e, (ConsensusStreamStart, ConsensusStreamEnd, ConsensusOutputCollected))
            and e.stream_index == i
        ]
        assert per_task == [
            "CONSENSUS_STREAM_START",
            "CONSENSUS_STREAM_END",
            "CONSENSUS_OUTPUT_COLLECTED",
        ]
    assert len({e.stream_id for e in ours}) == 1
    stream_ids = {e.stream_id for e in events if not isinstance(e, ConsensusEvent)}
    assert len(stream_ids) == 3  # the three streams' own events, each with its own id
    assert ours[0].stream_id not in stream_ids
    assert all(e.context == {"request": "r-1"} for e in ours)
    if kind == "sync":  # async sinks of concurrent tasks may finish out of order
        assert [e.ts for e in ours] == sorted(e.ts for e in ours)

    start = ours[0]
    assert isinstance(start, ConsensusStart)
    assert (start.task_count, start.strategy, start.threshold) == (3, "majority", 0.8)
    analysis = next(e for e in ours if isinstance(e, ConsensusAnalysis))
    assert analysis.agreement_ratio == pytest.approx(2 / 3)
    assert (analysis.unique_results, analysis.total_results) == (2, 3)
    assert analysis.similarity_matrix == [list(row) for row in result.similarity]
    resolution = next(e for e in ours if isinstance(e, ConsensusResolution))
    assert (resolution.method, resolution.index) == ("consensus", result.index)
    end = ours[-1]
    assert isinstance(end, ConsensusEnd)
    assert end.status == "success"
    assert end.confidence == pytest.approx(2 / 3)
    assert end.duration_ms >= 0


async def test_events_of_a_failed_task_and_a_failed_consensus() -> None:
    """A failed task's STREAM_END says error (and why); no consensus: END failed, then the
    ConsensusFailed error."""
    events: list[Any] = []
    with pytest.raises(ConsensusFailed):
        await consensus(
            [Script(["yes"]), Script([Raise(boom)]), Script(["no"])],
            on_event=events.append,
            retry=None,
        )
    ours = consensus_events(events)
    ends = {e.stream_index: e for e in ours if isinstance(e, ConsensusStreamEnd)}
    assert ends[1].status == "error"
    assert ends[1].error is not None
    assert "RuntimeError" in ends[1].error
    assert "boom" not in ends[1].error  # no content in telemetry
    assert ends[0].status == "success"
    assert tags(ours)[-2:] == ["CONSENSUS_ANALYSIS", "CONSENSUS_END"]
    end = ours[-1]
    assert isinstance(end, ConsensusEnd)
    assert end.status == "failed"
    assert end.error is not None


async def test_a_resolved_conflict_ends_partial() -> None:
    """resolve_conflicts="vote" without a majority: RESOLUTION says vote, END partial."""
    events: list[Any] = []
    await consensus(
        [Script(["a"]), Script(["b"]), Script(["c"])],
        resolve_conflicts="vote",
        on_event=events.append,
        retry=None,
    )
    ours = consensus_events(events)
    resolution = next(e for e in ours if isinstance(e, ConsensusResolution))
    end = ours[-1]
    assert resolution.method == "vote"
    assert isinstance(end, ConsensusEnd)
    assert end.status == "partial"


@pytest.mark.timing
async def test_a_cancelled_run_ends_its_events_and_the_cancellation_goes_on(
    anyio_backend: Any,
) -> None:
    """Cancelled: each running task gets STREAM_END cancelled, then END cancelled."""
    events: list[Any] = []
    with anyio.move_on_after(0.1) as scope:
        await consensus(
            [Script([Stall(10), "x"]) for _ in range(2)], on_event=events.append, retry=None
        )
    assert scope.cancelled_caught
    ours = consensus_events(events)
    assert tags(ours) == [
        "CONSENSUS_START",
        "CONSENSUS_STREAM_START",
        "CONSENSUS_STREAM_START",
        "CONSENSUS_STREAM_END",
        "CONSENSUS_STREAM_END",
        "CONSENSUS_END",
    ]
    assert {e.status for e in ours if isinstance(e, (ConsensusStreamEnd, ConsensusEnd))} == {
        "cancelled"
    }


async def test_the_session_on_event_receives_them_and_nothing_is_built_without_one() -> None:
    """With session=..., the session's on_event gets them; without any listener, none."""
    events: list[Any] = []
    async with l0.session(on_event=events.append, retry=None) as s:
        await consensus([Script(["x"]), Script(["x"])], session=s)
    assert tags(consensus_events(events))[0] == "CONSENSUS_START"
    result = await consensus([Script(["x"]), Script(["x"])], retry=None)
    assert result.output == "x"


async def test_consensus_events_are_observability_events_on_the_wire() -> None:
    """camelCase fields and the type tag through l0.events.encode_event; sinks accept them."""
    events: list[Any] = []
    await consensus([Script(["x"]), Script(["x"])], on_event=events.append, retry=None)
    ours = consensus_events(events)
    assert all(isinstance(e, l0.events.ObservabilityEvent) for e in ours)
    end = next(e for e in ours if isinstance(e, ConsensusStreamEnd))
    wire = json.loads(l0.events.encode_event(end))
    assert wire["type"] == "CONSENSUS_STREAM_END"
    assert {"streamId", "streamIndex", "durationMs", "status", "ts"} <= wire.keys()
    assert end.event_type is ConsensusEventType.CONSENSUS_STREAM_END
    assert msgspec.json.decode(l0.events.encode_event(end), type=ConsensusStreamEnd) == end


# -- schema ---------------------------------------------------------------------------------------


class City(msgspec.Struct):
    name: str
    population: int
    country: str = "FR"


async def test_schema_validates_each_output_and_types_the_value() -> None:
    """Outputs are healed, parsed and validated; one that does not match casts no vote;
    result.value is a City."""
    events: list[Any] = []
    result = await consensus(
        [
            Script(['```json\n{"name": "Paris", "population": 2100000}\n```']),
            Script(['{"name": "Paris", "population": 2100000']),  # cut off: healed
            Script(['{"name": "Paris", "population": "many"}']),  # wrong type
            Script(["I think it is Paris."]),  # not JSON
        ],
        schema=City,
        minimum_agreement=0.5,
        on_event=events.append,
        retry=None,
    )
    assert result.value == City(name="Paris", population=2_100_000)
    assert result.structured
    assert result.outputs[2:] == (None, None)
    assert isinstance(result.errors[2], l0.L0Error)
    assert isinstance(result.errors[3], l0.L0Error)
    assert result.agreement == pytest.approx(0.5)
    collected = {
        e.stream_index: e.has_errors
        for e in consensus_events(events)
        if isinstance(e, ConsensusOutputCollected)
    }
    assert collected == {0: False, 1: False, 2: True, 3: True}


async def test_schema_merge_builds_a_typed_value_field_by_field() -> None:
    """lenient (merge): no two outputs agree on everything, but each field has a majority."""
    outputs = [
        {"name": "Paris", "population": 2_100_000, "country": "FR"},
        {"name": "Paris", "population": 2_200_000, "country": "FR"},
        {"name": "Lyon", "population": 2_100_000, "country": "FR"},
    ]
    result = await consensus(
        [Script([json.dumps(o)]) for o in outputs],
        schema=City,
        threshold=1.0,
        resolve_conflicts="merge",
        retry=None,
    )
    assert result.resolution == "merge"
    assert result.value == City(name="Paris", population=2_100_000, country="FR")
    assert {f.path: round(f.agreement, 2) for f in result.fields}["population"] == 0.67


async def test_schema_with_no_valid_output_raises_all_streams_exhausted() -> None:
    """Every output fails the schema: AllStreamsExhausted with each validation error."""
    with pytest.raises(l0.AllStreamsExhausted) as info:
        await consensus([Script(["nope"]), Script(['{"name": 1}'])], schema=City, retry=None)
    assert len(info.value.errors) == 2


async def test_schema_accepts_objects_from_async_callables() -> None:
    """A task returning a Struct (not text) is converted and validated too."""

    async def answer() -> City:
        return City(name="Lyon", population=500_000)

    result = await consensus([answer, answer], schema=City, strategy="unanimous")
    assert result.value == City(name="Lyon", population=500_000)


# -- presets --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("preset", "outputs", "expected"),
    [
        ("strict", ["Paris", "paris"], ("consensus", "Paris")),
        ("standard", ["a", "b", "c"], ("vote", "a")),
        ("lenient", ["yes", "yes", "no", "no"], ("consensus", "yes")),
        ("best", ["the cat sat", "the cat sat down", "a dog"], ("consensus", "the cat sat")),
    ],
)
async def test_presets(preset: Any, outputs: list[str], expected: tuple[str, str]) -> None:
    """Each preset decides as its settings say."""
    result = await consensus([Script([o]) for o in outputs], preset=preset, retry=None)
    assert (result.resolution, result.output) == expected


async def test_strict_fails_on_any_difference_and_explicit_arguments_override_a_preset() -> None:
    """strict is unanimous with threshold 1.0; a given argument wins over the preset's."""
    sources = [Script(["the answer is 4"]), Script(["the answer is 4."]), Script(["it is 4"])]
    with pytest.raises(ConsensusFailed):
        await consensus(sources, preset="strict", retry=None)
    result = await consensus(
        [Script(["yes"]), Script(["yes"]), Script(["no"])],
        preset="strict",
        strategy="majority",
        retry=None,
    )
    assert result.output == "yes"
    assert result.strategy == "majority"


async def test_an_unknown_preset_is_a_config_error() -> None:
    """A preset name that does not exist is refused before anything runs."""
    source = Script(["x"])
    with pytest.raises(l0.ConfigError, match="preset"):
        await consensus([source], preset="loose")  # pyright: ignore[reportArgumentType]
    assert source.calls == 0


# -- similarity that scales -----------------------------------------------------------------------


def test_levenshtein_pure_python_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without rapidfuzz, the pure-Python edit distance gives the exact ratio."""
    monkeypatch.setattr(_compare, "_fast_ratio", None)
    assert levenshtein_ratio("kitten", "sitting") == pytest.approx(1 - 3 / 7)
    assert levenshtein_ratio("Same  Text", "same text") == 1.0
    assert levenshtein_ratio("abc", "") == 0.0


def test_levenshtein_uses_rapidfuzz_when_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    """With rapidfuzz, the fast path gives the same values as the fallback."""
    pytest.importorskip("rapidfuzz")
    monkeypatch.setattr(_compare, "_fast_ratio", _compare._UNSET)  # pyright: ignore[reportPrivateUsage]
    pairs = [("kitten", "sitting"), ("flaw", "lawn"), ("a" * 300, "a" * 299 + "b"), ("x", "")]
    fast = [levenshtein_ratio(a, b) for a, b in pairs]
    assert _compare._fast_ratio is not None  # pyright: ignore[reportPrivateUsage]
    monkeypatch.setattr(_compare, "_fast_ratio", None)
    assert fast == pytest.approx([levenshtein_ratio(a, b) for a, b in pairs])
