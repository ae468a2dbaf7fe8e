"""l0.structured end to end: healing, validation failures as failed attempts (retried,
re-asked, budgeted, fallen back), events and callbacks in lifecycle order, the streaming
form, and the local fault server over raw httpx SSE."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, TypedDict

import anyio
import attrs
import httpx
import msgspec
import pytest

import l0
import l0.structured
from l0.adapters import HttpxSSEAdapter, ProviderError, openai_sse
from l0.events import EventType
from l0.structured import (
    FieldComplete,
    InvalidJSON,
    Schema,
    SchemaValidationError,
    StructuredResult,
    failed_output,
    reask_messages,
    reask_prompt,
    structured,
    structured_array,
    structured_object,
    structured_stream,
)
from l0.testing import Drop, FakeServer, HttpError, Truncate, pytest_plugin
from l0.testing import Script as ServerScript
from tests._sources import Recorder, Script, ScriptWithContext, Stall, is_mock_clock

l0_server = pytest_plugin.l0_server  # the plugin's fixture, without the entry point

HAS_PYDANTIC = importlib.util.find_spec("pydantic") is not None
needs_pydantic = pytest.mark.skipif(not HAS_PYDANTIC, reason="pydantic is not installed")


class User(msgspec.Struct):
    name: str
    age: int
    url: str | None = None


GOOD = '{"name": "Ada", "age": 36}'
ADA = User(name="Ada", age=36)
WRONG_TYPE = '{"name": "Ada", "age": "thirty-six"}'


def chunks(text: str, size: int = 5) -> list[str]:
    """``text`` as the pieces a model would stream."""
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def model(*outputs: str) -> ScriptWithContext:
    """A fake model: attempt i says ``outputs[i]`` (the last repeats), in pieces; it keeps
    every AttemptContext it was given."""
    return ScriptWithContext(*(chunks(text) for text in outputs))


# --------------------------------------------------------------------------- schema kinds


@attrs.frozen
class AttrsUser:
    name: str
    age: int


@dataclasses.dataclass
class DataUser:
    name: str
    age: int


class DictUser(TypedDict):
    name: str
    age: int


def pydantic_user() -> Any:
    import pydantic  # noqa: PLC0415 - optional

    class PydanticUser(pydantic.BaseModel):
        name: str
        age: int

    return PydanticUser


SCHEMAS: list[Any] = [
    pytest.param(lambda: User, lambda data: data == ADA, id="struct"),
    pytest.param(lambda: AttrsUser, lambda data: data == AttrsUser("Ada", 36), id="attrs"),
    pytest.param(lambda: DataUser, lambda data: data == DataUser("Ada", 36), id="dataclass"),
    pytest.param(lambda: DictUser, lambda data: data == {"name": "Ada", "age": 36},
                 id="typeddict"),
    pytest.param(lambda: {"type": "object", "required": ["name", "age"],
                          "properties": {"age": {"type": "integer"}}},
                 lambda data: data == {"name": "Ada", "age": 36}, id="json-schema"),
    pytest.param(pydantic_user, lambda data: (data.name, data.age) == ("Ada", 36),
                 id="pydantic", marks=needs_pydantic),
]  # fmt: skip


@pytest.mark.parametrize(("make", "check"), SCHEMAS)
async def test_every_schema_kind(
    make: Callable[[], Any], check: Callable[[Any], bool], zero_backoff: None
) -> None:
    """Each kind of schema: a wrong type fails the first attempt, the retry's data is typed."""
    src = model(WRONG_TYPE, GOOD)
    result = await structured(make(), src)
    assert check(result.data)
    assert result.attempts == 2
    assert src.calls == 2
    assert isinstance(src.contexts[1].error, SchemaValidationError)


# --------------------------------------------------------------------------- healing


