"""Schemas for structured output: every schema kind validates into its type with canonical
issues, and l0's JSON Schema validator handles each keyword, $ref and hostile input."""

from __future__ import annotations

import dataclasses
import enum
import importlib.util
import json
from typing import Annotated, Any, Literal, TypedDict

import attrs
import hypothesis.strategies as st
import msgspec
import pytest
from hypothesis import given, settings

import l0
from l0._structured._formats import compile_pattern
from l0.structured import (
    ISSUE_CODES,
    JSONSchemaValidator,
    Schema,
    SchemaValidationError,
    ValidationIssue,
    json_schema,
)

HAS_PYDANTIC = importlib.util.find_spec("pydantic") is not None
needs_pydantic = pytest.mark.skipif(not HAS_PYDANTIC, reason="pydantic is not installed")


# --------------------------------------------------------------------------- schema kinds


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Item(msgspec.Struct, forbid_unknown_fields=True):
    id: Annotated[int, msgspec.Meta(ge=0)]
    tags: Annotated[list[str], msgspec.Meta(min_length=1)] = msgspec.field(
        default_factory=lambda: ["x"]
    )
    code: Annotated[str, msgspec.Meta(pattern="^[A-Z]+$", max_length=4)] = "A"
    color: Color = Color.RED


class Order(msgspec.Struct):
    items: list[Item]
    note: str = ""


@attrs.define
class AttrsUser:
    name: str
    age: int = attrs.field(validator=attrs.validators.ge(0))


@dataclasses.dataclass
class DataUser:
    name: str
    age: int

    def __post_init__(self) -> None:
        if self.age < 0:
            raise ValueError("age must be >= 0")


class DictUser(TypedDict):
    name: str
    age: int


USER_SCHEMA: dict[str, Any] = {
    "title": "User",
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0}},
    "required": ["name", "age"],
}


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        (AttrsUser, AttrsUser(name="Ada", age=36)),
        (DataUser, DataUser(name="Ada", age=36)),
        (DictUser, {"name": "Ada", "age": 36}),
        (USER_SCHEMA, {"name": "Ada", "age": 36}),
    ],
    ids=["attrs", "dataclass", "typeddict", "json-schema"],
)
def test_each_schema_kind_validates_into_its_type(schema: Any, expected: Any) -> None:
    """attrs classes, dataclasses, TypedDicts and JSON Schemas give their own kind of value."""
    adapter = Schema(schema)
    assert adapter.validate({"name": "Ada", "age": 36}) == expected
    with pytest.raises(SchemaValidationError) as caught:
        adapter.validate({"name": "Ada", "age": "old"})
    [issue] = caught.value.issues
    assert (issue.code, issue.path) == ("INVALID_ARGUMENT_TYPE", ("age",))
    with pytest.raises(SchemaValidationError) as missing:
        adapter.validate({"name": "Ada"})
    assert missing.value.issues[0].code == "MISSING_REQUIRED_ARGUMENT"
    assert missing.value.issues[0].path == ("age",)


@pytest.mark.parametrize(
    ("schema", "name", "kind"),
    [
        (Order, "Order", "msgspec"),
        (list[Item], "list[Item]", "msgspec"),
        (dict[str, list[Literal["a", 1]]], "dict[str, list[Literal['a', 1]]]", "msgspec"),
        (USER_SCHEMA, "User", "json_schema"),
        ({"type": "string"}, None, "json_schema"),
    ],
)
def test_name_and_kind(schema: Any, name: str | None, kind: str) -> None:
    """The schema's name (class name, or a JSON Schema's title) and its validator."""
    adapter = Schema(schema)
    assert (adapter.name, adapter.kind) == (name, kind)
    assert repr(adapter).startswith("Schema(")


