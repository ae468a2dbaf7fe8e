"""JSON for every public l0 type: ``to_json`` / ``from_json`` round trips, and the JSON Schema
from ``schema`` validating what ``to_json`` writes (checked with l0's own validator)."""

import functools
import json
import math
import pickle
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, cast, get_args

import anyio
import attrs
import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import l0
import l0.events as ev
from l0._config import DEFAULT_RETRY_ON
from l0._errors import RetryReason
from l0._guardrails._drift import DRIFT_TYPES
from l0._multi._consensus import decide
from l0._schema import (
    ErrorInfo,
    RecordedError,
    SerializationError,
    StateSnapshot,
    from_json,
    schema,
    to_json,
)
from l0.guardrails import DriftResult, Finding
from l0.structured import (
    Correction,
    Done,
    FieldComplete,
    Healed,
    JSONSchemaValidator,
    PartialEvent,
    SchemaValidationError,
    ValidationIssue,
)

SPEC = json.loads((Path(__file__).parent / "canonical-spec.json").read_text())
FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@functools.cache
def validator(tp: Any) -> JSONSchemaValidator:
    return JSONSchemaValidator(schema(tp))


def write(value: Any, *types: Any) -> bytes:
    """``to_json(value)``, checked against the schema of each of ``types``."""
    data = to_json(value)
    decoded = json.loads(data)
    for tp in types:
        assert validator(tp).validate(decoded) == [], tp
    return data


def round_trip(value: Any, tp: Any, *also: Any) -> Any:
    """Encode, validate against ``schema(tp)`` (and ``also``), decode as ``tp``."""
    return from_json(write(value, tp, *also), tp)


def assert_stable(value: Any, tp: Any, *also: Any) -> Any:
    """For values holding a State or an error (no value equality): the decoded value writes
    exactly the same JSON."""
    data = write(value, tp, *also)
    back = from_json(data, tp)
    assert to_json(back) == data
    return back


def wire_keys(tp: Any) -> list[str]:
    out = schema(tp)
    return list(out["$defs"][out["$ref"].rsplit("/", 1)[1]]["properties"])


# --------------------------------------------------------------------------- configs

CONFIGS = [
    l0.Retry(),
    l0.Retry.minimal(),
    l0.Retry(attempts=0, max_retries=1, base_delay=0.25, strategy="linear", retry_on=["drift"]),
    l0.Timeout(),
    l0.Timeout.disabled(),
    l0.Timeout(initial_token=2.5, inter_token=None, total=120.0),
    l0.CheckIntervals(guardrails=1, drift=0, checkpoint=7),
    l0.ContinuationConfig(),
    l0.ContinuationConfig(min_overlap=0, max_overlap=10, ignore_case=True, instruction="go on"),
    l0.DriftConfig(),
    l0.DriftConfig(types=["repetition"], threshold=0.9, action="halt", window=64),
]


@pytest.mark.parametrize("config", CONFIGS, ids=repr)
def test_configs_round_trip(config: Any) -> None:
    """A config comes back equal, and its JSON is its constructor's keywords."""
    assert round_trip(config, type(config)) == config
    data = json.loads(to_json(config))
    assert type(config)(**data) == config


@given(
    st.builds(
        l0.Retry,
        attempts=st.integers(0, 20),
        max_retries=st.integers(0, 40),
        base_delay=st.floats(0, 1e6),
        max_delay=st.floats(0, 1e6),
        strategy=st.sampled_from(["exponential", "linear", "fixed", "fixed-jitter", "full-jitter"]),
        retry_on=st.frozensets(st.sampled_from(get_args(RetryReason))),
        max_retry_after=st.floats(0, 1e6),
    ),
    st.builds(
        l0.Timeout,
        initial_token=st.none() | st.floats(1e-6, 1e6),
        inter_token=st.none() | st.floats(1e-6, 1e6),
        total=st.none() | st.floats(1e-6, 1e6),
    ),
    st.builds(
        l0.CheckIntervals,
        guardrails=st.integers(0, 1000),
        drift=st.integers(0, 1000),
        checkpoint=st.integers(0, 1000),
    ),
)
@FAST
def test_configs_round_trip_property(
    retry: l0.Retry, timeout: l0.Timeout, intervals: l0.CheckIntervals
) -> None:
    """Any valid Retry, Timeout and CheckIntervals come back equal."""
    assert round_trip(retry, l0.Retry) == retry
    assert round_trip(timeout, l0.Timeout) == timeout
    assert round_trip(intervals, l0.CheckIntervals) == intervals


