"""Tool definitions: one description, four styles (JSON, TypeScript-like, natural, XML)."""

from __future__ import annotations

import json
from typing import Any

import pytest

import l0
import l0.format as fmt

WEATHER: dict[str, Any] = {
    "name": "get_weather",
    "description": "Get the weather for a city.",
    "parameters": {
        "type": "object",
        "properties": {
            "city": {"type": "string", "description": "City name"},
            "units": {"enum": ["c", "f"], "default": "c"},
            "days": {"type": "array", "items": {"type": "integer"}},
        },
        "required": ["city"],
    },
}


def test_tool_shapes() -> None:
    """OpenAI, Anthropic and plain shapes give the same Tool."""
    plain = fmt.Tool.of(WEATHER)
    openai = fmt.Tool.of({"type": "function", "function": WEATHER})
    anthropic = fmt.Tool.of(
        {
            "name": WEATHER["name"],
            "description": WEATHER["description"],
            "input_schema": WEATHER["parameters"],
        }
    )
    assert plain == openai == anthropic
    assert fmt.Tool.of(plain) is plain
    assert plain.required == ["city"]
    assert list(plain.properties) == ["city", "units", "days"]
    assert fmt.Tool(name="ping").parameters == {"type": "object", "properties": {}}
    assert repr(plain).startswith("Tool(name='get_weather'")


@pytest.mark.parametrize(
    ("value", "match"),
    [
        ({"name": "bad name"}, "tool name"),
        ({"name": ""}, "tool name"),
        ({"description": "no name"}, "tool name"),
        ({"name": "x" * 65}, "tool name"),
        ({"name": "ok", "parameters": {"type": "array"}}, "object schema"),
        ("not a mapping", "mapping"),
    ],
)
def test_invalid_tools(value: Any, match: str) -> None:
    """Invalid names, non-object parameters and wrong types are ConfigErrors."""
    with pytest.raises(l0.ConfigError, match=match):
        fmt.Tool.of(value)


def test_json_style() -> None:
    """The OpenAI function object, indented; several tools make an array."""
    assert json.loads(fmt.format_tool(WEATHER)) == WEATHER
    both = json.loads(fmt.format_tools([WEATHER, {"name": "ping"}]))
    assert [t["name"] for t in both] == ["get_weather", "ping"]


def test_typescript_style() -> None:
    """A function signature with optional marks, unions, arrays, and doc comments."""
    assert fmt.format_tool(WEATHER, style="typescript") == (
        "// Get the weather for a city.\n"
        "function get_weather(args: {\n"
        "  // City name\n"
        "  city: string;\n"
        '  units?: "c" | "f";\n'
        "  days?: number[];\n"
        "}): unknown;"
    )
    assert fmt.format_tool({"name": "ping"}, style="typescript") == "function ping(): unknown;"


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        ({"type": "string"}, "string"),
        ({"type": "number"}, "number"),
        ({"type": "boolean"}, "boolean"),
        ({"type": "null"}, "null"),
        ({"type": ["string", "null"]}, "string | null"),
        ({"const": 3}, "3"),
        ({"anyOf": [{"type": "string"}, {"type": "integer"}]}, "string | number"),
        ({"type": "array", "items": {"enum": ["a", "b"]}}, '("a" | "b")[]'),
        ({"type": "array"}, "unknown[]"),
        ({"$ref": "#/$defs/Point"}, "Point"),
        ({"type": "object"}, "Record<string, unknown>"),
        ({"type": "object", "additionalProperties": {"type": "integer"}}, "Record<string, number>"),
        (
            {"type": "object", "properties": {"a-b": {"type": "string"}}, "required": ["a-b"]},
            '{\n    "a-b": string;\n  }',
        ),
        ({}, "unknown"),
    ],
)
def test_typescript_types(schema: dict[str, Any], expected: str) -> None:
    """JSON Schema to TypeScript-like types."""
    assert (
        fmt.format_tool(
            {
                "name": "f",
                "parameters": {"type": "object", "properties": {"x": schema}, "required": ["x"]},
            },
            style="typescript",
        )
        .split("x: ", 1)[1]
        .rsplit(";\n}", 1)[0]
        == expected
    )


def test_typescript_depth_is_bounded() -> None:
    """A very deep schema ends in unknown instead of recursing forever."""
    schema: dict[str, Any] = {"type": "string"}
    for _ in range(50):
        schema = {"type": "array", "items": schema}
    out = fmt.format_tool(
        {"name": "deep", "parameters": {"type": "object", "properties": {"x": schema}}},
        style="typescript",
    )
    assert "unknown" in out
    assert "string" not in out


def test_natural_style() -> None:
    """A sentence, then one line per parameter with type, requiredness and default."""
    assert fmt.format_tool(WEATHER, style="natural") == (
        "get_weather: Get the weather for a city.\n"
        "Parameters:\n"
        "- city (string, required): City name\n"
        '- units (one of "c", "f", optional, default "c")\n'
        "- days (array of integer, optional)"
    )
    assert fmt.format_tool({"name": "ping"}, style="natural") == "ping\nParameters: none"


def test_xml_style_escapes() -> None:
    """<tool> with <parameter> elements; descriptions and attributes are escaped."""
    tool = {
        "name": "q",
        "description": "a </tool> b & c",
        "parameters": {
            "type": "object",
            "properties": {"x": {"type": "string", "description": "<x>"}},
        },
    }
    out = fmt.format_tool(tool, style="xml")
    assert out == (
        '<tool name="q">\n'
        "  <description>a &lt;/tool&gt; b &amp; c</description>\n"
        "  <parameters>\n"
        '    <parameter name="x" type="string" required="false">&lt;x&gt;</parameter>\n'
        "  </parameters>\n"
        "</tool>"
    )
    wrapped = fmt.format_tools([tool, {"name": "p"}], style="xml")
    assert wrapped.startswith("<tools>\n<tool")
    assert wrapped.endswith("</tool>\n</tools>")


def test_natural_tools_are_separated_by_blank_lines() -> None:
    """Non-JSON, non-XML styles join definitions with a blank line."""
    out = fmt.format_tools([{"name": "a"}, {"name": "b"}], style="natural")
    assert out == "a\nParameters: none\n\nb\nParameters: none"


def test_unknown_styles() -> None:
    """Unknown styles are ConfigErrors."""
    with pytest.raises(l0.ConfigError, match="tool style"):
        fmt.format_tool(WEATHER, style="yaml")  # type: ignore[arg-type]
    with pytest.raises(l0.ConfigError, match="tool style"):
        fmt.format_tools([WEATHER], style="yaml")  # type: ignore[arg-type]
    with pytest.raises(l0.ConfigError, match="call style"):
        fmt.format_tool_call_instructions("yaml")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("style", "answer"),
    [
        ("json", '{"name": "get_weather", "arguments": {"city": "Paris"}}'),
        ("xml", '<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>'),
        ("call", 'get_weather(city="Paris")'),
    ],
)
def test_call_instructions_match_the_parser(style: Any, answer: str) -> None:
    """An answer in the form the instructions describe parses back to the call."""
    text = fmt.format_tool_call_instructions(style)
    assert text.startswith("To call a tool")
    call = fmt.parse_function_call(answer, style=style, tools=[WEATHER])
    assert call == ("get_weather", {"city": "Paris"})
