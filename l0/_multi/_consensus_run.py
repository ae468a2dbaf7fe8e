"""``consensus``: run the tasks, check their outputs against a schema, decide, and report.

The tasks run as :func:`~l0.parallel` runs them, in a task group owned by the call. Deciding is
:func:`~l0._multi._consensus.decide`. The run reports CONSENSUS_* events (see ``_events``) to
the ``on_event`` callback given to it (or the session's), next to its streams' own events.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal, cast

import anyio
import attrs
import msgspec

from l0._errors import AllStreamsExhausted, ConfigError, L0Error
from l0._multi._compare import Similarity, normalize_text
from l0._multi._consensus import (
    ConsensusResult,
    Resolution,
    Strategy,
    as_text,
    check_decision,
    check_weights,
    decide,
)
from l0._multi._errors import ConsensusFailed
from l0._multi._events import (
    ConsensusAnalysis,
    ConsensusEnd,
    ConsensusOutputCollected,
    ConsensusResolution,
    ConsensusStart,
    ConsensusStreamEnd,
    ConsensusStreamStart,
    Emitter,
)
from l0._multi._parallel import prepare_tasks, run_all
from l0._multi._tasks import Task, check_count, check_options

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from l0._multi._results import TaskRecord
    from l0._runtime._api import Session
    from l0._runtime._options import RunOptions
    from l0._structured._schema import Schema

__all__ = ["PRESETS", "Preset", "consensus"]

Preset = Literal["strict", "standard", "lenient", "best"]


@attrs.frozen(kw_only=True)
class _Settings:
    strategy: Strategy
    threshold: float
    resolve_conflicts: Resolution
    minimum_agreement: float | None = None


_DEFAULT = _Settings(strategy="majority", threshold=0.8, resolve_conflicts="fail")

PRESETS: Mapping[str, _Settings] = MappingProxyType(
    {
        "strict": _Settings(strategy="unanimous", threshold=1.0, resolve_conflicts="fail"),
        "standard": _Settings(
            strategy="majority", threshold=0.8, resolve_conflicts="vote", minimum_agreement=0.6
        ),
        "lenient": _Settings(
            strategy="majority", threshold=0.7, resolve_conflicts="merge", minimum_agreement=0.5
        ),
        "best": _Settings(strategy="best", threshold=0.8, resolve_conflicts="best"),
    }
)
"""What each ``preset=`` stands for (the arguments given explicitly override it)."""


def _settings(
    preset: str | None,
    strategy: Strategy | None,
    threshold: float | None,
    resolve_conflicts: Resolution | None,
    minimum_agreement: float | None,
) -> _Settings:
    if preset is None:
        base = _DEFAULT
    elif preset in PRESETS:
        base = PRESETS[preset]
    else:
        raise ConfigError(f"preset must be one of {', '.join(map(repr, PRESETS))}, got {preset!r}")
    chosen = strategy if strategy is not None else base.strategy
    if minimum_agreement is None and chosen in ("majority", "weighted"):
        minimum_agreement = base.minimum_agreement
    resolution = base.resolve_conflicts if resolve_conflicts is None else resolve_conflicts
    return _Settings(
        strategy=chosen,
        threshold=threshold if threshold is not None else base.threshold,
        resolve_conflicts=resolution,
        minimum_agreement=minimum_agreement,
    )


def _schema(schema: Any) -> Schema[Any] | None:
    if schema is None:
        return None
    from l0._structured._schema import Schema  # noqa: PLC0415 - only when a schema is given

    if isinstance(schema, Schema):
        return cast("Schema[Any]", schema)
    return Schema(schema)


def _to_data(value: Any) -> Any:
    """A task's result as decoded JSON: text is parsed (healed), anything else converted."""
    from l0._structured._heal import parse  # noqa: PLC0415 - only when a schema is given

    if isinstance(value, (str, bytes)):
        return parse(as_text(value))
    dump = getattr(value, "model_dump", None)  # a Pydantic model
    if callable(dump):
        return dump(mode="json")
    return msgspec.to_builtins(value)


class _Observer:
    """Turns the tasks' starts and ends into CONSENSUS_STREAM_* events."""

    __slots__ = ("emitter",)

    def __init__(self, emitter: Emitter) -> None:
        self.emitter = emitter

    async def started(self, record: TaskRecord) -> None:
        await self.emitter.emit(ConsensusStreamStart, stream_index=record.index)

    async def ended(self, record: TaskRecord) -> None:
        error = record.error
        await self.emitter.emit(
            ConsensusStreamEnd,
            stream_index=record.index,
            duration_ms=self.emitter.elapsed_ms(record.started_at),
            status="success" if error is None else "error",
            error=None if error is None else f"{type(error).__name__}: {error}",
        )


