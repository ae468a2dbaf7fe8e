"""What the test server records: every request, and every connection's lifecycle."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, cast

import attrs

from l0.testing._script import Script

__all__ = ["CloseReason", "ConnectionRecord", "RecordedRequest"]


@attrs.frozen(kw_only=True)
class RecordedRequest:
    """One request the server received.

    ``path`` is the request target as sent (query string included); ``headers`` has lower-case
    names (repeated headers joined with ``", "``); ``json`` is the
    parsed body, or ``None`` if it was empty or not JSON; ``script`` is the script that answered
    it (``None`` for requests that are not chat completions, or that were rejected).
    """

    index: int
    connection: int
    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes
    json: Any
    script: Script | None = None

    @property
    def messages(self) -> list[Any]:
        """The ``messages`` of a chat completion request (``[]`` if there are none)."""
        body: object = self.json
        if not isinstance(body, dict):
            return []
        messages: object = cast("dict[str, Any]", body).get("messages")
        return list(cast("list[Any]", messages)) if isinstance(messages, list) else []


CloseReason = Literal[
    "eof",  # the client closed its side
    "reset",  # the client's side broke (reset, broken pipe)
    "connection-close",  # the request said "Connection: close", or HTTP/1.0
    "bad-request",  # the request was malformed: answered 4xx/5xx and closed
    "drop",  # a Drop fault
    "shutdown",  # the server stopped
]


@attrs.define(kw_only=True)
class ConnectionRecord:
    """One TCP connection, from accept to close.

    ``closed_by`` is ``None`` while it is open, then ``"client"`` or ``"server"``, with the
    ``reason``. ``abandoned`` is true if the client went away while a response was still being
    sent (a consumer that stopped reading mid-stream and closed the response).
    ``requests`` holds the indexes (into :attr:`FakeServer.requests`) of its requests.
    Times are :func:`anyio.current_time` values.
    """

    id: int
    peer: str
    opened_at: float
    closed_at: float | None = None
    closed_by: Literal["client", "server"] | None = None
    reason: CloseReason | None = None
    abandoned: bool = False
    requests: list[int] = attrs.field(factory=list[int])

    @property
    def open(self) -> bool:
        """Whether the socket is still open (``closed_by`` may already say who is closing it)."""
        return self.closed_at is None
