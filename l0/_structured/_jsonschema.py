"""A JSON Schema validator (the draft-07 subset of the canonical spec) with canonical issues.

Supported: ``type``, ``properties``, ``required``, ``additionalProperties``,
``patternProperties``, ``enum``, ``const``, ``pattern``, ``format`` (``date-time``, ``date``,
``time``, ``email``, ``uri``, ``uuid``, ``ipv4``, ``ipv6``, ``hostname``; other formats are
ignored), ``minimum``, ``maximum``, ``exclusiveMinimum``, ``exclusiveMaximum`` (draft-07
numbers, or draft-04 booleans), ``minLength``, ``maxLength``, ``minItems``, ``maxItems``,
``items`` (a schema, or a list of them for positions), ``oneOf``, ``anyOf``, ``allOf``,
``not``, and local ``$ref`` (``#``, ``#/definitions/X``, ``#/$defs/X``, any JSON pointer into
the schema). As in draft-07, a ``$ref`` replaces the keywords next to it. Other keywords are
ignored; boolean schemas (``true``, ``false``) work.

The schema is compiled once, iteratively (any nesting depth, cycles through ``$ref``
included), so that a malformed schema fails at construction with :class:`~l0.ConfigError`
and patterns are compiled once. Validation recurses with an explicit bound: ``max_depth``
counts the levels of data *and* of schema (each ``$ref``, combinator branch and ``not`` is a
level), and passing it (deep data under a recursive schema, a ``$ref`` loop that consumes no
data) ends the validation with one issue, never a ``RecursionError``; at most ``max_issues``
issues are collected.
"""

from __future__ import annotations

import contextlib
import operator
import re
import urllib.parse
from collections.abc import Callable, Mapping
from typing import Any, Final, cast

from l0._errors import ConfigError
from l0._structured._formats import FORMATS, compile_pattern, has_type, json_type, same, show
from l0._structured._validation import IssueCode, ValidationIssue

__all__ = ["JSONSchemaValidator"]

_TYPES: Final = frozenset({"string", "number", "integer", "boolean", "object", "array", "null"})
_SUBSCHEMA_MAPS: Final = ("properties", "patternProperties", "definitions", "$defs")
_SUBSCHEMA_LISTS: Final = ("oneOf", "anyOf", "allOf")
_NUMBER_KEYS: Final = ("minimum", "maximum")
_COUNT_KEYS: Final = ("minLength", "maxLength", "minItems", "maxItems")
_COMPARE: Final[dict[str, Callable[[float, float], bool]]] = {
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
}


# --------------------------------------------------------------------------- compiling

_ABSENT: Final = object()


class _Node:
    """One compiled (sub)schema. Subschemas are referenced by the schema objects themselves
    and looked up in the validator's table, so compiling needs no recursion."""

    __slots__ = (
        "additional",
        "all_of",
        "always",
        "any_of",
        "const",
        "enum",
        "exclusive_maximum",
        "exclusive_minimum",
        "format",
        "format_name",
        "items",
        "max_items",
        "max_length",
        "maximum",
        "min_items",
        "min_length",
        "minimum",
        "negated",
        "one_of",
        "pattern",
        "pattern_properties",
        "positional",
        "properties",
        "ref",
        "required",
        "types",
    )

    def __init__(self) -> None:
        self.always: bool | None = None
        self.ref: object = None
        self.types: tuple[str, ...] | None = None
        self.properties: dict[str, object] | None = None
        self.pattern_properties: list[tuple[re.Pattern[str], object]] = []
        self.required: tuple[str, ...] = ()
        self.additional: object = None  # False, or a schema object
        self.enum: list[object] | None = None
        self.const: object = _ABSENT
        self.pattern: re.Pattern[str] | None = None
        self.format: Callable[[str], bool] | None = None
        self.format_name = ""
        self.minimum: float | None = None
        self.maximum: float | None = None
        self.exclusive_minimum: float | None = None
        self.exclusive_maximum: float | None = None
        self.min_length: int | None = None
        self.max_length: int | None = None
        self.min_items: int | None = None
        self.max_items: int | None = None
        self.items: object = None
        self.positional: list[object] | None = None
        self.all_of: list[object] | None = None
        self.any_of: list[object] | None = None
        self.one_of: list[object] | None = None
        self.negated: object = None


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _resolve(root: object, ref: str, where: str) -> object:
    if not ref.startswith("#"):
        raise ConfigError(f"{where}: only local $ref ('#/...') are supported, got {ref!r}")
    pointer = urllib.parse.unquote(ref[1:])
    target = root
    if not pointer:
        return target
    if not pointer.startswith("/"):
        raise ConfigError(f"{where}: $ref {ref!r} is not a JSON pointer ('#/...')")
    for raw in pointer[1:].split("/"):
        token = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(target, Mapping) and token in target:
            target = cast("Mapping[str, object]", target)[token]
        elif isinstance(target, list) and token.isdigit():
            items = cast("list[object]", target)
            if int(token) >= len(items):
                raise ConfigError(f"{where}: $ref {ref!r} points to nothing")
            target = items[int(token)]
        else:
            raise ConfigError(f"{where}: $ref {ref!r} points to nothing")
    return target


