"""JSON healing: valid JSON is left alone; broken JSON is repaired, or refused with InvalidJSON."""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from l0._errors import ErrorCategory, L0Error
from l0._structured import (
    Correction,
    Healed,
    InvalidJSON,
    StructuredError,
    _heal,
    _locate,
    heal,
    parse,
)
from l0._structured._heal import _heal_slow  # pyright: ignore[reportPrivateUsage]
from l0._structured._lexical import scan_number

# --------------------------------------------------------------------------- strategies

TRICKY = [
    "//",
    "/*",
    "*/",
    "#",
    "http://example.com/a//b",
    '"',
    "'",
    "\\",
    "\n",
    "\t",
    "\x00",
    "\x1f",
    "```",
    "```json\n",
    ",",
    ":",
    "{",
    "}",
    "[",
    "]",
    ",]",
    ",}",
    "True",
    "None",
    "caf\u00e9",
    "\U0001f600",
    "\u2028",
    "\ufeff",
]

texts = st.lists(st.one_of(st.text(max_size=8), st.sampled_from(TRICKY)), max_size=5).map("".join)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    texts,
)
values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=5), st.dictionaries(texts, children, max_size=5)
    ),
    max_leaves=25,
)
containers = st.one_of(st.lists(values, max_size=5), st.dictionaries(texts, values, max_size=5))


def encode(value: Any, pretty: bool) -> str:
    raw = msgspec.json.encode(value)
    return (msgspec.json.format(raw, indent=2) if pretty else raw).decode()


JSON_WS = " \t\n\r"
NOTHING: Any = object()


def decodes(text: str) -> Any:
    """The strict oracle: the standard library's decoder, with NaN/Infinity refused."""

    def refuse(name: str) -> None:
        raise ValueError(name)

    return json.loads(text, parse_constant=refuse)


def heal_or_error(text: str) -> Healed | None:
    """heal() and parse(), which may only fail with InvalidJSON (an L0Error); heal's output
    must decode, to what parse() returns when msgspec can decode it."""
    try:
        value = parse(text)
    except L0Error as exc:
        if not isinstance(exc, InvalidJSON):
            raise
        value = NOTHING
    try:
        healed = heal(text)
    except L0Error as exc:
        if not isinstance(exc, InvalidJSON):
            raise
        assert value is NOTHING
        return None
    decoded = decodes(healed.text)
    if value is not NOTHING:
        assert value == decoded
    assert healed.changed == bool(healed.corrections)
    if not healed.changed:  # then only JSON whitespace around the value may have gone
        assert healed.text.strip(JSON_WS) == text.strip(JSON_WS)
    return healed


# --------------------------------------------------------------------------- valid JSON


@given(value=values, pretty=st.booleans())
def test_valid_json_comes_back_unchanged(value: Any, pretty: bool) -> None:
    """Valid JSON, whatever its strings contain, comes back as is, with no corrections."""
    text = encode(value, pretty)
    healed = heal(text)
    assert healed == Healed(text=text)
    assert healed.changed is False
    assert parse(text) == value


@given(value=values, pretty=st.booleans())
def test_the_healing_pass_copies_valid_json_verbatim(value: Any, pretty: bool) -> None:
    """The repairing pass itself (no fast path) copies valid JSON character for character."""
    text = encode(value, pretty)
    assert _heal_slow(text) == (text, [])


def test_valid_json_with_url_and_comment_markers_is_untouched() -> None:
    """The ai2070-l0 bug: "//" in a string is not a comment."""
    text = '{"url": "http://example.com", "glob": "/* not a comment */", "hash": "#1"}'
    assert heal(text) == Healed(text=text)
    assert heal(text + " ").text == text + " "


def test_valid_json_that_msgspec_rejects_is_still_copied() -> None:
    """Deep nesting and out-of-range numbers are valid JSON: the pass copies them as they are."""
    deep = "[" * 2000 + "]" * 2000
    assert heal(deep) == Healed(text=deep)
    assert heal("[1e400]") == Healed(text="[1e400]")


# --------------------------------------------------------------------------- truncation


