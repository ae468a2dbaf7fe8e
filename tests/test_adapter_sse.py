"""The incremental SSE parser: the WHATWG event-stream rules, any chunking, bounded memory."""

from __future__ import annotations

import re
from collections.abc import Sequence

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from l0.adapters._errors import StreamProtocolError
from l0.adapters._sse import ServerSentEvent, SSEComment, SSEParser

Item = ServerSentEvent | SSEComment


def parse(*chunks: bytes, **limits: int) -> list[Item]:
    """Feed ``chunks`` in order, then close; every item produced."""
    parser = SSEParser(**limits)
    out: list[Item] = []
    for chunk in chunks:
        out.extend(parser.feed(chunk))
    parser.close()
    return out


def feed_all(parser: SSEParser, chunks: Sequence[bytes]) -> None:
    for chunk in chunks:
        parser.feed(chunk)


def events(*chunks: bytes) -> list[ServerSentEvent]:
    return [i for i in parse(*chunks) if isinstance(i, ServerSentEvent)]


def run(chunks: Sequence[bytes], **limits: int) -> tuple[list[Item], str | None]:
    """Items produced until the end or an error, and the error's type name."""
    parser = SSEParser(**limits)
    out: list[Item] = []
    try:
        for chunk in chunks:
            out.extend(parser.feed(chunk))
        parser.close()
    except StreamProtocolError as exc:
        return out, type(exc).__name__
    return out, None


def split_at(data: bytes, cuts: Sequence[int]) -> list[bytes]:
    points = sorted({min(max(c, 0), len(data)) for c in cuts})
    pieces: list[bytes] = []
    start = 0
    for point in [*points, len(data)]:
        pieces.append(data[start:point])
        start = point
    return pieces


# -- a plain reference implementation of the specification, for the property tests -------------

_LINE_END = re.compile(r"\r\n|\r|\n")


def reference(data: bytes) -> list[Item]:
    text = data.decode("utf-8", errors="replace")
    if text.startswith("\ufeff"):
        text = text[1:]
    lines = _LINE_END.split(text)[:-1]  # the last piece is an unfinished line: dropped
    out: list[Item] = []
    data_lines: list[str] | None = None
    event_type = ""
    last_id = ""
    retry: int | None = None
    for line in lines:
        if line == "":
            if data_lines is not None:
                out.append(
                    ServerSentEvent(
                        data="\n".join(data_lines), event=event_type or "message", id=last_id,
                        retry=retry,
                    )
                )  # fmt: skip
            data_lines, event_type, retry = None, "", None
            continue
        if line.startswith(":"):
            out.append(SSEComment(text=line[1:].removeprefix(" ")))
            continue
        field, colon, value = line.partition(":")
        if colon:
            value = value.removeprefix(" ")
        if field == "data":
            data_lines = [*(data_lines or []), value]
        elif field == "event":
            event_type = value
        elif field == "id" and "\0" not in value:
            last_id = value
        elif field == "retry" and value.isascii() and value.isdigit():
            retry = int(value)
    return out


# -- the rules --------------------------------------------------------------------------------


def test_one_event() -> None:
    """A data line and a blank line make a "message" event."""
    assert events(b"data: hello\n\n") == [ServerSentEvent(data="hello")]


def test_multi_line_data_is_joined_with_newlines() -> None:
    """Several data lines join with "\\n"; one leading space after the colon is dropped."""
    assert events(b"data: a\ndata:b\ndata:  c\n\n") == [ServerSentEvent(data="a\nb\n c")]


@pytest.mark.parametrize("end", [b"\n", b"\r", b"\r\n"])
def test_every_line_ending(end: bytes) -> None:
    """LF, CR and CRLF all end lines."""
    assert events(b"data: x" + end + b"data: y" + end + end) == [ServerSentEvent(data="x\ny")]


def test_crlf_split_across_chunks_is_one_line_end() -> None:
    """A CR at the end of a chunk and the LF starting the next are one line end."""
    assert events(b"data: x\r", b"\n\r", b"\n") == [ServerSentEvent(data="x")]
    assert events(b"data: x\r", b"", b"\n", b"\r\n") == [ServerSentEvent(data="x")]


def test_multibyte_character_split_across_chunks() -> None:
    """A UTF-8 character split between chunks decodes whole."""
    data = "data: héllo €\n\n".encode()
    cut = data.index("€".encode()) + 1
    assert events(data[:cut], data[cut:]) == [ServerSentEvent(data="héllo €")]


def test_bom_at_the_start_only() -> None:
    """One byte order mark at the very start is dropped, even split; a later one is data."""
    bom = "\ufeff".encode()
    assert events(bom[:1], bom[1:] + b"data: a\n\n") == [ServerSentEvent(data="a")]
    assert events(b"data: a\n\n" + bom + b"data: b\n\n") == [
        ServerSentEvent(data="a"),
        # a BOM later on is part of the line: the field is "\ufeffdata", which is ignored
    ]


def test_invalid_utf8_becomes_replacement_characters() -> None:
    """Bytes that are not UTF-8 never raise: they decode as U+FFFD."""
    assert events(b"data: \xff\xfe\n\n") == [ServerSentEvent(data="\ufffd\ufffd")]


def test_comments_are_reported_not_dispatched() -> None:
    """ ": keep-alive" is a comment item, not an event; it does not end an event either."""
    items = parse(b": keep-alive\n", b"data: a\n:ping\ndata: b\n\n")
    assert items == [
        SSEComment(text="keep-alive"),
        SSEComment(text="ping"),
        ServerSentEvent(data="a\nb"),
    ]


