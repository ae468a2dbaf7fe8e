"""Multimodal payloads: Media, Data/Progress builders, provider converters, and the runtime
keeping data outputs and the last progress in the state."""

from __future__ import annotations

import base64
import types
from collections.abc import AsyncIterator, Sequence
from typing import Any

import msgspec
import pytest

import l0
from l0._multimodal import (
    Media,
    from_content_part,
    from_openai_audio_delta,
    from_openai_image,
    progress_event,
    to_data_event,
)
from l0.adapters import Adapter, Chunk, Finish
from tests._sources import Raise, Script, collect

PNG = b"\x89PNG\r\n\x1a\n-fake-image"
PNG_B64 = base64.b64encode(PNG).decode()


# --------------------------------------------------------------------------- Media


def test_media_sources() -> None:
    """Exactly one of url, base64 and data; each converts to bytes, base64 and a data URL."""
    by_b64 = Media(kind="image", mime_type="image/png", base64=PNG_B64)
    by_bytes = Media(kind="image", mime_type="image/png", data=PNG)
    by_url = Media(kind="image", url="https://example.com/cat.png")
    assert [m.source for m in (by_b64, by_bytes, by_url)] == ["base64", "bytes", "url"]
    assert by_b64.to_bytes() == by_bytes.to_bytes() == PNG
    assert by_bytes.to_base64() == by_b64.to_base64() == PNG_B64
    assert by_b64.data_url() == f"data:image/png;base64,{PNG_B64}"
    assert by_url.data_url() == "https://example.com/cat.png"
    assert Media(kind="file", data=b"x").data_url() == "data:application/octet-stream;base64,eA=="
    with pytest.raises(l0.ConfigError, match="does not fetch"):
        by_url.to_bytes()


def test_urlsafe_and_unpadded_base64() -> None:
    """URL-safe and unpadded base64 decode too."""
    raw = b"\xfb\xff\xfe"
    urlsafe = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    media = Media(kind="file", base64=urlsafe)
    assert media.to_bytes() == raw
    assert media.to_base64() == base64.b64encode(raw).decode()


def test_data_urls_decode() -> None:
    """A data: URL source gives its bytes, base64 or percent-encoded."""
    assert Media(kind="image", url=f"data:image/png;base64,{PNG_B64}").to_bytes() == PNG
    assert Media(kind="file", url="data:text/plain,hello%20world").to_bytes() == b"hello world"


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"kind": "image"}, "exactly one"),
        ({"kind": "image", "url": "u", "data": b"x"}, "exactly one"),
        ({"kind": "hologram", "data": b"x"}, "kind"),
        ({"kind": "image", "base64": "not base64!"}, "base64"),
        ({"kind": "image", "url": "  "}, "url"),
        ({"kind": "image", "data": b"x", "width": -1}, "width"),
        ({"kind": "audio", "data": b"x", "duration": float("nan")}, "duration"),
    ],
)
def test_invalid_media(fields: dict[str, Any], match: str) -> None:
    """Invalid media are ConfigErrors."""
    with pytest.raises(l0.ConfigError, match=match):
        Media(**fields)


def test_bad_base64_content_fails_on_decode() -> None:
    """Well-formed characters but a broken length fail when decoded."""
    with pytest.raises(l0.ConfigError, match="invalid base64"):
        Media(kind="file", base64="abcde").to_bytes()


def test_data_event_round_trips_through_json() -> None:
    """A Data event with a Media payload encodes to JSON and back; Media.of reads either."""
    event = to_data_event(
        "image", data=PNG, mime_type="image/png", width=2, height=1, metadata={"source": "test"}
    )
    assert isinstance(event, l0.Data)
    assert event.mime_type == "image/png"
    assert event.metadata == {"source": "test"}
    wire = msgspec.json.encode(event)
    decoded = msgspec.json.decode(wire, type=l0.Data)
    assert isinstance(decoded.payload, dict)
    assert decoded.payload["type"] == "media"
    assert Media.of(decoded) == Media.of(event) == event.payload
    assert Media.of(l0.Data(payload={"type": "media", "kind": "nope"})) is None
    assert Media.of(l0.Data(payload=[1, 2])) is None
    assert Media.of("text") is None


def test_to_data_event_splits_data_urls() -> None:
    """A data: URL becomes a MIME type plus base64 (or bytes) content."""
    event = to_data_event("image", url=f"data:image/png;base64,{PNG_B64}")
    media = Media.of(event)
    assert media is not None
    assert (media.source, media.mime_type, media.to_bytes()) == ("base64", "image/png", PNG)
    plain = Media.of(to_data_event("file", url="data:text/plain,a%2Cb"))
    assert plain is not None
    assert (plain.source, plain.mime_type, plain.data) == ("bytes", "text/plain", b"a,b")


