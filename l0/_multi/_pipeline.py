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

__all__ = ["PipelineResult", "PipelineStep", "StepResult", "pipeline"]


def _to_options(value: Mapping[str, Any] | None) -> dict[str, Any]:
    return dict(value) if value else {}


def _no_options() -> dict[str, Any]:
    return {}


def _check_callable(_inst: Any, attr: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and not callable(value):
        raise ConfigError(f"PipelineStep.{attr.name} must be callable, got {type(value).__name__}")


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


@attrs.frozen(kw_only=True)
class StepResult:
    """What one step received and produced; ``state`` is its stream's, if it ran one.

    .. versionadded:: 0.1
    """

    index: int
    name: str
    status: Literal["ok", "skipped"]
    input: Any
    output: Any
    state: State | None = None
    duration: float = 0.0


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


def _steps(steps: Iterable[PipelineStep | Callable[[Any], Any]]) -> list[PipelineStep]:
    listed: list[PipelineStep] = []
    for i, step in enumerate(steps):
        if isinstance(step, PipelineStep):
            made = step
        elif callable(step):
            made = PipelineStep(build=step)
        else:
            raise ConfigError(f"pipeline step {i} must be an l0.PipelineStep or a callable")
        if made.name is None:
            made = attrs.evolve(made, name=f"step {i}")
        check_options(made.options, f"pipeline step {i} options")
        listed.append(made)
    if not listed:
        raise ConfigError("pipeline() needs at least one step")
    return listed


async def pipeline(
    steps: Iterable[PipelineStep | Callable[[Any], Any]],
    input: Any,
    *,
    session: Session | None = None,
    **run_options: Unpack[RunOptions],
) -> PipelineResult:
    """Run ``steps`` in order, each on the previous step's output.

    A step is a :class:`PipelineStep` or just its ``build`` function: ``previous -> task``
    (usually a stream factory, run with :func:`l0.run`, ``run_options`` and the step's own
    options). A stream's output is its text; the step's ``transform`` may turn it into anything.

    A failing step stops the pipeline: :class:`~l0.PipelineStepFailed` says which (its
    ``__cause__`` is the step's error, ``result`` has the steps before it). Each step's stream
    is closed when the step ends.

    .. versionadded:: 0.1
    """
    listed = _steps(steps)
    check_options(run_options, "pipeline()")
    results: list[StepResult] = []
    outcomes: list[TaskOutcome] = []
    started = now()
    current = input
    for index, step in enumerate(listed):
        name = step.name or f"step {index}"
        if step.when is not None and not step.when(current):
            results.append(
                StepResult(index=index, name=name, status="skipped", input=current, output=current)
            )
            outcomes.append(TaskOutcome(index=index, status="skipped"))
            continue
        streams: list[Stream] = []
        step_started = now()
        options = {**run_options, **step.options}
        previous = current
        try:
            task = Deferred(lambda b=step.build, p=previous: b(p))
            output = await run_task(task, options, session, streams.append)
            if step.transform is not None:
                output = step.transform(output)
        except Exception as exc:
            state = streams[-1].state if streams else None
            outcomes.append(
                TaskOutcome(
                    index=index,
                    status="failed",
                    error=exc,
                    state=state,
                    duration=now() - step_started,
                )
            )
            partial = PipelineResult(
                output=None,
                steps=tuple(results),
                telemetry=TaskTelemetry.of(outcomes, now() - started),
            )
            raise PipelineStepFailed(
                f"pipeline step {index} ({name}) failed: {exc}",
                step=index,
                name=name,
                result=partial,
            ) from exc
        state = streams[-1].state if streams else None
        duration = now() - step_started
        results.append(
            StepResult(
                index=index,
                name=name,
                status="ok",
                input=previous,
                output=output,
                state=state,
                duration=duration,
            )
        )
        outcomes.append(
            TaskOutcome(index=index, status="ok", value=output, state=state, duration=duration)
        )
        current = output
    return PipelineResult(
        output=current,
        steps=tuple(results),
        telemetry=TaskTelemetry.of(outcomes, now() - started),
    )
