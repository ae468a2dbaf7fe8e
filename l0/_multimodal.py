"""Multimodal payloads: images, audio, video and files as :class:`l0.Data` events.

A :class:`Media` is the payload: its kind, MIME type, and exactly one source -- a URL, base64
text, or raw bytes -- plus optional facts (file name, pixel size, duration). It travels in
``Data(payload=Media(...), mime_type=...)``, so the runtime keeps it in ``state.data`` like any
other data output, and it encodes to JSON and back with msgspec (bytes as base64).

The ``from_*`` functions are for adapters: they turn a provider's multimodal items (OpenAI,
Anthropic and Gemini content parts, OpenAI image results and audio deltas) into l0 events, and
raise :class:`l0.InvalidStream` for an item that claims to be media but is malformed.
"""

# No "from __future__ import annotations" here: msgspec resolves a Struct's annotations in the
# namespace of its __module__, which l0/__init__.py rewrites to "l0".
import base64 as b64
import binascii
import math
import re
import urllib.parse
from collections.abc import Mapping
from typing import Any, Literal, TypeAlias, cast

import msgspec

from l0._errors import ConfigError, InvalidStream
from l0._events._stream import Data, Progress, Token

__all__ = [
    "Media",
    "MediaKind",
    "from_content_part",
    "from_openai_audio_delta",
    "from_openai_image",
    "progress_event",
    "to_data_event",
]

MediaKind: TypeAlias = Literal["image", "audio", "video", "file"]
"""What a :class:`Media` holds."""

_KINDS: tuple[str, ...] = ("image", "audio", "video", "file")
_BASE64 = re.compile(r"[A-Za-z0-9+/_-]*={0,2}")
_DATA_URL = re.compile(r"data:([^,]*?),", re.IGNORECASE)
_AUDIO_FORMATS: dict[str, str] = {
    "wav": "audio/wav",
    "mp3": "audio/mpeg",
    "flac": "audio/flac",
    "opus": "audio/opus",
    "aac": "audio/aac",
    "pcm16": "audio/pcm",
    "pcm": "audio/pcm",
}


def kind_of(mime_type: str | None) -> MediaKind:
    """The media kind a MIME type suggests (``"file"`` for anything not image/audio/video)."""
    major = (mime_type or "").split("/", 1)[0].strip().lower()
    return cast("MediaKind", major) if major in ("image", "audio", "video") else "file"


