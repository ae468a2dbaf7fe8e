"""The incremental JSON parser: same result and same events however the stream is chunked."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from l0._errors import StreamClosed
from l0._structured import Done, FieldComplete, InvalidJSON, PartialEvent, PartialJSON

texts = st.text(max_size=10) | st.sampled_from(
    ["", "\\", '"', "\u00e9", "\U0001f600", "\n", "\x00", "//", "/*", "{", "]", "```"]
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    texts,
)
values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(texts, children, max_size=5),
    max_leaves=25,
)


def encode(value: Any, pretty: bool = False, ascii_escapes: bool = False) -> str:
    raw = msgspec.json.encode(value)
    text = (msgspec.json.format(raw, indent=2) if pretty else raw).decode()
    if ascii_escapes:  # \uXXXX escapes everywhere in strings, surrogate pairs included
        text = json.dumps(msgspec.json.decode(text), ensure_ascii=True)
    return text


def run(chunks: list[str], **options: Any) -> tuple[PartialJSON, list[PartialEvent]]:
    parser = PartialJSON(**options)
    events: list[PartialEvent] = []
    for chunk in chunks:
        events += parser.feed(chunk)
    events += parser.close()
    return parser, events


def split(text: str, cuts: list[int]) -> list[str]:
    bounds = [0, *sorted(set(cuts)), len(text)]
    return [text[a:b] for a, b in itertools.pairwise(bounds)]


def at(value: Any, path: tuple[str | int, ...]) -> Any:
    for step in path:
        value = value[step]
    return value


@given(value=values, pretty=st.booleans(), escapes=st.booleans(), data=st.data())
def test_any_chunking_gives_the_same_value_and_events(
    value: Any, pretty: bool, escapes: bool, data: st.DataObject
) -> None:
    """For any valid document and any chunking: the final value is msgspec's, and the events
    are those of the document in one piece."""
    text = encode(value, pretty, escapes)
    cuts = data.draw(st.lists(st.integers(0, len(text)), max_size=len(text)))
    whole, whole_events = run([text])
    parser, events = run(split(text, cuts))
    expected = msgspec.json.decode(text)
    assert parser.done
    assert parser.value == expected
    assert whole.value == expected
    assert events == whole_events
    assert events[-1] == Done(value=expected)


@given(value=values, data=st.data())
def test_reading_value_between_chunks_changes_nothing(value: Any, data: st.DataObject) -> None:
    """Reading .value mid-stream (which joins an open string) leaves the result intact."""
    text = encode(value, ascii_escapes=data.draw(st.booleans()))
    chunks = split(text, data.draw(st.lists(st.integers(0, len(text)), max_size=len(text))))
    parser = PartialJSON()
    events: list[PartialEvent] = []
    for chunk in chunks:
        events += parser.feed(chunk)
        _ = parser.value
    events += parser.close()
    assert parser.value == msgspec.json.decode(text)
    assert events == run([text])[1]


@given(value=values)
def test_events_are_every_value_in_completion_order(value: Any) -> None:
    """One FieldComplete per nested value (children before their container), then Done; each
    carries the value found at its path."""
    text = encode(value)
    _, events = run([text])
    final = msgspec.json.decode(text)
    *fields, done = events
    assert done == Done(value=final)
    for event in fields:
        assert isinstance(event, FieldComplete)
        assert at(final, event.path) == event.value
    paths = [e.path for e in fields if isinstance(e, FieldComplete)]
    assert len(paths) == count_nested(final)
    for n, path in enumerate(paths):  # a container completes after everything inside it
        assert not any(p[: len(path)] == path and len(p) > len(path) for p in paths[n + 1 :])


def count_nested(value: Any) -> int:
    if isinstance(value, dict):
        return sum(1 + count_nested(v) for v in value.values())  # pyright: ignore[reportUnknownVariableType]
    if isinstance(value, list):
        return sum(1 + count_nested(v) for v in value)  # pyright: ignore[reportUnknownVariableType]
    return 0


def is_prefix(partial: Any, final: Any, partial_strings: bool) -> bool:
    """Whether ``partial`` is an acceptable partial view of ``final``."""
    if isinstance(final, dict):
        return isinstance(partial, dict) and all(
            k in final and is_prefix(v, final[k], partial_strings)
            for k, v in partial.items()  # pyright: ignore[reportUnknownVariableType]
        )
    if isinstance(final, list):
        return (
            isinstance(partial, list)
            and len(partial) <= len(final)  # pyright: ignore[reportUnknownArgumentType]
            and all(is_prefix(p, f, partial_strings) for p, f in zip(partial, final, strict=False))  # pyright: ignore[reportUnknownVariableType, reportUnknownArgumentType]
        )
    if isinstance(final, str) and partial_strings:
        return isinstance(partial, str) and final.startswith(partial)
    return type(partial) is type(final) and partial == final


@given(value=values, partial_strings=st.booleans())
def test_partial_values_are_prefixes_of_the_final_value(value: Any, partial_strings: bool) -> None:
    """Fed one character at a time, every intermediate value is a prefix of the final one:
    members only appear, strings only grow (or are absent until done), numbers are whole."""
    text = encode(value)
    final = msgspec.json.decode(text)
    parser = PartialJSON(partial_strings=partial_strings)
    for ch in text:
        parser.feed(ch)
        current = parser.value
        assert current is None or is_prefix(current, final, partial_strings)
    parser.close()
    assert parser.value == final


def test_streaming_example() -> None:
    """Values and events as a typical response streams in."""
    parser = PartialJSON()
    assert parser.feed('{"items": [{"name": "Ca') == []
    assert parser.value == {"items": [{"name": "Ca"}]}
    assert parser.feed('f\\u00e9", "price": 4') == [
        FieldComplete(path=("items", 0, "name"), value="Caf\u00e9")
    ]
    assert parser.value == {"items": [{"name": "Caf\u00e9"}]}  # 4 may be 4.5: not yet
    assert parser.feed(".5}, ") == [
        FieldComplete(path=("items", 0, "price"), value=4.5),
        FieldComplete(path=("items", 0), value={"name": "Caf\u00e9", "price": 4.5}),
    ]
    assert parser.feed('"x"]}') == [
        FieldComplete(path=("items", 1), value="x"),
        FieldComplete(path=("items",), value=[{"name": "Caf\u00e9", "price": 4.5}, "x"]),
        Done(value={"items": [{"name": "Caf\u00e9", "price": 4.5}, "x"]}),
    ]
    assert parser.done


def test_partial_strings_off_leaves_open_strings_out() -> None:
    """With partial_strings=False an open string is absent until it is complete."""
    parser = PartialJSON(partial_strings=False)
    parser.feed('{"a": ["x", "unfini')
    assert parser.value == {"a": ["x"]}
    parser.feed('shed"]}')
    assert parser.value == {"a": ["x", "unfinished"]}


def test_open_key_is_left_out() -> None:
    """A member appears once its key is complete and its value has started."""
    parser = PartialJSON()
    parser.feed('{"a": 1, "lo')
    assert parser.value == {"a": 1}
    parser.feed('ng": ')
    assert parser.value == {"a": 1}
    parser.feed("[")
    assert parser.value == {"a": 1, "long": []}


@pytest.mark.parametrize(
    "chunks",
    [
        ['"\\u00', 'e9"'],
        ['"\\', "u00e9", '"'],
        ['"\\ud83d', "\\ude00", '"'],
        ['"\\ud83d\\', "ude00", '"'],
        ['"\\ud83d\\ude', '00"'],
    ],
)
def test_escapes_split_across_chunks(chunks: list[str]) -> None:
    """\\u escapes and surrogate pairs split anywhere decode as in one piece."""
    parser = PartialJSON()
    for chunk in chunks:
        parser.feed(chunk)
        _ = parser.value  # joins the open string: must not break a pending surrogate pair
    assert parser.value == msgspec.json.decode("".join(chunks))


def test_lone_surrogate_escape_is_kept() -> None:
    """A high surrogate not followed by a low one stays as it is (as Python's json does)."""
    parser = PartialJSON()
    parser.feed('["\\ud83dx", "\\ud83d\\u0041"]')
    assert parser.value == ["\ud83dx", "\ud83dA"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"a": 1, // note\n "b": [1, 2,], /* c */}', {"a": 1, "b": [1, 2]}),
        ("[True, False, None]", [True, False, None]),
        ('{"a": "tab\there"}', {"a": "tab\there"}),
        ('{"a": "it\\\'s \\x"}', {"a": "it's \\x"}),
        ('```json\n{"a": 1}\n```', {"a": 1}),
        ('Here you go:\n```json\n{"a": 1}\n```\nAnything else?', {"a": 1}),
        ('The answer is {"a": [1]} as requested.', {"a": [1]}),
        ('/* lead */ {"a": 1}', {"a": 1}),
        ('\ufeff{"a": 1}', {"a": 1}),
        ('{"a": 1} {"b": 2}', {"a": 1}),
        ("  42  ", 42),
        ('"top"', "top"),
    ],
)
def test_leniency(text: str, expected: Any) -> None:
    """Comments, trailing commas, Python literals, fences and prose around the value."""
    parser, events = run(list(text))
    assert parser.value == expected
    assert events[-1] == Done(value=expected)


