"""Data-driven lifecycle scenarios: the canonical ones plus l0's own, in the same format.

For each scenario the runner builds scripted sources from its ``config``, runs the stream with
every callback recorded, and checks:

* ``expectedObservabilityEvents``: these appear in this order (other events may sit between),
  each with its ``assertions`` (dotted paths over the wire form, e.g. ``context.requestId``);
* ``exactObservabilityTypes`` (l0's scenarios): the complete sequence of event types;
* ``expectedCallbacks``: for each callback named, exactly these calls, in order;
* ``expectedError``: the code of the error that ends the stream (else it must complete);
* the spec's lifecycle invariants, on every scenario.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import anyio
import msgspec
import pytest

import l0
import l0.testing
from l0.events import ObservabilityEvent

HERE = Path(__file__).parent
CANONICAL = json.loads((HERE / "lifecycle-scenarios.json").read_text())["scenarios"]
OWN = json.loads((HERE / "l0-scenarios.json").read_text())["scenarios"]

# Scenarios whose config needs a feature built by a later issue, with that feature.
NEEDS: dict[str, str] = {}


def _attempt_source(spec: dict[str, Any]) -> Callable[[], AsyncIterator[str]]:
    async def source() -> AsyncIterator[str]:
        if spec.get("stallBeforeFirst"):
            await anyio.sleep(spec["stallBeforeFirst"])
        for token in spec.get("tokens", []):
            yield token
        if spec.get("stallAfter"):
            await anyio.sleep(spec["stallAfter"])
        if spec.get("networkError"):
            raise ConnectionResetError("connection reset by peer")
        if spec.get("error"):
            raise RuntimeError("Stream error")

    return source


def _scripted(specs: list[dict[str, Any]]) -> Callable[[], AsyncIterator[str]]:
    calls = 0

    def factory() -> AsyncIterator[str]:
        nonlocal calls
        spec = specs[min(calls, len(specs) - 1)]
        calls += 1
        return _attempt_source(spec)()

    return factory


def _failing(message: str) -> Callable[[], AsyncIterator[str]]:
    def factory() -> AsyncIterator[str]:
        raise RuntimeError(message)

    return factory


def _options(config: dict[str, Any]) -> dict[str, Any]:
    if "primaryAttempts" in config:
        primary = _scripted(config["primaryAttempts"])
    elif "attempts" in config:
        primary = _scripted(config["attempts"])
    elif "streamError" in config:
        primary = _failing(config["streamError"]["message"])
    else:
        primary = _scripted([{"tokens": config.get("tokens", [])}])
    options: dict[str, Any] = {
        "stream": primary,
        "fallbacks": [_scripted([spec]) for spec in config.get("fallbackStreams", [])],
        "context": config.get("context"),
    }
    attempts = config.get("attempts", config.get("primaryAttempts", []))
    rejected = {"".join(a.get("tokens", [])) for a in attempts if a.get("guardrailFails")}
    if rejected:
        # "guardrailFails": a rule that rejects exactly those attempts' output.
        options["guardrails"] = [
            l0.Rule.completion(
                "scenario", lambda text: "rejected by the scenario" if text in rejected else None
            )
        ]
    if "retry" in config:
        retry = config["retry"]
        options["retry"] = l0.Retry(
            attempts=retry.get("attempts", 3), max_retries=retry.get("maxRetries", 6)
        )
    if "timeout" in config:
        t = config["timeout"]
        options["timeout"] = l0.Timeout(
            initial_token=t.get("initialToken"), inter_token=t.get("interToken"),
            total=t.get("total"),
        )  # fmt: skip
    return options


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _lookup(obj: Any, path: str) -> Any:
    for part in path.split("."):
        obj = obj[part] if isinstance(obj, dict) else getattr(obj, _snake(part))
    return obj  # pyright: ignore[reportUnknownVariableType]


Calls = list[tuple[str, tuple[Any, ...]]]


async def _play(
    config: dict[str, Any],
) -> tuple[list[ObservabilityEvent], Calls, l0.L0Error | None]:
    events: list[ObservabilityEvent] = []
    calls: list[tuple[str, tuple[Any, ...]]] = []

    def recorder(name: str) -> Callable[..., None]:
        def record(*args: Any) -> None:
            calls.append((name, args))

        return record

    names = ["on_start", "on_complete", "on_error", "on_retry", "on_fallback", "on_timeout",
             "on_abort", "on_checkpoint", "on_resume", "on_violation", "on_drift",
             "on_tool_call"]  # fmt: skip
    callbacks = {name: recorder(name) for name in names}
    error: l0.L0Error | None = None
    with l0.testing.set_testing():
        stream = l0.run(**_options(config), on_event=events.append, **callbacks)
        try:
            await stream.read()
        except l0.L0Error as exc:
            error = exc
    return events, calls, error


def _check_invariants(events: list[ObservabilityEvent], context: dict[str, Any] | None) -> None:
    types = [type(e).__name__ for e in events]
    assert types.count("SessionStart") == 1, "SESSION_START exactly once"
    for i, event in enumerate(events):
        if isinstance(event, l0.events.AttemptStart):
            assert event.attempt >= 2
            assert event.is_retry
            assert not event.is_fallback
            assert isinstance(events[i - 1], l0.events.RetryAttempt) or any(
                isinstance(e, l0.events.RetryAttempt) for e in events[:i]
            ), "RETRY_ATTEMPT precedes ATTEMPT_START"
    retry_positions = [i for i, e in enumerate(events) if isinstance(e, l0.events.RetryAttempt)]
    attempt_positions = [i for i, e in enumerate(events) if isinstance(e, l0.events.AttemptStart)]
    assert len(retry_positions) == len(attempt_positions)
    assert all(r < a for r, a in zip(retry_positions, attempt_positions, strict=True))
    stamps = [e.ts for e in events]
    assert stamps == sorted(stamps), "timestamps are monotonic"
    assert len({e.stream_id for e in events}) == 1, "one stream id"
    assert all(e.context == context for e in events), "context on every event"
    if context:
        with pytest.raises(TypeError):
            events[0].context["injected"] = 1  # type: ignore[index]


def _check_expected(scenario: dict[str, Any], events: list[ObservabilityEvent]) -> None:
    wire = [msgspec.to_builtins(e) for e in events]
    position = 0
    for expected in scenario.get("expectedObservabilityEvents", []):
        assertions = expected.get("assertions", {})
        while position < len(wire) and not (
            wire[position]["type"] == expected["type"]
            and all(_lookup(wire[position], p) == v for p, v in assertions.items())
        ):
            position += 1
        assert position < len(wire), f"no {expected['type']} with {assertions} (in order) in {wire}"
        position += 1
    if "exactObservabilityTypes" in scenario:
        assert [w["type"] for w in wire] == scenario["exactObservabilityTypes"]


def _check_callbacks(scenario: dict[str, Any], calls: list[tuple[str, tuple[Any, ...]]]) -> None:
    for js_name, expected_calls in scenario.get("expectedCallbacks", {}).items():
        name = _snake(js_name)
        actual = [args for called, args in calls if called == name]
        assert len(actual) == len(expected_calls), (name, actual)
        for expected, args in zip(expected_calls, actual, strict=True):
            if "args" in expected:
                assert list(args[: len(expected["args"])]) == expected["args"], name
            for path, value in expected.items():
                if path.startswith("state."):
                    assert _lookup(args[0], path.removeprefix("state.")) == value, (name, path)


SCENARIOS = [pytest.param(s, id=s["id"]) for s in CANONICAL + OWN if not s.get("timing")]
TIMED = [pytest.param(s, id=s["id"]) for s in OWN if s.get("timing")]


@pytest.mark.parametrize("scenario", SCENARIOS)
async def test_scenario(scenario: dict[str, Any]) -> None:
    """The scenario's events, fields, callbacks and outcome are exactly as specified."""
    await _run_scenario(scenario)