def _compile_node(
    schema: object, where: str, root: object
) -> tuple[_Node, list[tuple[object, str]]]:
    """Compile one schema object; returns its node and the subschemas to compile next."""
    node = _Node()
    subs: list[tuple[object, str]] = []
    if isinstance(schema, bool):
        node.always = schema
        return node, subs
    if not isinstance(schema, Mapping):
        raise ConfigError(f"{where}: a schema must be an object or a boolean, got {show(schema)}")
    s = cast("Mapping[str, Any]", schema)

    def sub(value: object, at: str) -> object:
        if not isinstance(value, (Mapping, bool)):
            raise ConfigError(f"{at}: a schema must be an object or a boolean, got {show(value)}")
        subs.append((cast("object", value), at))
        return cast("object", value)

    for key in _SUBSCHEMA_MAPS:  # compiled even when unused, so $ref into them resolves
        if key in s:
            mapping = s[key]
            if not isinstance(mapping, Mapping):
                raise ConfigError(f"{where}/{key} must be an object")
            for name, value in cast("Mapping[str, object]", mapping).items():
                sub(value, f"{where}/{key}/{name}")
    if "$ref" in s:
        ref = s["$ref"]
        if not isinstance(ref, str):
            raise ConfigError(f"{where}/$ref must be a string")
        node.ref = sub(_resolve(root, ref, f"{where}/$ref"), f"{where}/$ref")
        return node, subs

    if "type" in s:
        raw = s["type"]
        names = cast("list[object]", raw) if isinstance(raw, list) else [raw]
        for name in names:
            if name not in _TYPES:
                raise ConfigError(f"{where}/type: unknown type {show(name)}")
        node.types = tuple(cast("list[str]", names))
    if "properties" in s:
        node.properties = dict(cast("Mapping[str, object]", s["properties"]))
    if "patternProperties" in s:
        for source, value in cast("Mapping[str, object]", s["patternProperties"]).items():
            node.pattern_properties.append((_compile_pattern(source, where), value))
    if "required" in s:
        required = s["required"]
        if not isinstance(required, list) or not all(
            isinstance(r, str) for r in cast("list[object]", required)
        ):
            raise ConfigError(f"{where}/required must be a list of strings")
        node.required = tuple(cast("list[str]", required))
    if "additionalProperties" in s:
        additional = s["additionalProperties"]
        if additional is not True:
            node.additional = sub(additional, f"{where}/additionalProperties")
    if "enum" in s:
        if not isinstance(s["enum"], list):
            raise ConfigError(f"{where}/enum must be a list")
        node.enum = list(cast("list[object]", s["enum"]))
    if "const" in s:
        node.const = s["const"]
    if "pattern" in s:
        node.pattern = _compile_pattern(s["pattern"], where)
    if "format" in s:
        name = s["format"]
        if not isinstance(name, str):
            raise ConfigError(f"{where}/format must be a string")
        node.format = FORMATS.get(name)  # unknown formats are ignored
        node.format_name = name
    for key in _NUMBER_KEYS:
        if key in s and not _is_number(s[key]):
            raise ConfigError(f"{where}/{key} must be a number")
    node.minimum = s.get("minimum")
    node.maximum = s.get("maximum")
    for key, bound in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if key not in s:
            continue
        value = s[key]
        if isinstance(value, bool):  # draft-04: makes minimum / maximum exclusive
            limit = s.get(bound) if value else None
        elif _is_number(value):
            limit = value
        else:
            raise ConfigError(f"{where}/{key} must be a number")
        if key == "exclusiveMinimum":
            node.exclusive_minimum = limit
            if value is True:
                node.minimum = None
        else:
            node.exclusive_maximum = limit
            if value is True:
                node.maximum = None
    for key in _COUNT_KEYS:
        if key in s:
            count = s[key]
            if isinstance(count, bool) or not isinstance(count, int) or count < 0:
                raise ConfigError(f"{where}/{key} must be an integer >= 0")
    node.min_length, node.max_length = s.get("minLength"), s.get("maxLength")
    node.min_items, node.max_items = s.get("minItems"), s.get("maxItems")
    if "items" in s:
        items = s["items"]
        if isinstance(items, list):
            node.positional = [
                sub(item, f"{where}/items/{i}")
                for i, item in enumerate(cast("list[object]", items))
            ]
        else:
            node.items = sub(items, f"{where}/items")
    for key in _SUBSCHEMA_LISTS:
        if key not in s:
            continue
        branches = s[key]
        if not isinstance(branches, list) or not branches:
            raise ConfigError(f"{where}/{key} must be a non-empty list of schemas")
        compiled = [
            sub(branch, f"{where}/{key}/{i}")
            for i, branch in enumerate(cast("list[object]", branches))
        ]
        if key == "oneOf":
            node.one_of = compiled
        elif key == "anyOf":
            node.any_of = compiled
        else:
            node.all_of = compiled
    if "not" in s:
        node.negated = sub(s["not"], f"{where}/not")
    return node, subs


