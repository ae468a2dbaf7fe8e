"""consensus: similarity, grouping, the four strategies, conflicts, structured outputs."""

from __future__ import annotations

import json
from typing import Any

import anyio
import pytest

import l0
from l0._multi import (
    ConsensusFailed,
    consensus,
    jaccard_similarity,
    levenshtein_ratio,
    text_similarity,
)
from l0._multi._compare import merge_values, parse_json, value_similarity
from l0._multi._consensus import decide
from tests._sources import Raise, Script, Stall, boom

# -- similarity ---------------------------------------------------------------------------------


def test_text_similarity_ignores_case_and_whitespace() -> None:
    """Texts equal after normalisation are identical (1.0)."""
    assert text_similarity("The  answer\nis 42", "the answer is 42 ") == 1.0


def test_text_similarity_separates_different_answers() -> None:
    """One different word in a short answer drops well below the default threshold."""
    assert text_similarity("The answer is 42", "The answer is 43") == pytest.approx(0.55)
    assert text_similarity("Paris", "London") == 0.0
    assert text_similarity("Paris.", "paris") == 1.0  # punctuation is not a word


def test_text_similarity_sees_word_order() -> None:
    """Same words, different order: the bigrams differ, so it is not 1.0 (Jaccard alone is)."""
    a, b = "dog bites man", "man bites dog"
    assert jaccard_similarity(a, b) == 1.0
    assert text_similarity(a, b) == 0.5


def test_levenshtein_ratio() -> None:
    """Normalised edit distance, after normalisation."""
    assert levenshtein_ratio("kitten", "sitting") == pytest.approx(1 - 3 / 7)
    assert levenshtein_ratio("Hello", "hello ") == 1.0
    assert levenshtein_ratio("", "abc") == 0.0
    assert levenshtein_ratio("abc", "") == 0.0


def test_jaccard_of_empty_texts() -> None:
    """Two texts without words are the same; one empty and one not share nothing."""
    assert jaccard_similarity("", "...") == 1.0
    assert jaccard_similarity("", "word") == 0.0


def test_value_similarity_field_by_field() -> None:
    """Objects score the share of keys that agree; arrays by position; numbers by value."""
    a = {"name": "Ada", "age": 36, "langs": ["en", "fr"]}
    assert value_similarity(a, {"name": "ada", "age": 36.0, "langs": ["en", "fr"]}) == 1.0
    assert value_similarity(a, {"name": "Ada", "age": 37, "langs": ["en", "fr"]}) == pytest.approx(
        2 / 3
    )
    assert value_similarity(a, {"name": "Ada"}) == pytest.approx(1 / 3)
    assert value_similarity([1, 2], [1, 2, 3]) == pytest.approx(2 / 3)
    assert value_similarity(True, 1) == 0.0
    assert value_similarity(None, None) == 1.0
    assert value_similarity({}, {}) == 1.0
    assert value_similarity([], []) == 1.0


def test_parse_json_unwraps_fences_and_rejects_text() -> None:
    """JSON in a fenced block parses; prose does not."""
    assert parse_json('```json\n{"a": 1}\n```') == {"a": 1}
    assert parse_json(" [1, 2] ") == [1, 2]
    assert parse_json("The answer is 42.") is not parse_json("[]")
    assert parse_json("") is parse_json("not json")


def test_merge_values_field_by_field() -> None:
    """Each field takes its most-weighted value; keys held by a minority are dropped."""
    fields: dict[str, tuple[Any, float]] = {}
    merged = merge_values(
        [
            (1.0, {"a": 1, "b": {"c": "x"}, "only": True}),
            (1.0, {"a": 1, "b": {"c": "y"}}),
            (1.0, {"a": 2, "b": {"c": "y"}}),
        ],
        3.0,
        fields,
    )
    assert merged == {"a": 1, "b": {"c": "y"}}
    assert fields == {"a": (1, pytest.approx(2 / 3)), "b.c": ("y", pytest.approx(2 / 3))}


# -- strategies on crafted outputs -------------------------------------------------------------


def test_majority_picks_the_largest_group() -> None:
    """Two similar answers against one: the pair wins with 2/3 agreement."""
    result = decide(["Paris is the capital.", "paris is the capital", "It is Lyon."])
    assert result.consensus
    assert result.index == 0
    assert result.output == "Paris is the capital."
    assert result.agreement == pytest.approx(2 / 3)
    assert [g.members for g in result.groups] == [(0, 1), (2,)]
    assert [d.index for d in result.dissent] == [2]


def test_majority_without_a_majority_fails_with_the_details() -> None:
    """Three different answers: ConsensusFailed, with the result attached."""
    with pytest.raises(ConsensusFailed) as info:
        decide(["red", "green", "blue"])
    result = info.value.result
    assert result.consensus is False
    assert len(result.groups) == 3
    assert isinstance(info.value, l0.L0Error)