@given(
    st.builds(
        l0.ContinuationConfig,
        min_overlap=st.integers(0, 50),
        max_overlap=st.integers(50, 5000),
        normalize_whitespace=st.booleans(),
        ignore_case=st.booleans(),
        instruction=st.text(),
    ),
    st.builds(
        l0.DriftConfig,
        types=st.frozensets(st.sampled_from(sorted(DRIFT_TYPES))),
        threshold=st.floats(0.01, 1),
        action=st.sampled_from(["record", "retry", "halt"]),
    ),
)
@FAST
def test_more_configs_round_trip_property(
    continuation: l0.ContinuationConfig, drift: l0.DriftConfig
) -> None:
    """Any valid ContinuationConfig and DriftConfig come back equal."""
    assert round_trip(continuation, l0.ContinuationConfig) == continuation
    assert round_trip(drift, l0.DriftConfig) == drift


def test_schema_of_a_config_has_its_fields_types_and_defaults() -> None:
    """The schema lists the fields (no functions), their types and defaults; sets sorted."""
    out = schema(l0.Retry)
    retry = out["$defs"]["Retry"]
    assert list(retry["properties"]) == [
        "attempts",
        "max_retries",
        "base_delay",
        "max_delay",
        "strategy",
        "retry_on",
        "max_retry_after",
    ]
    assert retry["properties"]["attempts"] == {"type": "integer", "default": 3}
    assert retry["properties"]["retry_on"]["default"] == sorted(DEFAULT_RETRY_ON)
    assert retry["additionalProperties"] is False
    assert retry["required"] == []
    assert "should_retry" not in retry["properties"]
    assert "build_prompt" not in wire_keys(l0.ContinuationConfig)
    assert schema(l0.Retry) == out  # the same on every call
    assert json.loads(to_json(l0.Retry()))["retry_on"] == sorted(DEFAULT_RETRY_ON)


def _always(_context: l0.RetryContext) -> bool:
    return True


@pytest.mark.parametrize(
    ("config", "field"),
    [
        (l0.Retry(should_retry=_always), "Retry.should_retry"),
        (l0.Retry(calculate_delay=lambda _c: 1.0), "Retry.calculate_delay"),
        (l0.ContinuationConfig(build_prompt=str.upper), "ContinuationConfig.build_prompt"),
    ],
)
def test_a_config_holding_a_function_does_not_encode(config: Any, field: str) -> None:
    """Encoding a config whose hook is set raises a typed error naming the field; without the
    hook it encodes."""
    with pytest.raises(SerializationError, match=field) as info:
        to_json(config)
    assert isinstance(info.value, l0.L0Error)
    assert info.value.code is l0.ErrorCode.INVALID_JSON
    name = field.partition(".")[2]
    plain = attrs.evolve(config, **{name: None})
    kind = cast("Any", type(config))
    assert from_json(to_json(plain), kind) == plain


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b'{"attempts": -1}', "attempts must be an int >= 0"),
        (b'{"strategy": "sometimes"}', r"\$\.strategy"),
        (b'{"retry_on": ["drift", "bad luck"]}', r"\$\.retry_on\[1\]"),
        (b'{"atempts": 2}', "atempts"),
        (b'{"should_retry": null}', "should_retry"),
        (b'{"attempts": ', "not JSON"),
        (b"[]", "Expected `object`"),
    ],
)
def test_bad_config_json_is_refused(data: bytes, match: str) -> None:
    """Invalid values, wrong types, unknown or code keys, broken JSON: SerializationError."""
    with pytest.raises(SerializationError, match=match):
        from_json(data, l0.Retry)


def test_a_refused_value_keeps_the_configs_own_error_as_cause() -> None:
    """The config's validation message and ConfigError come through."""
    with pytest.raises(SerializationError) as info:
        from_json('{"initial_token": 0}', l0.Timeout)
    assert isinstance(info.value.__cause__, l0.ConfigError)