def _compile_pattern(source: object, where: str) -> re.Pattern[str]:
    if not isinstance(source, str):
        raise ConfigError(f"{where}: a pattern must be a string")
    try:
        return compile_pattern(source)
    except re.error as exc:
        raise ConfigError(f"{where}: invalid pattern {source!r}: {exc}") from exc


# --------------------------------------------------------------------------- validating


class _Full(Exception):
    """``max_issues`` were collected: stop."""


class _TooDeep(Exception):
    """``max_depth`` was passed (at ``path``): the whole validation fails, even inside an
    ``anyOf`` or a ``not`` (which would otherwise take the failure for an answer)."""

    def __init__(self, path: tuple[str | int, ...]) -> None:
        super().__init__(path)
        self.path = path


class _Run:
    """One validation: the current path and the issues found."""

    __slots__ = ("issues", "limit", "max_depth", "nodes", "path")

    def __init__(
        self, nodes: dict[int, _Node], path: list[str | int], max_depth: int, limit: int
    ) -> None:
        self.nodes = nodes
        self.path = path
        self.max_depth = max_depth
        self.limit = limit
        self.issues: list[ValidationIssue] = []

    def report(
        self,
        code: IssueCode,
        message: str,
        *,
        key: str | None = None,
        expected: str | None = None,
        received: str | None = None,
    ) -> None:
        path = (*self.path, key) if key is not None else tuple(self.path)
        self.issues.append(
            ValidationIssue(
                code=code, message=message, path=path, expected=expected, received=received
            )
        )
        if len(self.issues) >= self.limit:
            raise _Full

    def branch(
        self, schema: object, value: object, depth: int, limit: int
    ) -> list[ValidationIssue]:
        """The issues of ``value`` against ``schema`` alone (for anyOf, oneOf, not)."""
        run = _Run(self.nodes, list(self.path), self.max_depth, limit)
        with contextlib.suppress(_Full):
            run.check(schema, value, depth)
        return run.issues

    def check(self, schema: object, value: object, depth: int) -> None:
        if depth > self.max_depth:
            raise _TooDeep(tuple(self.path))
        node = self.nodes[id(schema)]
        always, ref = node.always, node.ref
        if always is not None:
            if not always:
                self.report("INVALID_ARGUMENT_TYPE", "no value is allowed here",
                            expected="nothing", received=json_type(value))  # fmt: skip
            return
        if ref is not None:
            self.check(ref, value, depth + 1)
            return
        kind = json_type(value)
        if node.types is not None and not any(has_type(value, t) for t in node.types):
            expected = " or ".join(node.types)
            self.report("INVALID_ARGUMENT_TYPE", f"expected {expected}, got {kind}",
                        expected=expected, received=kind)  # fmt: skip
            return
        if node.enum is not None and not any(same(value, option) for option in node.enum):
            options = ", ".join(show(option, 30) for option in node.enum[:10])
            more = ", ..." if len(node.enum) > 10 else ""
            self.report("INVALID_ENUM_VALUE", f"{show(value)} is not one of [{options}{more}]",
                        expected=f"one of [{options}{more}]", received=show(value))  # fmt: skip
        if node.const is not _ABSENT and not same(value, node.const):
            self.report("INVALID_ENUM_VALUE", f"expected {show(node.const)}, got {show(value)}",
                        expected=show(node.const), received=show(value))  # fmt: skip
        if kind == "string":
            self._string(node, cast("str", value))
        elif kind in {"integer", "number"}:
            self._number(node, cast("float", value))
        elif kind == "array":
            self._array(node, cast("list[object]", value), depth)
        elif kind == "object":
            self._object(node, cast("dict[str, object]", value), depth)
        if node.all_of is not None:
            for branch in node.all_of:
                self.check(branch, value, depth + 1)
        if node.any_of is not None:
            self._any(node.any_of, value, depth, exactly_one=False)
        if node.one_of is not None:
            self._any(node.one_of, value, depth, exactly_one=True)
        if node.negated is not None and not self.branch(node.negated, value, depth + 1, 1):
            self.report("INVALID_ARGUMENT_TYPE", "matches a schema it must not match ('not')",
                        received=show(value))  # fmt: skip

    def _string(self, node: _Node, value: str) -> None:
        n = len(value)
        if node.min_length is not None and n < node.min_length:
            self.report("VALUE_OUT_OF_RANGE", f"string of length {n}, expected at least "
                        f"{node.min_length}", expected=f"length >= {node.min_length}",
                        received=f"length {n}")  # fmt: skip
        if node.max_length is not None and n > node.max_length:
            self.report("VALUE_OUT_OF_RANGE", f"string of length {n}, expected at most "
                        f"{node.max_length}", expected=f"length <= {node.max_length}",
                        received=f"length {n}")  # fmt: skip
        if node.pattern is not None and node.pattern.search(value) is None:
            self.report("PATTERN_MISMATCH", f"{show(value)} does not match "
                        f"{node.pattern.pattern!r}", expected=f"pattern {node.pattern.pattern}",
                        received=show(value))  # fmt: skip
        if node.format is not None and not node.format(value):
            self.report("PATTERN_MISMATCH", f"{show(value)} is not a valid {node.format_name}",
                        expected=f"format {node.format_name}", received=show(value))  # fmt: skip

    def _number(self, node: _Node, value: float) -> None:
        for bound, op in (
            (node.minimum, ">="),
            (node.maximum, "<="),
            (node.exclusive_minimum, ">"),
            (node.exclusive_maximum, "<"),
        ):
            if bound is not None and not _COMPARE[op](value, bound):
                self.report("VALUE_OUT_OF_RANGE", f"{show(value)} is not {op} {show(bound)}",
                            expected=f"{op} {show(bound)}", received=show(value))  # fmt: skip

    def _array(self, node: _Node, value: list[object], depth: int) -> None:
        n = len(value)
        if node.min_items is not None and n < node.min_items:
            self.report("ARRAY_LENGTH_INVALID", f"{n} items, expected at least {node.min_items}",
                        expected=f">= {node.min_items} items", received=f"{n} items")  # fmt: skip
        if node.max_items is not None and n > node.max_items:
            self.report("ARRAY_LENGTH_INVALID", f"{n} items, expected at most {node.max_items}",
                        expected=f"<= {node.max_items} items", received=f"{n} items")  # fmt: skip
        path = self.path
        if node.positional is not None:
            for i, (item, schema) in enumerate(zip(value, node.positional, strict=False)):
                path.append(i)
                self.check(schema, item, depth + 1)
                path.pop()
        elif node.items is not None:
            schema = node.items
            for i, item in enumerate(value):
                path.append(i)
                self.check(schema, item, depth + 1)
                path.pop()

    def _object(self, node: _Node, value: dict[str, object], depth: int) -> None:
        for name in node.required:
            if name not in value:
                self.report("MISSING_REQUIRED_ARGUMENT", f"missing required field {name!r}",
                            key=name, expected=name)  # fmt: skip
        properties = node.properties
        patterns = node.pattern_properties
        additional = node.additional
        if properties is None and not patterns and additional is None:
            return
        path = self.path
        for name, item in value.items():
            known = False
            if properties is not None and name in properties:
                known = True
                path.append(name)
                self.check(properties[name], item, depth + 1)
                path.pop()
            for regex, schema in patterns:
                if regex.search(name) is not None:
                    known = True
                    path.append(name)
                    self.check(schema, item, depth + 1)
                    path.pop()
            if known or additional is None:
                continue
            if additional is False:
                self.report("UNEXPECTED_ARGUMENT", f"unexpected field {name!r}", key=name,
                            received=name)  # fmt: skip
            else:
                path.append(name)
                self.check(additional, item, depth + 1)
                path.pop()

    def _any(self, branches: list[object], value: object, depth: int, *, exactly_one: bool) -> None:
        results: list[list[ValidationIssue]] = []
        for branch in branches:  # a loop, not a comprehension: one frame less per level
            results.append(self.branch(branch, value, depth + 1, self.limit))  # noqa: PERF401
        passed = sum(1 for issues in results if not issues)
        if passed == 1 or (passed > 1 and not exactly_one):
            return
        kind = json_type(value)
        if passed > 1:
            self.report("INVALID_ARGUMENT_TYPE", f"matches {passed} of the oneOf schemas, "
                        "expected exactly one", expected="exactly one oneOf schema",
                        received=kind)  # fmt: skip
            return
        here = tuple(self.path)

        def type_only(issues: list[ValidationIssue]) -> bool:
            first = issues[0]
            return (
                len(issues) == 1
                and first.code == "INVALID_ARGUMENT_TYPE"
                and first.path == here
                and first.expected is not None
            )

        if all(type_only(issues) for issues in results):
            names = list(dict.fromkeys(cast("str", issues[0].expected) for issues in results))
            expected = " or ".join(names)
            self.report("INVALID_ARGUMENT_TYPE", f"expected {expected}, got {kind}",
                        expected=expected, received=kind)  # fmt: skip
            return
        # The branch that got furthest: right type, fewest issues.
        best = min(results, key=lambda issues: (type_only(issues), len(issues)))
        for issue in best:
            self.issues.append(issue)
            if len(self.issues) >= self.limit:
                raise _Full