def test_unanimous_needs_everyone() -> None:
    """One dissenting output breaks unanimity; all agreeing reaches it."""
    with pytest.raises(ConsensusFailed):
        decide(["yes", "yes", "no"], strategy="unanimous")
    result = decide(["Yes", "yes", " YES"], strategy="unanimous")
    assert result.consensus
    assert result.agreement == 1.0
    assert result.dissent == ()


def test_unanimous_fails_if_a_task_failed() -> None:
    """A task without output is not a 'yes'."""
    with pytest.raises(ConsensusFailed):
        decide(["yes", None, "yes"], strategy="unanimous", errors=[None, RuntimeError("x"), None])


def test_a_failed_task_counts_against_the_majority() -> None:
    """Agreement is over all tasks: 2 of 4 agreeing (one failed) is not a majority."""
    with pytest.raises(ConsensusFailed):
        decide(["a b", "a b", None, "c d"])
    assert decide(["a b", "a b", None]).agreement == pytest.approx(2 / 3)


def test_weighted_lets_a_trusted_source_outvote_two() -> None:
    """Weights decide: one output with weight 3 beats two agreeing ones with weight 1."""
    outputs = ["blue", "green", "green"]
    assert decide(outputs).output == "green"
    result = decide(outputs, strategy="weighted", weights=[3, 1, 1])
    assert result.output == "blue"
    assert result.agreement == pytest.approx(3 / 5)


def test_minimum_agreement_raises_the_bar() -> None:
    """minimum_agreement=0.75: 2 of 3 is not enough."""
    with pytest.raises(ConsensusFailed):
        decide(["x", "x", "y"], minimum_agreement=0.75)
    assert decide(["x", "x", "x", "y"], minimum_agreement=0.75).consensus


def test_best_picks_by_score_not_by_position() -> None:
    """'best' chooses the output most similar to all others: the middle one, not the first."""
    outputs = [
        "the quick brown fox",
        "the quick brown fox jumps over the dog",
        "quick brown fox jumps over the lazy dog",
        "fox jumps over the lazy dog",
    ]
    result = decide(outputs, strategy="best")
    assert result.index == 2
    assert result.output == outputs[2]
    assert result.consensus  # 'best' always decides
    scores = [s or 0.0 for s in result.scores]
    assert scores.index(max(scores)) == 2
    assert scores[0] == min(scores)


def test_best_weighs_similarity_by_weights() -> None:
    """With weights, 'best' picks the output with the most weighted support."""
    outputs = ["alpha beta", "alpha beta gamma", "gamma delta"]
    assert decide(outputs, strategy="best").index == 1  # the bridge between the two
    assert decide(outputs, strategy="best", weights=[0, 1, 10]).index == 2
    assert decide(outputs, strategy="best", weights=[10, 1, 0]).index == 0
    result = decide(outputs, strategy="best", weights=[1, 1, 1])
    assert result.scores == decide(outputs, strategy="best").scores


def test_best_with_a_scorer() -> None:
    """A user scorer decides 'best'."""
    result = decide(["short", "the longest answer", "medium one"], strategy="best", scorer=len)
    assert result.index == 1
    assert result.scores == (5.0, 18.0, 10.0)


def test_threshold_controls_grouping() -> None:
    """A lower threshold groups near-identical answers that a strict one separates."""
    outputs = ["The answer is 42", "The answer is 43", "Nothing like it"]
    with pytest.raises(ConsensusFailed):
        decide(outputs, threshold=0.9)
    assert decide(outputs, threshold=0.5).groups[0].members == (0, 1)


def test_custom_similarity() -> None:
    """similarity= replaces the default comparison."""
    outputs = ["kitten", "sitten", "dog"]
    result = decide(outputs, similarity=levenshtein_ratio, threshold=0.8)
    assert result.groups[0].members == (0, 1)


@pytest.mark.parametrize(
    ("resolve", "output", "resolution"),
    [("vote", "a a", "vote"), ("best", "a a", "best"), ("merge", "a a", "vote")],
)
def test_resolving_text_conflicts(resolve: Any, output: str, resolution: str) -> None:
    """Without consensus, vote/best/merge still produce an output (merge of text = vote)."""
    result = decide(["a a", "a a", "b b", "c c", "d d"], resolve_conflicts=resolve)
    assert result.consensus is False
    assert result.output == output
    assert result.resolution == resolution


def test_structured_outputs_are_compared_field_by_field() -> None:
    """JSON outputs with the same fields in another order and spacing agree."""
    outputs = [
        '{"city": "Paris", "population": 2100000}',
        '```json\n{ "population": 2.1e6, "city": "paris" }\n```',
        '{"city": "Lyon", "population": 500000}',
    ]
    result = decide(outputs)
    assert result.structured
    assert result.groups[0].members == (0, 1)
    assert result.value == {"city": "Paris", "population": 2100000}
    assert {f.path: f.agreement for f in result.fields} == {
        "city": pytest.approx(2 / 3),
        "population": pytest.approx(2 / 3),
    }