def test_progress_event() -> None:
    """Progress is validated; percent comes from step/total_steps when not given."""
    assert progress_event(step=1, total_steps=4, message="decoding") == l0.Progress(
        percent=25.0, step=1, total_steps=4, message="decoding"
    )
    assert progress_event(percent=50).percent == 50
    for bad in (
        {"percent": 101},
        {"percent": -1},
        {"step": -1},
        {"total_steps": 0},
        {"step": 5, "total_steps": 4},
    ):
        with pytest.raises(l0.ConfigError):
            progress_event(**bad)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- providers


def _media(event: l0.Data | None) -> Media:
    media = Media.of(event)
    assert media is not None
    return media


def test_openai_chat_parts() -> None:
    """image_url (URL or data URL, with detail), input_audio, file parts."""
    remote = from_content_part(
        {"type": "image_url", "image_url": {"url": "https://x/y.png", "detail": "high"}}
    )
    assert remote is not None
    assert _media(remote).url == "https://x/y.png"
    assert remote.metadata == {"detail": "high"}
    inline = _media(
        from_content_part(
            {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG_B64}"}}
        )
    )
    assert (inline.kind, inline.mime_type, inline.to_bytes()) == ("image", "image/png", PNG)
    audio = _media(
        from_content_part({"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}})
    )
    assert (audio.kind, audio.mime_type, audio.base64) == ("audio", "audio/wav", "AAAA")
    file = _media(
        from_content_part({"type": "file", "file": {"file_data": "JVBERg==", "filename": "a.pdf"}})
    )
    assert (file.kind, file.filename, file.to_bytes()) == ("file", "a.pdf", b"%PDF")
    pdf_url = _media(
        from_content_part(
            {"type": "input_file", "file_url": "data:application/pdf;base64,JVBERg=="}
        )
    )
    assert (pdf_url.kind, pdf_url.mime_type) == ("file", "application/pdf")
    assert _media(from_content_part({"type": "input_image", "image_url": "https://i"})).url == (
        "https://i"
    )
    generated = _media(
        from_content_part(
            {"type": "image_generation_call", "result": PNG_B64, "output_format": "webp"}
        )
    )
    assert generated.mime_type == "image/webp"


def test_anthropic_and_gemini_parts() -> None:
    """Anthropic image/document blocks (base64, url) and Gemini inline/file data."""
    image = _media(
        from_content_part(
            {
                "type": "image",
                "source": {"type": "base64", "media_type": "image/jpeg", "data": PNG_B64},
            }
        )
    )
    assert (image.kind, image.mime_type) == ("image", "image/jpeg")
    doc = _media(
        from_content_part({"type": "document", "source": {"type": "url", "url": "https://d.pdf"}})
    )
    assert (doc.kind, doc.url) == ("file", "https://d.pdf")
    video = _media(from_content_part({"inlineData": {"mimeType": "video/mp4", "data": "AAAA"}}))
    assert (video.kind, video.mime_type) == ("video", "video/mp4")
    remote = _media(
        from_content_part({"file_data": {"mime_type": "audio/mp3", "file_uri": "gs://b/a.mp3"}})
    )
    assert (remote.kind, remote.url) == ("audio", "gs://b/a.mp3")


def test_parts_that_are_not_media() -> None:
    """Text and unknown parts are not media: None."""
    assert from_content_part({"type": "text", "text": "hi"}) is None
    assert from_content_part({"type": "tool_use", "name": "x"}) is None
    assert from_content_part("plain string") is None


@pytest.mark.parametrize(
    "part",
    [
        {"type": "image_url", "image_url": {}},
        {"type": "image_url", "image_url": {"url": 42}},
        {"type": "input_audio", "input_audio": {"data": "not base64!", "format": "wav"}},
        {"type": "image", "source": {"type": "file", "file_id": "f"}},
        {"type": "file", "file": {"file_id": "file-123"}},
        {"inline_data": {"mime_type": "image/png"}},
    ],
)
def test_malformed_media_parts_are_invalid_stream(part: dict[str, Any]) -> None:
    """A part that claims to be media but is malformed is l0.InvalidStream."""
    with pytest.raises(l0.InvalidStream):
        from_content_part(part)


def test_openai_image_items() -> None:
    """Images API items (dicts or SDK objects): b64_json or url, revised_prompt kept."""
    item = {"b64_json": PNG_B64, "revised_prompt": "a cat, watercolor"}
    event = from_openai_image(item)
    assert _media(event).to_bytes() == PNG
    assert event.metadata == {"revised_prompt": "a cat, watercolor"}
    sdk_object = types.SimpleNamespace(b64_json=None, url="https://img", revised_prompt=None)
    by_url = from_openai_image(sdk_object)
    assert _media(by_url).url == "https://img"
    assert by_url.metadata is None
    with pytest.raises(l0.InvalidStream, match="no content"):
        from_openai_image({})


def test_openai_audio_deltas() -> None:
    """A transcript piece is a Token; an audio piece a Data event with id/expiry metadata."""
    events = from_openai_audio_delta(
        {"id": "a1", "data": "AAAA", "transcript": "Hel", "expires_at": 99}
    )
    assert events[0] == l0.Token(value="Hel")
    assert isinstance(events[1], l0.Data)
    assert events[1].metadata == {"id": "a1", "expires_at": 99}
    assert _media(events[1]).mime_type == "audio/pcm"
    assert from_openai_audio_delta({"transcript": ""}) == []
    with pytest.raises(l0.InvalidStream, match="transcript"):
        from_openai_audio_delta({"transcript": 3})


# --------------------------------------------------------------------------- end to end


async def test_state_keeps_data_and_the_last_progress() -> None:
    """Data events (objects or dicts) stay in state.data in order; state.progress is the last
    Progress; the consumer sees them all."""
    image = to_data_event("image", data=PNG, mime_type="image/png")
    steps = [
        progress_event(step=1, total_steps=3),
        "Here is ",
        image,
        progress_event(step=2, total_steps=3, message="rendering"),
        {"type": "data", "payload": {"type": "media", "kind": "audio", "url": "https://a"}},
        "your picture.",
        {"type": "progress", "percent": 100.0},
    ]
    stream = l0.run(Script(steps))
    events = await collect(stream)
    assert [type(e).__name__ for e in events] == [
        "Progress",
        "Token",
        "Data",
        "Progress",
        "Data",
        "Token",
        "Progress",
        "Complete",
    ]
    state = stream.state
    assert state.content == "Here is your picture."
    assert [_media(d).kind for d in state.data] == ["image", "audio"]
    assert state.data[0] is image
    assert state.progress == l0.Progress(percent=100.0)


async def test_a_media_only_response_is_output() -> None:
    """A stream of only data events completes: data counts as output (no ZeroOutput)."""
    stream = l0.run(Script([to_data_event("image", url="https://x")]), retry=None)
    assert await stream.read() == ""
    assert len(stream.state.data) == 1


async def test_a_retry_discards_the_failed_attempts_data(zero_backoff: None) -> None:
    """Data from a failed attempt does not leak into the final state."""
    first = to_data_event("image", url="https://first")
    second = to_data_event("image", url="https://second")
    script = Script([first, "partial", Raise(ConnectionResetError("drop"))], [second, "done"])
    stream = l0.run(script)
    events = await collect(stream)
    assert any(isinstance(e, l0.Reset) for e in events)
    assert [_media(d).url for d in stream.state.data] == ["https://second"]


class _PartsAdapter(Adapter):
    """A provider whose stream yields lists of content parts."""

    name = "test-parts"

    def detect(self, obj: object) -> bool:
        return isinstance(obj, _PartsStream)

    def convert(self, item: Any) -> Chunk | Sequence[Chunk] | None:
        chunks: list[Chunk] = []
        for part in item:
            if part.get("type") == "text":
                chunks.append(part["text"])
            elif part.get("type") == "done":
                chunks.append(Finish())
            else:
                event = from_content_part(part)
                if event is not None:
                    chunks.append(event)
        return chunks


class _PartsStream:
    def __init__(self, items: list[list[dict[str, Any]]]) -> None:
        self.items = items

    async def _gen(self) -> AsyncIterator[list[dict[str, Any]]]:
        for item in self.items:
            yield item

    def __aiter__(self) -> AsyncIterator[list[dict[str, Any]]]:
        return self._gen()


async def test_an_adapter_turns_provider_parts_into_events() -> None:
    """An adapter built on from_content_part streams provider parts as l0 events."""
    items = [
        [{"type": "text", "text": "A chart: "}],
        [{"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG_B64}"}}],
        [{"type": "text", "text": "done."}, {"type": "done"}],
    ]
    stream = l0.run(lambda: _PartsStream(items), adapter=_PartsAdapter())
    events = await collect(stream)
    assert [type(e).__name__ for e in events] == ["Token", "Data", "Token", "Complete"]
    assert stream.state.content == "A chart: done."
    assert _media(stream.state.data[0]).to_bytes() == PNG


async def test_a_malformed_part_fails_the_attempt() -> None:
    """InvalidStream from a converter fails the stream like any adapter error."""
    items = [[{"type": "image_url", "image_url": {}}]]
    stream = l0.run(lambda: _PartsStream(items), adapter=_PartsAdapter(), retry=None)
    with pytest.raises(l0.L0Error):
        await stream.read()
