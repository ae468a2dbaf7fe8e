"""Schemas: one adapter over every kind of schema structured output accepts.

:class:`Schema` wraps a msgspec ``Struct``, an attrs class, a dataclass, a ``TypedDict``, any
other type msgspec converts to (``list[Item]``, ``dict[str, int]``, ``Literal[...]``...), a
JSON Schema ``dict``, or a Pydantic model (or a type containing one) when pydantic is
installed. It validates decoded JSON into the target, reporting canonical
:class:`~l0._structured._validation.ValidationIssue`\\ s with paths, and gives the JSON Schema
of the target (to put in a prompt).

Pydantic is never imported by l0: a Pydantic model can only exist once the user imported
pydantic, so its presence in ``sys.modules`` is what l0 checks.
"""

from __future__ import annotations

import contextlib
import re
import sys
from collections.abc import Mapping
from typing import Any, Generic, Literal, TypeAlias, TypedDict, TypeVar, cast, overload

import msgspec

from l0._errors import ConfigError
from l0._structured._jsonschema import JSONSchemaValidator
from l0._structured._validation import IssueCode, SchemaValidationError, ValidationIssue

__all__ = ["Schema", "SchemaKind", "json_schema"]

T = TypeVar("T")
_S = TypeVar("_S")

SchemaKind: TypeAlias = Literal["msgspec", "pydantic", "json_schema"]
"""How a :class:`Schema` validates: msgspec (``Struct``, attrs, dataclass, ``TypedDict`` and
other types), Pydantic, or l0's own JSON Schema validator."""


class Invalid(Exception):
    """Validation found ``issues`` (internal: the API turns it into SchemaValidationError)."""

    def __init__(self, issues: tuple[ValidationIssue, ...]) -> None:
        super().__init__(issues)
        self.issues = issues


# --------------------------------------------------------------------------- msgspec

_MSGSPEC_MESSAGE = re.compile(r"(?P<message>.*?)(?: - at `(?P<path>\$[^`]*)`)?\Z", re.DOTALL)
_PATH_STEP = re.compile(r"\.([^.\[]+)|\[(\d+)\]|\[([^\]]*)\]")
_MISSING = re.compile(r"Object missing required field `(.+)`\Z", re.DOTALL)
_UNKNOWN = re.compile(r"Object contains unknown field `(.+)`\Z", re.DOTALL)
_EXPECTED_GOT = re.compile(r"Expected `([^`]+)`, got `([^`]+)`\Z")
_BOUND = re.compile(r"Expected `([^`]+)` (>=|<=|>|<) (.+)\Z")
_LENGTH = re.compile(r"Expected `([^`]+)` of length (>=|<=) (\d+)\Z")
_REGEX = re.compile(r"Expected `str` matching regex (.+)\Z", re.DOTALL)
_ENUM = re.compile(r"Invalid enum value (.+)\Z", re.DOTALL)


def _msgspec_path(text: str | None) -> tuple[str | int, ...]:
    if not text:
        return ()
    path: list[str | int] = []
    for m in _PATH_STEP.finditer(text, 1):
        key, index, other = m.groups()
        path.append(key if key is not None else int(index) if index is not None else other)
    return tuple(path)