def test_structured_conflicts_merge_field_by_field() -> None:
    """Each output differs somewhere, but every field has a majority: merge builds it."""
    outputs = [
        json.dumps({"name": "Ada", "year": 1815, "lang": "en"}),
        json.dumps({"name": "Ada", "year": 1816, "lang": "en"}),
        json.dumps({"name": "Ava", "year": 1815, "lang": "en"}),
    ]
    with pytest.raises(ConsensusFailed):
        decide(outputs, threshold=0.9)
    result = decide(outputs, threshold=0.9, resolve_conflicts="merge")
    assert result.resolution == "merge"
    assert result.index is None
    assert result.value == {"name": "Ada", "year": 1815, "lang": "en"}
    assert json.loads(result.output) == result.value


def test_mixed_json_and_text_is_compared_as_text() -> None:
    """If any output is not JSON, all are compared as text."""
    result = decide(['{"a": 1}', '{"a": 1}', "a is 1"])
    assert result.structured is False
    assert result.value is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"strategy": "plurality"}, "strategy"),
        ({"threshold": 1.5}, "threshold"),
        ({"threshold": -0.1}, "threshold"),
        ({"minimum_agreement": 0}, "minimum_agreement"),
        ({"resolve_conflicts": "coin"}, "resolve_conflicts"),
        ({"strategy": "weighted", "weights": [1, 1]}, "weights"),
        ({"strategy": "weighted", "weights": [1, -1, 1]}, "weights"),
        ({"strategy": "weighted", "weights": [0, 0, 0]}, "weights"),
        ({"strategy": "weighted", "weights": [1, float("inf"), 1]}, "weights"),
        ({"strategy": "weighted"}, "needs weights"),
        ({"strategy": "majority", "weights": [1, 2, 3]}, "weights apply"),
        ({"strategy": "unanimous", "minimum_agreement": 0.5}, "minimum_agreement"),
    ],
)
async def test_bad_options_are_config_errors(kwargs: dict[str, Any], message: str) -> None:
    """Bad options raise ConfigError before any task runs."""
    sources = [Script(["x"]) for _ in range(3)]
    with pytest.raises(l0.ConfigError, match=message):
        await consensus(sources, **kwargs)
    assert all(s.calls == 0 for s in sources)
    with pytest.raises(l0.ConfigError, match=message):
        decide(["x", "x", "x"], **kwargs)


# -- the async shell ----------------------------------------------------------------------------


async def test_consensus_runs_the_tasks_and_agrees() -> None:
    """Streams run concurrently; the majority answer wins; the run is attached."""
    result = await consensus([Script(["Paris"]), Script(["paris."]), Script(["Lyon"])], retry=None)
    assert result.output == "Paris"
    assert result.agreement == pytest.approx(2 / 3)
    assert result.run is not None
    assert result.run.telemetry.total_tokens == 3


async def test_consensus_of_async_callables_returning_objects() -> None:
    """Non-text results are compared as JSON, field by field."""

    async def answer(population: int) -> dict[str, Any]:
        await anyio.lowlevel.checkpoint()
        return {"city": "Paris", "population": population}

    result = await consensus(
        [lambda: answer(2_100_000), lambda: answer(2_100_000), lambda: answer(2_200_000)],
        threshold=1.0,
    )
    assert result.structured
    assert result.value == {"city": "Paris", "population": 2_100_000}


async def test_consensus_ignores_failed_tasks_in_the_vote() -> None:
    """A failing task casts no vote (but counts in the total)."""
    result = await consensus([Script(["yes"]), Script([Raise(boom)]), Script(["yes"])], retry=None)
    assert result.output == "yes"
    assert result.agreement == pytest.approx(2 / 3)
    assert isinstance(result.errors[1], l0.L0Error)
    assert result.outputs == ("yes", None, "yes")


async def test_every_task_failing_raises_all_streams_exhausted() -> None:
    """No output at all: AllStreamsExhausted with every error."""
    with pytest.raises(l0.AllStreamsExhausted) as info:
        await consensus([Script([Raise(boom)]), Script([Raise(boom)])], retry=None)
    assert len(info.value.errors) == 2


async def test_consensus_failure_carries_the_run() -> None:
    """ConsensusFailed from consensus() has the run's outcomes attached to its result."""
    with pytest.raises(ConsensusFailed) as info:
        await consensus([Script(["a"]), Script(["b"])], strategy="unanimous")
    assert info.value.result.run is not None
    assert info.value.result.outputs == ("a", "b")


@pytest.mark.timing
async def test_consensus_cancelled_closes_everything(anyio_backend: Any) -> None:
    """Cancelling the caller closes every task's stream."""
    sources = [Script([Stall(10), "x"]) for _ in range(3)]
    with anyio.move_on_after(0.1):
        await consensus(sources, retry=None)
    assert all(s.closed == [True] for s in sources)


async def test_empty_consensus_is_a_config_error() -> None:
    """No tasks: ConfigError."""
    with pytest.raises(l0.ConfigError):
        await consensus([])
    with pytest.raises(l0.ConfigError):
        decide([])