def test_the_schema_catches_what_decoding_refuses() -> None:
    """The published schema flags a wrong type and an unknown key (l0's validator)."""
    issues = validator(l0.Retry).validate({"attempts": "3", "atempts": 2})
    assert {(i.code, i.path) for i in issues} == {
        ("INVALID_ARGUMENT_TYPE", ("attempts",)),
        ("UNEXPECTED_ARGUMENT", ("atempts",)),
    }


# --------------------------------------------------------------------------- stream events

STREAM_EVENTS = [
    l0.Token(value="héllo "),
    l0.Message(content="whole", role="system"),
    l0.Data(payload={"rows": [1, 2.5, None, "x"]}, mime_type="application/json", metadata={}),
    l0.Progress(percent=12.5, step=1, total_steps=8, message="warming up"),
    l0.Progress(),
    l0.ToolCall(id="call_1", name="search", arguments={"q": "l0", "n": 3}),
    l0.Reset(reason="retry", discarded=42, attempt=2, source_index=1),
]


@pytest.mark.parametrize("event", STREAM_EVENTS, ids=repr)
def test_stream_events_round_trip(event: l0.StreamEvent) -> None:
    """Each stream event comes back equal, as its own type and as any StreamEvent."""
    assert round_trip(event, type(event), l0.StreamEvent) == event
    assert from_json(to_json(event), l0.StreamEvent) == event


def test_a_list_of_events_round_trips() -> None:
    """Containers of l0 values work too."""
    assert round_trip(STREAM_EVENTS, list[l0.StreamEvent]) == STREAM_EVENTS


def _strategy(info: msgspec.inspect.Type) -> st.SearchStrategy[Any]:
    """Values of a msgspec type (JSON-exact: no NaN, no lone surrogates, 64-bit ints)."""
    text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
    leaf = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | text
    json_value = st.recursive(
        leaf, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3)
    )
    i = msgspec.inspect
    simple: dict[type, st.SearchStrategy[Any]] = {
        i.AnyType: json_value,
        i.NoneType: st.none(),
        i.BoolType: st.booleans(),
        i.IntType: st.integers(-(2**63), 2**63 - 1),
        i.FloatType: st.floats(allow_nan=False, allow_infinity=False),
        i.StrType: text,
    }
    if type(info) in simple:
        return simple[type(info)]
    if isinstance(info, i.LiteralType):
        return st.sampled_from(info.values)
    if isinstance(info, i.UnionType):
        return st.one_of([_strategy(t) for t in info.types])
    if isinstance(info, (i.ListType, i.VarTupleType)):
        items = st.lists(_strategy(info.item_type), max_size=3)
        return items if isinstance(info, i.ListType) else items.map(tuple)
    if isinstance(info, i.DictType):
        return st.dictionaries(_strategy(info.key_type), _strategy(info.value_type), max_size=3)
    assert isinstance(info, i.StructType), info
    return st.fixed_dictionaries(
        {f.name: _strategy(f.type) for f in info.fields if f.required},
        optional={f.name: _strategy(f.type) for f in info.fields if not f.required},
    ).map(lambda kwargs: info.cls(**kwargs))


def _events_of(union: Any) -> st.SearchStrategy[Any]:
    return st.one_of([_strategy(msgspec.inspect.type_info(cls)) for cls in get_args(union)])


@given(_events_of(l0._events._stream.SourceEvent))
@FAST
def test_stream_events_round_trip_property(event: l0.StreamEvent) -> None:
    """Any event a source may send comes back equal."""
    assert round_trip(event, l0.StreamEvent) == event


def test_error_and_complete_events_round_trip() -> None:
    """ErrorEvent and Complete hold an error and a State: the JSON is stable, the error comes
    back as a RecordedError and the state as a State."""
    error = l0.NetworkError("reset by peer")
    event = l0.ErrorEvent(error=error, will_retry=True, will_fallback=False)
    back = assert_stable(event, l0.ErrorEvent, l0.StreamEvent)
    assert isinstance(back, l0.ErrorEvent)
    assert back.will_retry
    assert isinstance(back.error, RecordedError)
    assert back.error.to_json() == error.to_json()
    state = rich_state()
    done = assert_stable(l0.Complete(state=state), l0.StreamEvent)
    assert isinstance(done, l0.Complete)
    assert public(done.state) == public(state)