@given(value=containers, pretty=st.booleans(), data=st.data())
def test_any_truncation_of_an_object_or_array_heals(
    value: Any, pretty: bool, data: st.DataObject
) -> None:
    """Every non-empty prefix of an object or array heals into JSON of the same type."""
    text = encode(value, pretty)
    cut = data.draw(st.integers(1, len(text)))
    healed = heal(text[:cut])
    assert type(decodes(healed.text)) is type(value)


@given(value=values, data=st.data())
def test_any_truncation_heals_or_raises_invalid_json(value: Any, data: st.DataObject) -> None:
    """A prefix of any JSON value heals into JSON or raises InvalidJSON, nothing else."""
    text = encode(value, pretty=False)
    heal_or_error(text[: data.draw(st.integers(0, len(text)))])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"a": [1, {"b": 2', '{"a": [1, {"b": 2}]}'),
        ('{"a": "unterminated', '{"a": "unterminated"}'),
        ('["x", "y\\', '["x", "y"]'),
        ('["\\u00e', '[""]'),
        ('{"a": 1, "b"', '{"a": 1}'),
        ('{"a": 1, "b":', '{"a": 1}'),
        ('{"a": 1, "b": ', '{"a": 1}'),
        ('{"a": 1, "b', '{"a": 1}'),
        ('{"a": 1, b', '{"a": 1}'),
        ('{"a": 1,', '{"a": 1}'),
        ("[1, 2,", "[1, 2]"),
        ("[1, 2, -", "[1, 2]"),
        ("[1, 2.", "[1, 2]"),
        ("[1, 2e-", "[1, 2]"),
        ("[true, fa", "[true, false]"),
        ("[nu", "[null]"),
        ("[", "[]"),
        ('{"a": {', '{"a": {}}'),
        ('"abc', '"abc"'),
        ("tr", "true"),
        ("12.", "12"),
    ],
)
def test_truncation_examples(text: str, expected: str) -> None:
    """Open strings are closed, open brackets closed innermost first, dangling members dropped."""
    assert heal(text).text == expected


def test_brackets_close_in_reverse_order() -> None:
    """The ai2070-l0 bug: closers come innermost first, each recorded at the end of the text."""
    healed = heal('{"a": [1, {"b": [2')
    assert healed.text == '{"a": [1, {"b": [2]}]}'
    assert healed.corrections == (Correction(kind="close_bracket", position=18),) * 4


# --------------------------------------------------------------------------- corruptions


def tokens(value: Any) -> list[str]:
    """The JSON tokens of ``value`` (the test's own serialiser, so corruptions hit boundaries)."""
    if isinstance(value, dict):
        out = ["{"]
        for n, (k, v) in enumerate(value.items()):  # pyright: ignore[reportUnknownVariableType, reportUnknownArgumentType]
            if n:
                out.append(",")
            out += [encode(k, False), ":", *tokens(v)]
        return [*out, "}"]
    if isinstance(value, list):
        out = ["["]
        for n, v in enumerate(value):  # pyright: ignore[reportUnknownVariableType, reportUnknownArgumentType]
            if n:
                out.append(",")
            out += tokens(v)
        return [*out, "]"]
    return [encode(value, False)]


IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
GAPS = ["", " ", "\n  ", "// note: http://x\n", "/* a, b } */", "# hash\n"]


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(value=containers, data=st.data())
def test_common_corruptions_heal_back_to_the_value(value: Any, data: st.DataObject) -> None:
    """Comments, trailing commas, single quotes, bare keys, Python literals, fences and prose
    around the value: all healed back to exactly the original value."""
    out: list[str] = []
    toks = tokens(value)
    for n, tok in enumerate(toks):
        written: str
        nxt = toks[n + 1] if n + 1 < len(toks) else ""
        prev = toks[n - 1] if n else ""
        if tok.startswith('"') and "'" not in tok and data.draw(st.booleans()):
            body = tok[1:-1].replace('\\"', '"').replace('"', '\\"')
            key = nxt == ":"
            plain = msgspec.json.decode(tok)
            if key and IDENT.fullmatch(plain) and data.draw(st.booleans()):
                written = plain
            else:
                written = "'" + body + "'"
        elif tok in {"true", "false", "null"} and data.draw(st.booleans()):
            written = {"true": "True", "false": "False", "null": "None"}[tok]
        else:
            written = tok
        out.append(written)
        if tok in "}]" and prev not in "{[" and data.draw(st.booleans()):
            out.insert(-1, ",")
        out.append(data.draw(st.sampled_from(GAPS)))
    text = "".join(out)
    if data.draw(st.booleans()):
        text = "```json\n" + text + "\n```"
    text = data.draw(st.sampled_from(["", "Here you go: ", "Sure!\n\n"])) + text
    text += data.draw(st.sampled_from(["", "\nHope this helps.", " (done)"]))
    assert parse(text) == value