@pytest.mark.parametrize(
    ("output", "data", "kinds"),
    [
        ('Here you go:\n```json\n{"name": "Ada", "age": 36}\n```\nAnything else?', ADA,
         {"strip_fence", "strip_prose"}),
        ('{"name": "Ada", "age": 36}\n\nI hope this helps! {not json}', ADA, {"strip_prose"}),
        ('{"name": "Ada", "age": 36, "url": "https://example.com/a//b"',
         User(name="Ada", age=36, url="https://example.com/a//b"), {"close_bracket"}),
        ('{"name": "Ada", "age": 36, "url": "https://exa',
         User(name="Ada", age=36, url="https://exa"), {"close_string", "close_bracket"}),
        ("{'name': 'Ada', age: 36, // the age\n}", ADA,
         {"single_quotes", "quote_key", "remove_comment", "remove_trailing_comma"}),
    ],
    ids=["fenced", "trailing-prose", "truncated-after-url", "truncated-in-string", "js-like"],
)  # fmt: skip
async def test_healing(output: str, data: User, kinds: set[str]) -> None:
    """Fenced JSON, trailing prose, truncated JSON and JavaScript-like JSON heal in the first
    attempt; URLs (with //) inside strings are never touched."""
    seen: list[tuple[str, Any]] = []

    def corrected(raw: str, healed: l0.structured.Healed) -> None:
        seen.append((raw, healed))

    result = await structured(User, model(output), on_auto_correct=corrected)
    assert result.data == data
    assert result.attempts == 1
    assert result.raw == output
    assert result.corrected
    assert {c.kind for c in result.corrections} == kinds
    assert msgspec.json.decode(result.json_text, type=User) == data
    assert [(raw, healed.text) for raw, healed in seen] == [(output, result.json_text)]


async def test_valid_json_is_used_as_it_is() -> None:
    """Exact JSON is decoded as it is: no corrections, and '//' in a string is data."""
    output = ' {"name": "A // B", "age": 1, "url": "http://x.y//z"} '
    called: list[Any] = []
    result = await structured(User, model(output), on_auto_correct=called.append)
    assert result.data == User(name="A // B", age=1, url="http://x.y//z")
    assert (result.corrections, result.corrected, result.json_text) == ((), False, output)
    assert called == []


async def test_strict_mode_refuses_healing(zero_backoff: None) -> None:
    """strict_mode: only exact JSON; fenced JSON fails every attempt with InvalidJSON."""
    fenced = f"```json\n{GOOD}\n```"
    src = model(fenced)
    with pytest.raises(l0.AllStreamsExhausted) as caught:
        await structured(User, src, strict_mode=True, retry=l0.Retry(attempts=1))
    errors = caught.value.errors
    assert len(errors) == 2
    assert all(isinstance(e, InvalidJSON) for e in errors)
    assert "strict mode" in errors[0].message
    assert caught.value.__cause__ is errors[-1]
    assert failed_output(errors[0]) == fenced
    result = await structured(User, model(f"\n{GOOD}\n"), strict_mode=True)
    assert (result.data, result.corrections) == (ADA, ())


async def test_auto_correct_off_only_finds_the_json(zero_backoff: None) -> None:
    """auto_correct=False strips fences and prose, but repairs nothing inside the value."""
    result = await structured(User, model(f"Sure:\n```json\n{GOOD}\n```"), auto_correct=False)
    assert result.data == ADA
    src = model('{"name": "Ada", "age": 36,}', GOOD)
    result = await structured(User, src, auto_correct=False)
    assert result.attempts == 2
    error = src.contexts[1].error
    assert isinstance(error, InvalidJSON)
    assert "remove_trailing_comma" in error.message


async def test_empty_output_is_zero_output_not_invalid_json(zero_backoff: None) -> None:
    """An attempt with no output fails as ZERO_OUTPUT (l0's own check), then is retried."""
    src = model("", "  ", GOOD)
    result = await structured(User, src)
    assert result.data == ADA
    assert [type(ctx.error) for ctx in src.contexts] == [type(None), l0.ZeroOutput, l0.ZeroOutput]


# --------------------------------------------------------------------------- re-asking, budget


