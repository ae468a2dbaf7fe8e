"""Parsing function calls out of model text: JSON objects, ``<tool_call>`` XML, ``name(a=1)``.

Nothing here evaluates code: the ``name(...)`` style is parsed with :mod:`ast` and only literal
values are accepted. Scanning is linear in the text's length.
"""

from __future__ import annotations

import ast
import html
import re
from collections.abc import Iterable, Mapping
from typing import Any, Literal, NamedTuple, TypeAlias, cast

import msgspec

from l0._errors import ToolCallError
from l0.format._tools import Tool

__all__ = ["CallParseStyle", "FunctionCall", "FunctionCallParseError", "parse_function_call",
           "parse_function_calls"]  # fmt: skip

CallParseStyle: TypeAlias = Literal["auto", "json", "xml", "call"]
ParseReason: TypeAlias = Literal["not_found", "malformed", "unknown_tool", "invalid_arguments"]

_MAX_CALL_TEXT = 100_000  # a name(...) call longer than this is not parsed
_XML_OPEN = re.compile(r"<(tool_call|function_call|tool_use|invoke)\b([^<>]*)>", re.IGNORECASE)
_ATTR = re.compile(r"""([A-Za-z_][\w.-]*)\s*=\s*(?:"([^"]*)"|'([^']*)')""")
_CALL_START = re.compile(r"(?<![\w.])([A-Za-z_][\w]*(?:\.[A-Za-z_]\w*)*)\s*\(")
_NAMES = ("name", "tool", "tool_name", "function_name")
_ARGS = ("arguments", "args", "parameters", "input", "params")
_CONSTANTS: dict[str, Any] = {"true": True, "false": False, "null": None, "True": True,
                              "False": False, "None": None}  # fmt: skip


class FunctionCall(NamedTuple):
    """A parsed call: unpack it as ``name, arguments = call``.

    .. versionadded:: 0.1
    """

    name: str
    arguments: dict[str, Any]


class FunctionCallParseError(ToolCallError, ValueError):
    """The text holds no call, or a malformed one, or one that does not fit the tools.

    ``reason`` is ``"not_found"``, ``"malformed"``, ``"unknown_tool"`` or
    ``"invalid_arguments"``; ``text`` is the piece of text concerned.

    .. versionadded:: 0.1
    """

    def __init__(self, message: str, *, reason: ParseReason, text: str = "") -> None:
        super().__init__(message, metadata={"reason": reason})
        self.reason: ParseReason = reason
        self.text = text


def _malformed(message: str, text: str) -> FunctionCallParseError:
    return FunctionCallParseError(message, reason="malformed", text=text[:200])


# -- scanning -----------------------------------------------------------------------------

_JSON_MARKS = re.compile(r'[{}"\\]')
_CALL_MARKS = re.compile(r"""[()\[\]{}"'\\]""")
_OPENS_STRING = frozenset("=([{,:")


def _json_spans(text: str) -> list[tuple[int, int]]:
    """The outermost balanced ``{...}`` spans, in one pass (string-aware inside braces)."""
    closed: list[tuple[int, int]] = []
    stack: list[int] = []
    in_string = False
    skip = -1
    for match in _JSON_MARKS.finditer(text):
        i = match.start()
        if i < skip:
            continue
        c = text[i]
        if in_string:
            if c == "\\":
                skip = i + 2
            elif c == '"':
                in_string = False
        elif c == "{":
            stack.append(i)
        elif c == "}":
            if stack:
                closed.append((stack.pop(), i + 1))
        elif c == '"' and stack:
            in_string = True
    closed.sort()
    outermost: list[tuple[int, int]] = []
    reach = -1
    for a, b in closed:
        if a >= reach:
            outermost.append((a, b))
            reach = b
    return outermost


def _previous_mark(text: str, i: int) -> str:
    j = i - 1
    while j >= 0 and text[j] in " \t\r\n":
        j -= 1
    return text[j] if j >= 0 else ""


def _matching_parens(text: str) -> dict[int, int]:
    """For each ``(`` that is closed, the index after its ``)``: one pass, aware of quoted
    strings inside brackets (a quote opens one only after ``=([{,:``, so prose apostrophes
    do not)."""
    matches: dict[int, int] = {}
    stack: list[tuple[str, int]] = []
    quote = ""
    skip = -1
    pairs = {")": "(", "]": "[", "}": "{"}
    depth = {"(": 0, "[": 0, "{": 0}
    for match in _CALL_MARKS.finditer(text):
        i = match.start()
        if i < skip:
            continue
        c = text[i]
        if quote:
            if c == "\\":
                skip = i + 2
            elif c == quote:
                quote = ""
        elif c in "([{":
            stack.append((c, i))
            depth[c] += 1
        elif c in pairs:
            if not depth[pairs[c]]:
                continue  # a stray closer: nothing of its kind is open
            while True:  # unclosed brackets of another kind inside are given up on
                kind, start = stack.pop()
                depth[kind] -= 1
                if kind == pairs[c]:
                    break
            if c == ")":
                matches[start] = i + 1
        elif c in "\"'" and stack and _previous_mark(text, i) in _OPENS_STRING:
            quote = c
    return matches