class Media(msgspec.Struct, frozen=True, kw_only=True, tag="media", tag_field="type"):
    """An image, audio clip, video or file: the payload of a multimodal :class:`~l0.Data` event.

    Exactly one of ``url``, ``base64`` and ``data`` (raw bytes) is set. ``duration`` is in
    seconds. Construct it directly, or with :func:`to_data_event`.

    .. versionadded:: 0.1
    """

    kind: MediaKind
    mime_type: str | None = None
    url: str | None = None
    base64: str | None = None
    data: bytes | None = None
    filename: str | None = None
    width: int | None = None
    height: int | None = None
    duration: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise ConfigError(f"unknown media kind {self.kind!r}; valid: {', '.join(_KINDS)}")
        given = [n for n in ("url", "base64", "data") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ConfigError(
                f"a Media needs exactly one of url, base64 and data, got {given or 'none'}"
            )
        if self.base64 is not None and not _BASE64.fullmatch(self.base64):
            raise ConfigError("base64 holds characters outside the base64 alphabets")
        if self.url is not None and not self.url.strip():
            raise ConfigError("url is empty")
        for name in ("width", "height"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ConfigError(f"{name} must be >= 0, got {value}")
        if self.duration is not None and not (math.isfinite(self.duration) and self.duration >= 0):
            raise ConfigError(f"duration must be a finite number >= 0, got {self.duration}")

    @property
    def source(self) -> Literal["url", "base64", "bytes"]:
        """Where the content is: ``"url"``, ``"base64"`` or ``"bytes"``."""
        if self.url is not None:
            return "url"
        return "base64" if self.base64 is not None else "bytes"

    def to_bytes(self) -> bytes:
        """The content as bytes (decoding base64 or a ``data:`` URL; other URLs are not
        fetched: ``ConfigError``)."""
        if self.data is not None:
            return self.data
        if self.base64 is not None:
            return _decode_base64(self.base64)
        assert self.url is not None
        parsed = _parse_data_url(self.url)
        if parsed is None:
            raise ConfigError("this Media is a remote URL; l0 does not fetch it")
        return parsed[1]

    def to_base64(self) -> str:
        """The content as standard base64 text."""
        if self.base64 is not None and "-" not in self.base64 and "_" not in self.base64:
            return self.base64
        return b64.b64encode(self.to_bytes()).decode("ascii")

    def data_url(self) -> str:
        """A ``data:`` URL of the content (a URL source is returned as it is)."""
        if self.url is not None:
            return self.url
        return f"data:{self.mime_type or 'application/octet-stream'};base64,{self.to_base64()}"

    def to_event(self, metadata: Mapping[str, Any] | None = None) -> Data:
        """This media as an :class:`l0.Data` event."""
        return Data(payload=self, mime_type=self.mime_type,
                    metadata=dict(metadata) if metadata else None)  # fmt: skip

    @classmethod
    def of(cls, value: object) -> "Media | None":
        """The :class:`Media` in a ``Data`` event, a ``Media``, or its JSON form (a dict with
        ``"type": "media"``, as a decoded event carries it); ``None`` if there is none."""
        if isinstance(value, Data):
            value = value.payload
        if isinstance(value, Media):
            return value
        if isinstance(value, Mapping) and value.get("type") == "media":  # pyright: ignore[reportUnknownMemberType]
            try:
                return msgspec.convert(value, Media)
            except msgspec.ValidationError:
                return None
        return None


def _decode_base64(text: str) -> bytes:
    padded = text + "=" * (-len(text) % 4)
    try:
        if "-" in text or "_" in text:
            return b64.urlsafe_b64decode(padded)
        return b64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ConfigError(f"invalid base64 content: {exc}") from exc


def _parse_data_url(url: str) -> tuple[str | None, bytes] | None:
    """``(mime type, bytes)`` of a ``data:`` URL, ``None`` for any other URL."""
    match = _DATA_URL.match(url)
    if match is None:
        return None
    params = match.group(1).split(";")
    mime = params[0].strip() or None
    payload = url[match.end() :]
    if any(p.strip().lower() == "base64" for p in params[1:]):
        return mime, _decode_base64(payload.strip())
    return mime, urllib.parse.unquote_to_bytes(payload)


def to_data_event(
    kind: MediaKind,
    *,
    url: str | None = None,
    base64: str | None = None,
    data: bytes | None = None,
    mime_type: str | None = None,
    filename: str | None = None,
    width: int | None = None,
    height: int | None = None,
    duration: float | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> Data:
    """An :class:`l0.Data` event holding a :class:`Media` (exactly one of ``url``, ``base64``,
    ``data``). A ``data:`` URL is split into its MIME type and base64 content.

    .. versionadded:: 0.1
    """
    if url is not None and base64 is None and data is None:
        parsed = _DATA_URL.match(url)
        if parsed is not None:
            params = parsed.group(1).split(";")
            mime_type = mime_type or params[0].strip() or None
            content = url[parsed.end() :]
            if any(p.strip().lower() == "base64" for p in params[1:]):
                url, base64 = None, content.strip()
            else:
                url, data = None, urllib.parse.unquote_to_bytes(content)
    media = Media(kind=kind, mime_type=mime_type, url=url, base64=base64, data=data,
                  filename=filename, width=width, height=height, duration=duration)  # fmt: skip
    return media.to_event(metadata)


def progress_event(
    *,
    percent: float | None = None,
    step: int | None = None,
    total_steps: int | None = None,
    message: str | None = None,
) -> Progress:
    """A validated :class:`l0.Progress`; ``percent`` is derived from ``step`` and
    ``total_steps`` when it is not given.

    .. versionadded:: 0.1
    """
    if percent is not None and not (math.isfinite(percent) and 0 <= percent <= 100):
        raise ConfigError(f"percent must be between 0 and 100, got {percent}")
    if step is not None and step < 0:
        raise ConfigError(f"step must be >= 0, got {step}")
    if total_steps is not None and total_steps < 1:
        raise ConfigError(f"total_steps must be >= 1, got {total_steps}")
    if step is not None and total_steps is not None:
        if step > total_steps:
            raise ConfigError(f"step {step} is beyond total_steps {total_steps}")
        if percent is None:
            percent = 100.0 * step / total_steps
    return Progress(percent=percent, step=step, total_steps=total_steps, message=message)


# -- provider shapes ----------------------------------------------------------------------


def _get(obj: Any, key: str) -> Any:
    """``obj[key]`` for mappings, ``obj.key`` for SDK objects, else ``None``."""
    if isinstance(obj, Mapping):
        return cast("Mapping[str, Any]", obj).get(key)
    return getattr(obj, key, None)


def _first(obj: Any, *keys: str) -> Any:
    for key in keys:
        value = _get(obj, key)
        if value is not None:
            return value
    return None


def _media_event(kind: MediaKind | None, *, url: Any = None, base64: Any = None,
                 mime_type: Any = None, filename: Any = None,
                 metadata: Mapping[str, Any] | None = None, what: str) -> Data:  # fmt: skip
    for name, value in (("url", url), ("data", base64), ("mime type", mime_type),
                        ("filename", filename)):  # fmt: skip
        if value is not None and not isinstance(value, str):
            raise InvalidStream(f"{what}: {name} must be a string, got {type(value).__name__}")
    if url is None and base64 is None:
        raise InvalidStream(f"{what} has no content (no url and no data)")
    if kind is None:
        parsed = _DATA_URL.match(url) if url is not None else None
        mime = mime_type or (parsed.group(1).split(";")[0] if parsed else None)
        kind = kind_of(mime)
    try:
        return to_data_event(kind, url=url, base64=base64, mime_type=mime_type,
                             filename=filename, metadata=metadata)  # fmt: skip
    except ConfigError as exc:
        raise InvalidStream(f"{what}: {exc.message}") from exc


def from_content_part(part: Any) -> Data | None:
    """A provider content part as a ``Data`` event; ``None`` for a part that is not media
    (text, tool use...).

    Read: OpenAI chat (``image_url``, ``input_audio``, ``file``), OpenAI Responses
    (``input_image``, ``input_file``, ``image_generation_call``), Anthropic (``image`` and
    ``document`` blocks with a ``base64`` or ``url`` source) and Gemini (``inline_data`` /
    ``file_data``, either spelling).

    .. versionadded:: 0.1
    """
    kind = _get(part, "type")
    if kind == "image_url":
        image = _get(part, "image_url")
        url = image if isinstance(image, str) else _get(image, "url")
        detail = _get(image, "detail") if not isinstance(image, str) else None
        return _media_event("image", url=url, what="an image_url part",
                            metadata={"detail": detail} if detail else None)  # fmt: skip
    if kind == "input_image":
        return _media_event("image", url=_get(part, "image_url"), what="an input_image part")
    if kind == "input_audio":
        audio = _get(part, "input_audio")
        fmt = _get(audio, "format")
        mime = _AUDIO_FORMATS.get(str(fmt).lower(), f"audio/{fmt}") if fmt else None
        return _media_event("audio", base64=_get(audio, "data"), mime_type=mime,
                            what="an input_audio part")  # fmt: skip
    if kind in ("file", "input_file"):
        file = _get(part, "file") if kind == "file" else part
        content = _first(file, "file_data", "file_url")
        is_url = isinstance(content, str) and content.lower().startswith(("data:", "http"))
        return _media_event(None if is_url else "file", url=content if is_url else None,
                            base64=None if is_url else content, filename=_get(file, "filename"),
                            what=f"a {kind} part")  # fmt: skip
    if kind == "image_generation_call":
        fmt = _get(part, "output_format") or "png"
        return _media_event("image", base64=_get(part, "result"), mime_type=f"image/{fmt}",
                            what="an image_generation_call item")  # fmt: skip
    if kind in ("image", "document"):
        source = _get(part, "source")
        source_type = _get(source, "type")
        media_kind: MediaKind = "image" if kind == "image" else "file"
        if source_type == "base64":
            return _media_event(media_kind, base64=_get(source, "data"),
                                mime_type=_get(source, "media_type"),
                                what=f"an Anthropic {kind} block")  # fmt: skip
        if source_type == "url":
            return _media_event(media_kind, url=_get(source, "url"),
                                what=f"an Anthropic {kind} block")  # fmt: skip
        raise InvalidStream(f"an Anthropic {kind} block with an unknown source {source_type!r}")
    inline = _first(part, "inline_data", "inlineData")
    if inline is not None:
        return _media_event(None, base64=_get(inline, "data"),
                            mime_type=_first(inline, "mime_type", "mimeType"),
                            what="a Gemini inline_data part")  # fmt: skip
    file_data = _first(part, "file_data", "fileData")
    if file_data is not None:
        return _media_event(None, url=_first(file_data, "file_uri", "fileUri"),
                            mime_type=_first(file_data, "mime_type", "mimeType"),
                            what="a Gemini file_data part")  # fmt: skip
    return None


def from_openai_image(item: Any, *, mime_type: str = "image/png") -> Data:
    """One item of an OpenAI Images API response (``b64_json`` or ``url``; a dict or the SDK's
    object) as a ``Data`` event; ``revised_prompt`` goes to the metadata.

    .. versionadded:: 0.1
    """
    revised = _get(item, "revised_prompt")
    metadata = {"revised_prompt": revised} if revised else None
    content = _get(item, "b64_json")
    if content is not None:
        return _media_event("image", base64=content, mime_type=mime_type, metadata=metadata,
                            what="an OpenAI image")  # fmt: skip
    return _media_event("image", url=_get(item, "url"), metadata=metadata,
                        what="an OpenAI image")  # fmt: skip


def from_openai_audio_delta(audio: Any, *, mime_type: str = "audio/pcm") -> list[Token | Data]:
    """The ``audio`` field of an OpenAI chat completion delta as events: its ``transcript``
    piece as a :class:`l0.Token` (it is the text output) and its ``data`` piece as a ``Data``
    event (``id`` and ``expires_at`` in the metadata).

    .. versionadded:: 0.1
    """
    events: list[Token | Data] = []
    transcript = _get(audio, "transcript")
    if transcript:
        if not isinstance(transcript, str):
            raise InvalidStream(f"an audio transcript must be a string, got {transcript!r}")
        events.append(Token(value=transcript))
    content = _get(audio, "data")
    if content:
        meta = {k: v for k in ("id", "expires_at") if (v := _get(audio, k)) is not None}
        event = _media_event("audio", base64=content, mime_type=mime_type, metadata=meta or None,
                             what="an OpenAI audio delta")  # fmt: skip
        events.append(event)
    return events