@pytest.mark.parametrize(
    ("data", "code", "path", "expected", "received"),
    [
        (
            {"items": [{"id": 1}, {"id": "2"}]},
            "INVALID_ARGUMENT_TYPE",
            ("items", 1, "id"),
            "int",
            "str",
        ),
        ({"items": [{}]}, "MISSING_REQUIRED_ARGUMENT", ("items", 0, "id"), "id", None),
        (
            {"items": [{"id": 1, "extra": 2}]},
            "UNEXPECTED_ARGUMENT",
            ("items", 0, "extra"),
            None,
            "extra",
        ),
        ({"items": [{"id": -1}]}, "VALUE_OUT_OF_RANGE", ("items", 0, "id"), ">= 0", None),
        (
            {"items": [{"id": 1, "tags": []}]},
            "ARRAY_LENGTH_INVALID",
            ("items", 0, "tags"),
            "length >= 1",
            None,
        ),
        (
            {"items": [{"id": 1, "code": "ABCDE"}]},
            "VALUE_OUT_OF_RANGE",
            ("items", 0, "code"),
            "length <= 4",
            None,
        ),
        (
            {"items": [{"id": 1, "code": "ab"}]},
            "PATTERN_MISMATCH",
            ("items", 0, "code"),
            "pattern '^[A-Z]+$'",
            None,
        ),
        (
            {"items": [{"id": 1, "color": "green"}]},
            "INVALID_ENUM_VALUE",
            ("items", 0, "color"),
            None,
            "'green'",
        ),
        ([], "INVALID_ARGUMENT_TYPE", (), "object", "array"),
    ],
)
def test_msgspec_issues_have_canonical_codes_and_paths(
    data: Any, code: str, path: tuple[Any, ...], expected: str | None, received: str | None
) -> None:
    """msgspec's first error becomes one issue with the canonical code, the path as a tuple,
    and what was expected and received."""
    with pytest.raises(SchemaValidationError) as caught:
        Schema(Order).validate(data)
    [issue] = caught.value.issues
    assert (issue.code, issue.path, issue.expected, issue.received) == (
        code,
        path,
        expected,
        received,
    )
    assert caught.value.schema_name == "Order"
    assert caught.value.value == data
    assert caught.value.code is l0.ErrorCode.SCHEMA_VALIDATION_FAILED
    assert caught.value.category is l0.ErrorCategory.CONTENT
    assert isinstance(caught.value, l0.L0Error)


def test_custom_validators_are_issues_too() -> None:
    """A dataclass __post_init__ or an attrs validator that refuses the value is an issue."""
    for schema in (DataUser, AttrsUser):
        with pytest.raises(SchemaValidationError) as caught:
            Schema(schema).validate({"name": "Ada", "age": -1})
        [issue] = caught.value.issues
        assert issue.code == "INVALID_ARGUMENT_TYPE"
        assert ">= 0" in issue.message


def test_dict_keys_and_literals() -> None:
    """Paths through dicts, and Literal values, come out of msgspec's messages too."""
    with pytest.raises(SchemaValidationError) as caught:
        Schema(dict[str, Literal["a", "b"]]).validate({"k": "c"})
    [issue] = caught.value.issues
    assert issue.code == "INVALID_ENUM_VALUE"
    assert issue.path == ("...",)  # msgspec does not name dict keys


def test_issue_shape_and_text() -> None:
    """Issues serialise to the canonical shape (path as strings) and read as `$.path: msg`."""
    issue = ValidationIssue(code="VALUE_OUT_OF_RANGE", message="too big", path=("a", 0, "b c"),
                            expected="<= 3", received="4")  # fmt: skip
    assert issue.to_json() == {
        "code": "VALUE_OUT_OF_RANGE",
        "message": "too big",
        "path": ["a", "0", "b c"],
        "expected": "<= 3",
        "received": "4",
    }
    assert str(issue) == '$.a[0]["b c"]: too big'
    assert ValidationIssue(code="INVALID_ARGUMENT_TYPE", message="m").to_json() == {
        "code": "INVALID_ARGUMENT_TYPE",
        "message": "m",
        "path": [],
    }
    error = SchemaValidationError([issue, issue], schema_name="X")
    assert "(and 1 more)" in error.message
    assert error.metadata["issues"] == [issue.to_json()] * 2


def test_json_schema_of_every_kind() -> None:
    """Types give msgspec's JSON Schema; a JSON Schema gives a copy of itself."""
    order = json_schema(Order)
    assert order["$ref"] == "#/$defs/Order"
    assert order["$defs"]["Item"]["additionalProperties"] is False
    for schema in (AttrsUser, DataUser, DictUser):
        generated = json_schema(schema)
        assert sorted(generated["$defs"][schema.__name__]["required"]) == ["age", "name"]
    copy = json_schema(USER_SCHEMA)
    assert copy == USER_SCHEMA
    copy["title"] = "changed"
    assert USER_SCHEMA["title"] == "User"
    assert json_schema(Schema(list[int])) == {"type": "array", "items": {"type": "integer"}}