# --------------------------------------------------------------------------- observability events


def sample(cls: type[Any]) -> Any:
    """One deterministic instance of a Struct, every field filled."""
    values: dict[type, Any] = {
        msgspec.inspect.IntType: 7,
        msgspec.inspect.FloatType: 2.5,
        msgspec.inspect.StrType: "s",
        msgspec.inspect.BoolType: True,
        msgspec.inspect.AnyType: {"k": [1, "v", None]},
    }

    def value(info: msgspec.inspect.Type) -> Any:
        if type(info) in values:
            return values[type(info)]
        if isinstance(info, msgspec.inspect.UnionType):
            return value(next(t for t in info.types if not isinstance(t, msgspec.inspect.NoneType)))
        if isinstance(info, msgspec.inspect.LiteralType):
            return info.values[-1]
        if isinstance(info, msgspec.inspect.ListType):
            return [value(info.item_type)]
        if isinstance(info, msgspec.inspect.DictType):
            return {"key": value(info.value_type)}
        assert isinstance(info, msgspec.inspect.StructType), info
        return info.cls(**{f.name: value(f.type) for f in info.fields})

    return value(msgspec.inspect.type_info(cls))


@pytest.mark.parametrize("cls", list(ev.EVENT_CLASSES.values()), ids=lambda c: c.__name__)
def test_observability_events_round_trip(cls: type[ev.ObservabilityEvent]) -> None:
    """Every observability event: the same bytes as encode_event, back equal as its own type
    and as any ObservabilityEvent, valid against both schemas."""
    event = sample(cls)
    assert round_trip(event, cls, ev.ObservabilityEvent) == event
    assert to_json(event) == ev.encode_event(event)
    assert from_json(to_json(event), ev.ObservabilityEvent) == event


@given(_events_of(ev.AnyObservabilityEvent))
@FAST
def test_observability_events_round_trip_property(event: ev.ObservabilityEvent) -> None:
    """Any observability event comes back equal."""
    assert round_trip(event, ev.ObservabilityEvent) == event


def test_observability_schema_uses_wire_names() -> None:
    """camelCase names, as on the wire."""
    assert wire_keys(ev.SessionSummary)[:3] == ["type", "ts", "streamId"]
    assert "tokenCount" in wire_keys(ev.SessionSummary)


# --------------------------------------------------------------------------- errors


def _errors() -> list[BaseException]:
    timeout = l0.StreamTimeout("initial", 1.5, 1.0)
    timeout.checkpoint = "partial"
    timeout.token_count = 3
    timeout.model_retry_count = 1
    timeout.network_retry_count = 2
    timeout.fallback_index = 1
    timeout.context = {"user": "u1", "tags": ("a", "b")}
    network = l0.NetworkError("dropped", retry_after=2.0, metadata={"status": 503})
    exhausted = l0.AllStreamsExhausted("all failed", [network, timeout])
    return [
        timeout,
        network,
        exhausted,
        l0.GuardrailViolationError("bad", fatal=True),
        l0.ConfigError("Retry.attempts must be an int >= 0"),
        SchemaValidationError([ValidationIssue(code="INVALID_ARGUMENT_TYPE",
                                                             message="no", path=("a", 0))]),
    ]  # fmt: skip


@pytest.mark.parametrize("error", _errors(), ids=repr)
def test_errors_are_written_in_their_canonical_form(error: l0.L0Error) -> None:
    """to_json(error) is error.to_json(); it decodes to an equal ErrorInfo, and as L0Error to
    a RecordedError that writes the same JSON."""
    data = write(error, ErrorInfo, l0.L0Error)
    assert json.loads(data) == json.loads(json.dumps(error.to_json()))
    assert from_json(data, ErrorInfo) == ErrorInfo.of(error)
    back = from_json(data, l0.L0Error)
    assert isinstance(back, RecordedError)
    assert (back.name, back.code, back.category, back.message, back.timestamp) == (
        type(error).__name__,
        error.code,
        error.category,
        error.message,
        error.timestamp,
    )
    assert back.to_json() == json.loads(data)
    assert to_json(back) == data
    assert ErrorInfo.of(back) is back.info