garbage_chars = st.sampled_from(list("{}[]\"',:/*#\\`\n \t-.0123456789eEtrufalsnNTFxy_\u00a0"))


@given(text=st.text(garbage_chars, max_size=60))
def test_garbage_heals_or_raises_invalid_json(text: str) -> None:
    """Arbitrary JSON-ish noise: JSON out, or InvalidJSON; no other exception, no hang."""
    heal_or_error(text)


@given(text=st.text(max_size=60))
def test_arbitrary_text_heals_or_raises_invalid_json(text: str) -> None:
    """Arbitrary text: JSON out, or InvalidJSON."""
    heal_or_error(text)


@given(value=containers, data=st.data())
def test_random_edits_heal_or_raise_invalid_json(value: Any, data: st.DataObject) -> None:
    """Valid JSON with random characters inserted or deleted: JSON out, or InvalidJSON."""
    text = encode(value, data.draw(st.booleans()))
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(text)))
        if data.draw(st.booleans()):
            text = text[:at] + data.draw(garbage_chars) + text[at:]
        else:
            text = text[:at] + text[at + 1 :]
    heal_or_error(text)


# --------------------------------------------------------------------------- each correction


@pytest.mark.parametrize(
    ("text", "expected", "kinds"),
    [
        ('```json\n{"a": 1}\n```', '{"a": 1}', ["strip_fence"]),
        ("```\n[1]\n```\nExplanation: [2]", "[1]", ["strip_fence", "strip_prose"]),
        ('Here:\n```json\n{"a": 1}\n```', '{"a": 1}', ["strip_fence", "strip_prose"]),
        ('```py\nx = [1]\n```\n```json\n{"a": 1}\n```', '{"a": 1}', ["strip_fence", "strip_prose"]),
        ('```json\n{"a": "x\n```', '{"a": "x"}', ["strip_fence", "close_string", "close_bracket"]),
        ('The result is {"a": 1}.', '{"a": 1}', ["strip_prose", "strip_prose"]),
        ('Options [a] and [b]: {"a": 1}', '{"a": 1}', ["strip_prose"]),
        ('See [1]. {"a": [2]}', '{"a": [2]}', ["strip_prose"]),
        ("Numbers: [1, 2]", "[1, 2]", ["strip_prose"]),
        ("Here you go: [null, []]", "[null, []]", ["strip_prose"]),
        ("Here: {a /* key */: 1}", '{"a" : 1}', ["strip_prose", "quote_key", "remove_comment"]),
        ('{"a": 1} and {"b": 2}', '{"a": 1}', ["strip_prose"]),
        ('{"a": 1, // one\n "b": 2}', '{"a": 1, \n "b": 2}', ["remove_comment"]),
        ('{"a": /* x */ 1}', '{"a":  1}', ["remove_comment"]),
        ('# c\n{"a": 1}', '{"a": 1}', ["remove_comment"]),
        ('{"a": 1,\u00a0"b": 2}', '{"a": 1,"b": 2}', ["remove_whitespace"]),
        ('{"a": [1, 2,], }', '{"a": [1, 2] }', ["remove_trailing_comma"] * 2),
        ("[1,,2]", "[1,2]", ["remove_comma"]),
        ("[,1]", "[1]", ["remove_comma"]),
        ('{"a": 1]}', '{"a": 1}', ["remove_bracket"]),
        ("[1 2]", "[1, 2]", ["insert_comma"]),
        ('{"a": 1\n"b": 2}', '{"a": 1,\n"b": 2}', ["insert_comma"]),
        ('{"a": 1 b: 2}', '{"a": 1, "b": 2}', ["insert_comma", "quote_key"]),
        ('{"a" 1}', '{"a": 1}', ["insert_colon"]),
        ("{'a': 'say \"hi\"'}", '{"a": "say \\"hi\\""}', ["single_quotes"] * 2),
        ("{'a': 'it\\'s'}", '{"a": "it\'s"}', ["single_quotes"] * 2),
        ("{a: 1, b_2: 2, $c: 3}", '{"a": 1, "b_2": 2, "$c": 3}', ["quote_key"] * 3),
        ('{"a": "the "best" one"}', '{"a": "the \\"best\\" one"}', ["escape_quote"] * 2),
        ("['it's']", '["it\'s"]', ["single_quotes", "escape_quote"]),
        ('{"a": "\\x41"}', '{"a": "\\\\x41"}', ["fix_escape"]),
        ('{"a": "it\\\'s"}', '{"a": "it\'s"}', ["fix_escape"]),
        ('{"a": "\\uZZZZ"}', '{"a": "\\\\uZZZZ"}', ["fix_escape"]),
        ('{"a": "x\ny\tz\x01"}', '{"a": "x\\ny\\tz\\u0001"}', ["escape_control"] * 3),
        ('{"a": "x', '{"a": "x"}', ["close_string", "close_bracket"]),
        ("[[1, [2", "[[1, [2]]]", ["close_bracket"] * 3),
        ("[True, False, None]", "[true, false, null]", ["python_literal"] * 3),
        ("[NaN, Infinity, -Infinity, undefined]", "[null, null, null, null]", ["js_literal"] * 4),
        ("[tru", "[true]", ["complete_literal", "close_bracket"]),
        ("[+1, 01, .5, 5., -0.5e+3]", "[1, 1, 0.5, 5.0, -0.5e+3]", ["fix_number"] * 4),
        ('{"a": 1, "b": }', '{"a": 1}', ["drop_incomplete"]),
        ('{"a": 1, "b"', '{"a": 1}', ["drop_incomplete", "close_bracket"]),
    ],
)
def test_each_correction(text: str, expected: str, kinds: list[str]) -> None:
    """Each kind of repair, on its own, and what it reports."""
    healed = heal(text)
    assert (healed.text, [c.kind for c in healed.corrections]) == (expected, kinds)
    decodes(healed.text)