# -- JSON ---------------------------------------------------------------------------------


def _lenient(source: str) -> Any:
    """A JSON value, or failing that a Python-literal one (single quotes, True/None)."""
    try:
        return msgspec.json.decode(source)
    except msgspec.DecodeError:
        pass
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        raise _malformed(f"not valid JSON: {source[:80]!r}", source) from exc
    return _literal(tree.body, source)


def _arguments(raw: Any, source: str) -> dict[str, Any]:
    if raw is None:
        return {}
    if isinstance(raw, str):
        raw = _lenient(raw) if raw.strip() else {}
    if not isinstance(raw, dict):
        raise FunctionCallParseError(f"call arguments must be an object, got {raw!r}"[:200],
                                     reason="invalid_arguments", text=source[:200])  # fmt: skip
    return {str(k): v for k, v in cast("dict[Any, Any]", raw).items()}


def _calls_from_value(value: Any, source: str) -> list[FunctionCall]:
    if isinstance(value, list):
        return [c for item in value for c in _calls_from_value(item, source)]  # pyright: ignore[reportUnknownVariableType]
    if not isinstance(value, dict):
        return []
    obj: dict[str, Any] = value  # pyright: ignore[reportUnknownVariableType]
    if isinstance(obj.get("tool_calls"), list):
        return _calls_from_value(obj["tool_calls"], source)
    if isinstance(obj.get("function"), dict):
        obj = obj["function"]
    name = next((obj[k] for k in (*_NAMES, "function") if k in obj), None)
    if name is None:
        return []
    if not isinstance(name, str) or not name.strip():
        raise _malformed(f"a call's name must be a non-empty string, got {name!r}", source)
    raw = next((obj[k] for k in _ARGS if k in obj), None)
    return [FunctionCall(name.strip(), _arguments(raw, source))]


def _parse_json(text: str) -> list[FunctionCall]:
    calls: list[FunctionCall] = []
    problems: list[FunctionCallParseError] = []
    for start, end in _json_spans(text):
        source = text[start:end]
        try:
            calls.extend(_calls_from_value(_lenient(source), source))
        except FunctionCallParseError as exc:
            problems.append(exc)
    if not calls and problems:
        raise problems[0]
    return calls


# -- XML ----------------------------------------------------------------------------------

_PARAM_TAGS = frozenset({"parameter", "param", "arg", "argument"})
_ARGS_TAGS = ("arguments", "parameters", "args", "input")
_ANY_OPEN = re.compile(r"<([A-Za-z_][\w.-]*)\b([^<>]*)>")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?")