def test_the_json_schema_of_a_type_validates_what_the_type_accepts() -> None:
    """msgspec's generated schema, run through l0's validator, agrees with msgspec."""
    validator = JSONSchemaValidator(json_schema(Order))
    good = {"items": [{"id": 1, "tags": ["t"], "code": "AB", "color": "blue"}]}
    assert validator.validate(good) == []
    Schema(Order).validate(good)
    bad = {"items": [{"id": -1, "tags": [], "code": "ab", "color": "green", "x": 1}]}
    codes = sorted(issue.code for issue in validator.validate(bad))
    assert codes == ["ARRAY_LENGTH_INVALID", "INVALID_ENUM_VALUE", "PATTERN_MISMATCH",
                     "UNEXPECTED_ARGUMENT", "VALUE_OUT_OF_RANGE"]  # fmt: skip


def test_object_and_array_builders() -> None:
    """Schema.object builds a TypedDict (or a JSON Schema object); Schema.array a list."""
    shape = Schema.object({"name": str, "tags": list[str]})
    assert shape.validate({"name": "a", "tags": ["b"]}) == {"name": "a", "tags": ["b"]}
    with pytest.raises(SchemaValidationError):
        shape.validate({"name": "a"})
    as_json = Schema.object({"name": {"type": "string"}})
    assert as_json.kind == "json_schema"
    assert as_json.validate({"name": "a", "more": 1}) == {"name": "a", "more": 1}
    with pytest.raises(l0.ConfigError):
        Schema.object({"name": str, "other": {"type": "string"}})
    with pytest.raises(l0.ConfigError):
        Schema.object({})
    items = Schema.array(Item)
    assert items.validate([{"id": 1}]) == [Item(id=1)]
    assert Schema.array(USER_SCHEMA).kind == "json_schema"
    assert Schema.array(Schema(USER_SCHEMA)).validate([]) == []
    assert Schema.array(Schema(int)).validate([1, 2]) == [1, 2]


def test_unsupported_schemas_are_config_errors() -> None:
    """Something that is not a schema is refused at once, with what would be accepted."""

    class Plain:
        pass

    with pytest.raises(l0.ConfigError, match="unsupported schema"):
        Schema(Plain)
    with pytest.raises(l0.ConfigError, match="already a Schema"):
        Schema(Schema(int))  # type: ignore[arg-type]


@needs_pydantic
def test_pydantic_models() -> None:
    """A Pydantic model (and a type holding one) validates through pydantic, with every
    error as a canonical issue."""
    import pydantic  # noqa: PLC0415 - optional

    class Model(pydantic.BaseModel):
        model_config = pydantic.ConfigDict(extra="forbid")
        a: int = pydantic.Field(ge=0)
        s: str = pydantic.Field(pattern="^a", max_length=3)
        kind: Literal["x", "y"]
        items: list[int] = pydantic.Field(min_length=1)

    adapter = Schema(Model)
    assert adapter.kind == "pydantic"
    good = {"a": 1, "s": "ab", "kind": "x", "items": [1]}
    assert adapter.validate(good) == Model(**good)
    with pytest.raises(SchemaValidationError) as caught:
        adapter.validate({"a": -1, "s": "b", "kind": "z", "items": [], "zz": 1})
    codes = {(i.code, i.path) for i in caught.value.issues}
    assert codes == {
        ("VALUE_OUT_OF_RANGE", ("a",)),
        ("PATTERN_MISMATCH", ("s",)),
        ("INVALID_ENUM_VALUE", ("kind",)),
        ("ARRAY_LENGTH_INVALID", ("items",)),
        ("UNEXPECTED_ARGUMENT", ("zz",)),
    }
    with pytest.raises(SchemaValidationError) as missing:
        adapter.validate({"a": 1})
    assert {i.code for i in missing.value.issues} == {"MISSING_REQUIRED_ARGUMENT"}
    assert json_schema(Model)["properties"]["a"]["minimum"] == 0
    many = Schema(list[Model])
    assert many.kind == "pydantic"
    assert many.validate([good]) == [Model(**good)]
    assert Schema.array(Model).validate([good]) == [Model(**good)]


