"""Output constraints and JSON output instructions."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest

import l0
import l0.format as fmt


def test_constraints_list() -> None:
    """Each given constraint becomes one bullet, in a fixed order."""
    out = fmt.format_output_constraints(
        format="markdown",
        min_length=10,
        max_length=100,
        max_words=20,
        max_sentences=1,
        language="French",
        tone="formal",
        no_preamble=True,
        no_code_fences=True,
        extra=["Cite sources.", "  "],
    )
    assert out.splitlines() == [
        "Output requirements:",
        "- Answer in markdown.",
        "- Use between 10 and 100 characters.",
        "- Use at most 20 words.",
        "- Use at most 1 sentence.",
        "- Write in French.",
        "- Use a formal tone.",
        "- Start with the answer itself: no introduction, no closing remarks.",
        "- Do not wrap the answer in markdown code fences.",
        "- Cite sources.",
    ]


def test_no_constraints_is_empty() -> None:
    """Nothing asked, nothing said."""
    assert fmt.format_output_constraints() == ""
    assert fmt.format_output_constraints(min_length=5) == (
        "Output requirements:\n- Use at least 5 characters."
    )


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"max_length": 0}, "max_length"),
        ({"max_words": True}, "max_words"),
        ({"min_length": 10, "max_length": 5}, "min_length"),
        ({"format": "yaml"}, "format"),
    ],
)
def test_invalid_constraints(kwargs: dict[str, Any], match: str) -> None:
    """Invalid values are ConfigErrors."""
    with pytest.raises(l0.ConfigError, match=match):
        fmt.format_output_constraints(**kwargs)


SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
    "required": ["city"],
}


def test_json_output_from_a_schema() -> None:
    """The schema is embedded as JSON; required fields are named; strict forbids fences."""
    out = fmt.format_json_output(SCHEMA)
    assert out.startswith("Respond with valid JSON.\nOutput only the JSON value itself")
    embedded = out.split("JSON Schema:\n", 1)[1].rsplit("\nRequired fields", 1)[0]
    assert json.loads(embedded) == SCHEMA
    assert out.endswith("Required fields: city.")
    assert "code fences" not in fmt.format_json_output(SCHEMA, strict=False)


class Forecast(msgspec.Struct):
    """A typed schema."""

    city: str
    days: int = 1


def test_json_output_from_a_type() -> None:
    """A type msgspec can describe gives its JSON Schema."""
    out = fmt.format_json_output(Forecast)
    assert '"Forecast"' in out
    assert '"city"' in out
    assert out.endswith("Required fields: city.")


def test_json_output_from_an_example() -> None:
    """An example (a value or JSON text) shows the shape."""
    for example in ({"city": "Paris", "days": 2}, '{"city": "Paris", "days": 2}'):
        out = fmt.format_json_output(example=example)
        assert out.endswith('example:\n{\n  "city": "Paris",\n  "days": 2\n}')


def test_json_output_errors() -> None:
    """Invalid example JSON, a non-serialisable example, or a non-schema are ConfigErrors."""
    with pytest.raises(l0.ConfigError, match="example is not valid JSON"):
        fmt.format_json_output(example="{nope")
    with pytest.raises(l0.ConfigError, match="serialisable"):
        fmt.format_json_output(example={"when": object()})
    with pytest.raises(l0.ConfigError, match="schema"):
        fmt.format_json_output(object())