async def test_reask_gives_the_next_attempt_the_validation_errors(zero_backoff: None) -> None:
    """The second attempt's factory sees a SchemaValidationError with the issues, the
    refused output and the attempt; reask_messages turns it into chat messages."""
    src = model(WRONG_TYPE, GOOD)
    result = await structured(User, src)
    assert result.data == ADA
    first, second = src.contexts
    assert first.error is None
    error = second.error
    assert isinstance(error, SchemaValidationError)
    assert (second.attempt, second.is_retry) == (2, True)
    [issue] = error.issues
    assert (issue.code, issue.path, issue.expected, issue.received) == (
        "INVALID_ARGUMENT_TYPE", ("age",), "int", "str",
    )  # fmt: skip
    assert (error.output, error.value, error.schema_name) == (
        WRONG_TYPE, msgspec.json.decode(WRONG_TYPE), "User",
    )  # fmt: skip
    assert (error.attempt, error.source_index) == (1, 0)
    assert error.retryable
    base = [{"role": "user", "content": "Who is Ada?"}]
    messages = reask_messages(base, second, schema=User)
    assert messages[:2] == [*base, {"role": "assistant", "content": WRONG_TYPE}]
    assert messages[2]["role"] == "user"
    assert "$.age: Expected `int`, got `str`" in messages[2]["content"]
    assert '"required":["name","age"]' in messages[2]["content"]
    assert reask_messages(base, first) == base
    assert reask_messages(base, l0.ZeroOutput("x")) == base
    assert reask_messages(base, error, include_output=False)[1]["role"] == "user"


async def test_reask_after_text_that_is_not_json(zero_backoff: None) -> None:
    """Output with no JSON in it is an InvalidJSON failure, carrying the output for re-asking."""
    src = model("I cannot answer that.", GOOD)
    await structured(User, src)
    error = src.contexts[1].error
    assert isinstance(error, InvalidJSON)
    assert failed_output(error) == "I cannot answer that."
    assert "not valid JSON" in reask_prompt(error)
    assert reask_messages([], error)[0] == {"role": "assistant", "content": "I cannot answer that."}


async def test_reask_off_leaves_the_guardrail_error(zero_backoff: None) -> None:
    """reask=False: the factory sees the error as l0 reports any guardrail failure."""
    src = model(WRONG_TYPE, GOOD)
    await structured(User, src, reask=False)
    error = src.contexts[1].error
    assert isinstance(error, l0.GuardrailViolationError)
    [violation] = error.violations
    assert violation.rule_id == l0.structured.RULE_NAME
    assert violation.metadata["issues"][0]["code"] == "INVALID_ARGUMENT_TYPE"


async def test_validation_failures_use_the_retry_budget(zero_backoff: None) -> None:
    """Retry(attempts=2): three attempts, then AllStreamsExhausted whose errors are the
    structured failures; on_validation_error saw each one."""
    src = model(WRONG_TYPE)
    rec = Recorder()
    with pytest.raises(l0.AllStreamsExhausted) as caught:
        await structured(User, src, retry=l0.Retry(attempts=2, max_retries=10),
                         on_validation_error=rec.sync("invalid"))  # fmt: skip
    assert src.calls == 3
    errors = caught.value.errors
    assert [type(e) for e in errors] == [SchemaValidationError] * 3
    assert caught.value.__cause__ is errors[-1]
    assert [(args[0], args[1]) for args in rec.args("invalid")] == [(e, e.attempt) for e in errors]
    assert [e.attempt for e in errors] == [1, 2, 3]
    assert isinstance(caught.value, l0.L0Error)


async def test_structured_failures_have_their_own_error_codes(zero_backoff: None) -> None:
    """A refused answer is an L0Error with an ErrorCode: SCHEMA_VALIDATION_FAILED for JSON
    that does not match, INVALID_JSON for text with no JSON; both content errors, retryable,
    stamped with where they happened, and serialised with their code and issues."""
    src = model("I cannot answer that.", WRONG_TYPE)
    with pytest.raises(l0.AllStreamsExhausted) as caught:
        await structured(User, src, retry=l0.Retry(attempts=1), context={"request": "r1"})
    not_json, mismatch = caught.value.errors
    assert isinstance(not_json, InvalidJSON)
    assert isinstance(mismatch, SchemaValidationError)
    assert (not_json.code, mismatch.code) == (
        l0.ErrorCode.INVALID_JSON, l0.ErrorCode.SCHEMA_VALIDATION_FAILED,
    )  # fmt: skip
    for error in (not_json, mismatch):
        assert isinstance(error, l0.L0Error)
        assert error.category is l0.ErrorCategory.CONTENT
        assert error.retryable
    assert (not_json.attempt, mismatch.attempt) == (1, 2)
    wire = mismatch.to_json()
    assert wire["code"] == "SCHEMA_VALIDATION_FAILED"
    assert wire["category"] == "content"
    assert wire["metadata"]["issues"][0]["code"] == "INVALID_ARGUMENT_TYPE"
    assert wire["context"] == {"request": "r1"}
    assert caught.value.code is l0.ErrorCode.ALL_STREAMS_EXHAUSTED