def _listener(
    run_options: Mapping[str, Any], session: Session | None
) -> tuple[Callable[..., Any] | None, Mapping[str, Any] | None]:
    """The ``on_event`` callback and ``context`` the streams get (the run's, or the session's)."""
    defaults = session.defaults if session is not None else None
    on_event = run_options.get("on_event")
    if on_event is None and defaults is not None:
        on_event = defaults.callbacks.get("on_event")
    context = run_options.get("context")
    if context is None and defaults is not None:
        context = defaults.context
    return on_event, context


async def _analysis(emitter: Emitter, result: ConsensusResult) -> None:
    present = [i for i, o in enumerate(result.outputs) if o is not None]
    pairs = [result.similarity[a][b] for n, a in enumerate(present) for b in present[n + 1 :]]
    texts = {normalize_text(result.outputs[i] or "") for i in present}
    await emitter.emit(
        ConsensusAnalysis,
        agreement_ratio=result.agreement,
        strategy=result.strategy,
        unique_results=len(texts),
        total_results=len(present),
        similarity_matrix=[list(row) for row in result.similarity],
        average_similarity=sum(pairs) / len(pairs) if pairs else 1.0,
    )


async def consensus(
    tasks: Iterable[Task],
    *,
    preset: Preset | None = None,
    strategy: Strategy | None = None,
    threshold: float | None = None,
    weights: Sequence[float] | None = None,
    similarity: Similarity | None = None,
    minimum_agreement: float | None = None,
    resolve_conflicts: Resolution | None = None,
    scorer: Callable[[str], float] | None = None,
    schema: Any = None,
    concurrency: int | None = None,
    session: Session | None = None,
    **run_options: Unpack[RunOptions],
) -> ConsensusResult:
    """Run ``tasks`` (as :func:`~l0.parallel` does) and agree on one output.

    Outputs are compared with ``similarity(a, b)`` (default: :func:`text_similarity`, linear
    time; :func:`levenshtein_ratio` for edit distance), or field by field when every output
    is JSON. Outputs at least ``threshold`` (default 0.8) similar form a group. A task that
    failed casts no vote but counts in the total weight.

    Strategies (default ``"majority"``): ``"unanimous"`` (every task succeeded, one group);
    ``"majority"`` (a group with more than half the tasks, or at least
    ``minimum_agreement`` of them); ``"weighted"`` (the same by ``weights``, one per task,
    required); ``"best"`` (the output with the highest score: its support, the mean
    similarity to all outputs weighted by ``weights`` if given, or ``scorer(text)``).

    Without consensus, ``resolve_conflicts`` decides (default ``"fail"``): ``"fail"`` raises
    :class:`~l0.ConsensusFailed` (with the result attached), ``"vote"`` takes the largest
    group, ``"best"`` the best-scored output, ``"merge"`` merges structured outputs field by
    field (text outputs: as ``"vote"``).

    ``preset`` sets all of these at once: ``"strict"`` (unanimous, threshold 1.0, fail),
    ``"standard"`` (majority, 0.8, vote, minimum agreement 0.6), ``"lenient"`` (majority,
    0.7, merge, 0.5), ``"best"`` (best, 0.8, best); the arguments given explicitly win.

    ``schema`` (anything :class:`l0.structured.Schema` takes): each output is healed, parsed
    and validated; one that does not match casts no vote (its error is in
    ``result.errors``), the others are compared field by field, and ``result.value`` is the
    chosen (or merged) value as the schema's type.

    The run sends CONSENSUS_START, then CONSENSUS_STREAM_START / CONSENSUS_STREAM_END /
    CONSENSUS_OUTPUT_COLLECTED per task, CONSENSUS_ANALYSIS, CONSENSUS_RESOLUTION and
    CONSENSUS_END to ``on_event`` (see :mod:`l0.events`), under one ``stream_id`` of its own.

    Raises :class:`~l0.ConsensusFailed` (no consensus and ``resolve_conflicts="fail"``, or a
    merged value that does not match the schema) or :class:`~l0.AllStreamsExhausted` (no
    task gave a usable output; ``.errors`` by task); never an ``ExceptionGroup``.

    .. versionadded:: 0.1
    """
    listed = prepare_tasks(tasks, "consensus()")
    settings = _settings(preset, strategy, threshold, resolve_conflicts, minimum_agreement)
    check_decision(
        settings.strategy,
        settings.threshold,
        settings.minimum_agreement,
        settings.resolve_conflicts,
        weights,
    )
    check_weights(weights, len(listed))
    check_count(concurrency, "concurrency")
    check_options(run_options, "consensus()")
    if similarity is not None and not callable(similarity):
        raise ConfigError(f"similarity must be callable, got {type(similarity).__name__}")
    if scorer is not None and not callable(scorer):
        raise ConfigError(f"scorer must be callable, got {type(scorer).__name__}")
    target = _schema(schema)

    emitter = Emitter(*_listener(run_options, session))
    await emitter.emit(
        ConsensusStart,
        task_count=len(listed),
        strategy=settings.strategy,
        threshold=settings.threshold,
        resolve_conflicts=settings.resolve_conflicts,
        minimum_agreement=settings.minimum_agreement,
    )
    records: list[TaskRecord] = []
    try:
        run = await run_all(
            listed,
            concurrency=concurrency,
            fail_fast=False,
            on_progress=None,
            session=session,
            options=run_options,
            observer=_Observer(emitter),
            records=records,
        )
    except BaseException as exc:
        # Cancelled (or KeyboardInterrupt): say so on the way out, then let it go on.
        cancelled = isinstance(exc, anyio.get_cancelled_exc_class())
        for record in records:
            if record.status == "running":
                await emitter.emit_shielded(
                    ConsensusStreamEnd,
                    stream_index=record.index,
                    duration_ms=emitter.elapsed_ms(record.started_at),
                    status="cancelled",
                )
        await emitter.emit_shielded(
            ConsensusEnd,
            status="cancelled" if cancelled else "failed",
            duration_ms=emitter.elapsed_ms(),
        )
        raise

    outputs: list[str | None] = []
    errors: list[Exception | None] = list(run.errors)
    values: dict[int, Any] = {}
    for outcome in run.outcomes:
        if outcome.status != "ok":
            outputs.append(None)
            continue
        text: str | None
        if target is None:
            text = as_text(outcome.value)
        else:
            try:
                data = _to_data(outcome.value)
                values[outcome.index] = target.validate(data)
                text = msgspec.json.encode(data).decode()
            except (L0Error, msgspec.ValidationError, TypeError) as exc:
                errors[outcome.index] = exc
                text = None
        outputs.append(text)
        await emitter.emit(
            ConsensusOutputCollected,
            stream_index=outcome.index,
            length=len(text) if text is not None else len(as_text(outcome.value)),
            has_errors=text is None,
        )

    try:
        result = decide(
            outputs,
            strategy=settings.strategy,
            threshold=settings.threshold,
            weights=weights,
            similarity=similarity,
            minimum_agreement=settings.minimum_agreement,
            resolve_conflicts=settings.resolve_conflicts,
            scorer=scorer,
            errors=errors,
        )
        result = attrs.evolve(result, run=run)
        if target is not None:
            if result.index is not None:
                typed = values[result.index]
            else:
                try:
                    typed = target.validate(result.value)
                except L0Error as exc:
                    raise ConsensusFailed(
                        f"the merged value does not match the schema: {exc}", result=result
                    ) from exc
            result = attrs.evolve(result, value=typed)
    except ConsensusFailed as exc:
        exc.result = attrs.evolve(exc.result, run=run)
        await _analysis(emitter, exc.result)
        await emitter.emit(
            ConsensusEnd,
            status="failed",
            duration_ms=emitter.elapsed_ms(),
            confidence=exc.result.agreement,
            error=str(exc),
        )
        raise
    except AllStreamsExhausted as exc:
        await emitter.emit(
            ConsensusEnd, status="failed", duration_ms=emitter.elapsed_ms(), error=str(exc)
        )
        raise
    await _analysis(emitter, result)
    await emitter.emit(
        ConsensusResolution,
        method=result.resolution,
        confidence=result.agreement,
        index=result.index,
    )
    await emitter.emit(
        ConsensusEnd,
        status="success" if result.consensus else "partial",
        duration_ms=emitter.elapsed_ms(),
        confidence=result.agreement,
    )
    return result
