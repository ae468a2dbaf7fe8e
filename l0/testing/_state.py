"""The test server's memory: scripts (registered, queued, default) and what it recorded."""

from __future__ import annotations

import collections
from collections.abc import Callable, Mapping
from typing import Any

import anyio
import msgspec

from l0.testing._http import Request
from l0.testing._records import CloseReason, ConnectionRecord, RecordedRequest
from l0.testing._script import SCRIPT_HEADER, Script

__all__ = ["ScriptLookupError", "ServerState", "as_script"]


class ScriptLookupError(Exception):
    """The request named a script that does not exist, or sent one that is invalid."""


def as_script(script: Script | str) -> Script:
    """A :class:`Script`; a plain string is the text of one."""
    return script if isinstance(script, Script) else Script(text=script)


class ServerState:
    """Scripts and records, shared by the server and its connections (one event loop)."""

    def __init__(self, default: Script, scripts: Mapping[str, Script]) -> None:
        self.default = default
        self.scripts: dict[str, Script] = dict(scripts)
        self.queue: collections.deque[Script] = collections.deque()
        self.requests: list[RecordedRequest] = []
        self.connections: list[ConnectionRecord] = []
        self._changed: anyio.Event | None = None

    # -- scripts --------------------------------------------------------------------------------

    def select(self, request: Request, body: Mapping[str, Any]) -> Script:
        """The script for a chat completion: header, then model name, then queue, then default."""
        named = request.header(SCRIPT_HEADER)
        if named is not None:
            named = named.strip()
            if named.startswith("{"):
                try:
                    return Script.from_json(named)
                except msgspec.ValidationError as exc:
                    raise ScriptLookupError(f"invalid script in {SCRIPT_HEADER}: {exc}") from exc
                except msgspec.DecodeError as exc:
                    raise ScriptLookupError(f"{SCRIPT_HEADER} is not valid JSON: {exc}") from exc
            if named not in self.scripts:
                raise ScriptLookupError(f"no script registered as {named!r} ({SCRIPT_HEADER})")
            return self.scripts[named]
        model = body.get("model")
        if isinstance(model, str) and model in self.scripts:
            return self.scripts[model]
        if self.queue:
            return self.queue.popleft()
        return self.default

    # -- records --------------------------------------------------------------------------------

    def open_connection(self, peer: str) -> ConnectionRecord:
        """Record a new connection."""
        record = ConnectionRecord(
            id=len(self.connections), peer=peer, opened_at=anyio.current_time()
        )
        self.connections.append(record)
        self.notify()
        return record

    @staticmethod
    def mark_closing(record: ConnectionRecord, by: str, reason: CloseReason) -> None:
        """Say who closed ``record`` and why (the first to say it wins)."""
        if record.closed_by is None:
            record.closed_by = "client" if by == "client" else "server"
            record.reason = reason

    def close_connection(self, record: ConnectionRecord) -> None:
        """Record that the socket of ``record`` is closed."""
        self.mark_closing(record, "server", "shutdown")
        record.closed_at = anyio.current_time()
        self.notify()

    def record_request(
        self, connection: ConnectionRecord, request: Request, body: Any, script: Script | None
    ) -> RecordedRequest:
        """Record one received request."""
        recorded = RecordedRequest(
            index=len(self.requests),
            connection=connection.id,
            method=request.method,
            path=request.target,
            headers=request.header_map,
            body=request.body,
            json=body,
            script=script,
        )
        self.requests.append(recorded)
        connection.requests.append(recorded.index)
        self.notify()
        return recorded

    @property
    def open_connections(self) -> int:
        """How many connections are open."""
        return sum(1 for c in self.connections if c.closed_at is None)

    # -- waiting --------------------------------------------------------------------------------

    def notify(self) -> None:
        """Wake every :meth:`wait_until` to check its condition again."""
        if self._changed is not None:
            self._changed.set()
            self._changed = None

    async def wait_until(self, predicate: Callable[[], bool]) -> None:
        """Return once ``predicate()`` is true (checked after every recorded change)."""
        while not predicate():
            if self._changed is None:
                self._changed = anyio.Event()
            await self._changed.wait()