# --------------------------------------------------------------------------- JSON Schema


def issues(schema: Any, value: Any) -> list[tuple[str, tuple[Any, ...]]]:
    return [(i.code, i.path) for i in JSONSchemaValidator(schema).validate(value)]


KEYWORD_CASES: list[tuple[str, dict[str, Any], Any, Any, str]] = [
    ("type", {"type": "string"}, "x", 1, "INVALID_ARGUMENT_TYPE"),
    ("type-integer", {"type": "integer"}, 1.0, 1.5, "INVALID_ARGUMENT_TYPE"),
    ("type-bool-is-not-number", {"type": "number"}, 2, True, "INVALID_ARGUMENT_TYPE"),
    ("type-list", {"type": ["string", "null"]}, None, 0, "INVALID_ARGUMENT_TYPE"),
    ("type-object", {"type": "object"}, {}, [], "INVALID_ARGUMENT_TYPE"),
    ("type-boolean", {"type": "boolean"}, False, 0, "INVALID_ARGUMENT_TYPE"),
    ("enum", {"enum": ["a", 1, None]}, 1.0, "b", "INVALID_ENUM_VALUE"),
    ("enum-bool-is-not-1", {"enum": [1]}, 1, True, "INVALID_ENUM_VALUE"),
    ("enum-containers", {"enum": [[1, {"a": 2}]]}, [1, {"a": 2.0}], [1, {"a": 3}],
     "INVALID_ENUM_VALUE"),
    ("const", {"const": {"k": [1]}}, {"k": [1]}, {"k": [2]}, "INVALID_ENUM_VALUE"),
    ("pattern", {"pattern": "b+"}, "abbc", "ac", "PATTERN_MISMATCH"),
    ("format-date-time", {"format": "date-time"}, "2024-02-29T10:00:00.5Z",
     "2023-02-29T10:00:00Z", "PATTERN_MISMATCH"),
    ("format-date", {"format": "date"}, "2024-01-31", "2024-13-01", "PATTERN_MISMATCH"),
    ("format-time", {"format": "time"}, "23:59:60+01:00", "24:00:00Z", "PATTERN_MISMATCH"),
    ("format-email", {"format": "email"}, "a@b.co", "a@b", "PATTERN_MISMATCH"),
    ("format-uri", {"format": "uri"}, "https://x.y//z?q=1", "not a uri", "PATTERN_MISMATCH"),
    ("format-uuid", {"format": "uuid"}, "6a1c6f4e-5a5e-4d5b-9f1e-0c1a0c1a0c1a", "6a1c",
     "PATTERN_MISMATCH"),
    ("format-ipv4", {"format": "ipv4"}, "10.0.0.1", "::1", "PATTERN_MISMATCH"),
    ("format-ipv6", {"format": "ipv6"}, "::1", "10.0.0.1", "PATTERN_MISMATCH"),
    ("format-hostname", {"format": "hostname"}, "a-b.example.", "-a.example",
     "PATTERN_MISMATCH"),
    ("minimum", {"minimum": 0}, 0, -1, "VALUE_OUT_OF_RANGE"),
    ("maximum", {"maximum": 1.5}, 1.5, 2, "VALUE_OUT_OF_RANGE"),
    ("exclusiveMinimum", {"exclusiveMinimum": 0}, 0.1, 0, "VALUE_OUT_OF_RANGE"),
    ("exclusiveMaximum", {"exclusiveMaximum": 10}, 9, 10, "VALUE_OUT_OF_RANGE"),
    ("exclusive-draft-04", {"minimum": 0, "exclusiveMinimum": True}, 1, 0,
     "VALUE_OUT_OF_RANGE"),
    ("exclusive-draft-04-max", {"maximum": 5, "exclusiveMaximum": True}, 4, 5,
     "VALUE_OUT_OF_RANGE"),
    ("minLength", {"minLength": 2}, "ab", "a", "VALUE_OUT_OF_RANGE"),
    ("maxLength-code-points", {"maxLength": 2}, "é😀", "abc", "VALUE_OUT_OF_RANGE"),
    ("minItems", {"minItems": 1}, [0], [], "ARRAY_LENGTH_INVALID"),
    ("maxItems", {"maxItems": 1}, [0], [0, 1], "ARRAY_LENGTH_INVALID"),
    ("not", {"not": {"type": "string"}}, 1, "s", "INVALID_ARGUMENT_TYPE"),
    ("false-schema", {"properties": {"a": False}}, {}, {"a": 1}, "INVALID_ARGUMENT_TYPE"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("schema", "good", "bad", "code"),
    [case[1:] for case in KEYWORD_CASES],
    ids=[case[0] for case in KEYWORD_CASES],
)
def test_each_keyword_accepts_and_refuses_with_its_code(
    schema: dict[str, Any], good: Any, bad: Any, code: str
) -> None:
    """Each supported keyword: a value that passes, one that fails with the canonical code."""
    validator = JSONSchemaValidator(schema)
    assert validator.validate(good) == []
    [issue] = validator.validate(bad)
    assert issue.code == code
    assert issue.code in ISSUE_CODES
    assert issue.message


def test_keywords_that_do_not_apply_to_the_type_are_ignored() -> None:
    """String keywords ignore numbers, number keywords ignore strings, and so on; unknown
    formats and keywords are ignored."""
    schema = {"minLength": 5, "minimum": 5, "minItems": 5, "required": ["a"],
              "format": "no-such-format", "x-custom": True, "uniqueItems": True}  # fmt: skip
    validator = JSONSchemaValidator(schema)
    for value in ("abcdefgh", 10, [1] * 5, {"a": 1}, None, True, "2024-99-99"):
        assert validator.validate(value) == []
    assert [i.code for i in validator.validate(1)] == ["VALUE_OUT_OF_RANGE"]
    assert [i.code for i in validator.validate("x")] == ["VALUE_OUT_OF_RANGE"]
    assert [i.code for i in validator.validate([])] == ["ARRAY_LENGTH_INVALID"]
    assert [i.code for i in validator.validate({})] == ["MISSING_REQUIRED_ARGUMENT"]


def test_objects_required_properties_and_additional_properties() -> None:
    """Missing fields, unexpected ones (false, or a schema), pattern properties, nested paths."""
    schema = {
        "type": "object",
        "properties": {
            "user": {
                "type": "object",
                "properties": {"age": {"type": "integer"}},
                "required": ["name", "age"],
            }
        },
        "patternProperties": {"^x-": {"type": "string"}},
        "additionalProperties": False,
        "required": ["user"],
    }
    assert issues(schema, {"user": {"name": "a", "age": 1}, "x-a": "s"}) == []
    assert issues(schema, {}) == [("MISSING_REQUIRED_ARGUMENT", ("user",))]
    assert issues(schema, {"user": {"age": "1"}, "x-a": 1, "other": 1}) == [
        ("MISSING_REQUIRED_ARGUMENT", ("user", "name")),
        ("INVALID_ARGUMENT_TYPE", ("user", "age")),
        ("INVALID_ARGUMENT_TYPE", ("x-a",)),
        ("UNEXPECTED_ARGUMENT", ("other",)),
    ]
    typed_extra = {"additionalProperties": {"type": "integer"}}
    assert issues(typed_extra, {"a": 1, "b": "2"}) == [("INVALID_ARGUMENT_TYPE", ("b",))]
    [missing] = JSONSchemaValidator(schema).validate({})
    assert missing.to_json() == {"code": "MISSING_REQUIRED_ARGUMENT", "path": ["user"],
                                 "message": "missing required field 'user'",
                                 "expected": "user"}  # fmt: skip


def test_arrays_items_and_positions() -> None:
    """items validates every element (path with its index); a list of schemas, positions."""
    assert issues({"items": {"type": "integer"}}, [1, "a", 2, None]) == [
        ("INVALID_ARGUMENT_TYPE", (1,)),
        ("INVALID_ARGUMENT_TYPE", (3,)),
    ]
    positional = {"items": [{"type": "string"}, {"type": "integer"}]}
    assert issues(positional, ["a", 1, "extra"]) == []
    assert issues(positional, [1]) == [("INVALID_ARGUMENT_TYPE", (0,))]


def test_combinators() -> None:
    """allOf collects every branch's issues; anyOf and oneOf report the closest branch, or one
    type issue naming every allowed type; oneOf refuses a value matching two branches."""
    all_of = {"allOf": [{"minimum": 2}, {"maximum": 0}]}
    assert [c for c, _ in issues(all_of, 1)] == ["VALUE_OUT_OF_RANGE", "VALUE_OUT_OF_RANGE"]
    union = {"anyOf": [{"type": "string"}, {"type": "integer"}]}
    assert issues(union, "a") == issues(union, 3) == []
    [issue] = JSONSchemaValidator(union).validate(None)
    assert (issue.code, issue.expected, issue.received) == (
        "INVALID_ARGUMENT_TYPE",
        "string or integer",
        "null",
    )
    shapes = {"oneOf": [
        {"type": "object", "properties": {"r": {"type": "number"}}, "required": ["r"]},
        {"type": "string"},
    ]}  # fmt: skip
    assert issues(shapes, {"r": 1}) == []
    assert issues(shapes, {"r": "big"}) == [("INVALID_ARGUMENT_TYPE", ("r",))]
    two = {"oneOf": [{"type": "integer"}, {"minimum": 0}]}
    assert issues(two, -1) == []
    [both] = JSONSchemaValidator(two).validate(1)
    assert both.code == "INVALID_ARGUMENT_TYPE"
    assert "exactly one" in both.message


def test_refs() -> None:
    """Local $ref: definitions, $defs, the root (recursion), JSON pointer escapes; a $ref
    replaces its sibling keywords (draft-07)."""
    schema = {
        "definitions": {"a/b": {"type": "integer"}, "pct%": {"type": "string"}},
        "$defs": {"node": {"type": "object", "properties": {
            "children": {"type": "array", "items": {"$ref": "#/$defs/node"}},
            "value": {"$ref": "#/definitions/a~1b", "type": "string"},
        }}},
        "properties": {"tree": {"$ref": "#/$defs/node"}, "name": {"$ref": "#/definitions/pct%25"},
                       "same": {"$ref": "#/properties/name"}, "root": {"$ref": "#"}},
    }  # fmt: skip
    good = {"tree": {"value": 1, "children": [{"value": 2, "children": []}]}, "name": "n",
            "same": "s", "root": {"name": "m"}}  # fmt: skip
    assert issues(schema, good) == []
    bad = {"tree": {"children": [{"value": "x"}]}, "name": 1, "root": {"root": {"name": 2}}}
    assert issues(schema, bad) == [
        ("INVALID_ARGUMENT_TYPE", ("tree", "children", 0, "value")),
        ("INVALID_ARGUMENT_TYPE", ("name",)),
        ("INVALID_ARGUMENT_TYPE", ("root", "root", "name")),
    ]


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        ({"type": "strin"}, "unknown type"),
        ({"$ref": "other.json#/a"}, "only local"),
        ({"$ref": "#/definitions/missing"}, "points to nothing"),
        ({"$ref": "#/items/5", "items": [{}]}, "points to nothing"),
        ({"$ref": "definitions"}, "only local"),
        ({"$ref": "#definitions"}, "JSON pointer"),
        ({"pattern": "("}, "invalid pattern"),
        ({"required": "a"}, "list of strings"),
        ({"minLength": -1}, "integer >= 0"),
        ({"minimum": "1"}, "must be a number"),
        ({"exclusiveMinimum": "1"}, "must be a number"),
        ({"properties": {"a": 1}}, "must be an object or a boolean"),
        ({"properties": []}, "must be an object"),
        ({"anyOf": []}, "non-empty list"),
        ({"enum": "a"}, "must be a list"),
        ({"format": 1}, "must be a string"),
        ([], "must be an object or a boolean"),
    ],
)
def test_unusable_schemas_fail_at_construction(schema: Any, message: str) -> None:
    """A malformed schema is a ConfigError when the validator is built, not at validation."""
    with pytest.raises(l0.ConfigError, match=message):
        JSONSchemaValidator(schema)