async def test_fallback_after_the_budget(zero_backoff: None) -> None:
    """With no retries left the fallback is tried, and it sees the structured failure too."""
    primary, fallback = model(WRONG_TYPE), model(GOOD)
    result = await structured(User, primary, fallbacks=[fallback], retry=None)
    assert result.data == ADA
    assert result.state.fallback_index == 1
    assert result.attempts == 2
    [ctx] = fallback.contexts
    assert ctx.is_fallback
    assert isinstance(ctx.error, SchemaValidationError)


async def test_factories_without_a_context_and_user_guardrails(zero_backoff: None) -> None:
    """A factory that takes no context is called without one; the user's own guardrails run
    as well as the structured check."""
    src = Script(chunks('{"name": "BAD", "age": 1}'), chunks(GOOD))
    rule = l0.Rule.completion("no-bad", lambda text: "bad name" if "BAD" in text else None)
    result = await structured(User, src, guardrails=rule)
    assert (result.data, src.calls) == (ADA, 2)
    error = result.state.errors[0]
    assert isinstance(error, l0.GuardrailViolationError)
    assert [v.rule_id for v in error.violations] == ["no-bad"]


# --------------------------------------------------------------------------- events, callbacks


STRUCTURED = {t for t in EventType if t.value.startswith("STRUCTURED_")}


async def test_events_in_lifecycle_order(zero_backoff: None) -> None:
    """STRUCTURED_* events come after the attempt's stream events and before the guardrail
    verdict (the completion check's phase), with canonical fields, the stream's
    id and context, and monotonic timestamps."""
    events: list[Any] = []
    result = await structured(User, model(f"```json\n{WRONG_TYPE}\n```", GOOD),
                              on_event=events.append, context={"request": "r1"})  # fmt: skip
    types = [e.event_type for e in events]
    failed = [
        EventType.STRUCTURED_PARSE_START,
        EventType.STRUCTURED_AUTO_CORRECT_START,
        EventType.STRUCTURED_AUTO_CORRECT_END,
        EventType.STRUCTURED_PARSE_END,
        EventType.STRUCTURED_VALIDATION_START,
        EventType.STRUCTURED_VALIDATION_ERROR,
        EventType.STRUCTURED_VALIDATION_END,
        EventType.GUARDRAIL_PHASE_START,
    ]
    passed = [
        EventType.STRUCTURED_PARSE_START,
        EventType.STRUCTURED_PARSE_END,
        EventType.STRUCTURED_VALIDATION_START,
        EventType.STRUCTURED_VALIDATION_END,
        EventType.GUARDRAIL_PHASE_START,  # the passing check is reported too
    ]
    structured_or_next = [
        t for i, t in enumerate(types) if t in STRUCTURED or (i and types[i - 1] in STRUCTURED)
    ]
    assert structured_or_next == failed + passed
    assert types.index(EventType.STREAM_READY) < types.index(EventType.STRUCTURED_PARSE_START)
    assert types[-1] == EventType.COMPLETE
    assert {e.stream_id for e in events} == {result.stream_id}
    assert all(e.context == {"request": "r1"} for e in events)
    stamps = [e.ts for e in events]
    assert stamps == sorted(stamps)
    by_type: dict[EventType, list[Any]] = {}
    for event in events:
        by_type.setdefault(event.event_type, []).append(event)
    start = by_type[EventType.STRUCTURED_PARSE_START]
    assert [e.content_length for e in start] == [len(WRONG_TYPE) + 12, len(GOOD)]
    assert [e.success for e in by_type[EventType.STRUCTURED_PARSE_END]] == [True, True]
    [correct] = by_type[EventType.STRUCTURED_AUTO_CORRECT_END]
    assert (correct.success, correct.corrections_made) == (True, 1)
    assert by_type[EventType.STRUCTURED_AUTO_CORRECT_START][0].error_count == 1
    assert {e.schema_name for e in by_type[EventType.STRUCTURED_VALIDATION_START]} == {"User"}
    [invalid] = by_type[EventType.STRUCTURED_VALIDATION_ERROR]
    assert invalid.errors == ["$.age: Expected `int`, got `str`"]
    assert [e.valid for e in by_type[EventType.STRUCTURED_VALIDATION_END]] == [False, True]
    assert all(e.duration_ms >= 0 for e in by_type[EventType.STRUCTURED_VALIDATION_END])
    wire = l0.events.encode_event(invalid)
    assert b'"type":"STRUCTURED_VALIDATION_ERROR"' in wire