@pytest.mark.parametrize(
    ("text", "position"),
    [
        ('{"a" 1}', 5),
        ('{"a": 1 "b": 2}', 8),
        ("[1, 2}", 5),
        ('{"a": }', 6),
        ("{a: 1}", 1),
        ("[01]", 3),
        ("[1.]", 3),
        ("[nul]", 4),
        ('["\\u12G4"]', 6),
        ("[1] ", None),
    ],
)
def test_syntax_errors_raise_invalid_json(text: str, position: int | None) -> None:
    """Input that is not (lenient) JSON raises InvalidJSON with its position, and keeps
    raising; input after the top-level value is ignored."""
    parser = PartialJSON()
    if position is None:
        parser.feed(text + "garbage ]]]")
        assert parser.done
        return
    *head, last = text[: position + 1]
    for ch in head:
        parser.feed(ch)
    with pytest.raises(InvalidJSON) as info:
        parser.feed(last)
    assert info.value.position == position
    with pytest.raises(InvalidJSON):
        parser.feed("1")


def test_truncated_document_is_not_done() -> None:
    """close() on a cut-off document leaves it not done, with the partial value readable."""
    parser = PartialJSON()
    parser.feed('{"a": [1, 2')
    assert parser.close() == []
    assert not parser.done
    assert parser.value == {"a": [1]}