def test_error_info_is_the_canonical_shape() -> None:
    """The wire names are those of the spec's L0Error.toJSON shape, in its order."""
    shape = SPEC["errorHandling"]["L0Error"]["toJSON"]["shape"]
    assert wire_keys(ErrorInfo) == list(shape)


def test_a_foreign_exception_is_described_as_l0_wraps_it() -> None:
    """A non-l0 exception is written as the SourceError l0 would wrap it in."""
    info = from_json(to_json(ValueError("boom")), ErrorInfo)
    assert (info.name, info.code, info.message) == (
        "SourceError",
        l0.ErrorCode.STREAM_ERROR,
        "ValueError: boom",
    )


def test_a_recorded_error_pickles() -> None:
    """A RecordedError survives pickling (as the original could not be rebuilt either)."""
    back = from_json(to_json(l0.ZeroOutput("empty")), l0.L0Error)
    assert isinstance(back, RecordedError)
    again = pickle.loads(pickle.dumps(back))
    assert (type(again), again.info) == (RecordedError, back.info)


def test_only_l0error_decodes_to_an_exception() -> None:
    """A subclass cannot be rebuilt from JSON: asking for one is an error, not a lie."""
    data = to_json(l0.ZeroOutput("nothing"))
    with pytest.raises(SerializationError, match="cannot rebuild a ZeroOutput"):
        from_json(data, l0.ZeroOutput)


@given(
    st.builds(
        ErrorInfo,
        name=st.text(max_size=10),
        code=st.sampled_from(l0.ErrorCode),
        category=st.sampled_from(l0.ErrorCategory),
        message=st.text(st.characters(blacklist_categories=("Cs",))),
        timestamp=st.floats(0, 2e9),
        has_checkpoint=st.booleans(),
        checkpoint=st.none() | st.text(max_size=10),
        token_count=st.none() | st.integers(0, 10**6),
        metadata=st.none() | st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
    )
)
@FAST
def test_error_info_round_trip_property(info: ErrorInfo) -> None:
    """Any description comes back equal, and through a RecordedError unchanged."""
    assert round_trip(info, ErrorInfo) == info
    assert from_json(to_json(info.to_error()), ErrorInfo) == info


# --------------------------------------------------------------------------- state


def rich_state() -> l0.State:
    state = l0.State()
    for token in ["Hel", "lo", " world"]:
        state._parts.append(token)  # pyright: ignore[reportPrivateUsage] - as the runtime does
    state.add("!")
    state.checkpoint_length = 5
    state.phase = "completed"
    state.attempt = 2
    state.model_retry_count = 1
    state.network_retry_count = 2
    state.fallback_index = 1
    state.completed = True
    state.drift_detected = True
    state.finish_reason = "stop"
    state.usage = {"prompt_tokens": 3, "completion_tokens": 4}
    state.time_to_first_token = 0.123
    state.tool_calls = [l0.ToolCall(id="1", name="f", arguments={"x": 1})]
    state.data = [l0.Data(payload=[1, 2])]
    state.progress = l0.Progress(percent=100.0)
    state.violations = [ev.GuardrailViolation(rule_id="r", message="m", severity="warning")]
    state.errors = [l0.NetworkError("dropped"), l0.ZeroOutput("empty")]
    state.error = state.errors[-1]
    return state


def public(state: l0.State) -> dict[str, Any]:
    """A State's public data, errors as their JSON form."""
    names = [n for n in l0.State.__slots__ if not n.startswith("_")]
    out = {name: getattr(state, name) for name in names}
    out["error"] = None if state.error is None else state.error.to_json()
    out["errors"] = [e.to_json() for e in state.errors]
    for name in ("content", "token_count", "length", "checkpoint", "retry_count"):
        out[name] = getattr(state, name)
    return out


def test_state_round_trips() -> None:
    """Every public attribute of a State comes back, errors as RecordedErrors."""
    state = rich_state()
    back = assert_stable(state, l0.State)
    assert public(back) == public(state)
    assert all(isinstance(e, RecordedError) for e in back.errors)
    assert back.token_count == 3  # three tokens; the "!" was a message