async def test_parse_failure_events(zero_backoff: None) -> None:
    """Text that cannot be healed: PARSE_ERROR (with a preview) then PARSE_END(success=False);
    no validation."""
    events: list[Any] = []
    await structured(User, model("no json here", GOOD), on_event=events.append)
    types = [e.event_type for e in events if e.event_type in STRUCTURED]
    assert types[:5] == [
        EventType.STRUCTURED_PARSE_START,
        EventType.STRUCTURED_AUTO_CORRECT_START,
        EventType.STRUCTURED_AUTO_CORRECT_END,
        EventType.STRUCTURED_PARSE_ERROR,
        EventType.STRUCTURED_PARSE_END,
    ]
    error = next(e for e in events if e.event_type is EventType.STRUCTURED_PARSE_ERROR)
    assert error.content_preview == "no json here"
    end = next(e for e in events if e.event_type is EventType.STRUCTURED_PARSE_END)
    assert end.success is False


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_callbacks_in_order(kind: str, zero_backoff: None) -> None:
    """on_auto_correct and on_validation_error (sync or async) come in lifecycle order:
    before the violation, the error and the retry; the user's callbacks still work."""
    rec = Recorder()
    names = ["on_violation", "on_error", "on_retry", "on_complete"]
    callbacks = {name: rec.make(name, kind) for name in names}
    await structured(User, model(f"```\n{WRONG_TYPE}\n```", GOOD),
                     on_auto_correct=rec.make("on_auto_correct", kind),
                     on_validation_error=rec.make("on_validation_error", kind),
                     **callbacks)  # type: ignore[arg-type]  # fmt: skip
    assert rec.names() == ["on_auto_correct", "on_validation_error", "on_violation", "on_error",
                           "on_retry", "on_complete"]  # fmt: skip


async def test_a_callback_that_raises_is_logged(
    caplog: pytest.LogCaptureFixture, zero_backoff: None
) -> None:
    """A broken on_validation_error is logged; the stream goes on."""

    def broken(*_args: Any) -> None:
        raise RuntimeError("oops")

    result = await structured(User, model(WRONG_TYPE, GOOD), on_validation_error=broken)
    assert result.data == ADA
    assert "on_validation_error raised" in caplog.text


# --------------------------------------------------------------------------- result, forms


@pytest.mark.timing
async def test_result_timing(anyio_backend: Any) -> None:
    """duration and time_to_first_token are measured on the loop's clock."""
    src = Script([Stall(0.25), *chunks(GOOD), Stall(0.5)])
    result = await structured(User, src)
    assert isinstance(result, StructuredResult)
    assert result.state.completed
    assert result.time_to_first_token is not None
    if is_mock_clock(anyio_backend):
        assert (result.time_to_first_token, result.duration) == (0.25, 0.75)
    else:
        assert 0.25 <= result.time_to_first_token < 0.75 <= result.duration < 3.0
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        result.data = ADA  # type: ignore[misc]


@pytest.mark.timing
async def test_a_stalled_attempt_times_out_and_its_partial_json_is_dropped(
    anyio_backend: Any, zero_backoff: None
) -> None:
    """timeout= works as for l0.run: an attempt stalled mid-JSON times out and is retried;
    its half of an object is neither healed into an answer nor mixed into the next one."""
    src = Script(['{"name": "Ada", ', Stall(30.0), '"age": 1}'], chunks(GOOD))
    result = await structured(User, src, timeout=l0.Timeout(initial_token=5.0, inter_token=0.05))
    assert (result.data, result.raw, result.corrections) == (ADA, GOOD, ())
    assert [type(e) for e in result.state.errors] == [l0.StreamTimeout]
    assert result.state.errors[0].code is l0.ErrorCode.INTER_TOKEN_TIMEOUT
    assert result.attempts == 2
    assert result.duration < 5.0


