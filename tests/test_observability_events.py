"""The observability event structs agree field by field with the canonical spec."""

import json
import types
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

import msgspec
import pytest

from l0._events import _observability
from l0._events._observability import (
    EVENT_CLASSES,
    AnyObservabilityEvent,
    Complete,
    EventType,
    FailureType,
    GuardrailViolation,
    ObservabilityEvent,
    RecoveryStrategy,
    SessionStart,
    SessionSummary,
    decode_event,
    encode_event,
)

SPEC: dict[str, Any] = json.loads(
    (Path(__file__).parent / "canonical-spec.json").read_text(encoding="utf-8")
)
MONITORING: dict[str, Any] = SPEC["monitoring"]
SPEC_EVENTS: dict[str, Any] = MONITORING["observabilityEvents"]["events"]
EVENT_NAMES = list(SPEC_EVENTS)
BASE_FIELDS = ("ts", "stream_id", "context")

# Spec "number" fields that carry fractional values; every other number is a count/index.
FLOAT_NUMBER_NAMES = {"startTs", "endTs", "score", "threshold"}

# Spec type name -> Python annotation (for non-"number", non-enum types).
SPEC_TYPES: dict[str, Any] = {
    "boolean": bool,
    "string": str,
    "Record<string, unknown>": dict[str, Any],
    "unknown": Any,
    "string[]": list[str],
    "GuardrailViolation": GuardrailViolation,
    "GuardrailViolation[]": list[GuardrailViolation],
    "FailureType": FailureType,
    "RecoveryStrategy": RecoveryStrategy,
    "RecoveryPolicy": dict[str, Any],
    "L0State": dict[str, Any] | None,
}


def class_name(event_name: str) -> str:
    """CamelCase class name for a SCREAMING_SNAKE event name."""
    return "".join(part.capitalize() for part in event_name.split("_"))


def own_fields(cls: type[ObservabilityEvent]) -> list[msgspec.structs.FieldInfo]:
    """The fields a concrete event adds to the base shape, in declaration order."""
    return [f for f in msgspec.structs.fields(cls) if f.name not in BASE_FIELDS]


def expected_annotation(spec_field: dict[str, Any]) -> Any:
    """The Python annotation that a spec field description calls for."""
    spec_type = spec_field["type"]
    if spec_type == "number":
        name: str = spec_field["name"]
        annotation: Any = float if name.endswith("Ms") or name in FLOAT_NUMBER_NAMES else int
    elif "enum" in spec_field:
        annotation = Literal[tuple(spec_field["enum"])]
    else:
        annotation = SPEC_TYPES[spec_type]
    if not spec_field["required"]:
        annotation = annotation | None
    return annotation


def sample_value(annotation: Any) -> Any:
    """A representative, JSON-round-trippable value of *annotation*."""
    if annotation is Any:
        return {"nested": [1, "two", None, 3.5]}
    origin = get_origin(annotation)
    if origin is Literal:
        return get_args(annotation)[-1]
    if origin in (Union, types.UnionType):
        (inner,) = [arg for arg in get_args(annotation) if arg is not type(None)]
        return sample_value(inner)
    if origin is list:
        (item,) = get_args(annotation)
        return [sample_value(item), sample_value(item)]
    if origin is dict:
        return {"key": "value", "count": 2, "inner": {"flag": True}}
    simple: dict[Any, Any] = {bool: True, int: 7, float: 2.5, str: "some text"}
    if annotation in simple:
        return simple[annotation]
    assert annotation is GuardrailViolation
    return GuardrailViolation(
        rule_id="no-pii",
        message="found an e-mail address",
        severity="fatal",
        recoverable=False,
        position=12,
        metadata={"match": "a@b.c"},
    )


def sample_event(cls: type[ObservabilityEvent]) -> ObservabilityEvent:
    """An instance of *cls* with every field, optional ones included, set."""
    values = {f.name: sample_value(f.type) for f in own_fields(cls)}
    return cls(ts=1_700_000_000.25, stream_id="0190f7c2-stream", context={"user": "u1"}, **values)


