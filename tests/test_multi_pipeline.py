"""pipeline: each step built from the previous output; a failure names its step."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest

import l0
from l0._multi import PipelineBranch, PipelineStep, PipelineStepFailed, pipeline
from tests._sources import Raise, Script, ScriptWithContext, Stall, boom


def echo(transform: Any) -> Any:
    """A step whose stream says ``transform(previous)``, recording what it was given."""

    def build(previous: Any) -> Any:
        async def stream() -> AsyncIterator[str]:
            yield transform(previous)

        return stream

    return build


async def test_each_step_gets_the_previous_output() -> None:
    """Outputs flow from step to step; the result has every step's input and output."""
    result = await pipeline(
        [echo(str.upper), echo(lambda t: t + "!"), echo(lambda t: f"<{t}>")], "hello"
    )
    assert result.output == "<HELLO!>"
    assert [(s.input, s.output) for s in result.steps] == [
        ("hello", "HELLO"),
        ("HELLO", "HELLO!"),
        ("HELLO!", "<HELLO!>"),
    ]
    assert [s.name for s in result.steps] == ["step 0", "step 1", "step 2"]
    assert all(s.state is not None and s.state.completed for s in result.steps)
    assert result.telemetry.total_tokens == 3


async def test_per_step_options_override_the_pipeline_options(zero_backoff: None) -> None:
    """A step's own run options apply to it only."""
    flaky = ScriptWithContext([Raise(boom)], ["recovered"])
    plain = Script(["second"])
    result = await pipeline(
        [
            PipelineStep(
                build=lambda _: flaky, name="draft", options={"retry": l0.Retry(attempts=1)}
            ),
            PipelineStep(build=lambda _: plain, name="polish"),
        ],
        "input",
        retry=None,
    )
    assert result.output == "second"
    assert result["draft"].output == "recovered"
    assert result["draft"].state is not None
    assert result["draft"].state.model_retry_count + result["draft"].state.network_retry_count == 1
    with pytest.raises(KeyError):
        result["missing"]


async def test_a_failed_step_stops_the_pipeline_and_says_which() -> None:
    """PipelineStepFailed names the step, has the earlier results, and chains the cause."""
    never = Script(["never"])
    with pytest.raises(PipelineStepFailed) as info:
        await pipeline(
            [
                echo(str.upper),
                PipelineStep(build=lambda _: Script([Raise(boom)]), name="summarise"),
                lambda _: never,
            ],
            "text",
            retry=None,
        )
    error = info.value
    assert (error.step, error.name) == (1, "summarise")
    assert "summarise" in str(error)
    assert isinstance(error.__cause__, l0.L0Error)
    assert [s.output for s in error.result.steps] == ["TEXT"]
    assert error.result.telemetry.failed == 1
    assert never.calls == 0
    assert isinstance(error, l0.L0Error)


async def test_conditions_and_transforms() -> None:
    """when=False skips a step (its input passes through); transform shapes the output."""
    result = await pipeline(
        [
            PipelineStep(build=echo(lambda t: t + " world"), transform=len),
            PipelineStep(build=echo(str), when=lambda n: n > 100, name="never"),
            PipelineStep(build=lambda n: n * 2, name="double"),
        ],
        "hello",
    )
    assert result.output == 22
    assert [s.status for s in result.steps] == ["ok", "skipped", "ok"]
    assert result["never"].output == 11
    assert result.telemetry.skipped == 1


async def test_steps_may_be_async_callables_and_values() -> None:
    """A step's build may return an awaitable, a stream, or a plain value."""

    async def fetch(previous: str) -> str:
        await anyio.lowlevel.checkpoint()
        return previous + " fetched"

    result = await pipeline(
        [fetch, lambda t: l0.run(Script([t + " streamed"])), lambda t: t.split()], "doc"
    )
    assert result.output == ["doc", "fetched", "streamed"]


@pytest.mark.timing
async def test_cancelling_a_pipeline_closes_the_running_step(anyio_backend: Any) -> None:
    """A caller cancelled mid-step: that step's stream is closed, later steps never start."""
    slow = Script([Stall(10), "x"])
    later = Script(["later"])
    with anyio.move_on_after(0.1):
        await pipeline([lambda _: slow, lambda _: later], "in")
    assert slow.closed == [True]
    assert later.calls == 0


async def test_bad_pipelines_are_config_errors() -> None:
    """No steps, a non-callable step, bad step options: errors before anything runs."""
    with pytest.raises(l0.ConfigError):
        await pipeline([], "x")
    with pytest.raises(l0.ConfigError):
        await pipeline([42], "x")  # type: ignore[list-item]
    with pytest.raises(l0.ConfigError):
        PipelineStep(build="nope")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        await pipeline([PipelineStep(build=echo(str), options={"retries": 1})], "x")


# -- branches -------------------------------------------------------------------------------------


async def test_a_branch_runs_the_step_its_condition_chooses() -> None:
    """PipelineBranch: condition true runs if_true, false runs if_false; the way is recorded."""
    route = PipelineBranch(
        condition=lambda text: len(text) > 10,
        if_true=PipelineStep(build=lambda t: Script([f"summary of {len(t)} chars"]), name="sum"),
        if_false=lambda t: Script([t.upper()]),
        name="route",
    )
    long = await pipeline([route], "a rather long input")
    short = await pipeline([route], "short")
    assert long.output == "summary of 19 chars"
    assert short.output == "SHORT"
    assert (long["route"].branch, short["route"].branch) == ("if_true", "if_false")
    assert long["route"].status == "ok"


async def test_a_branch_without_a_step_passes_the_input_through() -> None:
    """if_false=None: the step is skipped and the next one gets the input unchanged."""
    steps = [
        PipelineBranch(condition=lambda t: t.startswith("!"), if_true=lambda t: Script(["x"])),
        lambda t: Script([t + "."]),
    ]
    result = await pipeline(steps, "plain")
    assert result.output == "plain."
    assert result.steps[0].status == "skipped"
    assert result.steps[0].branch == "if_false"


@pytest.mark.parametrize("where", ["condition", "when"])
async def test_a_raising_condition_fails_its_step(where: str) -> None:
    """A condition (or when) that raises fails the step with PipelineStepFailed."""

    def broken(_: Any) -> bool:
        raise ValueError("bad condition")

    step: Any
    if where == "condition":
        step = PipelineBranch(condition=broken, if_true=lambda t: Script(["x"]))
    else:
        step = PipelineStep(build=lambda t: Script(["x"]), when=broken)
    with pytest.raises(PipelineStepFailed) as info:
        await pipeline([lambda t: Script(["first"]), step], "in")
    assert info.value.step == 1
    assert isinstance(info.value.__cause__, ValueError)
    assert [s.output for s in info.value.result.steps] == ["first"]


def test_bad_branches_are_config_errors() -> None:
    """A branch that is not a step, a callable or None is refused at construction."""
    with pytest.raises(l0.ConfigError, match="PipelineBranch"):
        PipelineBranch(condition=lambda t: True, if_true=42)
    with pytest.raises(l0.ConfigError, match=r"PipelineBranch\.condition"):
        PipelineBranch(condition="yes", if_true=None)  # pyright: ignore[reportArgumentType]