def test_corrections_carry_positions_in_the_original_text() -> None:
    """Positions index the text as given (fence and prose included)."""
    text = "Note:\n```json\n{'a': True,}\n```"
    healed = heal(text)
    assert [(c.kind, c.position) for c in healed.corrections] == [
        ("strip_fence", 6),
        ("strip_prose", 0),
        ("single_quotes", 15),
        ("python_literal", 20),
        ("remove_trailing_comma", 25),
    ]
    assert text[15] == "'"
    assert text[20:24] == "True"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "hello world",
        "// only a comment",
        "{name}",
        "[1, 2, foo]",
        '{"a": @}',
        "-",
        "```json\n```",
        "{: 1}",
        "[1.2.3]",
    ],
)
def test_unhealable_text_raises_invalid_json(text: str) -> None:
    """Text with no recoverable JSON value raises InvalidJSON, an L0Error and a ValueError."""
    with pytest.raises(InvalidJSON) as info:
        heal(text)
    exc = info.value
    assert isinstance(exc, StructuredError)
    assert isinstance(exc, ValueError)
    assert exc.retryable is True
    assert exc.category is ErrorCategory.PROVIDER or exc.category is ErrorCategory.CONTENT
    assert exc.metadata["preview"] == exc.preview


def test_invalid_json_reports_where_it_gave_up() -> None:
    """The error names the position and shows the text around it."""
    with pytest.raises(InvalidJSON) as info:
        heal("[1, 2, foo]")
    assert info.value.position == 7
    assert "foo" in info.value.preview
    assert "at 7" in str(info.value)


# --------------------------------------------------------------------------- parse


def test_parse_returns_the_healed_value() -> None:
    """parse() = heal() + decode."""
    assert parse('{"a": [1, 2') == {"a": [1, 2]}
    assert parse("[1]") == [1]


def test_parse_wraps_decoder_limits_in_invalid_json() -> None:
    """JSON msgspec cannot decode (too deep, number out of range) raises InvalidJSON."""
    with pytest.raises(InvalidJSON):
        parse("[" * 5000)
    with pytest.raises(InvalidJSON):
        parse("[1e400,]")