def test_event_classes_match_spec_one_to_one() -> None:
    """There is exactly one class per spec event, named in CamelCase and exported."""
    assert len(EVENT_NAMES) == 52
    assert [event_type.value for event_type in EVENT_CLASSES] == EVENT_NAMES
    assert [cls.__name__ for cls in EVENT_CLASSES.values()] == [
        class_name(name) for name in EVENT_NAMES
    ]
    assert set(get_args(AnyObservabilityEvent)) == set(EVENT_CLASSES.values())
    assert len(get_args(AnyObservabilityEvent)) == 52
    for cls in EVENT_CLASSES.values():
        assert issubclass(cls, ObservabilityEvent)
        assert getattr(_observability, cls.__name__) is cls
        assert cls.__name__ in _observability.__all__
        assert cls.__doc__


def test_event_type_has_52_members_in_spec_order() -> None:
    """EventType lists every spec event in order, with name == value."""
    assert [member.value for member in EventType] == EVENT_NAMES
    assert [member.name for member in EventType] == EVENT_NAMES
    assert EventType.SESSION_START == "SESSION_START"
    assert isinstance(EventType.ERROR, str)


def test_base_shape_matches_spec() -> None:
    """The base class holds exactly the spec's base fields besides the ``type`` tag."""
    base_shape: dict[str, Any] = MONITORING["observabilityEvents"]["baseShape"]
    fields = msgspec.structs.fields(ObservabilityEvent)
    assert [f.encode_name for f in fields] == [name for name in base_shape if name != "type"]
    for f in fields:
        assert f.required == base_shape[f.encode_name]["required"]
    assert ObservabilityEvent.__struct_config__.tag_field == "type"


# l0's documented additions to canonical events (optional fields after the canonical ones).
L0_ADDITIONS: dict[str, list[str]] = {"CHECKPOINT_SAVED": ["offset", "length"], "ERROR": ["detail"]}


@pytest.mark.parametrize("event_name", EVENT_NAMES)
def test_fields_match_spec(event_name: str) -> None:
    """Every spec field is present with its wire name, required status and type; l0's own
    additions come after them, with defaults."""
    cls = EVENT_CLASSES[EventType(event_name)]
    spec_fields: list[dict[str, Any]] = SPEC_EVENTS[event_name]["fields"]
    fields = own_fields(cls)
    extra = L0_ADDITIONS.get(event_name, [])
    if extra:
        added = fields[len(fields) - len(extra) :]
        assert [f.encode_name for f in added] == extra
        assert all(not f.required for f in added)
        fields = fields[: len(fields) - len(extra)]
    assert [f.encode_name for f in fields] == [sf["name"] for sf in spec_fields]
    for f, spec_field in zip(fields, spec_fields, strict=True):
        assert f.required == spec_field["required"], f.name
        if not spec_field["required"]:
            assert f.default is None, f.name
        assert f.type == expected_annotation(spec_field), f.name
    assert [f.name for f in msgspec.structs.fields(cls)[:3]] == list(BASE_FIELDS)


@pytest.mark.parametrize("event_name", EVENT_NAMES)
def test_tag_is_screaming_name(event_name: str) -> None:
    """The ``type`` tag, on the class and on the wire, is the spec's event name."""
    cls = EVENT_CLASSES[EventType(event_name)]
    assert cls.__struct_config__.tag == event_name
    event = sample_event(cls)
    assert event.event_type is EventType(event_name)
    assert json.loads(encode_event(event))["type"] == event_name


@pytest.mark.parametrize("event_name", EVENT_NAMES)
def test_round_trip(event_name: str) -> None:
    """Encoding then decoding gives back an equal event of the same class."""
    cls = EVENT_CLASSES[EventType(event_name)]
    event = sample_event(cls)
    wire = encode_event(event)
    decoded = decode_event(wire)
    assert type(decoded) is cls
    assert decoded == event
    assert decode_event(wire.decode()) == event
    spec_names = [sf["name"] for sf in SPEC_EVENTS[event_name]["fields"]]
    extra = L0_ADDITIONS.get(event_name, [])
    assert list(json.loads(wire)) == ["type", "ts", "streamId", "context", *spec_names, *extra]