@pytest.mark.timing
@pytest.mark.parametrize("scenario", TIMED)
async def test_timed_scenario(scenario: dict[str, Any]) -> None:
    """Scenarios with deadlines: exact under trio's MockClock, short real waits on asyncio."""
    await _run_scenario(scenario)


async def _run_scenario(scenario: dict[str, Any]) -> None:
    if scenario["id"] in NEEDS:
        pytest.skip(f"needs {NEEDS[scenario['id']]}")
    events, calls, error = await _play(scenario["config"])
    _check_invariants(events, scenario["config"].get("context"))
    _check_expected(scenario, events)
    _check_callbacks(scenario, calls)
    expected_error = scenario.get("expectedError")
    actual_code = error.code.value if error is not None else None
    assert actual_code == expected_error


async def test_replay_is_deterministic() -> None:
    """Two runs of the same scripted scenario give the same event types and fields."""

    def strip(event: ObservabilityEvent) -> dict[str, Any]:
        data: dict[str, Any] = msgspec.to_builtins(event)
        for key in ("ts", "streamId", "startTs", "endTs", "durationMs", "elapsedMs"):
            data.pop(key, None)
        if isinstance(data.get("state"), dict):
            data["state"].pop("timeToFirstTokenMs", None)
        return data

    config = next(s for s in OWN if s["id"] == "network-retry-then-fallback")["config"]
    first, _, _ = await _play(config)
    second, _, _ = await _play(config)
    assert [strip(e) for e in first] == [strip(e) for e in second]