# --------------------------------------------------------------------------- linear time


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[" * 100_000, "[" * 100_000 + "]" * 100_000),
        ("{" * 50_000, None),
        ('{"a":' * 50_000, '{"a":' * 49_999 + "{}" + "}" * 49_999),
        ('"' * 100_000, None),
        ("'" * 100_000, None),
        ("[1," * 50_000, "[1," * 49_999 + "[1" + "]" * 50_000),
        ("/*" * 50_000, None),
        ("```\n" * 30_000, None),
        ("{a" * 50_000, None),
        ("x [y] {z} " * 20_000, None),
        ("[" + "1 " * 100_000 + "]", None),
        ('["' + "\\" * 100_001, '["' + "\\" * 100_000 + '"]'),
        ("[" + "\n" * 100_000, "[" + "\n" * 100_000 + "]"),
    ],
)
def test_adversarial_inputs_finish_without_recursion(text: str, expected: str | None) -> None:
    """Deep nesting, quote floods, comment floods and prose full of brackets: one linear pass,
    no RecursionError (the pytest timeout guards against a hang)."""
    try:
        healed = heal(text)
    except InvalidJSON:
        assert expected is None
        return
    if expected is not None:
        assert healed.text == expected


FAMILIES: dict[str, Callable[[int], str]] = {
    "nested arrays": lambda n: "[" * n,
    "nested members": lambda n: '{"a":' * (n // 5),
    "quotes": lambda n: '"' * n,
    "apostrophes": lambda n: "'" * n,
    "inner quotes": lambda n: '["' + '" a' * (n // 3),
    "numbers": lambda n: "[" + "1 " * (n // 2),
    "prose with brackets": lambda n: "x [y] {z} " * (n // 10),
    "comments": lambda n: "[" + "/* */ 1, " * (n // 9),
    "control chars": lambda n: '{"a": "' + "\n\t\u0001" * (n // 3),
    "hash comments after brackets": lambda n: "[#" * (n // 2) + "\nx",
    "bare keys": lambda n: "{" + "k: 1, " * (n // 6),
}


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_work_is_linear_in_the_input(family: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Steps (the character runs matched while locating and healing the value, and their
    lengths) grow linearly: ten times the input costs at most about ten times the steps."""
    steps = [0]
    real_run_end = _heal.run_end

    def counting_run_end(pattern: re.Pattern[str], text: str, i: int, hi: int) -> int:
        end = real_run_end(pattern, text, i, hi)
        steps[0] += 1 + end - i
        return end

    monkeypatch.setattr(_heal, "run_end", counting_run_end)
    monkeypatch.setattr(_locate, "run_end", counting_run_end)

    def cost(n: int) -> int:
        steps[0] = 0
        with contextlib.suppress(InvalidJSON):
            heal(FAMILIES[family](n))
        return steps[0]

    small, big = cost(10_000), cost(100_000)
    assert big <= 11 * small + 100


# --------------------------------------------------------------------------- pieces


@pytest.mark.parametrize(
    ("word", "truncated", "expected"),
    [
        ("0", False, "0"),
        ("-0", False, "-0"),
        ("1.5e+10", False, "1.5e+10"),
        ("1E5", False, "1E5"),
        ("007", False, "7"),
        ("+1", False, "1"),
        (".5", False, "0.5"),
        ("5.", False, "5.0"),
        ("5.", True, "5"),
        ("5e", True, "5"),
        ("5e", False, None),
        ("-", True, None),
        ("1.2.3", False, None),
        ("e5", False, None),
        ("--1", False, None),
    ],
)
def test_scan_number(word: str, truncated: bool, expected: str | None) -> None:
    """Strict numbers pass unchanged; the usual slips are repaired; the rest is refused."""
    assert scan_number(word, truncated=truncated) == expected


def test_healed_and_corrections_are_frozen_msgspec_structs() -> None:
    """Results serialise with msgspec and cannot be mutated."""
    healed = heal("[1,]")
    assert msgspec.json.decode(msgspec.json.encode(healed)) == {
        "text": "[1]",
        "corrections": [{"kind": "remove_trailing_comma", "position": 3}],
    }
    with pytest.raises(AttributeError):
        healed.text = "x"  # type: ignore[misc]