def msgspec_issue(error: msgspec.ValidationError) -> ValidationIssue:
    """The issue msgspec reports (msgspec stops at the first one; it says what and where only
    in its message, ``"Expected `int`, got `str` - at `$.items[0].id`"``, which is parsed)."""
    m = _MSGSPEC_MESSAGE.match(str(error))
    assert m is not None  # the pattern matches any text
    message, path = m["message"], _msgspec_path(m["path"])
    code: IssueCode = "INVALID_ARGUMENT_TYPE"
    expected = received = None
    if found := _MISSING.match(message):
        code, path, expected = "MISSING_REQUIRED_ARGUMENT", (*path, found[1]), found[1]
    elif found := _UNKNOWN.match(message):
        code, path, received = "UNEXPECTED_ARGUMENT", (*path, found[1]), found[1]
    elif found := _EXPECTED_GOT.match(message):
        expected, received = found[1], found[2]
    elif found := _LENGTH.match(message):
        array = found[1] == "array"
        code = "ARRAY_LENGTH_INVALID" if array else "VALUE_OUT_OF_RANGE"
        expected = f"length {found[2]} {found[3]}"
    elif found := _BOUND.match(message):
        code, expected = "VALUE_OUT_OF_RANGE", f"{found[2]} {found[3]}"
    elif found := _REGEX.match(message):
        code, expected = "PATTERN_MISMATCH", f"pattern {found[1]}"
    elif found := _ENUM.match(message):
        code, received = "INVALID_ENUM_VALUE", found[1]
    return ValidationIssue(
        code=code, message=message, path=path, expected=expected, received=received
    )


class _Msgspec:
    kind: SchemaKind = "msgspec"

    def __init__(self, target: Any) -> None:
        self.target = target
        # Generating the JSON Schema is also the check that msgspec supports the type.
        self.schema: dict[str, Any] = msgspec.json.schema(target)

    def convert(self, data: Any) -> Any:
        try:
            return msgspec.convert(data, self.target)
        except msgspec.ValidationError as exc:
            raise Invalid((msgspec_issue(exc),)) from exc


# --------------------------------------------------------------------------- pydantic

_PYDANTIC_CODES: dict[str, IssueCode] = {
    "missing": "MISSING_REQUIRED_ARGUMENT",
    "extra_forbidden": "UNEXPECTED_ARGUMENT",
    "enum": "INVALID_ENUM_VALUE",
    "literal_error": "INVALID_ENUM_VALUE",
    "string_pattern_mismatch": "PATTERN_MISMATCH",
    "greater_than": "VALUE_OUT_OF_RANGE",
    "greater_than_equal": "VALUE_OUT_OF_RANGE",
    "less_than": "VALUE_OUT_OF_RANGE",
    "less_than_equal": "VALUE_OUT_OF_RANGE",
    "multiple_of": "VALUE_OUT_OF_RANGE",
    "string_too_short": "VALUE_OUT_OF_RANGE",
    "string_too_long": "VALUE_OUT_OF_RANGE",
    "too_short": "ARRAY_LENGTH_INVALID",
    "too_long": "ARRAY_LENGTH_INVALID",
}


def _pydantic() -> Any:
    """The pydantic module if the program imported it (l0 never imports it itself)."""
    return sys.modules.get("pydantic")


def _is_pydantic_model(schema: object) -> bool:
    pydantic = _pydantic()
    if pydantic is None:
        return False
    if isinstance(schema, type) and issubclass(schema, pydantic.BaseModel):
        return True
    return bool(pydantic.dataclasses.is_pydantic_dataclass(schema))


def pydantic_issue(error: Mapping[str, Any]) -> ValidationIssue:
    """One entry of ``pydantic.ValidationError.errors()`` as an issue."""
    kind = str(error.get("type", ""))
    loc: tuple[Any, ...] = tuple(error.get("loc", ()))
    path = tuple(step if isinstance(step, (str, int)) else str(step) for step in loc)
    ctx = cast("Mapping[str, Any]", error.get("ctx") or {})
    expected: str | None = None
    if "expected" in ctx:
        expected = str(ctx["expected"])
    elif "pattern" in ctx:
        expected = f"pattern {ctx['pattern']}"
    received = None if kind == "missing" else _preview(error.get("input"))
    return ValidationIssue(
        code=_PYDANTIC_CODES.get(kind, "INVALID_ARGUMENT_TYPE"),
        message=str(error.get("msg", kind)),
        path=path,
        expected=expected,
        received=received,
    )


