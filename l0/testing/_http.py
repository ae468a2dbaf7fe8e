"""A small sans-I/O HTTP/1.1 request parser and response serialiser for the test server.

Only what an HTTP client library sends to an OpenAI-compatible endpoint is supported: a request
line, header fields and a ``Content-Length`` body; several requests may follow one another on a
keep-alive connection. Anything else is rejected with :class:`BadRequest`, which carries the
status to answer with (400 for malformed requests, 413/431 for oversized ones, 501 for a
chunked request body, 505 for an HTTP version other than 1.0/1.1).
"""

from __future__ import annotations

import http
import re
from collections.abc import Iterable

import attrs

__all__ = [
    "LAST_CHUNK",
    "BadRequest",
    "Request",
    "RequestParser",
    "encode_chunk",
    "response_head",
]

_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_VERSION = re.compile(rb"HTTP/(\d)\.(\d)")
_FIELD_VALUE = re.compile(rb"[\t\x20-\x7e\x80-\xff]*")
_DIGITS = re.compile(rb"[0-9]+")

LAST_CHUNK = b"0\r\n\r\n"
"""The last chunk of a chunked body (no trailers)."""


class BadRequest(Exception):
    """The bytes received are not a request this server accepts; answer ``status`` and close."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@attrs.frozen(kw_only=True)
class Request:
    """One parsed HTTP request: ``headers`` keeps the order received, names in lower case."""

    method: str
    target: str
    version: str
    headers: tuple[tuple[str, str], ...]
    body: bytes

    @property
    def path(self) -> str:
        """The target without its query string."""
        return self.target.partition("?")[0]

    def header(self, name: str) -> str | None:
        """The value of header ``name`` (case-insensitive), repeated values joined by ``", "``."""
        name = name.lower()
        values = [value for key, value in self.headers if key == name]
        return ", ".join(values) if values else None

    @property
    def header_map(self) -> dict[str, str]:
        """The headers as a dict (lower-case names, repeated values joined)."""
        merged: dict[str, str] = {}
        for key, value in self.headers:
            merged[key] = f"{merged[key]}, {value}" if key in merged else value
        return merged

    @property
    def keep_alive(self) -> bool:
        """Whether the client lets the connection stay open after the response."""
        tokens = {t.strip().lower() for t in (self.header("connection") or "").split(",")}
        if self.version == "HTTP/1.0":
            return "keep-alive" in tokens
        return "close" not in tokens


class RequestParser:
    """Incremental parser: :meth:`feed` it bytes, take requests with :meth:`next_request`."""

    def __init__(self, *, max_head: int = 64 * 1024, max_body: int = 16 * 1024 * 1024) -> None:
        self._buffer = bytearray()
        self._max_head = max_head
        self._max_body = max_body

    @property
    def buffered(self) -> int:
        """How many received bytes are not yet part of a returned request."""
        return len(self._buffer)

    def feed(self, data: bytes) -> None:
        """Add received bytes."""
        self._buffer += data

    def next_request(self) -> Request | None:
        """The next complete request, or ``None`` if more bytes are needed.

        Raises :class:`BadRequest` if the buffered bytes cannot start a valid request.
        """
        # Tolerate empty lines between requests (RFC 9112, section 2.2).
        while self._buffer.startswith(b"\r\n"):
            del self._buffer[:2]
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self._buffer) > self._max_head:
                raise BadRequest("request head too large", 431)
            return None
        if end > self._max_head:
            raise BadRequest("request head too large", 431)
        method, target, version, headers = _parse_head(bytes(self._buffer[:end]))
        length = _content_length(headers)
        if length > self._max_body:
            raise BadRequest("request body too large", 413)
        start = end + 4
        if len(self._buffer) < start + length:
            return None
        body = bytes(self._buffer[start : start + length])
        del self._buffer[: start + length]
        return Request(method=method, target=target, version=version, headers=headers, body=body)


def _parse_head(head: bytes) -> tuple[str, str, str, tuple[tuple[str, str], ...]]:
    request_line, *lines = head.split(b"\r\n")
    parts = request_line.split(b" ")
    if len(parts) != 3:
        raise BadRequest("malformed request line")
    method, target, version = parts
    if not _TOKEN.fullmatch(method):
        raise BadRequest("malformed method")
    if not target or any(c <= 0x20 or c == 0x7F for c in target):
        raise BadRequest("malformed request target")
    match = _VERSION.fullmatch(version)
    if match is None:
        raise BadRequest("malformed HTTP version")
    if match.group(1) != b"1":
        raise BadRequest("unsupported HTTP version", 505)
    headers: list[tuple[str, str]] = []
    for line in lines:
        if line[:1] in {b" ", b"\t"}:
            raise BadRequest("obsolete line folding in header")
        name, colon, value = line.partition(b":")
        if not colon or not _TOKEN.fullmatch(name):
            raise BadRequest("malformed header field")
        value = value.strip(b" \t")
        if not _FIELD_VALUE.fullmatch(value):
            raise BadRequest("invalid character in header value")
        headers.append((name.decode("ascii").lower(), value.decode("latin-1")))
    return method.decode("ascii"), target.decode("latin-1"), version.decode("ascii"), tuple(headers)


def _content_length(headers: Iterable[tuple[str, str]]) -> int:
    lengths: set[str] = set()
    for name, value in headers:
        if name == "transfer-encoding":
            raise BadRequest("request bodies with Transfer-Encoding are not supported", 501)
        if name == "content-length":
            lengths.update(v.strip() for v in value.split(","))
    if not lengths:
        return 0
    if len(lengths) > 1:
        raise BadRequest("conflicting Content-Length values")
    (length,) = lengths
    if not _DIGITS.fullmatch(length.encode("latin-1")):
        raise BadRequest("malformed Content-Length")
    return int(length)


def response_head(status: int, headers: Iterable[tuple[str, str]]) -> bytes:
    """The status line and header block of a response, ending with the empty line."""
    reason = http.HTTPStatus(status).phrase
    lines = [f"HTTP/1.1 {status} {reason}"]
    lines.extend(f"{name}: {value}" for name, value in headers)
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def encode_chunk(data: bytes) -> bytes:
    """``data`` as one chunk of a chunked body (must not be empty: that is :data:`LAST_CHUNK`)."""
    return b"%x\r\n%s\r\n" % (len(data), data)