def test_event_id_and_retry_fields() -> None:
    """event names the type; the last id carries over; retry (digits only) is kept."""
    items = events(b"event: delta\nid: 7\nretry: 250\ndata: a\n\ndata: b\nretry: x1\n\n")
    assert items == [
        ServerSentEvent(data="a", event="delta", id="7", retry=250),
        ServerSentEvent(data="b", event="message", id="7", retry=None),
    ]
    parser = SSEParser()
    parser.feed(b"retry: 900\n\n")
    assert parser.retry == 900


def test_id_with_nul_is_ignored_and_unknown_fields_too() -> None:
    """An id containing NUL is ignored; unknown fields and lines are skipped."""
    assert events(b"id: 1\n\nid: a\0b\nfoo: bar\nxyz\ndata: d\n\n") == [
        ServerSentEvent(data="d", id="1")
    ]


def test_a_field_without_colon_has_an_empty_value() -> None:
    """A bare "data" line adds an empty data line: the event is dispatched with data ""."""
    assert events(b"data\n\n") == [ServerSentEvent(data="")]


def test_blank_lines_without_data_dispatch_nothing() -> None:
    """An event block with no data line (only event:) is dropped, and its type reset."""
    assert events(b"event: x\n\n\n\ndata: y\n\n") == [ServerSentEvent(data="y")]


def test_close_discards_an_unfinished_event() -> None:
    """An event not ended by a blank line is discarded at the end; close() says so."""
    parser = SSEParser()
    assert parser.feed(b"data: done\n\ndata: cut") == [ServerSentEvent(data="done")]
    assert parser.close() is True
    finished = SSEParser()
    finished.feed(b"data: a\n\n")
    assert finished.close() is False


# -- bounded memory ----------------------------------------------------------------------------


def test_a_line_longer_than_the_limit_is_a_typed_error() -> None:
    """A line over max_line_length raises StreamProtocolError, however it is chunked."""
    line = b"data: " + b"x" * 100
    for chunks in ([line + b"\n\n"], [line[:10], line[10:60], line[60:]]):
        with pytest.raises(StreamProtocolError, match="longer than 50"):
            feed_all(SSEParser(max_line_length=50), chunks)
    # The unfinished part of a line is bounded too (no newline ever comes).
    with pytest.raises(StreamProtocolError):
        feed_all(SSEParser(max_line_length=50), [b"x" * 10] * 10)


def test_an_event_larger_than_the_limit_is_a_typed_error() -> None:
    """Many data lines of one event are bounded by max_event_size."""
    parser = SSEParser(max_event_size=20)
    with pytest.raises(StreamProtocolError, match="larger than 20"):
        parser.feed(b"data: 0123456789\n" * 3)


def test_events_before_an_error_come_first_and_the_error_sticks() -> None:
    """Events completed before the bad line are returned; the error is raised next, and again."""
    parser = SSEParser(max_line_length=10)
    assert parser.feed(b"data: a\n\n" + b"y" * 20) == [ServerSentEvent(data="a")]
    with pytest.raises(StreamProtocolError):
        parser.feed(b"")
    with pytest.raises(StreamProtocolError):
        parser.feed(b"data: b\n\n")
    with pytest.raises(StreamProtocolError):
        parser.close()


def test_limits_must_be_positive() -> None:
    """A zero limit is a programming error."""
    with pytest.raises(ValueError, match=">= 1"):
        SSEParser(max_line_length=0)


# -- properties --------------------------------------------------------------------------------

_FIELD_LINES = st.sampled_from(
    [
        "data: hello",
        "data:wörld €",
        "data",
        "data: ",
        "event: delta",
        "id: 42",
        "id: a\0b",
        "retry: 1000",
        "retry: 1e3",
        ": keep-alive",
        ":",
        "unknown: x",
        "",
        "data: [DONE]",
        '{"not": "a field"}',
    ]
)
_ENDINGS = st.sampled_from(["\n", "\r", "\r\n"])


@st.composite
def event_streams(draw: st.DrawFn) -> bytes:
    """Plausible event streams: field lines with mixed line endings, maybe a BOM."""
    lines = draw(st.lists(st.tuples(_FIELD_LINES | st.text(max_size=8), _ENDINGS), max_size=25))
    text = "".join(line + end for line, end in lines)
    if draw(st.booleans()):
        text += draw(st.text(max_size=5))  # an unfinished last line
    if draw(st.booleans()):
        text = "\ufeff" + text
    return text.encode()


@given(data=event_streams(), cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=12))
@example(data=b"data: x\r\n\r\n", cuts=[8])
@example(data="\ufeffdata: é\n\n".encode(), cuts=[1, 2, 9])
def test_any_chunking_gives_the_reference_events(data: bytes, cuts: list[int]) -> None:
    """Whatever the chunking, the items are those of a plain reading of the specification."""
    assert parse(*split_at(data, cuts)) == reference(data)


@given(data=st.binary(max_size=300), cuts=st.lists(st.integers(0, 300), max_size=12))
def test_random_bytes_chunked_anyhow_read_the_same(data: bytes, cuts: list[int]) -> None:
    """Arbitrary bytes: the same items for every chunking, equal to the reference."""
    assert parse(*split_at(data, cuts)) == parse(data) == reference(data)


@settings(max_examples=300)
@given(
    data=st.binary(max_size=200) | event_streams(),
    cuts=st.lists(st.integers(0, 200), max_size=10),
    max_line=st.integers(1, 40),
    max_event=st.integers(1, 60),
)
def test_random_bytes_raise_only_the_typed_error_and_chunking_does_not_matter(
    data: bytes, cuts: list[int], max_line: int, max_event: int
) -> None:
    """With small limits, random input gives the same items and the same error (if any) for
    every chunking, and nothing but StreamProtocolError is ever raised."""
    limits = {"max_line_length": max_line, "max_event_size": max_event}
    assert run(split_at(data, cuts), **limits) == run([data], **limits)