def _preview(value: object) -> str:
    try:
        text = msgspec.json.encode(value).decode()
    except (TypeError, ValueError, RecursionError):
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class _Pydantic:
    kind: SchemaKind = "pydantic"

    def __init__(self, target: Any, pydantic: Any) -> None:
        self.target = target
        self._adapter: Any = pydantic.TypeAdapter(target)
        self._error: type[Exception] = pydantic.ValidationError
        self.schema: dict[str, Any] = self._adapter.json_schema()

    def convert(self, data: Any) -> Any:
        try:
            return self._adapter.validate_python(data)
        except self._error as exc:
            errors = cast("list[Mapping[str, Any]]", cast("Any", exc).errors())
            raise Invalid(tuple(pydantic_issue(e) for e in errors)) from exc


# --------------------------------------------------------------------------- JSON Schema


class _JSONSchema:
    kind: SchemaKind = "json_schema"

    def __init__(self, schema: Mapping[str, Any], max_depth: int) -> None:
        self.target = schema
        self.schema = dict(schema)
        self._validator = JSONSchemaValidator(schema, max_depth=max_depth)

    def convert(self, data: Any) -> Any:
        issues = self._validator.validate(data)
        if issues:
            raise Invalid(tuple(issues))
        return data


_Backend: TypeAlias = "_Msgspec | _Pydantic | _JSONSchema"


# --------------------------------------------------------------------------- Schema


def _name_of(schema: Any) -> str | None:
    """``User``, ``list[User]``, a JSON Schema's ``title`` (or None)."""
    if isinstance(schema, Mapping):
        title = cast("Mapping[str, Any]", schema).get("title")
        return title if isinstance(title, str) else None
    return _type_name(schema)


def _type_name(tp: Any, depth: int = 0) -> str:
    origin, args = getattr(tp, "__origin__", None), getattr(tp, "__args__", None)
    if origin is not None and isinstance(args, tuple) and depth < 5:
        inner = ", ".join(_type_name(a, depth + 1) for a in cast("tuple[Any, ...]", args))
        return f"{_type_name(origin, depth + 1)}[{inner}]"
    if isinstance(tp, type):
        return tp.__name__
    return repr(tp).replace("typing.", "")


