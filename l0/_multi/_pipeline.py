"""``pipeline``: steps in order, each built from the previous step's output."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal

import attrs

from l0._errors import ConfigError
from l0._multi._errors import PipelineStepFailed
from l0._multi._results import TaskOutcome, TaskTelemetry
from l0._multi._tasks import Deferred, check_options, now, run_task

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from l0._runtime._api import Session
    from l0._runtime._options import RunOptions
    from l0._runtime._stream import Stream
    from l0._state import State

__all__ = ["PipelineBranch", "PipelineResult", "PipelineStep", "StepResult", "pipeline"]


def _to_options(value: Mapping[str, Any] | None) -> dict[str, Any]:
    return dict(value) if value else {}


def _no_options() -> dict[str, Any]:
    return {}


def _check_callable(_inst: Any, attr: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and not callable(value):
        raise ConfigError(
            f"{type(_inst).__name__}.{attr.name} must be callable, got {type(value).__name__}"
        )


@attrs.frozen(kw_only=True)
class PipelineStep:
    """One step of a :func:`pipeline`.

    ``build(previous)`` makes the step's task from the previous step's output (the pipeline's
    input for the first step): usually a stream factory, or an :class:`~l0.Stream`, an
    awaitable, or a plain value. ``options`` are :func:`l0.run` keywords for this step (over
    the pipeline's). ``when(previous)`` returning false skips the step (its output is its
    input). ``transform(output)`` turns the step's output into the next step's input.

    .. versionadded:: 0.1
    """

    build: Callable[[Any], Any] = attrs.field(validator=_check_callable)
    name: str | None = None
    options: Mapping[str, Any] = attrs.field(factory=_no_options, converter=_to_options)
    when: Callable[[Any], bool] | None = attrs.field(default=None, validator=_check_callable)
    transform: Callable[[Any], Any] | None = attrs.field(default=None, validator=_check_callable)


def _to_step(value: Any) -> PipelineStep | None:
    if value is None or isinstance(value, PipelineStep):
        return value
    if callable(value):
        return PipelineStep(build=value)
    raise ConfigError(
        f"a PipelineBranch branch must be an l0.PipelineStep, a callable or None, "
        f"got {type(value).__name__}"
    )


@attrs.frozen(kw_only=True)
class PipelineBranch:
    """A step that chooses: ``condition(previous)`` true runs ``if_true``, false ``if_false``.

    Each branch is a :class:`PipelineStep` (with its own options, ``when`` and
    ``transform``), just its ``build`` function, or ``None``: the input passes through (the
    step is ``skipped``). The step's :class:`StepResult` says which way it went (``branch``).

    .. versionadded:: 0.1
    """

    condition: Callable[[Any], bool] = attrs.field(validator=_check_callable)
    if_true: PipelineStep | None = attrs.field(converter=_to_step)
    if_false: PipelineStep | None = attrs.field(default=None, converter=_to_step)
    name: str | None = None


@attrs.frozen(kw_only=True)
class StepResult:
    """What one step received and produced; ``state`` is its stream's, if it ran one;
    ``branch`` the way a :class:`PipelineBranch` went (``None`` for a plain step).

    .. versionadded:: 0.1
    """

    index: int
    name: str
    status: Literal["ok", "skipped"]
    input: Any
    output: Any
    state: State | None = None
    duration: float = 0.0
    branch: Literal["if_true", "if_false"] | None = None


@attrs.frozen(kw_only=True)
class PipelineResult:
    """The final ``output`` and every step's :class:`StepResult`, in order.

    .. versionadded:: 0.1
    """

    output: Any
    steps: tuple[StepResult, ...]
    telemetry: TaskTelemetry

    def __getitem__(self, name: str) -> StepResult:
        """The step named ``name``."""
        for step in self.steps:
            if step.name == name:
                return step
        raise KeyError(name)


Step = PipelineStep | PipelineBranch | Callable[[Any], Any]
"""A pipeline step: a :class:`PipelineStep`, a :class:`PipelineBranch`, or a ``build``."""


def _steps(steps: Iterable[Step]) -> list[PipelineStep | PipelineBranch]:
    listed: list[PipelineStep | PipelineBranch] = []
    for i, step in enumerate(steps):
        if isinstance(step, PipelineBranch):
            for way in (step.if_true, step.if_false):
                if way is not None:
                    check_options(way.options, f"pipeline step {i} branch options")
            listed.append(step if step.name else attrs.evolve(step, name=f"step {i}"))
            continue
        if isinstance(step, PipelineStep):
            made = step
        elif callable(step):
            made = PipelineStep(build=step)
        else:
            raise ConfigError(
                f"pipeline step {i} must be an l0.PipelineStep, an l0.PipelineBranch or a callable"
            )
        if made.name is None:
            made = attrs.evolve(made, name=f"step {i}")
        check_options(made.options, f"pipeline step {i} options")
        listed.append(made)
    if not listed:
        raise ConfigError("pipeline() needs at least one step")
    return listed


class _Run:
    """The steps' results so far, and the telemetry outcomes that go with them."""

    def __init__(self, options: Mapping[str, Any], session: Session | None) -> None:
        self.options = options
        self.session = session
        self.results: list[StepResult] = []
        self.outcomes: list[TaskOutcome] = []
        self.started = now()

    def partial(self, output: Any) -> PipelineResult:
        return PipelineResult(
            output=output,
            steps=tuple(self.results),
            telemetry=TaskTelemetry.of(self.outcomes, now() - self.started),
        )

    async def step(
        self, index: int, name: str, step: PipelineStep | PipelineBranch, current: Any
    ) -> Any:
        """Run one step on ``current``; its output (``current`` again when skipped)."""
        streams: list[Stream] = []
        started = now()
        branch: Literal["if_true", "if_false"] | None = None
        try:
            chosen: PipelineStep | None
            if isinstance(step, PipelineBranch):
                taken = bool(step.condition(current))
                branch = "if_true" if taken else "if_false"
                chosen = step.if_true if taken else step.if_false
            else:
                chosen = step
            if chosen is None or (chosen.when is not None and not chosen.when(current)):
                self.results.append(
                    StepResult(
                        index=index,
                        name=name,
                        status="skipped",
                        input=current,
                        output=current,
                        branch=branch,
                    )
                )
                self.outcomes.append(TaskOutcome(index=index, status="skipped"))
                return current
            task = Deferred(lambda b=chosen.build, p=current: b(p))
            options = {**self.options, **chosen.options}
            output = await run_task(task, options, self.session, streams.append)
            if chosen.transform is not None:
                output = chosen.transform(output)
        except Exception as exc:
            state = streams[-1].state if streams else None
            self.outcomes.append(
                TaskOutcome(
                    index=index,
                    status="failed",
                    error=exc,
                    state=state,
                    duration=now() - started,
                )
            )
            raise PipelineStepFailed(
                f"pipeline step {index} ({name}) failed: {exc}",
                step=index,
                name=name,
                result=self.partial(None),
            ) from exc
        state = streams[-1].state if streams else None
        duration = now() - started
        self.results.append(
            StepResult(
                index=index,
                name=name,
                status="ok",
                input=current,
                output=output,
                state=state,
                duration=duration,
                branch=branch,
            )
        )
        self.outcomes.append(
            TaskOutcome(index=index, status="ok", value=output, state=state, duration=duration)
        )
        return output


async def pipeline(
    steps: Iterable[Step],
    input: Any,
    *,
    session: Session | None = None,
    **run_options: Unpack[RunOptions],
) -> PipelineResult:
    """Run ``steps`` in order, each on the previous step's output.

    A step is a :class:`PipelineStep`, a :class:`PipelineBranch` (a condition choosing
    between two steps), or just a ``build`` function: ``previous -> task`` (usually a stream
    factory, run with :func:`l0.run`, ``run_options`` and the step's own options). A stream's
    output is its text; the step's ``transform`` may turn it into anything.

    A failing step (its task, or its ``when``, ``condition`` or ``transform`` raising) stops
    the pipeline: :class:`~l0.PipelineStepFailed` says which (its ``__cause__`` is the
    error, ``result`` has the steps before it). Each step's stream is closed when the step
    ends.

    .. versionadded:: 0.1
    """
    listed = _steps(steps)
    check_options(run_options, "pipeline()")
    run = _Run(run_options, session)
    current = input
    for index, step in enumerate(listed):
        current = await run.step(index, step.name or f"step {index}", step, current)
    return run.partial(current)