def test_top_level_number_completes_at_close() -> None:
    """A number at the top level could still grow: it is done at close()."""
    parser = PartialJSON()
    assert parser.feed("-12.5e1") == []
    assert parser.value is None
    assert parser.close() == [Done(value=-125.0)]
    assert parser.close() == []


def test_feed_after_close_raises_stream_closed() -> None:
    """Use after close is an error."""
    parser = PartialJSON()
    parser.close()
    with pytest.raises(StreamClosed):
        parser.feed("{}")


def test_consumed_counts_characters() -> None:
    """consumed is the number of characters fed."""
    parser = PartialJSON()
    parser.feed("[1, ")
    parser.feed("2]")
    assert parser.consumed == 6


def test_nesting_beyond_max_depth_raises() -> None:
    """Nesting is bounded (no recursion is involved, but paths cost O(depth) each)."""
    parser = PartialJSON(max_depth=10)
    parser.feed("[" * 10 + "]" * 10)
    assert parser.done
    with pytest.raises(InvalidJSON):
        PartialJSON(max_depth=10).feed("[" * 11)
    with pytest.raises(InvalidJSON):
        PartialJSON().feed("[" * 100_000)


def test_deep_nesting_within_the_limit() -> None:
    """999 levels parse without recursion."""
    _, events = run(["[" * 999, "1", "]" * 999])
    assert len(events) == 1000
    assert events[0] == FieldComplete(path=(0,) * 999, value=1)


def test_long_document_in_one_character_chunks() -> None:
    """A 300 KB document fed a character at a time (linear work: this finishes quickly)."""
    doc = {"rows": [{"id": n, "text": "x" * 50, "ok": n % 2 == 0} for n in range(4000)]}
    text = encode(doc)
    assert len(text) > 250_000
    parser, events = run(list(text))
    assert parser.value == doc
    assert len(events) == 4000 * 4 + 2


def test_events_are_tagged_msgspec_structs() -> None:
    """Events serialise with a "type" tag."""
    event = FieldComplete(path=("a", 0), value=1)
    assert msgspec.json.encode(event) == b'{"type":"field_complete","path":["a",0],"value":1}'
    assert msgspec.json.encode(Done(value=None)) == b'{"type":"done","value":null}'
    assert msgspec.json.decode(msgspec.json.encode(event), type=FieldComplete | Done) == event


def _document(rows: int) -> str:
    return encode(
        {"rows": [{"id": n, "text": "word " * 8, "tags": ["a", "b"]} for n in range(rows)]}
    )


def _best_time_per_token(text: str) -> float:
    """Seconds per 4-character token to feed ``text`` and read the value after each token
    (what a consumer of partial objects does): the best of three runs."""
    tokens = [text[i : i + 4] for i in range(0, len(text), 4)]
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        parser = PartialJSON()
        for token in tokens:
            parser.feed(token)
            _ = parser.value
        best = min(best, time.perf_counter() - started)
        assert parser.done
    return best / len(tokens)


def test_cost_per_token_does_not_grow_with_the_document() -> None:
    """Linear total work: the cost per token of a 10x longer document stays about the same
    (re-parsing the buffer per token, as jiter's partial mode does, would make it ~10x)."""
    small, big = _best_time_per_token(_document(100)), _best_time_per_token(_document(1000))
    assert big < 3 * small


def test_the_benchmark_runs() -> None:
    """bench/json_partial.py (the figures behind the parser choice) runs and checks the final
    value of every contender."""
    script = Path(__file__).resolve().parent.parent / "bench" / "json_partial.py"
    done = subprocess.run(
        [sys.executable, str(script), "--tokens", "50", "--repeat", "1"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    contenders = {"l0 PartialJSON", "l0 feed only", "heal per token"}
    assert contenders <= {line[17:35].strip() for line in done.stdout.splitlines()}