class JSONSchemaValidator:
    """Validates decoded JSON against a JSON Schema; see the module notes.

    Raises :class:`~l0.ConfigError` at construction for a schema it cannot use (a malformed
    keyword, an invalid pattern, a ``$ref`` that is not local or points to nothing). Don't
    mutate the schema afterwards: it is compiled once.
    """

    __slots__ = ("_keep", "_nodes", "max_depth", "max_issues", "schema")

    def __init__(
        self, schema: Mapping[str, Any] | bool, *, max_depth: int = 200, max_issues: int = 50
    ) -> None:
        if max_depth < 1 or max_issues < 1:
            raise ConfigError("max_depth and max_issues must be >= 1")
        self.schema: Mapping[str, Any] | bool = schema
        """The JSON Schema (don't mutate it: it was compiled)."""
        self.max_depth: int = max_depth
        """Levels of data and schema a validation may go through."""
        self.max_issues: int = max_issues
        """Issues collected before a validation stops."""
        nodes: dict[int, _Node] = {}
        keep: list[object] = []  # the schema objects, alive as long as their ids are keys
        todo: list[tuple[object, str]] = [(schema, "#")]
        while todo:
            obj, where = todo.pop()
            if id(obj) in nodes:
                continue
            node, subs = _compile_node(obj, where, schema)
            nodes[id(obj)] = node
            keep.append(obj)
            todo.extend(subs)
        self._nodes = nodes
        self._keep = keep

    def validate(self, value: object) -> list[ValidationIssue]:
        """The issues of ``value`` (empty when it is valid), at most ``max_issues``."""
        run = _Run(self._nodes, [], self.max_depth, self.max_issues)
        try:
            run.check(self.schema, value, 0)
        except _Full:
            pass
        except (_TooDeep, RecursionError) as exc:  # RecursionError: a caller already deep
            depth = self.max_depth
            run.issues.append(
                ValidationIssue(
                    code="INVALID_ARGUMENT_TYPE",
                    message=f"nested deeper than {depth} levels (or a $ref loop)",
                    path=exc.path if isinstance(exc, _TooDeep) else (),
                    expected=f"at most {depth} levels of nesting",
                )
            )
        return run.issues
