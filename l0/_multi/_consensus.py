"""Deciding a consensus: the result types and :func:`decide` (synchronous and pure).

The outputs are compared pairwise once (a similarity matrix: text similarity, or field by field
when every output is JSON), grouped (an output joins the most similar existing group whose
first member is at least ``threshold`` similar, else starts a new one), and the strategy
decides from the groups. :func:`decide` can be used on outputs you already have; the async
:func:`~l0.consensus` (in ``_consensus_run``) runs the tasks first.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Literal

import attrs
import msgspec

from l0._errors import AllStreamsExhausted, ConfigError
from l0._multi._compare import (
    NOT_JSON,
    Similarity,
    merge_values,
    parse_json,
    text_similarity,
    value_similarity,
)
from l0._multi._errors import ConsensusFailed
from l0._multi._tasks import as_l0_error

if TYPE_CHECKING:
    from l0._multi._results import ParallelResult

__all__ = [
    "ConsensusGroup",
    "ConsensusResult",
    "Dissent",
    "FieldAgreement",
    "Resolution",
    "Strategy",
    "as_text",
    "check_decision",
    "check_weights",
    "decide",
]

Strategy = Literal["unanimous", "majority", "weighted", "best"]
Resolution = Literal["fail", "vote", "best", "merge"]


@attrs.frozen(kw_only=True)
class ConsensusGroup:
    """Outputs similar enough to count as one answer.

    ``members`` are task indexes; ``representative`` the member most similar to the others;
    ``weight`` the members' total weight and ``share`` that weight over all the tasks'.

    .. versionadded:: 0.1
    """

    members: tuple[int, ...]
    representative: int
    output: str
    weight: float
    share: float


@attrs.frozen(kw_only=True)
class Dissent:
    """An output outside the agreed group, and how similar it is to the chosen output.

    .. versionadded:: 0.1
    """

    index: int
    output: str
    similarity: float


@attrs.frozen(kw_only=True)
class FieldAgreement:
    """For structured outputs: the value chosen for one field and the share of weight that
    gave exactly that value (after normalisation).

    .. versionadded:: 0.1
    """

    path: str
    value: Any
    agreement: float


@attrs.frozen(kw_only=True)
class ConsensusResult:
    """The agreed output and how it was reached.

    ``output`` is the chosen text (for ``resolution == "merge"``, the merged JSON; with a
    ``schema``, the validated output's JSON); ``value`` its parsed JSON when the outputs are
    structured (with a ``schema``: an instance of it), else ``None``;
    ``errors`` each task's error (with a ``schema``, also why an output did not match it);
    ``index`` the task whose output was chosen (``None`` when merged); ``agreement`` the share
    of the total weight in the agreed group (failed tasks count against it);
    ``consensus`` whether the strategy's requirement was met (else ``resolution`` says how the
    conflict was resolved); ``scores`` each output's support (its weighted mean similarity to
    all the outputs, itself included) or the ``scorer``'s score; ``similarity`` the pairwise
    matrix.

    .. versionadded:: 0.1
    """

    output: str
    value: Any
    index: int | None
    strategy: Strategy
    consensus: bool
    resolution: Literal["consensus", "vote", "best", "merge"]
    agreement: float
    groups: tuple[ConsensusGroup, ...]
    dissent: tuple[Dissent, ...]
    outputs: tuple[str | None, ...]
    errors: tuple[Exception | None, ...]
    scores: tuple[float | None, ...]
    similarity: tuple[tuple[float, ...], ...]
    structured: bool
    fields: tuple[FieldAgreement, ...] = ()
    run: ParallelResult | None = None


def check_weights(weights: Sequence[float] | None, count: int) -> list[float]:
    if weights is None:
        return [1.0] * count
    listed = list(weights)
    if len(listed) != count:
        raise ConfigError(f"weights has {len(listed)} values for {count} tasks")
    for w in listed:
        if isinstance(w, bool) or not isinstance(w, (int, float)) or not math.isfinite(w) or w < 0:  # pyright: ignore[reportUnnecessaryIsInstance]
            raise ConfigError(f"weights must be finite numbers >= 0, got {w!r}")
    if not sum(listed) > 0:
        raise ConfigError("weights must not all be 0")
    return [float(w) for w in listed]


def _check_fraction(value: float | None, name: str, *, low_open: bool) -> None:
    if value is None:
        return
    bad = (
        isinstance(value, bool)
        or not isinstance(value, (int, float))  # pyright: ignore[reportUnnecessaryIsInstance]
        or math.isnan(value)
        or value > 1
        or (value <= 0 if low_open else value < 0)
    )
    if bad:
        interval = "(0, 1]" if low_open else "[0, 1]"
        raise ConfigError(f"{name} must be in {interval}, got {value!r}")


def _check_choice(value: str, name: str, choices: Iterable[str]) -> None:
    options = tuple(choices)
    if value not in options:
        raise ConfigError(f"{name} must be one of {', '.join(map(repr, options))}, got {value!r}")


def check_decision(
    strategy: str,
    threshold: float,
    minimum_agreement: float | None,
    resolve_conflicts: str,
    weights: Sequence[float] | None,
) -> None:
    _check_choice(strategy, "strategy", ("unanimous", "majority", "weighted", "best"))
    _check_choice(resolve_conflicts, "resolve_conflicts", ("fail", "vote", "best", "merge"))
    _check_fraction(threshold, "threshold", low_open=False)
    _check_fraction(minimum_agreement, "minimum_agreement", low_open=True)
    if strategy == "weighted" and weights is None:
        raise ConfigError("strategy='weighted' needs weights=[...], one per task")
    if weights is not None and strategy in ("unanimous", "majority"):
        raise ConfigError(
            f"weights apply to strategy='weighted' or 'best', not {strategy!r}: "
            "every output counts once there"
        )
    if minimum_agreement is not None and strategy in ("unanimous", "best"):
        raise ConfigError(
            f"minimum_agreement applies to 'majority' and 'weighted', not {strategy!r}"
        )


def decide(
    outputs: Sequence[str | None],
    *,
    strategy: Strategy = "majority",
    threshold: float = 0.8,
    weights: Sequence[float] | None = None,
    similarity: Similarity | None = None,
    minimum_agreement: float | None = None,
    resolve_conflicts: Resolution = "fail",
    scorer: Callable[[str], float] | None = None,
    errors: Sequence[Exception | None] | None = None,
) -> ConsensusResult:
    """Decide on ``outputs`` (``None`` for a task that failed); see :func:`consensus`."""
    check_decision(strategy, threshold, minimum_agreement, resolve_conflicts, weights)
    if not outputs:
        raise ConfigError("consensus needs at least one output")
    weight = check_weights(weights, len(outputs))
    errs = tuple(errors) if errors is not None else (None,) * len(outputs)
    present = [i for i, o in enumerate(outputs) if o is not None]
    if not present:
        raise AllStreamsExhausted(
            "every consensus task failed",
            [as_l0_error(e or RuntimeError("no output")) for e in errs],
        )
    texts: dict[int, str] = {i: outputs[i] or "" for i in present}
    strings = similarity or text_similarity
    parsed = {i: parse_json(texts[i]) for i in present}
    structured = all(v is not NOT_JSON for v in parsed.values())

    # The similarity matrix (only the upper half is computed).
    n = len(outputs)
    sim = [[0.0] * n for _ in range(n)]
    for a_pos, a in enumerate(present):
        sim[a][a] = 1.0
        for b in present[a_pos + 1 :]:
            if structured:
                s = value_similarity(parsed[a], parsed[b], strings)
            else:
                s = strings(texts[a], texts[b])
            s = min(1.0, max(0.0, float(s)))
            sim[a][b] = sim[b][a] = s

    total = sum(weight)
    groups = _group(present, sim, threshold)

    def group_weight(members: list[int]) -> float:
        return sum(weight[m] for m in members)

    def medoid(members: list[int]) -> int:
        return max(members, key=lambda m: (sum(sim[m][o] for o in members), -m))

    # Support: the weighted mean similarity to every output (itself included, so a heavily
    # weighted output supports itself), or the scorer's score.
    scores: list[float | None] = [None] * n
    mass = sum(weight[o] for o in present)
    for i in present:
        if scorer is not None:
            scores[i] = float(scorer(texts[i]))
        else:
            support = sum(weight[o] * sim[i][o] for o in present)
            scores[i] = support / mass if mass else 0.0
    best = max(present, key=lambda i: (scores[i], -i))

    top = max(groups, key=group_weight)  # first maximum: the earliest group wins ties
    top_share = group_weight(top) / total
    if strategy == "unanimous":
        reached = len(groups) == 1 and len(present) == n
    elif strategy == "best":
        reached = True
    elif minimum_agreement is not None:
        reached = top_share >= minimum_agreement
    else:
        reached = top_share > 0.5

    resolution: Literal["consensus", "vote", "best", "merge"] = "consensus"
    fields: dict[str, tuple[Any, float]] = {}
    value: Any = None
    if strategy == "best" or (not reached and resolve_conflicts == "best"):
        chosen: int | None = best
        resolution = "consensus" if reached else "best"
    elif (
        reached or resolve_conflicts == "vote" or (resolve_conflicts == "merge" and not structured)
    ):
        chosen = medoid(top)
        resolution = "consensus" if reached else "vote"
    elif resolve_conflicts == "merge":
        chosen = None
        resolution = "merge"
    else:
        chosen = medoid(top)  # for the report; the call fails below

    if structured:
        votes = [(weight[i], parsed[i]) for i in present]
        merged = merge_values(votes, total, fields)
        value = merged if chosen is None else parsed[chosen]
    output = msgspec.json.encode(value).decode() if chosen is None else texts[chosen]
    agreed = next((g for g in groups if chosen in g), top) if chosen is not None else top
    dissent = tuple(
        Dissent(
            index=i,
            output=texts[i],
            similarity=sim[i][chosen] if chosen is not None else 0.0,
        )
        for i in present
        if i not in agreed
    )
    result = ConsensusResult(
        output=output,
        value=value,
        index=chosen,
        strategy=strategy,
        consensus=reached,
        resolution=resolution,
        agreement=group_weight(agreed) / total,
        groups=tuple(
            ConsensusGroup(
                members=tuple(g),
                representative=medoid(g),
                output=texts[medoid(g)],
                weight=group_weight(g),
                share=group_weight(g) / total,
            )
            for g in groups
        ),
        dissent=dissent,
        outputs=tuple(outputs),
        errors=errs,
        scores=tuple(scores),
        similarity=tuple(tuple(row) for row in sim),
        structured=structured,
        fields=tuple(FieldAgreement(path=p, value=v, agreement=a) for p, (v, a) in fields.items()),
    )
    if not reached and resolve_conflicts == "fail":
        raise ConsensusFailed(
            f"no {strategy} consensus: the largest group has {top_share:.0%} of the weight "
            f"({len(groups)} groups)",
            result=result,
        )
    return result


def _group(
    present: Sequence[int], sim: Sequence[Sequence[float]], threshold: float
) -> list[list[int]]:
    """Each output joins the group whose first member it is most similar to (if at least
    ``threshold``), else starts a new group."""
    groups: list[list[int]] = []
    for i in present:
        best: list[int] | None = None
        best_sim = -1.0
        for group in groups:
            s = sim[i][group[0]]
            if s >= threshold and s > best_sim:
                best, best_sim = group, s
        if best is None:
            groups.append([i])
        else:
            best.append(i)
    return groups


def as_text(value: Any) -> str:
    """A task's result as text: itself if a string, decoded if bytes, else its JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode()
    return msgspec.json.encode(value).decode()