def _attributes(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for m in _ATTR.finditer(text):
        value = m.group(2) if m.group(2) is not None else m.group(3)
        out[m.group(1).lower()] = html.unescape(value)
    return out


def _closing(text: str, tag: str, start: int) -> re.Match[str] | None:
    return re.compile(rf"</\s*{re.escape(tag)}\s*>", re.IGNORECASE).search(text, start)


def _elements(body: str) -> list[tuple[str, str, str]]:
    """The top-level elements of ``body``: (tag, attributes text, inner text); an element
    that is never closed is skipped."""
    out: list[tuple[str, str, str]] = []
    unclosed: dict[str, int] = {}  # tag -> a position after which it is never closed
    pos = 0
    while True:
        m = _ANY_OPEN.search(body, pos)
        if m is None:
            return out
        tag, attrs = m.group(1), m.group(2)
        pos = m.end()
        if attrs.rstrip().endswith("/"):
            out.append((tag, attrs.rstrip()[:-1], ""))
            continue
        if unclosed.get(tag.lower(), pos + 1) <= pos:
            continue
        close = _closing(body, tag, pos)
        if close is None:
            unclosed[tag.lower()] = pos
            continue
        out.append((tag, attrs, body[pos : close.start()]))
        pos = close.end()


def _xml_value(raw: str) -> Any:
    text = html.unescape(raw.strip())
    if text[:1] in ("[", "{", '"') or text in ("true", "false", "null") or _NUMBER.fullmatch(text):
        try:
            return msgspec.json.decode(text)
        except msgspec.DecodeError:
            return text
    return text


def _xml_arguments(elements: list[tuple[str, str, str]], source: str) -> dict[str, Any]:
    args: dict[str, Any] = {}
    for tag, attrs, inner in elements:
        if tag.lower() in _PARAM_TAGS:
            key = _attributes(attrs).get("name")
            if not key:
                raise _malformed(f"a <{tag}> without a name attribute", source)
            args[key] = _xml_value(inner)
        else:
            args[tag] = _xml_value(inner)
    return args


def _xml_call(attrs: str, inner: str, source: str) -> list[FunctionCall]:
    body = inner.strip()
    name = _attributes(attrs).get("name")
    if name is None and body.startswith(("{", "[")):
        calls = _calls_from_value(_lenient(body), source)
        if not calls:
            raise _malformed("a call element whose JSON has no name", source)
        return calls
    elements = _elements(body) if not body.startswith("{") else []
    if name is None:
        named = [html.unescape(e[2]).strip() for e in elements if e[0].lower() == "name"]
        if not named or not named[0]:
            raise _malformed("a call element without a name", source)
        name = named[0]
        holder = next((e for e in elements if e[0].lower() in _ARGS_TAGS), None)
        body = holder[2].strip() if holder is not None else ""
        elements = _elements(body) if not body.startswith("{") else []
    name = name.strip()
    if not name:
        raise _malformed("a call element with an empty name", source)
    if body.startswith("{"):
        return [FunctionCall(name, _arguments(_lenient(body), source))]
    return [FunctionCall(name, _xml_arguments(elements, source))]


def _parse_xml(text: str) -> list[FunctionCall]:
    calls: list[FunctionCall] = []
    pos = 0
    while True:
        opening = _XML_OPEN.search(text, pos)
        if opening is None:
            return calls
        tag = opening.group(1)
        closing = _closing(text, tag, opening.end())
        if closing is None:
            raise _malformed(f"<{tag}> is never closed", text[opening.start() :])
        source = text[opening.start() : closing.end()]
        calls.extend(_xml_call(opening.group(2), text[opening.end() : closing.start()], source))
        pos = closing.end()


# -- name(arg=value) ----------------------------------------------------------------------


def _literal(node: ast.expr, source: str) -> Any:
    if isinstance(node, ast.Constant):
        if isinstance(node.value, str):
            return _join_surrogates(node.value)
        if node.value is None or isinstance(node.value, (int, float)):
            return node.value
    elif isinstance(node, ast.Name) and node.id in _CONSTANTS:
        return _CONSTANTS[node.id]
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        value = _literal(node.operand, source)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return -value if isinstance(node.op, ast.USub) else value
    elif isinstance(node, (ast.List, ast.Tuple)):
        return [_literal(e, source) for e in node.elts]
    elif isinstance(node, ast.Dict):
        out: dict[str, Any] = {}
        for k, v in zip(node.keys, node.values, strict=True):
            key = _literal(k, source) if k is not None else None
            if not isinstance(key, str):
                raise _malformed("object keys must be strings", source)
            out[key] = _literal(v, source)
        return out
    raise _malformed(f"not a literal value: {ast.unparse(node)[:80]!r}", source)


def _join_surrogates(text: str) -> str:
    """``"\\ud83d\\ude00"`` written as two escapes is one character, as in JSON."""
    if not any("\ud800" <= c <= "\udfff" for c in text):
        return text
    try:
        return text.encode("utf-16", "surrogatepass").decode("utf-16")
    except UnicodeDecodeError:  # a lone surrogate: keep it as it is
        return text


def _call_node(source: str, positional: list[str] | None) -> FunctionCall:
    try:
        tree = ast.parse(source, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        raise _malformed(f"not a call: {source[:80]!r}", source) from exc
    call = tree.body
    if not isinstance(call, ast.Call):
        raise _malformed(f"not a call: {source[:80]!r}", source)
    name = ast.unparse(call.func)
    args: dict[str, Any] = {}
    if call.args:
        if positional is None:
            raise _malformed(f"{name}(): positional arguments need tools= to be named", source)
        if len(call.args) > len(positional):
            raise FunctionCallParseError(f"{name}() got {len(call.args)} positional arguments",
                                         reason="invalid_arguments", text=source)  # fmt: skip
        for key, node in zip(positional, call.args, strict=False):
            args[key] = _literal(node, source)
    for kw in call.keywords:
        if kw.arg is None:
            raise _malformed(f"{name}(): ** arguments are not literals", source)
        args[kw.arg] = _literal(kw.value, source)
    return FunctionCall(name, args)


def _parse_call(text: str, tools: dict[str, Tool] | None, strict: bool) -> list[FunctionCall]:
    calls: list[FunctionCall] = []
    problem: FunctionCallParseError | None = None
    parens = _matching_parens(text)
    pos = 0
    while True:
        match = _CALL_START.search(text, pos)
        if match is None:
            break
        name = match.group(1)
        pos = match.end()
        if tools is not None and name not in tools:
            continue
        end = parens.get(match.end() - 1, -1)
        if end < 0 or end - match.start() > _MAX_CALL_TEXT:
            if problem is None:
                piece = text[match.start() : match.start() + 200]
                problem = _malformed(f"{name}( is never closed", piece)
            continue
        positional = list(tools[name].properties) if tools is not None else None
        try:
            calls.append(_call_node(text[match.start() : end], positional))
        except FunctionCallParseError as exc:
            problem = problem or exc
            continue
        pos = end
    if not calls and problem is not None and (strict or tools is not None):
        raise problem
    return calls


# -- the public functions -----------------------------------------------------------------


def _tool_index(tools: Iterable[Tool | Mapping[str, Any]] | None) -> dict[str, Tool] | None:
    if tools is None:
        return None
    return {spec.name: spec for spec in (Tool.of(t) for t in tools)}


def _validate(call: FunctionCall, tools: dict[str, Tool]) -> None:
    spec = tools.get(call.name)
    if spec is None:
        raise FunctionCallParseError(
            f"unknown tool {call.name!r}; known: {', '.join(sorted(tools)) or '(none)'}",
            reason="unknown_tool", text=call.name,
        )  # fmt: skip
    missing = [r for r in spec.required if r not in call.arguments]
    if missing:
        raise FunctionCallParseError(f"{call.name}() is missing {', '.join(missing)}",
                                     reason="invalid_arguments", text=call.name)  # fmt: skip
    if spec.parameters.get("additionalProperties") is False:
        unknown = [k for k in call.arguments if k not in spec.properties]
        if unknown:
            raise FunctionCallParseError(f"{call.name}() got unknown {', '.join(unknown)}",
                                         reason="invalid_arguments", text=call.name)  # fmt: skip


def parse_function_calls(
    text: str,
    *,
    style: CallParseStyle = "auto",
    tools: Iterable[Tool | Mapping[str, Any]] | None = None,
) -> list[FunctionCall]:
    """Every function call in ``text``, in order ([] if there is none).

    * ``"json"``: objects such as ``{"name": ..., "arguments": {...}}`` (also ``tool``/``args``/
      ``parameters``/``input`` keys, OpenAI ``{"function": {...}}`` and ``{"tool_calls": [...]}``
      wrappers, arguments given as a JSON string), anywhere in the text, code fences included;
    * ``"xml"``: ``<tool_call>`` / ``<function_call>`` / ``<tool_use>`` / ``<invoke>`` elements
      holding JSON, or a ``name`` attribute with ``<parameter name="...">`` children, or
      ``<name>`` and ``<arguments>`` children;
    * ``"call"``: ``name(key=value, ...)`` with literal values (JSON or Python spelling);
      positional arguments are named after the tool's parameters (needs ``tools``);
    * ``"auto"``: XML if there is a call tag, else JSON, else the call style (with ``tools``,
      only known names count as calls).

    With ``tools``, each call must name a known tool and give its required arguments.
    Raises :class:`FunctionCallParseError` for malformed calls.

    .. versionadded:: 0.1
    """
    index = _tool_index(tools)
    if style == "xml" or (style == "auto" and _XML_OPEN.search(text)):
        calls = _parse_xml(text)
    elif style == "json":
        calls = _parse_json(text)
    elif style == "call":
        calls = _parse_call(text, index, strict=True)
    elif style == "auto":
        calls = _parse_json(text) if "{" in text else []
        if not calls:
            calls = _parse_call(text, index, strict=False)
    else:
        raise FunctionCallParseError(f"unknown style {style!r}; valid: auto, json, xml, call",
                                     reason="malformed")  # fmt: skip
    if index is not None:
        for call in calls:
            _validate(call, index)
    return calls


def parse_function_call(
    text: str,
    *,
    style: CallParseStyle = "auto",
    tools: Iterable[Tool | Mapping[str, Any]] | None = None,
) -> FunctionCall:
    """The first function call in ``text`` (see :func:`parse_function_calls`);
    :class:`FunctionCallParseError` (``reason="not_found"``) if there is none.

    .. versionadded:: 0.1
    """
    calls = parse_function_calls(text, style=style, tools=tools)
    if not calls:
        raise FunctionCallParseError("no function call found in the text", reason="not_found",
                                     text=text[:200])  # fmt: skip
    return calls[0]
