"""Instructions about the shape of the answer: constraints, and JSON output."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any, Literal, TypeAlias, cast

import msgspec

from l0._errors import ConfigError

__all__ = ["OutputFormat", "format_json_output", "format_output_constraints"]

OutputFormat: TypeAlias = Literal["plain", "markdown", "json", "list", "code"]

_FORMATS: dict[str, str] = {
    "plain": "Answer in plain text, without markdown.",
    "markdown": "Answer in markdown.",
    "json": "Answer with valid JSON only.",
    "list": "Answer as a list, one item per line, each starting with '- '.",
    "code": "Answer with code only, in one fenced code block.",
}


def _count(name: str, value: int | None) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):  # pyright: ignore[reportUnnecessaryIsInstance]
        raise ConfigError(f"{name} must be None or an int >= 1, got {value!r}")


def format_output_constraints(
    *,
    max_length: int | None = None,
    min_length: int | None = None,
    max_words: int | None = None,
    max_sentences: int | None = None,
    format: OutputFormat | None = None,
    language: str | None = None,
    tone: str | None = None,
    no_preamble: bool = False,
    no_code_fences: bool = False,
    extra: Iterable[str] = (),
    header: str = "Output requirements:",
) -> str:
    """A bulleted list of requirements for the answer ("" if none is given).

    Lengths are in characters. ``no_preamble`` asks for no introduction or closing remarks;
    ``no_code_fences`` for no markdown code fences; ``extra`` adds your own lines.

    .. versionadded:: 0.1
    """
    for name, value in (("max_length", max_length), ("min_length", min_length),
                        ("max_words", max_words), ("max_sentences", max_sentences)):  # fmt: skip
        _count(name, value)
    if max_length is not None and min_length is not None and min_length > max_length:
        raise ConfigError(f"min_length ({min_length}) is more than max_length ({max_length})")
    if format is not None and format not in _FORMATS:
        raise ConfigError(f"unknown format {format!r}; valid: {', '.join(_FORMATS)}")
    lines: list[str] = []
    if format is not None:
        lines.append(_FORMATS[format])
    if min_length is not None and max_length is not None:
        lines.append(f"Use between {min_length} and {max_length} characters.")
    elif max_length is not None:
        lines.append(f"Use at most {max_length} characters.")
    elif min_length is not None:
        lines.append(f"Use at least {min_length} characters.")
    if max_words is not None:
        lines.append(f"Use at most {max_words} words.")
    if max_sentences is not None:
        lines.append(f"Use at most {max_sentences} sentence{'s' if max_sentences > 1 else ''}.")
    if language:
        lines.append(f"Write in {language}.")
    if tone:
        lines.append(f"Use a {tone} tone.")
    if no_preamble:
        lines.append("Start with the answer itself: no introduction, no closing remarks.")
    if no_code_fences:
        lines.append("Do not wrap the answer in markdown code fences.")
    lines.extend(line.strip() for line in extra if line.strip())
    if not lines:
        return ""
    return "\n".join([header, *(f"- {line}" for line in lines)])


def _schema_of(schema: Any) -> Mapping[str, Any]:
    if isinstance(schema, Mapping):
        return schema  # pyright: ignore[reportUnknownVariableType]
    try:
        return msgspec.json.schema(schema)
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            f"schema must be a JSON Schema dict or a type msgspec can describe (Struct, "
            f"dataclass, attrs class, TypedDict...), got {schema!r}: {exc}"
        ) from exc


def _root(schema: Mapping[str, Any]) -> Mapping[str, Any]:
    """The schema a top-level ``$ref`` into ``$defs`` points at (msgspec's layout), or itself."""
    ref = schema.get("$ref")
    defs = schema.get("$defs")
    if isinstance(ref, str) and ref.startswith("#/$defs/") and isinstance(defs, Mapping):
        target = cast("Mapping[str, Any]", defs).get(ref.removeprefix("#/$defs/"))
        if isinstance(target, Mapping):
            return cast("Mapping[str, Any]", target)
    return schema


def _dump(value: Any, what: str) -> str:
    try:
        return json.dumps(value, indent=2, ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"the {what} is not JSON-serialisable: {exc}") from exc


def format_json_output(
    schema: Any = None,
    *,
    example: Any = None,
    strict: bool = True,
) -> str:
    """Instructions to answer with JSON: conforming to ``schema`` (a JSON Schema dict, or a type
    msgspec can describe) and/or shaped like ``example`` (a value, or a JSON string).

    ``strict`` also forbids any text or code fence around the JSON.

    .. versionadded:: 0.1
    """
    lines = ["Respond with valid JSON."]
    if strict:
        lines.append(
            "Output only the JSON value itself: no explanation, no markdown code fences, "
            "no text before or after it."
        )
    if schema is not None:
        described = _schema_of(schema)
        lines.append("It must conform to this JSON Schema:")
        lines.append(_dump(described, "schema"))
        required = _root(described).get("required")
        if isinstance(required, list) and required:
            names = ", ".join(str(r) for r in required)  # pyright: ignore[reportUnknownVariableType, reportUnknownArgumentType]
            lines.append(f"Required fields: {names}.")
    if example is not None:
        if isinstance(example, str):
            try:
                example = json.loads(example)
            except ValueError as exc:
                raise ConfigError(f"the example is not valid JSON: {exc}") from exc
        lines.append("Follow the structure of this example:")
        lines.append(_dump(example, "example"))
    return "\n".join(lines)
