"""An incremental Server-Sent Events parser (sans-I/O: bytes in, events out).

It follows the WHATWG "event stream interpretation": UTF-8 (invalid bytes become U+FFFD), one
optional byte order mark at the very start, lines ended by CRLF, LF or CR, ``field: value``
lines, ``:`` comments, and an event dispatched at each blank line. Bytes may arrive in any
chunking (a multi-byte character or a CRLF split across two chunks included): the events are
the same. The work is linear in the input, and memory is bounded: a line longer than
``max_line_length`` characters, or an event whose data grows past ``max_event_size``, raises
:class:`~l0.adapters.StreamProtocolError` instead of growing without end.
"""

from __future__ import annotations

import codecs

import msgspec

from l0._errors import ConfigError
from l0.adapters._errors import StreamProtocolError

__all__ = [
    "DEFAULT_MAX_EVENT_SIZE",
    "DEFAULT_MAX_LINE_LENGTH",
    "SSEComment",
    "SSEParser",
    "ServerSentEvent",
    "check_limit",
]

DEFAULT_MAX_LINE_LENGTH = 4 * 1024 * 1024
"""Longest line (in characters) the parser buffers by default."""

DEFAULT_MAX_EVENT_SIZE = 16 * 1024 * 1024
"""Largest event data (in characters) the parser buffers by default."""