@given(
    content=st.text(st.characters(blacklist_categories=("Cs",))),
    cut=st.integers(0, 10**4),
    tokens=st.integers(0, 10**12),
    retries=st.integers(0, 100),
    ttft=st.none() | st.floats(0, 1e4),
    phase=st.sampled_from(get_args(l0.Phase)),
)
@FAST
def test_state_round_trip_property(
    content: str, cut: int, tokens: int, retries: int, ttft: float | None, phase: l0.Phase
) -> None:
    """Content, checkpoint, counts (even huge ones) and timings come back exactly."""
    state = l0.State()
    state.add(content)
    state.checkpoint_length = min(cut, len(content))
    state._extra = 1 - tokens  # pyright: ignore[reportPrivateUsage] - `tokens` token deltas
    state.model_retry_count = retries
    state.time_to_first_token = ttft
    state.phase = phase
    back = from_json(write(state, l0.State), l0.State)
    assert public(back) == public(state)


def test_a_state_needs_only_its_content() -> None:
    """Absent fields take a fresh State's values."""
    state = from_json('{"content": "hi"}', l0.State)
    assert (state.content, state.token_count, state.phase, state.attempt) == ("hi", 0, "init", 1)


def test_a_checkpoint_outside_the_content_is_refused() -> None:
    """checkpoint must be the start of content."""
    with pytest.raises(SerializationError, match="checkpoint"):
        from_json('{"content": "abc", "checkpoint": "xyz"}', l0.State)


def test_the_snapshot_round_trips() -> None:
    """State.snapshot() is described by StateSnapshot (the canonical camelCase keys)."""
    state = rich_state()
    snapshot = state.snapshot()
    data = write(snapshot, StateSnapshot)
    assert from_json(data, StateSnapshot) == StateSnapshot.of(state)
    assert round_trip(StateSnapshot.of(state), StateSnapshot) == StateSnapshot.of(state)
    assert wire_keys(StateSnapshot) == list(snapshot)
    assert math.isclose(StateSnapshot.of(state).time_to_first_token_ms or 0, 123.0)


async def test_the_state_of_a_real_stream_round_trips(zero_backoff: None) -> None:
    """A stream that failed once then completed: its final state survives the round trip."""
    calls = 0

    async def model() -> AsyncIterator[str]:
        nonlocal calls
        calls += 1
        yield "one "
        if calls == 1:
            raise ConnectionResetError("dropped")
        yield "two"

    async with l0.run(model, context={"request": "r1"}) as stream:
        assert await stream.read() == "one two"
    back = assert_stable(stream.state, l0.State)
    assert public(back) == public(stream.state)
    assert back.errors[0].code is l0.ErrorCode.NETWORK_ERROR
    assert back.errors[0].context == {"request": "r1"}


# --------------------------------------------------------------------------- results


def model(*tokens: str, fail: bool = False) -> Callable[[], AsyncIterator[str]]:
    async def stream() -> AsyncIterator[str]:
        for token in tokens:
            await anyio.lowlevel.checkpoint()
            yield token
        if fail:
            raise ConnectionResetError("dropped")

    return stream


async def test_parallel_results_round_trip() -> None:
    """A ParallelResult with a success, a failure and a plain value: values, errors (as
    RecordedErrors), states and telemetry come back."""

    async def plain() -> dict[str, int]:
        return {"answer": 42}

    result = await l0.parallel([model("a", "b"), model("x", fail=True), plain], retry=None)
    back = assert_stable(result, l0.ParallelResult)
    assert back.results == ["ab", None, {"answer": 42}]
    assert [o.status for o in back.outcomes] == ["ok", "failed", "ok"]
    failed = back.outcomes[1].error
    original = result.outcomes[1].error
    assert isinstance(failed, RecordedError)
    assert original is not None
    assert failed.info == ErrorInfo.of(original)
    assert back.outcomes[0].state is not None
    assert back.outcomes[0].state.content == "ab"
    assert back.outcomes[2].state is None
    assert back.telemetry == result.telemetry
    assert round_trip(result.telemetry, l0.TaskTelemetry) == result.telemetry


async def test_race_outcomes_round_trip() -> None:
    """A race's outcomes (the result itself holds the live winner: it has no JSON form)."""
    result = await l0.race([model("slow", fail=True), model("fast")], retry=None)
    outcomes = assert_stable(result.outcomes, tuple[l0.CandidateOutcome, ...])
    assert [(o.index, o.status, o.text) for o in outcomes] == [
        (o.index, o.status, o.text) for o in result.outcomes
    ]
    with pytest.raises(SerializationError, match=r"l0\.RaceResult has no JSON form"):
        to_json(result)


