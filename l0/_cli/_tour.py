"""Playing the tour: the endpoint, then each scenario in turn, then the summary."""

from __future__ import annotations

from collections.abc import Sequence

import anyio
import attrs

from l0._cli._recorder import Recorder, ScenarioResult, describe_error
from l0._cli._scenarios import SCENARIOS, Run, Scenario
from l0._cli._target import Pace, open_target
from l0._cli._view import View
from l0._errors import AllStreamsExhausted, L0Error

__all__ = ["TourOptions", "play_tour"]


@attrs.frozen(kw_only=True)
class TourOptions:
    """What to play, and where.

    ``base_url=None`` starts the local fault-injecting provider; ``api_key`` is sent as a
    bearer token (and then the requests carry no fault scripts).
    """

    scenarios: tuple[Scenario, ...] = SCENARIOS
    base_url: str | None = None
    api_key: str | None = None
    model: str = "gpt-4o-mini"
    fallback_model: str = "gpt-4o-mini"
    pace: Pace = attrs.field(factory=Pace.live)
    backend: str = "asyncio"


async def play_scenario(run: Run, scenario: Scenario) -> ScenarioResult:
    """Play one scenario; its result (a failed stream is a failed result, not an error)."""
    completed = False
    try:
        await scenario.play(run, scenario.prompt)
        completed = True
    except L0Error as exc:
        run.rec.note(f"failed: {describe_error(exc)}", "error")
        run.rec.tell("gave up" if isinstance(exc, AllStreamsExhausted) else describe_error(exc))
    return run.rec.result(scenario.name, scenario.title, completed=completed)


async def play_tour(options: TourOptions, view: View) -> list[ScenarioResult]:
    """Play the chosen scenarios against the chosen endpoint; their results, in order."""
    started = anyio.current_time()
    results: list[ScenarioResult] = []
    async with open_target(
        base_url=options.base_url,
        api_key=options.api_key,
        model=options.model,
        fallback_model=options.fallback_model,
    ) as target:
        if target.local:
            where = f"l0's local fault-injecting provider at {target.base_url}"
        else:
            where = f"{target.base_url} ({', '.join(sorted(set(target.models.values())))})"
        view.intro(_intro(where, options, scripted=target.scripted))
        total = len(options.scenarios)
        for index, scenario in enumerate(options.scenarios, 1):
            view.scenario(index, total, scenario.name, scenario.title, scenario.prompt)
            rec = Recorder(anyio.current_time, view.entry)
            run = Run(target=target, pace=options.pace, view=view, rec=rec)
            result = await play_scenario(run, scenario)
            view.outcome(result)
            results.append(result)
        view.summary(results, anyio.current_time() - started)
    if target.local:
        view.message("local provider stopped")
    return results


def _intro(where: str, options: TourOptions, *, scripted: bool) -> Sequence[str]:
    lines = [f"Talking to {where}, on {options.backend}."]
    if scripted:
        lines.append("Each request tells the provider how to misbehave; l0 has to cope.")
    else:
        lines.append("The faults are whatever the network and the provider do today.")
    return lines