async def test_object_and_array_forms(zero_backoff: None) -> None:
    """structured_object takes a shape of fields; structured_array an item schema."""
    obj = await structured_object({"name": str, "age": int}, model('{"name": "Ada", "age": "x"}',
                                                                   GOOD))  # fmt: skip
    assert (obj.data, obj.attempts) == ({"name": "Ada", "age": 36}, 2)
    arr = await structured_array(User, model(f"[{GOOD}, {GOOD}"))
    assert arr.data == [ADA, ADA]
    schema_arr = await structured_array({"type": "integer"}, model("[1, 2, 3]"))
    assert schema_arr.data == [1, 2, 3]


async def test_the_module_is_callable() -> None:
    """l0.structured is the module and, called, the structured() function; public names
    say l0.structured."""
    result = await l0.structured(User, model(GOOD))  # type: ignore[operator]
    assert result.data == ADA
    assert l0.structured.heal(GOOD).changed is False
    for obj in (Schema, SchemaValidationError, StructuredResult, structured, FieldComplete):
        assert obj.__module__ == "l0.structured"
    assert set(l0.structured.__all__) <= set(dir(l0.structured))


async def test_configuration_errors() -> None:
    """Bad arguments fail at once with ConfigError (unknown keywords with TypeError)."""
    with pytest.raises(l0.ConfigError):
        await structured(User, model(GOOD), auto_correct="yes")  # type: ignore[arg-type]
    with pytest.raises(l0.ConfigError):
        await structured(User, "not a factory")
    with pytest.raises(l0.ConfigError):
        await structured(User, model(GOOD), on_validation_error=1)  # type: ignore[arg-type]
    with pytest.raises(l0.ConfigError):
        await structured(User, model(GOOD), fallbacks=model(GOOD))  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        await structured(User, model(GOOD), no_such_option=1)  # type: ignore[call-arg]
    with pytest.raises(l0.ConfigError, match="unsupported schema"):
        await structured(Recorder, model(GOOD))


# --------------------------------------------------------------------------- streaming form


async def test_structured_stream_fields_then_result(zero_backoff: None) -> None:
    """Fields arrive as they complete; a failed attempt gives a Reset; the last item is the
    validated result."""
    items: list[Any] = []
    stream = structured_stream(User, model(WRONG_TYPE, '{"name": "Ada", "age": 36, "url": null}'))
    async with stream:
        async for item in stream:
            items.append(item)
            if isinstance(item, FieldComplete) and item.path == ("name",):
                assert stream.partial["name"] == "Ada"
    fields = [(i.path, i.value) for i in items if isinstance(i, FieldComplete)]
    assert fields == [(("name",), "Ada"), (("age",), "thirty-six"),
                      (("name",), "Ada"), (("age",), 36), (("url",), None)]  # fmt: skip
    kinds = [type(i).__name__ for i in items]
    assert kinds == ["FieldComplete", "FieldComplete", "Reset", *["FieldComplete"] * 3,
                     "StructuredResult"]  # fmt: skip
    result = items[-1]
    assert isinstance(result, StructuredResult)
    assert (result.data, result.attempts) == (User(name="Ada", age=36), 2)
    with pytest.raises(l0.StreamClosed):
        await stream.__anext__()


async def test_structured_stream_survives_text_the_partial_parser_refuses() -> None:
    """Output the incremental parser cannot follow stops the partial events, not the result."""
    stream = structured_stream(User, model("{'name': 'Ada', 'age': 36}"))
    items = [item async for item in stream]
    assert [type(i).__name__ for i in items] == ["StructuredResult"]
    assert items[0].data == ADA  # type: ignore[union-attr]


async def test_structured_stream_failure_and_early_close(zero_backoff: None) -> None:
    """Failures are raised from the iteration (translated); closing early closes the source."""
    src = model(WRONG_TYPE)
    with pytest.raises(l0.AllStreamsExhausted) as caught:
        async for _ in structured_stream(User, src, retry=None):
            pass
    assert isinstance(caught.value.errors[0], SchemaValidationError)
    src = model('{"name": "Ada", "age": 36}')
    stream = structured_stream(User, src)
    async for item in stream:
        assert isinstance(item, FieldComplete)
        break
    await stream.aclose()
    await stream.aclose()
    assert src.all_closed
    with pytest.raises(l0.StreamClosed):
        await stream.__anext__()


