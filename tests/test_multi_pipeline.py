"""pipeline: each step built from the previous output; a failure names its step."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest

import l0
from l0._multi import PipelineStep, PipelineStepFailed, pipeline
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
