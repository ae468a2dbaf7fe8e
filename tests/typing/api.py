"""The public API as users write it, checked by pyright (strict) in ``nox -s typing``.

This file is never run; it is type-checked. Each ``assert_type`` pins a type the public API
gives back, and the file as a whole must type-check without errors, so a change that makes
the API less precisely typed (an ``Any`` leaking out, a lost overload) or rejects ordinary use
fails the typing session.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import msgspec
from typing_extensions import assert_type

import l0
import l0.events
import l0.format
import l0.guardrails
import l0.monitoring
import l0.testing
from l0.structured import Healed, heal, structured_array


async def model() -> AsyncIterator[str]:
    yield "Hello"


def factory_with_context(ctx: l0.AttemptContext) -> AsyncIterator[str]:
    assert_type(ctx.attempt, int)
    assert_type(ctx.checkpoint, str)
    assert_type(ctx.is_resume, bool)
    return model()


class User(msgspec.Struct):
    name: str
    age: int


def on_retry(attempt: int, reason: str) -> None:
    pass


async def running_a_stream() -> None:
    stream = l0.run(
        model,
        fallbacks=[factory_with_context],
        retry=l0.Retry(attempts=2, max_retries=4, base_delay=0.5, strategy="exponential"),
        timeout=l0.Timeout(initial_token=10.0, inter_token=5.0, total=None),
        check_intervals=l0.CheckIntervals(guardrails=5),
        context={"request_id": "r-1"},
        continue_from_last_good_token=l0.ContinuationConfig(min_overlap=2),
        guardrails=l0.Guardrails.recommended(),
        drift=True,
        seed=7,
        keep_raw=True,
        on_retry=on_retry,
        on_event=l0.monitoring.Metrics(),
    )
    assert_type(stream, l0.Stream)
    async for event in stream:
        assert_type(event, l0.StreamEvent)
        assert_type(event.is_token, bool)
        assert_type(event.text, str)
        if isinstance(event, l0.Reset):
            assert_type(event.discarded, int)
        elif isinstance(event, l0.ToolCall):
            assert_type(event.arguments, dict[str, Any])
    assert_type(await stream.read(), str)
    assert_type(await l0.run(model), l0.Stream)
    assert_type(stream.raw(), list[Any])
    assert_type(stream.seed, int)

    state = stream.state
    assert_type(state, l0.State)
    assert_type(state.content, str)
    assert_type(state.token_count, int)
    assert_type(state.model_retry_count, int)
    assert_type(state.network_retry_count, int)
    assert_type(state.fallback_index, int)
    assert_type(state.completed, bool)
    assert_type(state.error, l0.L0Error | None)
    assert_type(state.errors, list[l0.L0Error])
    assert_type(state.time_to_first_token, float | None)

    async with l0.run(model) as stream:
        stream.abort()


async def sessions_and_wrapping(client: Any) -> None:
    async with l0.session(retry=None, on_event=print) as session:
        assert_type(session, l0.Session)
        assert_type(session.run(model), l0.Stream)
    wrapped = l0.wrap(client, retry=l0.Retry.recommended())
    assert_type(wrapped, Any)


async def errors() -> None:
    try:
        await l0.run(model).read()
    except l0.AllStreamsExhausted as exc:
        assert_type(exc.errors, list[l0.L0Error])
        assert_type(exc.code, l0.ErrorCode)
        assert_type(exc.category, l0.ErrorCategory)
    except l0.StreamTimeout as exc:
        assert_type(exc.retryable, bool)
        assert_type(exc.retry_after, float | None)


def observability(event: l0.events.ObservabilityEvent) -> None:
    assert_type(event.ts, float)
    assert_type(event.stream_id, str)
    assert_type(event.event_type, l0.events.EventType)
    assert_type(l0.events.encode_event(event), bytes)
    if isinstance(event, l0.events.RetryAttempt):
        assert_type(event.attempt, int)


async def structured_output() -> None:
    result = await l0.structured(User, model)
    assert_type(result, l0.StructuredResult[User])
    assert_type(result.data, User)
    assert_type(result.attempts, int)
    rows = await structured_array(User, model)
    assert_type(rows.data, list[User])
    assert_type(heal('{"a": 1'), Healed)


async def many_streams() -> None:
    race = await l0.race([model, model])
    assert_type(race, l0.RaceResult)
    assert_type(race.text, str)
    results = await l0.parallel([model, model], concurrency=2)
    assert_type(results, l0.ParallelResult)
    assert_type(results.ok, bool)


def guardrails_and_formatting() -> None:
    rule = l0.guardrails.pattern_rule()
    assert_type(rule, l0.Rule)
    rules = l0.Guardrails([rule, l0.guardrails.json_rule()])
    assert_type(rules, l0.guardrails.Guardrails)
    assert_type(l0.format.fence("text"), str)


def testing() -> None:
    with l0.testing.set_testing(attempts=1):
        pass
    assert_type(l0.testing.Script(text="hi"), l0.testing.Script)
