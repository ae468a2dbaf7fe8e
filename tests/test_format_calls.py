"""Function-call parsing: JSON, XML and name(...) styles; typed errors on garbage."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import l0
import l0.format as fmt
from l0.format import FunctionCall, FunctionCallParseError

TOOLS: list[dict[str, Any]] = [
    {
        "name": "search",
        "parameters": {
            "type": "object",
            "properties": {"query": {"type": "string"}, "limit": {"type": "integer"}},
            "required": ["query"],
            "additionalProperties": False,
        },
    },
    {"name": "ping"},
]


@pytest.mark.parametrize(
    "text",
    [
        '{"name": "search", "arguments": {"query": "l0", "limit": 3}}',
        'Sure!\n```json\n{"name": "search", "arguments": {"query": "l0", "limit": 3}}\n```',
        '{"function": {"name": "search", "arguments": "{\\"query\\": \\"l0\\", \\"limit\\": 3}"}}',
        '{"tool": "search", "args": {"query": "l0", "limit": 3}}',
        (
            '{"type": "function", "function": {"name": "search", "arguments": {"query": "l0", '
            '"limit": 3}}}'
        ),
        "{'name': 'search', 'parameters': {'query': 'l0', 'limit': 3}}",
        (
            '{"tool_calls": [{"function": {"name": "search", "arguments": {"query": "l0", '
            '"limit": 3}}}]}'
        ),
    ],
)
def test_json_style(text: str) -> None:
    """Call objects in their common spellings, wherever they sit in the text."""
    assert fmt.parse_function_call(text) == ("search", {"query": "l0", "limit": 3})
    assert fmt.parse_function_call(text, style="json", tools=TOOLS).name == "search"


@pytest.mark.parametrize(
    "text",
    [
        '<tool_call>{"name": "search", "arguments": {"query": "l0", "limit": 3}}</tool_call>',
        (
            '<function_call><name>search</name><arguments>{"query": "l0", "limit": 3}'
            "</arguments></function_call>"
        ),
        (
            '<invoke name="search"><parameter name="query">l0</parameter>'
            '<parameter name="limit">3</parameter></invoke>'
        ),
        "<tool_use name='search'>\n  <query>l0</query>\n  <limit>3</limit>\n</tool_use>",
        '<TOOL_CALL name="search">{"query": "l0", "limit": 3}</TOOL_CALL >',
        (
            "<function_call><name>search</name><arguments><query>l0</query><limit>3</limit>"
            "</arguments></function_call>"
        ),
    ],
)
def test_xml_style(text: str) -> None:
    """<tool_call> and friends, holding JSON or parameter elements."""
    assert fmt.parse_function_call(text) == ("search", {"query": "l0", "limit": 3})
    assert fmt.parse_function_call(text, style="xml", tools=TOOLS).name == "search"


def test_xml_values() -> None:
    """XML values are unescaped; JSON-looking ones decoded, others kept as strings."""
    text = (
        '<invoke name="f"><parameter name="a">&lt;b&gt; &amp;</parameter>'
        '<parameter name="b">true</parameter><parameter name="c">02139</parameter>'
        '<parameter name="d">[1, 2]</parameter><parameter name="e">{bad</parameter>'
        '<parameter name="f"/></invoke>'
    )
    call = fmt.parse_function_call(text)
    assert call.arguments == {
        "a": "<b> &",
        "b": True,
        "c": "02139",
        "d": [1, 2],
        "e": "{bad",
        "f": "",
    }
    with pytest.raises(FunctionCallParseError, match="without a name"):
        fmt.parse_function_call('<invoke name="f"><parameter>1</parameter></invoke>')


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('search(query="l0", limit=3)', {"query": "l0", "limit": 3}),
        ("I'll call search(query='l0', limit=3) now.", {"query": "l0", "limit": 3}),
        ("search('l0', 3)", {"query": "l0", "limit": 3}),
        ('search(query="a)b", limit=-1)', {"query": "a)b", "limit": -1}),
        ('search(query="x", limit=null)', {"query": "x", "limit": None}),
    ],
)
def test_call_style(text: str, expected: dict[str, Any]) -> None:
    """name(key=value) with literal values; positional ones named from the tool."""
    assert fmt.parse_function_call(text, tools=TOOLS) == ("search", expected)


def test_call_style_literals() -> None:
    """JSON and Python spellings of literals, nested containers."""
    call = fmt.parse_function_call(
        'f(a=true, b=False, c=None, d=[1, {"k": (2, 3)}], e=+1.5, f="s")', style="call"
    )
    assert call == FunctionCall(
        "f", {"a": True, "b": False, "c": None, "d": [1, {"k": [2, 3]}], "e": 1.5, "f": "s"}
    )
    assert fmt.parse_function_call("pkg.tools.run(x=1)", style="call").name == "pkg.tools.run"


def test_several_calls_in_order() -> None:
    """parse_function_calls returns all of them; none is an empty list."""
    text = '{"name": "ping"} then {"name": "search", "arguments": {"query": "x"}}'
    assert fmt.parse_function_calls(text) == [("ping", {}), ("search", {"query": "x"})]
    xml = '<tool_call>{"name": "ping"}</tool_call><tool_call>{"name": "ping"}</tool_call>'
    assert len(fmt.parse_function_calls(xml)) == 2
    assert fmt.parse_function_calls("just prose") == []
    assert fmt.parse_function_calls('{"not": "a call"} and {"x": 1}') == []


@pytest.mark.parametrize(
    ("text", "style", "reason"),
    [
        ("no call at all", "auto", "not_found"),
        ('{"not": "a call"}', "json", "not_found"),
        ('{"name": 42}', "auto", "malformed"),
        ('{"name": "f", "arguments": [1, 2]}', "auto", "invalid_arguments"),
        ('{"name": "f", "arguments": "not json"}', "auto", "malformed"),
        ('{"name": "f", "arguments": {broken', "json", "not_found"),
        ("{broken json}", "json", "malformed"),
        ("<tool_call>garbage</tool_call>", "auto", "malformed"),
        ('<tool_call>{"arguments": {}}</tool_call>', "auto", "malformed"),
        ("<tool_call>", "auto", "malformed"),
        ("<invoke name=''></invoke>", "auto", "malformed"),
        ("f(x)", "call", "malformed"),
        ("f(x=os.system('ls'))", "call", "malformed"),
        ("f(**kwargs)", "call", "malformed"),
        ("f('positional')", "call", "malformed"),
        ("f(x=1", "call", "malformed"),
        ("f(x={1: 2})", "call", "malformed"),
        ("f(x=b'bytes')", "call", "malformed"),
    ],
)
def test_garbage_is_a_typed_error(text: str, style: Any, reason: str) -> None:
    """Every failure is a FunctionCallParseError (an l0.ToolCallError and a ValueError) with a
    reason."""
    with pytest.raises(FunctionCallParseError) as info:
        fmt.parse_function_call(text, style=style)
    assert info.value.reason == reason
    assert isinstance(info.value, l0.ToolCallError)
    assert isinstance(info.value, ValueError)
    assert info.value.code == l0.ErrorCode.TOOL_CALL_INVALID


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('{"name": "delete_all"}', "unknown_tool"),
        ('{"name": "search", "arguments": {}}', "invalid_arguments"),
        ('{"name": "search", "arguments": {"query": "x", "extra": 1}}', "invalid_arguments"),
        ("search('a', 2, 3)", "invalid_arguments"),
    ],
)
def test_calls_are_checked_against_the_tools(text: str, reason: str) -> None:
    """With tools: known names, required arguments, no unknown ones when forbidden."""
    with pytest.raises(FunctionCallParseError) as info:
        fmt.parse_function_call(text, tools=TOOLS)
    assert info.value.reason == reason


def test_with_tools_prose_calls_to_unknown_names_are_ignored() -> None:
    """In auto mode with tools, only known names count as name(...) calls."""
    text = "First print(x) then search(query='ok')"
    assert fmt.parse_function_call(text, tools=TOOLS) == ("search", {"query": "ok"})


def test_unknown_style() -> None:
    """An unknown style is reported."""
    with pytest.raises(FunctionCallParseError, match="style"):
        fmt.parse_function_calls("x", style="yaml")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "text",
    [
        "{" * 100_000,
        "}" * 100_000 + "{",
        "[" * 100_000 + "f(x=1)",
        "f(" * 50_000,
        "(" * 100_000 + ")" * 100_000,
        '"' * 100_000 + "{" * 1000,
        "<tool_call>" * 20_000,
        "<invoke name='f'>" + "<parameter name='x'>" * 20_000 + "</invoke>",
        "<tool_call>" + "<a>" * 20_000 + "</tool_call>",
        "x = 'don't' (see (this)) " * 10_000 + "f(y=1)",
        "a" * 1_000_000,
    ],
)
def test_adversarial_inputs_fail_cleanly(text: str) -> None:
    """Huge or deeply nested inputs give a call or a typed error, quickly, never a crash."""
    for style in ("auto", "json", "xml", "call"):
        with contextlib.suppress(FunctionCallParseError):
            fmt.parse_function_calls(text, style=style)  # type: ignore[arg-type]


def test_prose_apostrophes_do_not_hide_a_call() -> None:
    """Quotes in prose (even inside parentheses) do not open strings."""
    text = "I don't know (it's late), so: search(query='x', limit=2)"
    assert fmt.parse_function_call(text, tools=TOOLS) == ("search", {"query": "x", "limit": 2})


@settings(max_examples=200)
@given(st.text(max_size=80))
def test_fuzz_never_raises_anything_else(text: str) -> None:
    """Any text: a list of calls, or a FunctionCallParseError."""
    for style in ("auto", "json", "xml", "call"):
        try:
            calls = fmt.parse_function_calls(text, style=style)  # type: ignore[arg-type]
        except FunctionCallParseError:
            continue
        assert all(isinstance(c.name, str) and isinstance(c.arguments, dict) for c in calls)


@settings(max_examples=200)
@given(
    st.dictionaries(
        st.text(alphabet="abcxyz_", min_size=1, max_size=5),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=10),
            lambda inner: st.lists(inner, max_size=3),
            max_leaves=5,
        ),
        max_size=4,
    )
)
def test_json_and_call_styles_round_trip(arguments: dict[str, Any]) -> None:
    """Arguments written as JSON, as <tool_call> JSON, or as name(k=v) parse back equal."""
    body = json.dumps({"name": "tool", "arguments": arguments})
    assert fmt.parse_function_call(body, style="json") == ("tool", arguments)
    assert fmt.parse_function_call(f"<tool_call>{body}</tool_call>") == ("tool", arguments)
    if arguments and all(k.isidentifier() for k in arguments):
        call = "tool(" + ", ".join(f"{k}={json.dumps(v)}" for k, v in arguments.items()) + ")"
        assert fmt.parse_function_call(call, style="call") == ("tool", arguments)