async def test_consensus_results_round_trip() -> None:
    """A ConsensusResult (with the ParallelResult of its run) and its parts."""
    result = await l0.consensus([model("yes"), model("yes"), model("no")], strategy="majority")
    back = assert_stable(result, l0.ConsensusResult)
    assert (back.output, back.groups, back.dissent) == (
        result.output,
        result.groups,
        result.dissent,
    )
    assert back.run is not None
    assert back.run.results == ["yes", "yes", "no"]
    for part in (*result.groups, *result.dissent):
        assert round_trip(part, type(part)) == part


def test_structured_consensus_round_trips() -> None:
    """Field agreements of structured outputs; a result without a run compares equal."""
    result = decide(['{"a": 1, "b": [1, 2]}', '{"a": 1, "b": [1, 2]}', '{"a": 2, "b": [1, 2]}'])
    assert result.structured
    assert result.fields
    assert round_trip(result, l0.ConsensusResult) == result
    for field in result.fields:
        assert round_trip(field, l0.FieldAgreement) == field


async def test_pipeline_results_round_trip() -> None:
    """A PipelineResult: each step's input, output and state."""
    result = await l0.pipeline(
        [
            lambda text: model(text, "!"),
            l0.PipelineStep(build=lambda text: model(text.upper()), name="loud"),
        ],
        "hi",
    )
    back = assert_stable(result, l0.PipelineResult)
    assert back.output == "HI!"
    assert back["loud"].input == "hi!"
    assert [s.state.content for s in back.steps if s.state is not None] == ["hi!", "HI!"]
    plain = l0.StepResult(index=0, name="s", status="skipped", input=[1], output=[1])
    assert round_trip(plain, l0.StepResult) == plain


def test_pool_stats_round_trip() -> None:
    """PoolStats is plain data."""
    stats = l0.PoolStats(workers=4, queued=1, active=2, completed=9, failed=1, cancelled=0,
                         average_duration=0.5, total_tokens=120)  # fmt: skip
    assert round_trip(stats, l0.PoolStats) == stats


def test_hook_contexts_round_trip() -> None:
    """AttemptContext and RetryContext, whose error comes back as a RecordedError."""
    error = l0.ZeroOutput("empty")
    attempt = l0.AttemptContext(
        attempt=2,
        source_index=1,
        is_retry=True,
        is_fallback=False,
        checkpoint="so far",
        continuation_prompt="go on",
        error=error,
    )
    back = assert_stable(attempt, l0.AttemptContext)
    assert (back.attempt, back.checkpoint, back.is_resume) == (2, "so far", True)
    assert isinstance(back.error, RecordedError)
    assert back.error.name == "ZeroOutput"
    plain = attrs.evolve(attempt, error=None)
    assert round_trip(plain, l0.AttemptContext) == plain
    retry = l0.RetryContext(error=error, retry=1, attempt=1, source_index=0, model_retries=1,
                            network_retries=0, default_delay=0.5)  # fmt: skip
    assert assert_stable(retry, l0.RetryContext).default_delay == 0.5


# --------------------------------------------------------------------------- structured output


class Point(msgspec.Struct):
    x: int
    y: int
    label: str | None = None


async def test_structured_results_round_trip() -> None:
    """A StructuredResult: decoded as StructuredResult[Point] its data is a Point again (plain
    JSON without the parameter)."""

    async def chatty() -> AsyncIterator[str]:
        yield 'Here: ```json\n{"x": 1, "y": 2,}\n```'

    result = await l0.structured(Point, chatty)
    back = assert_stable(result, l0.StructuredResult[Point])
    assert back.data == Point(x=1, y=2)
    assert (back.raw, back.json_text, back.corrections) == (
        result.raw,
        result.json_text,
        result.corrections,
    )
    assert back.state.content == result.state.content
    untyped = cast("Any", from_json(to_json(result), l0.StructuredResult))
    assert untyped.data == {"x": 1, "y": 2, "label": None}
    assert "Point" in schema(l0.StructuredResult[Point])["$defs"]