@pytest.mark.parametrize("event_name", EVENT_NAMES)
def test_instances_are_frozen(event_name: str) -> None:
    """Assigning to any field of an event raises."""
    event = sample_event(EVENT_CLASSES[EventType(event_name)])
    for f in msgspec.structs.fields(event):
        with pytest.raises(AttributeError):
            setattr(event, f.name, None)


def test_keyword_only_construction() -> None:
    """Events and violations accept keyword arguments only."""
    with pytest.raises(TypeError):
        SessionStart(1.0, "s", None, 1, False, False)  # type: ignore[misc]
    with pytest.raises(TypeError):
        GuardrailViolation("r", "m", "error")  # type: ignore[misc]


def test_optional_fields_may_be_absent_on_the_wire() -> None:
    """Optional fields (and ``context``) missing from the JSON decode to ``None``."""
    decoded = decode_event(
        b'{"type":"COMPLETE","ts":1.5,"streamId":"s","tokenCount":3,"contentLength":9}'
    )
    assert decoded == Complete(ts=1.5, stream_id="s", token_count=3, content_length=9)
    assert isinstance(decoded, Complete)
    assert decoded.state is None
    assert decoded.context is None


def test_counts_are_integers() -> None:
    """A fractional value for a count field is rejected on decode."""
    wire = encode_event(sample_event(SessionSummary)).replace(
        b'"tokenCount":7', b'"tokenCount":7.5'
    )
    with pytest.raises(msgspec.ValidationError):
        decode_event(wire)


def test_unknown_type_is_rejected() -> None:
    """Decoding an unknown ``type`` tag raises a validation error."""
    with pytest.raises(msgspec.ValidationError):
        decode_event(b'{"type":"NOT_AN_EVENT","ts":1.0,"streamId":"s"}')


def test_failure_types_and_recovery_strategies_match_spec() -> None:
    """FailureType and RecoveryStrategy list the spec's values in order."""
    assert list(get_args(FailureType)) == list(MONITORING["failureTypes"]["values"])
    assert list(get_args(RecoveryStrategy)) == list(MONITORING["recoveryStrategies"]["values"])


def test_guardrail_violation_matches_spec_shape() -> None:
    """GuardrailViolation carries the spec's violation fields under their wire names."""
    (parameter,) = SPEC["callbacks"]["callbacks"]["onViolation"]["parameters"]
    shape: dict[str, Any] = parameter["shape"]
    fields = {f.encode_name: f for f in msgspec.structs.fields(GuardrailViolation)}
    assert set(shape) <= set(fields)
    assert get_args(fields["severity"].type) == tuple(shape["severity"]["enum"])
    assert fields["metadata"].required is False
    violation = GuardrailViolation(rule_id="r", message="m", severity="warning")
    assert violation.recoverable is True
    assert violation.position is None
    assert json.loads(msgspec.json.encode(violation)) == {
        "ruleId": "r",
        "message": "m",
        "severity": "warning",
        "recoverable": True,
        "position": None,
        "metadata": None,
    }


def test_all_is_sorted_and_complete() -> None:
    """``__all__`` is sorted (ruff's RUF022 order), resolvable, and lists every public class."""
    exported = _observability.__all__

    def isort_style(name: str) -> tuple[int, str]:
        """SCREAMING_CASE names first, then CamelCase, then the rest."""
        return (0 if name.isupper() else 1 if name[0].isupper() else 2, name)

    assert exported == sorted(exported, key=isort_style)
    assert all(hasattr(_observability, name) for name in exported)
    public_classes = {
        name
        for name, value in vars(_observability).items()
        if isinstance(value, type)
        and value.__module__ == _observability.__name__
        and not name.startswith("_")
    }
    assert public_classes <= set(exported)
    assert {"AnyObservabilityEvent", "EVENT_CLASSES", "FailureType", "RecoveryStrategy"} <= set(
        exported
    )
