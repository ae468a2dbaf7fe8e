"""Tool definitions for prompts, from one description, in the common styles."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any, Literal, TypeAlias, cast

import attrs

from l0._errors import ConfigError
from l0.format._escape import xml_attribute, xml_text

__all__ = ["Tool", "ToolStyle", "format_tool", "format_tool_call_instructions", "format_tools",
           "json_type_name", "typescript_type"]  # fmt: skip

ToolStyle: TypeAlias = Literal["json", "typescript", "natural", "xml"]
CallStyle: TypeAlias = Literal["json", "xml", "call"]

_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_MAX_DEPTH = 16
_IDENT = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")


def _mapping(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, Mapping) else {}  # pyright: ignore[reportUnknownArgumentType]


def _check_name(_inst: Any, _attr: Any, value: str) -> None:
    if not isinstance(value, str) or not _NAME.fullmatch(value):  # pyright: ignore[reportUnnecessaryIsInstance]
        raise ConfigError(f"a tool name is 1-64 letters, digits, '_', '.' or '-', got {value!r}")


def _check_parameters(_inst: Any, _attr: Any, value: Mapping[str, Any]) -> None:
    if value.get("type", "object") != "object":
        raise ConfigError(f"tool parameters must be an object schema, got type {value['type']!r}")


def _empty_object() -> dict[str, Any]:
    return {"type": "object", "properties": {}}


@attrs.frozen(kw_only=True)
class Tool:
    """A tool the model may call: ``name``, ``description`` and a JSON Schema object for its
    ``parameters``. :meth:`of` reads the OpenAI, Anthropic and plain dict shapes.

    .. versionadded:: 0.1
    """

    name: str = attrs.field(validator=_check_name)
    description: str = ""
    parameters: Mapping[str, Any] = attrs.field(
        factory=_empty_object, converter=_mapping, validator=_check_parameters
    )

    @classmethod
    def of(cls, value: Tool | Mapping[str, Any]) -> Tool:
        """A :class:`Tool` from itself, ``{"type": "function", "function": {...}}`` (OpenAI),
        ``{"name", "description", "input_schema"}`` (Anthropic) or
        ``{"name", "description", "parameters"}``."""
        if isinstance(value, Tool):
            return value
        if not isinstance(value, Mapping):  # pyright: ignore[reportUnnecessaryIsInstance]
            raise ConfigError(f"a tool is an l0.format.Tool or a mapping, got {value!r}")
        data = _mapping(value.get("function")) or dict(value)
        params = data.get("parameters", data.get("input_schema"))
        return cls(
            name=data.get("name"),  # pyright: ignore[reportArgumentType]
            description=str(data.get("description") or ""),
            parameters=params if params is not None else _empty_object(),
        )

    @property
    def properties(self) -> dict[str, dict[str, Any]]:
        """The parameters' property schemas, in order."""
        props = _mapping(self.parameters.get("properties"))
        return {str(k): _mapping(v) for k, v in props.items()}

    @property
    def required(self) -> list[str]:
        """The required parameter names."""
        req = self.parameters.get("required")
        return [str(r) for r in req] if isinstance(req, list) else []  # pyright: ignore[reportUnknownVariableType, reportUnknownArgumentType]

    def to_json(self) -> dict[str, Any]:
        """``{"name", "description", "parameters"}`` (the OpenAI ``function`` object)."""
        return {"name": self.name, "description": self.description,
                "parameters": dict(self.parameters)}  # fmt: skip