STRUCTURED_VALUES = [
    Correction(kind="close_bracket", position=3),
    Healed(text='{"a": 1}', corrections=(Correction(kind="strip_fence", position=0),)),
    ValidationIssue(code="MISSING_REQUIRED_ARGUMENT", message="m", path=("a", 0), expected="x"),
    FieldComplete(path=("items", 0), value={"name": "n"}),
    Done(value=[1, 2]),
    DriftResult(detected=True, types=("repetition",), score=0.7, details={"repetition": 0.7}),
    Finding("too long", position=3, severity="error"),
]


@pytest.mark.parametrize("value", STRUCTURED_VALUES, ids=repr)
def test_structured_and_guardrail_values_round_trip(value: Any) -> None:
    """The pure tools' values are plain Structs: they come back equal."""
    assert round_trip(value, type(value)) == value


def test_the_base_of_a_tagged_family_reads_any_member() -> None:
    """Decoding as a tagged base class (PartialEvent) gives the member the tag names."""
    events = [FieldComplete(path=("a",), value=1), Done(value={"a": 1})]
    assert round_trip(events, list[PartialEvent]) == events


# --------------------------------------------------------------------------- windows and media


async def test_window_chunks_and_results_round_trip() -> None:
    """DocumentChunks come back equal; ChunkResults (with every run) keep their JSON."""
    window = l0.Window.create("alpha beta gamma delta", size=12, overlap=0, strategy="char")
    chunks = list(window)
    assert round_trip(chunks, list[l0.DocumentChunk]) == chunks
    results = await window.process(lambda text, chunk: [text.upper()])
    back = assert_stable(tuple(results), tuple[l0.ChunkResult, ...])
    assert [(r.chunk, r.text, r.ok) for r in back] == [(r.chunk, r.text, r.ok) for r in results]
    assert back[0].runs[0].state.content == results[0].text
    run = results[0].runs[0]
    assert assert_stable(run, l0.ChunkRun).text == run.text


def test_media_round_trips() -> None:
    """Media (bytes as base64) comes back equal; inside a Data event it is plain JSON that
    Media.of reads."""
    media = l0.Media(kind="image", mime_type="image/png", data=b"\x89PNG\x00", width=2)
    assert round_trip(media, l0.Media) == media
    event = from_json(to_json(media.to_event()), l0.StreamEvent)
    assert isinstance(event, l0.Data)
    assert l0.Media.of(event) == media


# --------------------------------------------------------------------------- what has no JSON form


def _rule() -> Any:
    return l0.guardrails.Guardrails.recommended()[0]


@pytest.mark.parametrize(
    "tp",
    [l0.Guardrails, l0.Rule, l0.PipelineStep, l0.RetryBudget, l0.CircuitBreaker, l0.DriftDetector,
     l0.Stream, l0.Session, l0.Pool, l0.Window, l0.RaceResult],
    ids=lambda tp: tp.__name__,
)  # fmt: skip
def test_live_objects_and_code_have_no_schema(tp: type) -> None:
    """Asking for the schema or the decoding of one is a typed error, not a guess."""
    with pytest.raises(SerializationError, match=f"l0.{tp.__name__} has no JSON form"):
        schema(tp)
    with pytest.raises(SerializationError, match="has no JSON form"):
        from_json("{}", tp)


@pytest.mark.parametrize(
    "value", [math.nan, l0.Progress(percent=math.inf), {"x": [-math.inf]}, l0.Retry], ids=repr
)
def test_values_json_cannot_hold_are_refused(value: Any) -> None:
    """NaN and infinities (JSON has none) and classes: an error, not a silent null."""
    with pytest.raises(SerializationError, match="no JSON form"):
        to_json(value)


@pytest.mark.parametrize(
    "make",
    [_rule, l0.guardrails.Guardrails.recommended, l0.RetryBudget, l0.CircuitBreaker,
     lambda: l0.PipelineStep(build=str), lambda: {"nested": [l0.RetryBudget()]},
     lambda: l0.Data(payload=l0.RetryBudget()), lambda: l0.Data(payload=print)],
)  # fmt: skip
def test_live_objects_and_code_do_not_encode(make: Callable[[], Any]) -> None:
    """Encoding one, even nested, raises SerializationError."""
    with pytest.raises(SerializationError, match="no JSON form"):
        to_json(make())