def test_patterns_are_compiled_once_and_shared() -> None:
    """The same pattern in two schemas is one compiled regex, from a shared cache."""
    compile_pattern.cache_clear()
    a = JSONSchemaValidator({"pattern": "^q+$", "properties": {"x": {"pattern": "^q+$"}}})
    b = JSONSchemaValidator({"pattern": "^q+$"})
    info = compile_pattern.cache_info()
    assert (info.misses, info.hits) == (1, 2)
    for _ in range(100):
        assert a.validate("qq") == b.validate("qq") == []
    assert compile_pattern.cache_info().misses == 1


# --------------------------------------------------------------------------- hostile input


def nested_lists(depth: int) -> list[Any]:
    root: list[Any] = []
    current = root
    for _ in range(depth):
        child: list[Any] = []
        current.append(child)
        current = child
    return root


def test_hostile_deep_data_is_an_issue_not_a_recursion_error() -> None:
    """Data nested 100 000 deep under a recursive schema stops at max_depth with one issue."""
    tree = {"anyOf": [{"type": "integer"}, {"type": "array", "items": {"$ref": "#"}}]}
    validator = JSONSchemaValidator(tree)
    assert validator.validate(nested_lists(20)) == []
    [issue] = validator.validate(nested_lists(100_000))
    assert issue.code == "INVALID_ARGUMENT_TYPE"
    assert "nested deeper than 200" in issue.message
    shallow = JSONSchemaValidator(tree, max_depth=10)
    assert shallow.validate(nested_lists(2)) == []
    assert shallow.validate(nested_lists(10))