def check_limit(name: str, value: object) -> None:
    """Raise :class:`~l0.ConfigError` naming ``name`` unless ``value`` is an int >= 1."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{name} must be an int >= 1, got {value!r}")


class ServerSentEvent(msgspec.Struct, frozen=True, kw_only=True):
    """One dispatched event.

    ``data`` is its ``data:`` lines joined with ``"\\n"``; ``event`` its type (``"message"``
    unless an ``event:`` line said otherwise); ``id`` the last event id seen so far in the
    stream (``""`` if none); ``retry`` the reconnection time in milliseconds if the event's
    block set one.

    .. versionadded:: 0.1
    """

    data: str
    event: str = "message"
    id: str = ""
    retry: int | None = None


class SSEComment(msgspec.Struct, frozen=True, kw_only=True):
    """A comment line (``: keep-alive``): proof that the connection lives, never content.

    .. versionadded:: 0.1
    """

    text: str


class SSEParser:
    """Feed it bytes as they arrive; it returns the events (and comments) they complete.

    ::

        parser = SSEParser()
        for item in parser.feed(chunk):
            if type(item) is ServerSentEvent:
                ...

    At the end of the body call :meth:`close`: per the specification an event that was not
    ended by a blank line is discarded (``close`` returns whether there was one). After a
    :class:`~l0.adapters.StreamProtocolError` the parser is broken: every later ``feed``
    raises it again.

    .. versionadded:: 0.1
    """

    __slots__ = (
        "_data",
        "_data_size",
        "_decoder",
        "_error",
        "_event",
        "_has_data",
        "_last_id",
        "_line",
        "_line_size",
        "_max_event",
        "_max_line",
        "_pending_cr",
        "_retry",
        "retry",
    )

    def __init__(
        self,
        *,
        max_line_length: int = DEFAULT_MAX_LINE_LENGTH,
        max_event_size: int = DEFAULT_MAX_EVENT_SIZE,
    ) -> None:
        check_limit("SSEParser max_line_length", max_line_length)
        check_limit("SSEParser max_event_size", max_event_size)
        self._max_line = max_line_length
        self._max_event = max_event_size
        # utf-8-sig drops one BOM at the start, even split across chunks; bad bytes -> U+FFFD.
        self._decoder = codecs.getincrementaldecoder("utf-8-sig")(errors="replace")
        self._line: list[str] = []  # pieces of the line being received (joined once, at its end)
        self._line_size = 0
        self._pending_cr = False  # the last text ended with CR: a LF right after it is its pair
        self._data: list[str] = []
        self._data_size = 0
        self._has_data = False
        self._event = ""
        self._last_id = ""
        self._retry: int | None = None
        self._error: StreamProtocolError | None = None
        self.retry: int | None = None
        """The last reconnection time (milliseconds) the stream set, if any."""

    def feed(self, data: bytes) -> list[ServerSentEvent | SSEComment]:
        """The events and comments completed by ``data``.

        If ``data`` breaks a limit after completing some events, those are returned and the
        error is raised by the next call (so the events before an error never depend on how
        the bytes were chunked).
        """
        if self._error is not None:
            raise self._error
        out: list[ServerSentEvent | SSEComment] = []
        try:
            self._feed(data, out)
        except StreamProtocolError:
            if not out:
                raise
        return out

    def _feed(self, data: bytes, out: list[ServerSentEvent | SSEComment]) -> None:
        text = self._decoder.decode(data)
        if not text:
            return
        if self._pending_cr:
            self._pending_cr = False
            if text[0] == "\n":
                text = text[1:]
                if not text:
                    return
        if "\r" in text:
            if text[-1] == "\r":
                self._pending_cr = True
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        start = 0
        find = text.find
        end = find("\n")
        if end < 0:
            self._add_piece(text)
            return
        if self._line:
            self._add_piece(text[:end])
            line = "".join(self._line)
            self._line.clear()
            self._line_size = 0
            self._process(line, out)
            start = end + 1
            end = find("\n", start)
        while end >= 0:
            if end - start > self._max_line:
                self._fail(f"an event-stream line is longer than {self._max_line} characters")
            self._process(text[start:end], out)
            start = end + 1
            end = find("\n", start)
        if start < len(text):
            self._add_piece(text[start:])

    def close(self) -> bool:
        """The body ended. Returns whether an unfinished event (or line) was discarded.

        Raises the :class:`~l0.adapters.StreamProtocolError` that ``feed`` deferred, if any.
        """
        if self._error is not None:
            raise self._error
        rest = self._decoder.decode(b"", final=True)
        unfinished = bool(rest) or bool(self._line) or self._has_data or bool(self._event)
        self._line.clear()
        self._line_size = 0
        self._reset_event()
        return unfinished

    # -- internals ------------------------------------------------------------------------------

    def _fail(self, message: str) -> None:
        self._error = StreamProtocolError(message)
        self._line.clear()
        self._data.clear()
        raise self._error

    def _add_piece(self, piece: str) -> None:
        self._line_size += len(piece)
        if self._line_size > self._max_line:
            self._fail(f"an event-stream line is longer than {self._max_line} characters")
        self._line.append(piece)

    def _reset_event(self) -> None:
        self._data.clear()
        self._data_size = 0
        self._has_data = False
        self._event = ""
        self._retry = None

    def _process(self, line: str, out: list[ServerSentEvent | SSEComment]) -> None:
        if not line:
            if self._has_data:
                out.append(
                    ServerSentEvent(
                        data="\n".join(self._data),
                        event=self._event or "message",
                        id=self._last_id,
                        retry=self._retry,
                    )
                )
            self._reset_event()
            return
        colon = line.find(":")
        if colon == 0:
            out.append(SSEComment(text=line[2:] if line[1:2] == " " else line[1:]))
            return
        if colon < 0:
            field, value = line, ""
        else:
            field = line[:colon]
            value = line[colon + 2 :] if line[colon + 1 : colon + 2] == " " else line[colon + 1 :]
        if field == "data":
            self._data_size += len(value) + 1
            if self._data_size > self._max_event:
                self._fail(f"an event's data is larger than {self._max_event} characters")
            self._data.append(value)
            self._has_data = True
        elif field == "event":
            self._event = value
        elif field == "id":
            if "\0" not in value:
                self._last_id = value
        elif field == "retry" and value and value.isascii() and value.isdigit():
            self._retry = self.retry = int(value)
        # Any other field is ignored, as the specification says.