# --------------------------------------------------------------------------- over HTTP

BODY = {"model": "gpt-test", "messages": [{"role": "user", "content": "Ada as JSON"}]}


@pytest.fixture
async def client(l0_server: FakeServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=l0_server.base_url, timeout=None) as http:
        yield http


@pytest.mark.parametrize(
    ("text", "data", "finish"),
    [
        ('Sure!\n```json\n{"name": "Ada",\n "age": 36}\n```', ADA, "stop"),
        ('{"name": "Ada", "age": 36} Let me know if you need more.', ADA, "stop"),
        ('{"name": "Ada", "age": 36, "url": "https://en.wikipedia.org/wiki/Ada_Lovelace',
         User(name="Ada", age=36, url="https://en.wikipedia.org/wiki/Ada_Lovelace"), "stop"),
        ('{"name": "Ada", "age": 36, "url": "https://en.wikipedia.org/wi',
         User(name="Ada", age=36, url="https://en.wikipedia.org/wi"), "length"),
        ('{"url": "http://a.b//c", "name": "Ada", "age": 36}',
         User(name="Ada", age=36, url="http://a.b//c"), "stop"),
    ],
    ids=["fenced", "trailing-prose", "truncated", "token-limit", "url-in-string"],
)  # fmt: skip
async def test_over_http(
    text: str, data: User, finish: str, l0_server: FakeServer, client: httpx.AsyncClient
) -> None:
    """Through the fault server and the raw httpx SSE adapter, the model's text heals
    (a value cut by the model's token limit too); valid JSON is taken as it is."""
    l0_server.enqueue(ServerScript(text=text, finish_reason=finish))
    result = await structured(User, openai_sse(client, json=BODY), adapter=HttpxSSEAdapter())
    assert (result.data, result.raw, result.attempts) == (data, text, 1)
    assert result.state.finish_reason == finish
    assert result.corrected is (text[0] != "{" or text[-1] != "}")


async def test_over_http_with_faults_and_reask(
    l0_server: FakeServer, client: httpx.AsyncClient, zero_backoff: None
) -> None:
    """A 500, a dropped connection, then an answer that fails validation, then a good one:
    the faults are retried as usual, and the re-ask request carries the errors."""
    l0_server.enqueue(
        ServerScript(faults=[HttpError(status=500)]),
        ServerScript(text=GOOD, faults=[Drop(after=2)]),
        ServerScript(text=WRONG_TYPE),
        ServerScript(text=GOOD),
    )

    def body(ctx: l0.AttemptContext) -> dict[str, Any]:
        return {**BODY, "messages": reask_messages(BODY["messages"], ctx)}

    events: list[Any] = []
    result = await structured(User, openai_sse(client, json=body), adapter=HttpxSSEAdapter(),
                              on_event=events.append)  # fmt: skip
    assert result.data == ADA
    assert result.attempts == 4
    assert [type(e) for e in result.state.errors] == [
        ProviderError,
        l0.NetworkError,
        l0.GuardrailViolationError,  # the state keeps what the engine saw
    ]
    messages = [r.messages for r in l0_server.requests]
    assert messages[:3] == [BODY["messages"]] * 3
    assert messages[3][:2] == [*BODY["messages"], {"role": "assistant", "content": WRONG_TYPE}]
    assert "$.age" in messages[3][2]["content"]
    validations = [e for e in events if e.event_type is EventType.STRUCTURED_VALIDATION_END]
    assert [e.valid for e in validations] == [False, True]


async def test_a_truncated_body_is_a_network_failure_not_an_answer(
    l0_server: FakeServer, client: httpx.AsyncClient, zero_backoff: None
) -> None:
    """A body that ends without a finish reason is retried as STREAM_TRUNCATED (a network
    retry), never healed into an answer or counted as a refused output: its text is not even
    judged, although here it would heal into a valid (wrong) answer."""
    pieces = ['{"name": "Ada", ', '"age": 36, ', '"url": "https://exa', 'mple.org/ada"}']
    l0_server.enqueue(ServerScript(text=pieces, faults=[Truncate(after=3)]),
                      ServerScript(text=pieces))  # fmt: skip
    events: list[Any] = []
    refused: list[Any] = []
    result = await structured(
        User,
        openai_sse(client, json=BODY),
        adapter=HttpxSSEAdapter(),
        on_event=events.append,
        on_validation_error=refused.append,
    )
    assert result.data == User(name="Ada", age=36, url="https://example.org/ada")
    assert [type(e) for e in result.state.errors] == [l0.StreamTruncated]
    assert result.state.model_retry_count == 0
    assert result.corrections == ()
    starts = [e for e in events if e.event_type is EventType.STRUCTURED_PARSE_START]
    assert [e.content_length for e in starts] == [len("".join(pieces))]
    assert refused == []