def _literal(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _union(schemas: Iterable[Any], depth: int, indent: str) -> str:
    parts: list[str] = []
    for s in schemas:
        t = typescript_type(_mapping(s), depth=depth + 1, indent=indent)
        if t not in parts:
            parts.append(t)
    return " | ".join(parts) if parts else "unknown"


def _ts_object(schema: Mapping[str, Any], depth: int, indent: str) -> str:
    props = _mapping(schema.get("properties"))
    if not props:
        extra = schema.get("additionalProperties")
        value = typescript_type(_mapping(extra), depth=depth + 1, indent=indent) if isinstance(
            extra, Mapping) else "unknown"  # fmt: skip
        return f"Record<string, {value}>"
    req = schema.get("required")
    required: set[str] = (
        {str(r) for r in cast("list[Any]", req)} if isinstance(req, list) else set()
    )
    inner = indent + "  "
    lines = ["{"]
    for key, sub in props.items():
        sub_schema = _mapping(sub)
        desc = sub_schema.get("description")
        if isinstance(desc, str) and desc.strip():
            lines.extend(f"{inner}// {line}".rstrip() for line in desc.strip().splitlines())
        name = key if _IDENT.fullmatch(key) else _literal(key)
        mark = "" if key in required else "?"
        sub_type = typescript_type(sub_schema, depth=depth + 1, indent=inner)
        lines.append(f"{inner}{name}{mark}: {sub_type};")
    lines.append(indent + "}")
    return "\n".join(lines)


def typescript_type(schema: Mapping[str, Any], *, depth: int = 0, indent: str = "") -> str:
    """A TypeScript-like type for a JSON Schema (``unknown`` where it cannot say)."""
    if depth > _MAX_DEPTH:
        return "unknown"
    if "const" in schema:
        return _literal(schema["const"])
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        return " | ".join(_literal(v) for v in enum)  # pyright: ignore[reportUnknownVariableType]
    for key in ("anyOf", "oneOf"):
        options = schema.get(key)
        if isinstance(options, list):
            return _union(options, depth, indent)  # pyright: ignore[reportUnknownArgumentType]
    ref = schema.get("$ref")
    if isinstance(ref, str):
        return ref.rsplit("/", 1)[-1] or "unknown"
    kind = schema.get("type")
    if isinstance(kind, list):
        kinds = cast("list[Any]", kind)
        return _union([{**schema, "type": k} for k in kinds], depth, indent)
    if kind == "string":
        return "string"
    if kind in ("integer", "number"):
        return "number"
    if kind == "boolean":
        return "boolean"
    if kind == "null":
        return "null"
    if kind == "array":
        items = schema.get("items")
        item = typescript_type(_mapping(items), depth=depth + 1, indent=indent) if isinstance(
            items, Mapping) else "unknown"  # fmt: skip
        return f"({item})[]" if " " in item else f"{item}[]"
    if kind == "object" or "properties" in schema:
        return _ts_object(schema, depth, indent)
    return "unknown"


def json_type_name(schema: Mapping[str, Any]) -> str:
    """A short English name of a schema's type (``string``, ``array of number``, ``one of "a",
    "b"``...)."""
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        return "one of " + ", ".join(_literal(v) for v in enum)  # pyright: ignore[reportUnknownVariableType]
    kind = schema.get("type")
    if isinstance(kind, list):
        return " or ".join(str(k) for k in cast("list[Any]", kind))
    if kind == "array":
        items = schema.get("items")
        return (
            f"array of {json_type_name(_mapping(items))}" if isinstance(items, Mapping) else "array"
        )
    for key in ("anyOf", "oneOf"):
        options = schema.get(key)
        if isinstance(options, list):
            return " or ".join(json_type_name(_mapping(o)) for o in options)  # pyright: ignore[reportUnknownVariableType]
    return str(kind) if isinstance(kind, str) else "any"


def _natural(tool: Tool) -> str:
    head = f"{tool.name}: {tool.description}" if tool.description else tool.name
    props = tool.properties
    if not props:
        return f"{head}\nParameters: none"
    required = set(tool.required)
    lines = [head, "Parameters:"]
    for key, sub in props.items():
        notes = [json_type_name(sub), "required" if key in required else "optional"]
        if "default" in sub:
            notes.append(f"default {_literal(sub['default'])}")
        desc = sub.get("description")
        text = f": {' '.join(str(desc).split())}" if desc else ""
        lines.append(f"- {key} ({', '.join(notes)}){text}")
    return "\n".join(lines)


def _xml(tool: Tool) -> str:
    lines = [f'<tool name="{xml_attribute(tool.name)}">']
    if tool.description:
        lines.append(f"  <description>{xml_text(tool.description)}</description>")
    required = set(tool.required)
    props = tool.properties
    if props:
        lines.append("  <parameters>")
        for key, sub in props.items():
            attrs_ = (f'name="{xml_attribute(key)}" type="{xml_attribute(json_type_name(sub))}" '
                      f'required="{"true" if key in required else "false"}"')  # fmt: skip
            desc = sub.get("description")
            body = xml_text(str(desc)) if desc else ""
            lines.append(f"    <parameter {attrs_}>{body}</parameter>")
        lines.append("  </parameters>")
    lines.append("</tool>")
    return "\n".join(lines)


def _typescript(tool: Tool) -> str:
    lines = [f"// {line}".rstrip() for line in tool.description.strip().splitlines()]
    args = typescript_type({**tool.parameters, "type": "object"})
    if args == "Record<string, unknown>" and not tool.properties:
        lines.append(f"function {tool.name}(): unknown;")
    else:
        lines.append(f"function {tool.name}(args: {args}): unknown;")
    return "\n".join(lines)


def _check_style(style: str) -> None:
    if style not in ("json", "typescript", "natural", "xml"):
        raise ConfigError(f"unknown tool style {style!r}; valid: json, typescript, natural, xml")


def format_tool(tool: Tool | Mapping[str, Any], *, style: ToolStyle = "json") -> str:
    """One tool definition as prompt text:

    * ``"json"``: the ``{"name", "description", "parameters"}`` object, indented;
    * ``"typescript"``: ``function name(args: {...}): unknown;`` with descriptions as comments;
    * ``"natural"``: a sentence and one line per parameter;
    * ``"xml"``: ``<tool name="...">`` with ``<parameter>`` elements (escaped).

    .. versionadded:: 0.1
    """
    _check_style(style)
    spec = Tool.of(tool)
    if style == "json":
        return json.dumps(spec.to_json(), indent=2, ensure_ascii=False)
    if style == "typescript":
        return _typescript(spec)
    if style == "natural":
        return _natural(spec)
    return _xml(spec)


def format_tools(tools: Iterable[Tool | Mapping[str, Any]], *, style: ToolStyle = "json") -> str:
    """Several tools: a JSON array for ``"json"``, else the definitions separated by blank
    lines (``"xml"``: inside ``<tools>``).

    .. versionadded:: 0.1
    """
    _check_style(style)
    specs = [Tool.of(t) for t in tools]
    if style == "json":
        return json.dumps([s.to_json() for s in specs], indent=2, ensure_ascii=False)
    if style == "xml":
        return "\n".join(["<tools>", *(_xml(s) for s in specs), "</tools>"])
    return "\n\n".join(format_tool(s, style=style) for s in specs)


_CALL_INSTRUCTIONS: dict[str, str] = {
    "json": (
        "To call a tool, answer with only a JSON object of this form:\n"
        '{"name": "<tool name>", "arguments": {<argument name>: <value>, ...}}'
    ),
    "xml": (
        "To call a tool, answer with:\n"
        '<tool_call>{"name": "<tool name>", "arguments": {<argument name>: <value>, ...}}'
        "</tool_call>"
    ),
    "call": (
        "To call a tool, answer with a single call with keyword arguments as JSON values, e.g.:\n"
        'tool_name(argument="text", count=3, flag=true)'
    ),
}


def format_tool_call_instructions(style: CallStyle = "json") -> str:
    """How the model should call a tool, in a form :func:`parse_function_call` reads.

    .. versionadded:: 0.1
    """
    if style not in _CALL_INSTRUCTIONS:
        raise ConfigError(f"unknown call style {style!r}; valid: json, xml, call")
    return _CALL_INSTRUCTIONS[style]