def test_ref_loops_and_deep_schemas_terminate() -> None:
    """A $ref loop that consumes no data, and a schema nested 100 000 deep, compile (without
    recursion) and validate to an issue."""
    for loop in ({"$ref": "#"}, {"allOf": [{"$ref": "#"}]}, {"not": {"$ref": "#"}},
                 {"definitions": {"a": {"$ref": "#/definitions/b"},
                                  "b": {"$ref": "#/definitions/a"}},
                  "$ref": "#/definitions/a"}):  # fmt: skip
        result = JSONSchemaValidator(loop).validate(1)
        assert result
        assert result[0].code == "INVALID_ARGUMENT_TYPE"
    deep: dict[str, Any] = {"type": "integer"}
    for _ in range(100_000):
        deep = {"allOf": [deep]}
    validator = JSONSchemaValidator(deep)
    [issue] = validator.validate(1)
    assert "nested deeper" in issue.message


def test_issues_are_capped() -> None:
    """A huge invalid array gives at most max_issues issues."""
    validator = JSONSchemaValidator({"items": {"type": "string"}}, max_issues=7)
    assert len(validator.validate(list(range(100_000)))) == 7
    with pytest.raises(l0.ConfigError):
        JSONSchemaValidator({}, max_issues=0)


def test_deep_equality_is_iterative() -> None:
    """enum/const compare values of any depth without recursion."""
    validator = JSONSchemaValidator({"const": nested_lists(50_000)})
    assert validator.validate(nested_lists(50_000)) == []
    assert validator.validate(nested_lists(49_999))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(["a", "b", "name", "x-1"]), children, max_size=4)
    ),
    max_leaves=20,
)

COMPLEX = {
    "$defs": {"v": {"anyOf": [{"type": "string", "maxLength": 3}, {"type": "array",
                                                                   "items": {"$ref": "#"}}]}},
    "type": "object",
    "properties": {"name": {"type": "string", "pattern": "^a"}, "a": {"$ref": "#/$defs/v"},
                   "b": {"oneOf": [{"type": "integer"}, {"minimum": 0}]}},
    "patternProperties": {"^x-": {"enum": [1, "1", None]}},
    "additionalProperties": {"not": {"type": "boolean"}},
    "required": ["name"],
}  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(json_values)
def test_validation_never_raises(value: Any) -> None:
    """Any JSON value against a schema using every combinator: issues, never an exception,
    and every issue in the canonical shape."""
    for issue in JSONSchemaValidator(COMPLEX).validate(value):
        shape = issue.to_json()
        assert issue.code in ISSUE_CODES
        assert set(shape) <= {"code", "message", "path", "expected", "received"}
        assert all(isinstance(step, str) for step in shape["path"])
    assert JSONSchemaValidator({}).validate(value) == []
    assert JSONSchemaValidator(True).validate(value) == []
    json.dumps(COMPLEX)  # the schema itself is plain JSON