async def test_cancelling_closes_the_connection(
    l0_server: FakeServer, client: httpx.AsyncClient
) -> None:
    """Cancelling structured() mid-stream closes the provider connection."""
    # Chunks far apart: cancelled at 0.1 s, it is mid-stream however loaded the machine is.
    l0_server.enqueue(ServerScript(text=GOOD, delay=0.5))
    with anyio.move_on_after(0.1):
        await structured(User, openai_sse(client, json=BODY), adapter=HttpxSSEAdapter())
    with anyio.fail_after(5):
        await l0_server.wait_until(lambda: not any(c.open for c in l0_server.connections))
    assert l0_server.connections[0].abandoned


async def test_session_structured_uses_the_session_defaults(zero_backoff: None) -> None:
    """Session.structured starts from the session's defaults: its on_event (which gets the
    STRUCTURED_* events too), context, retry policy and shared retry budget, which refused
    outputs draw on like any retry; a call's own keywords override them."""
    events: list[Any] = []
    budget = l0.RetryBudget(capacity=10, cost=5, refund=0)
    async with l0.session(on_event=events.append, context={"s": 1}, retry=l0.Retry(attempts=5),
                          retry_budget=budget) as session:  # fmt: skip
        result = await session.structured(User, model(WRONG_TYPE, GOOD))
        assert (result.data, result.attempts) == (ADA, 2)
        types = [e.event_type for e in events]
        assert types.count(EventType.STRUCTURED_VALIDATION_END) == 2
        assert {e.stream_id for e in events} == {result.stream_id}
        assert all(e.context == {"s": 1} for e in events)
        assert budget.available == 10  # the retry's tokens came back with the success

        src = model(WRONG_TYPE)
        with pytest.raises(l0.AllStreamsExhausted) as caught:
            await session.structured(User, src)
        assert src.calls == 3  # two retries paid for, the third refused by the budget
        assert budget.refused == 1
        assert [type(e) for e in caught.value.errors] == [SchemaValidationError] * 3

        own: list[Any] = []
        arr = await session.structured({"type": "array"}, model("[1, 2"), on_event=own.append)
        assert arr.data == [1, 2]
        assert EventType.STRUCTURED_AUTO_CORRECT_END in {e.event_type for e in own}
        # A stream's own sink is added to the session's: both saw the stream.
        assert arr.stream_id in {e.stream_id for e in events}
    with pytest.raises(l0.ConfigError, match="async with"):
        await session.structured(User, model(GOOD))


SPEC = json.loads((Path(__file__).parent / "canonical-spec.json").read_text(encoding="utf-8"))


async def test_structured_events_carry_the_canonical_fields(zero_backoff: None) -> None:
    """Every STRUCTURED_* type is emitted, and on the wire each carries its canonical
    (camelCase) fields: all the required ones, nothing outside the spec."""
    events: list[Any] = []
    await structured(User, model("no json here", f"```json\n{WRONG_TYPE}\n```", GOOD),
                     on_event=events.append)  # fmt: skip
    shapes = SPEC["monitoring"]["observabilityEvents"]
    spec, base = shapes["events"], set(shapes["baseShape"])
    emitted = {e.event_type.value for e in events if e.event_type in STRUCTURED}
    assert emitted == {t.value for t in STRUCTURED} == {n for n in spec if "STRUCTURED_" in n}
    for event in events:
        if event.event_type not in STRUCTURED:
            continue
        wire = json.loads(l0.events.encode_event(event))
        fields = spec[event.event_type.value]["fields"]
        required = {f["name"] for f in fields if f["required"]}
        assert required <= set(wire), event
        assert set(wire) <= base | {f["name"] for f in fields}, event