class Schema(Generic[T]):
    """A schema for structured output, whatever kind it is.

    ``Schema(Model)`` accepts a msgspec ``Struct``, an attrs class, a dataclass, a
    ``TypedDict``, any other type msgspec can convert JSON to, a Pydantic model (or a type
    containing one, when pydantic is imported), or a JSON Schema ``dict`` (validated by l0
    itself; its data stays plain JSON; ``max_depth`` bounds its nesting).

    ``validate(data)`` returns the typed value or raises
    :class:`~l0.structured.SchemaValidationError`; ``json_schema()`` is the JSON Schema to
    show the model. Raises :class:`~l0.ConfigError` for something that is not a schema.

    .. versionadded:: 0.1
    """

    __slots__ = ("_backend", "kind", "name", "target")

    @overload
    def __init__(self: Schema[_S], schema: type[_S], /, *, max_depth: int = ...) -> None: ...
    @overload
    def __init__(
        self: Schema[Any], schema: Mapping[str, Any], /, *, max_depth: int = ...
    ) -> None: ...
    @overload
    def __init__(self: Schema[Any], schema: Any, /, *, max_depth: int = ...) -> None: ...
    def __init__(self, schema: Any, /, *, max_depth: int = 200) -> None:
        if isinstance(schema, Schema):
            raise ConfigError("already a Schema: use it as it is")
        self.target: Any = schema
        """What the schema was made from."""
        self.name: str | None = _name_of(schema)
        """The schema's name (the class name, or a JSON Schema's ``title``), if any."""
        self._backend: _Backend = _backend(schema, max_depth)
        self.kind: SchemaKind = self._backend.kind
        """Which validator it uses: ``"msgspec"``, ``"pydantic"`` or ``"json_schema"``."""

    def __repr__(self) -> str:
        return f"Schema({self.name or self.kind}, kind={self.kind!r})"

    def validate(self, data: Any) -> T:
        """``data`` (decoded JSON) as the schema's type.

        Raises:
            SchemaValidationError: it does not match; ``.issues`` says where and why.
        """
        try:
            return self._backend.convert(data)
        except Invalid as exc:
            raise SchemaValidationError(exc.issues, schema_name=self.name, value=data) from None

    def convert(self, data: Any) -> T:
        """Like :meth:`validate`, raising the internal ``Invalid`` (for the API layer)."""
        return self._backend.convert(data)

    def json_schema(self) -> dict[str, Any]:
        """The JSON Schema of the target (a new dict each time), e.g. for the prompt."""
        return cast(
            "dict[str, Any]", msgspec.json.decode(msgspec.json.encode(self._backend.schema))
        )

    # -- builders ---------------------------------------------------------------------------

    @classmethod
    def object(cls, shape: Mapping[str, Any]) -> Schema[dict[str, Any]]:
        """An object with the fields of ``shape``, every one required, e.g.
        ``{"name": str, "age": int}``: validated as a ``TypedDict`` (the data is a ``dict``).

        The values are all types (anything :class:`Schema` accepts as a type), or all JSON
        Schemas (the object is then a JSON Schema with ``additionalProperties`` allowed).
        """
        if not shape:
            raise ConfigError("an object shape needs at least one field")
        for key in shape:
            if not isinstance(key, str):  # pyright: ignore[reportUnnecessaryIsInstance]
                raise ConfigError(f"object shape keys must be strings, got {key!r}")
        values = list(shape.values())
        if all(isinstance(v, Mapping) for v in values):
            properties = {k: dict(cast("Mapping[str, Any]", v)) for k, v in shape.items()}
            return cast(
                "Schema[dict[str, Any]]",
                Schema({"type": "object", "properties": properties, "required": list(shape)}),
            )
        if any(isinstance(v, (Mapping, Schema)) for v in values):
            raise ConfigError(
                "object shape values must all be types, or all JSON Schema dicts (nest a "
                "Struct, dataclass or TypedDict for an object inside)"
            )
        typed_dict: Any = TypedDict("StructuredObject", dict(shape))  # type: ignore[misc]
        return cast("Schema[dict[str, Any]]", Schema(typed_dict))

    @classmethod
    def array(cls, item: Schema[_S] | type[_S] | Mapping[str, Any]) -> Schema[list[_S]]:
        """A JSON array whose items match ``item`` (a type, a JSON Schema, or a Schema)."""
        target: Any = cast("Schema[Any]", item).target if isinstance(item, Schema) else item
        if isinstance(target, Mapping):
            items = dict(cast("Mapping[str, Any]", target))
            return cast("Schema[list[_S]]", Schema({"type": "array", "items": items}))
        return cast("Schema[list[_S]]", Schema(list[target]))


def _backend(schema: Any, max_depth: int) -> _Backend:
    if isinstance(schema, Mapping):
        return _JSONSchema(cast("Mapping[str, Any]", schema), max_depth)
    if isinstance(schema, bool):
        return _JSONSchema(cast("Any", schema), max_depth)
    pydantic = _pydantic()
    if pydantic is not None and _is_pydantic_model(schema):
        return _Pydantic(schema, pydantic)
    try:
        return _Msgspec(schema)
    except (TypeError, ValueError) as exc:
        if pydantic is not None:  # list[Model], a TypedDict holding Models, ...
            with contextlib.suppress(Exception):  # if pydantic refuses it too: msgspec's reason
                return _Pydantic(schema, pydantic)
        raise ConfigError(
            f"unsupported schema {schema!r}: expected a msgspec Struct, an attrs class, a "
            "dataclass, a TypedDict (or another type msgspec converts JSON to), a JSON Schema "
            f"dict, or a Pydantic model ({exc})"
        ) from exc


def json_schema(schema: Any) -> dict[str, Any]:
    """The JSON Schema of any schema :class:`Schema` accepts (or of a :class:`Schema`).

    .. versionadded:: 0.1
    """
    adapter = cast("Schema[Any]", schema) if isinstance(schema, Schema) else Schema(schema)
    return adapter.json_schema()
