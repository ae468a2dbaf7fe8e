"""``l0.structured``: typed, validated JSON from a model stream, inside the l0 lifecycle."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast, overload

import anyio
import attrs

from l0._errors import ConfigError, L0Error
from l0._guardrails import Rule
from l0._runtime._api import run
from l0._structured._heal import Correction
from l0._structured._job import Job
from l0._structured._schema import Schema

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from l0._runtime._api import Session
    from l0._runtime._options import Factory, RunOptions
    from l0._runtime._stream import Stream
    from l0._state import State

__all__ = [
    "StructuredResult",
    "collect",
    "finish",
    "prepare",
    "structured",
    "structured_array",
    "structured_in",
    "structured_object",
]

T = TypeVar("T")

_WRAPPED_CALLBACKS = ("on_event", "on_violation", "on_complete", "on_error")


@attrs.frozen(kw_only=True)
class StructuredResult(Generic[T]):
    """What :func:`structured` returns.

    Attributes:
        data: the validated value, of the schema's type (plain JSON for a JSON Schema).
        raw: the model's output (of the attempt that succeeded).
        json_text: the JSON that was decoded: ``raw`` itself, or ``raw`` healed.
        corrections: what healing changed (positions index ``raw``); empty for exact JSON.
        state: the stream's final :class:`~l0.State`.
        attempts: how many attempts were made, over every source.
        duration: seconds from the start to the validated result.
        time_to_first_token: seconds from the start to the first token, or ``None``.
        stream_id: the id on the stream's observability events.

    .. versionadded:: 0.1
    """

    data: T
    raw: str
    json_text: str
    corrections: tuple[Correction, ...]
    state: State
    attempts: int
    duration: float
    time_to_first_token: float | None
    stream_id: str

    @property
    def corrected(self) -> bool:
        """Whether the output had to be healed into JSON."""
        return bool(self.corrections)


def prepare(
    schema: Any,
    stream: Factory,
    *,
    auto_correct: bool,
    strict_mode: bool,
    reask: bool,
    on_validation_error: Callable[..., Any] | None,
    on_auto_correct: Callable[..., Any] | None,
    options: Mapping[str, Any],
    runner: Callable[..., Stream] = run,
    callback_defaults: Mapping[str, Callable[..., Any] | None] | None = None,
) -> tuple[Job[Any], Stream]:
    """The job and the (not yet started) l0 stream of one structured call.

    ``runner`` starts the stream (``l0.run``, or a session's ``run``); ``callback_defaults``
    are the callbacks the runner would add (a session's), which the job must wrap as well.
    """
    adapter = cast("Schema[Any]", schema) if isinstance(schema, Schema) else Schema(schema)
    for name, value in (("auto_correct", auto_correct), ("strict_mode", strict_mode),
                        ("reask", reask)):  # fmt: skip
        if not isinstance(value, bool):  # pyright: ignore[reportUnnecessaryIsInstance]
            raise ConfigError(f"{name} must be True or False, got {value!r}")
    for name, fn in (("on_validation_error", on_validation_error),
                     ("on_auto_correct", on_auto_correct)):  # fmt: skip
        if fn is not None and not callable(fn):
            raise ConfigError(f"{name} must be callable, got {type(fn).__name__}")
    if not callable(stream):
        raise ConfigError(
            f"stream must be a callable returning a stream (a factory), got "
            f"{type(stream).__name__}; wrap it: lambda: ..."
        )
    run_options = dict(options)
    defaults = callback_defaults or {}
    job = Job(
        adapter,
        auto_correct=auto_correct,
        strict_mode=strict_mode,
        reask=reask,
        on_validation_error=on_validation_error,
        on_auto_correct=on_auto_correct,
        callbacks={
            name: run_options.pop(name) if name in run_options else defaults.get(name)
            for name in _WRAPPED_CALLBACKS
        },
    )
    given = run_options.pop("guardrails", None)
    rules: list[Rule] = [] if given is None else [given] if isinstance(given, Rule) else list(given)
    run_options["guardrails"] = [*rules, job.rule]
    fallbacks = run_options.pop("fallbacks", None)
    if fallbacks is not None:
        if callable(fallbacks):
            raise ConfigError("fallbacks must be a list of factories, got a single callable")
        run_options["fallbacks"] = [job.wrap(f) if callable(f) else f for f in list(fallbacks)]
    run_options.update(job.callbacks())
    created = runner(job.wrap(stream), **run_options)
    job.stream_id = created.stream_id
    return job, created


async def collect(job: Job[T], stream: Stream) -> StructuredResult[T]:
    """Run ``stream`` to its end and build the result (raises what ended it)."""
    start = anyio.current_time()
    first: float | None = None
    try:
        async with stream:
            async for event in stream:
                if first is None and event.is_token:
                    first = anyio.current_time() - start
            if stream.state.error is not None:
                raise stream.state.error
    except L0Error as exc:
        job.translate_final(exc)
        await job.flush()
        raise
    await job.flush()
    return finish(job, stream, start, first)


def finish(job: Job[T], stream: Stream, start: float, first: float | None) -> StructuredResult[T]:
    """The result of a stream that completed."""
    state = stream.state
    decoded = job.result_for(state.content)
    return StructuredResult(
        data=cast("T", decoded.data),
        raw=decoded.raw,
        json_text=decoded.json_text,
        corrections=decoded.corrections,
        state=state,
        attempts=len(state.errors) + 1,
        duration=anyio.current_time() - start,
        time_to_first_token=first,
        stream_id=stream.stream_id,
    )


@overload
async def structured(
    schema: Schema[T] | type[T],
    stream: Factory,
    *,
    auto_correct: bool = ...,
    strict_mode: bool = ...,
    reask: bool = ...,
    on_validation_error: Callable[..., Any] | None = ...,
    on_auto_correct: Callable[..., Any] | None = ...,
    **options: Unpack[RunOptions],
) -> StructuredResult[T]: ...
@overload
async def structured(
    schema: Mapping[str, Any],
    stream: Factory,
    *,
    auto_correct: bool = ...,
    strict_mode: bool = ...,
    reask: bool = ...,
    on_validation_error: Callable[..., Any] | None = ...,
    on_auto_correct: Callable[..., Any] | None = ...,
    **options: Unpack[RunOptions],
) -> StructuredResult[Any]: ...
async def structured(
    schema: Any,
    stream: Factory,
    *,
    auto_correct: bool = True,
    strict_mode: bool = False,
    reask: bool = True,
    on_validation_error: Callable[..., Any] | None = None,
    on_auto_correct: Callable[..., Any] | None = None,
    **options: Unpack[RunOptions],
) -> StructuredResult[Any]:
    """Stream from the model, and get its answer as validated, typed data.

    ``schema`` is a msgspec ``Struct``, an attrs class, a dataclass, a ``TypedDict`` (or any
    type msgspec converts JSON to), a JSON Schema ``dict``, a Pydantic model when pydantic
    is installed, or an :class:`~l0.structured.Schema`. ``stream`` is a factory, as for
    :func:`l0.run`, and every keyword of :func:`l0.run` works (``fallbacks``, ``retry``,
    ``timeout``, ``guardrails``, ``on_event``...).

    When an attempt ends, its output is healed (Markdown fences, prose around the JSON,
    comments, trailing commas, quotes, truncation; see :func:`~l0.structured.heal`),
    decoded and validated. Output that is not JSON or does not match fails the *attempt*,
    like an ``error`` guardrail: it is retried or falls back, and counts against
    ``Retry.attempts``. ``auto_correct=False`` only finds the JSON in the text (fences and
    prose) and repairs nothing; ``strict_mode=True`` accepts exact JSON only.

    With ``reask`` (the default) a factory that takes an :class:`~l0.AttemptContext` sees
    why the previous attempt's output was refused as ``ctx.error``: a
    :class:`~l0.structured.SchemaValidationError` (with ``.issues``) or an
    :class:`~l0.structured.InvalidJSON`; :func:`~l0.structured.reask_messages` puts it in
    the next request. ``on_validation_error(error, attempt)`` is called for each refused
    output, ``on_auto_correct(raw, healed)`` for each healed one.

    Raises what :func:`l0.run` raises when every attempt failed:
    :class:`~l0.AllStreamsExhausted`, whose ``errors`` hold the structured failures (and
    whose ``__cause__`` is the last failure).

    .. versionadded:: 0.1
    """
    job, created = prepare(
        schema,
        stream,
        auto_correct=auto_correct,
        strict_mode=strict_mode,
        reask=reask,
        on_validation_error=on_validation_error,
        on_auto_correct=on_auto_correct,
        options=options,
    )
    return await collect(job, created)


async def structured_in(
    session: Session,
    schema: Any,
    stream: Factory,
    *,
    auto_correct: bool,
    strict_mode: bool,
    reask: bool,
    on_validation_error: Callable[..., Any] | None,
    on_auto_correct: Callable[..., Any] | None,
    options: Mapping[str, Any],
) -> StructuredResult[Any]:
    """:func:`structured` inside ``session`` (what :meth:`l0.Session.structured` runs): the
    stream starts from the session's defaults and closes with it, and the session's callbacks
    (its ``on_event``...) are wrapped like the call's own, so the ``STRUCTURED_*`` events and
    the callbacks reach them in lifecycle order."""
    job, created = prepare(
        schema,
        stream,
        auto_correct=auto_correct,
        strict_mode=strict_mode,
        reask=reask,
        on_validation_error=on_validation_error,
        on_auto_correct=on_auto_correct,
        options=options,
        runner=session.run,
        callback_defaults=session.defaults.callbacks,
    )
    return await collect(job, created)


async def structured_object(
    shape: Mapping[str, Any],
    stream: Factory,
    *,
    auto_correct: bool = True,
    strict_mode: bool = False,
    reask: bool = True,
    on_validation_error: Callable[..., Any] | None = None,
    on_auto_correct: Callable[..., Any] | None = None,
    **options: Unpack[RunOptions],
) -> StructuredResult[dict[str, Any]]:
    """:func:`structured` for an object given by its fields, ``{"name": str, "age": int}``
    (see :meth:`Schema.object <l0.structured.Schema.object>`); the data is a ``dict``.

    .. versionadded:: 0.1
    """
    return await structured(
        Schema.object(shape),
        stream,
        auto_correct=auto_correct,
        strict_mode=strict_mode,
        reask=reask,
        on_validation_error=on_validation_error,
        on_auto_correct=on_auto_correct,
        **options,
    )


async def structured_array(
    item: Schema[T] | type[T] | Mapping[str, Any],
    stream: Factory,
    *,
    auto_correct: bool = True,
    strict_mode: bool = False,
    reask: bool = True,
    on_validation_error: Callable[..., Any] | None = None,
    on_auto_correct: Callable[..., Any] | None = None,
    **options: Unpack[RunOptions],
) -> StructuredResult[list[T]]:
    """:func:`structured` for a JSON array of ``item`` (a type, a JSON Schema or a Schema).

    .. versionadded:: 0.1
    """
    return await structured(
        Schema.array(item),
        stream,
        auto_correct=auto_correct,
        strict_mode=strict_mode,
        reask=reask,
        on_validation_error=on_validation_error,
        on_auto_correct=on_auto_correct,
        **options,
    )
