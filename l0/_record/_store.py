"""The store protocol, stream ids, and the in-memory store.

A store is an append-only log of records per stream id, plus a little metadata per stream.
Records are opaque bytes to it (one JSON object each, without a newline), so a store needs
no knowledge of l0's record format, and one on a network (a Redis list, a PostgreSQL table
keyed by ``(stream_id, seq)``) implements the same seven coroutines.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Any, Protocol, TypeVar, runtime_checkable

import anyio.lowlevel
import anyio.to_thread
import attrs

from l0._errors import ConfigError, StreamClosed

__all__ = ["MemoryStore", "Store", "StoreBase", "StreamInfo", "check_stream_id", "check_ttl"]

_S = TypeVar("_S", bound="StoreBase")

_STREAM_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def check_stream_id(stream_id: object) -> str:
    """``stream_id`` if it is a valid one: 1 to 128 characters of ``A-Z a-z 0-9 . _ -``,
    starting with a letter or digit (so it is a safe file name: no path separators, no
    ``..``, no hidden files). Raises :class:`~l0.ConfigError` otherwise."""
    if not isinstance(stream_id, str) or _STREAM_ID.fullmatch(stream_id) is None:
        raise ConfigError(
            f"stream_id must be 1-128 characters of A-Z a-z 0-9 . _ - starting with a letter "
            f"or digit, got {stream_id!r}"
        )
    return stream_id


def check_ttl(ttl: object) -> float | None:
    """``ttl`` if it is ``None`` or a number of seconds > 0; :class:`~l0.ConfigError` if not."""
    if ttl is None:
        return None
    if isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or not ttl > 0:
        raise ConfigError(f"ttl must be a number of seconds > 0 or None, got {ttl!r}")
    return float(ttl)


@attrs.frozen(kw_only=True)
class StreamInfo:
    """What a store knows about one recorded stream.

    ``records`` is how many records it holds; ``created`` and ``updated`` are Unix times (the
    first and the last append); ``meta`` is what the recorder set with
    :meth:`Store.set_meta` (``status``, ``seed``...).
    """

    stream_id: str
    records: int
    created: float
    updated: float
    meta: Mapping[str, Any] = attrs.field(factory=dict[str, Any])


@runtime_checkable
class Store(Protocol):
    """Where recordings go: an append-only log of records per stream id.

    Every method is a coroutine, so a store may do I/O; the recorder awaits it only at
    attempt and stream boundaries (and every few hundred records), never per token.
    Stream ids are checked with :func:`check_stream_id`. A store with a ``ttl`` hides the
    streams not appended to for that long, and :meth:`purge` deletes them.
    """

    async def append(self, stream_id: str, records: Sequence[bytes]) -> None:
        """Append ``records`` (each one JSON object, no newline) to the stream's log.

        All or nothing: the recorder takes an append that raised (or was cancelled) as one
        that appended nothing; after a cancellation it appends the same records again, in
        its final flush.
        """
        ...

    async def read(self, stream_id: str, start: int = 0, stop: int | None = None) -> list[bytes]:
        """The records ``start`` to ``stop`` (exclusive; ``None``: to the end), in order;
        ``[]`` for a stream the store does not hold."""
        ...

    async def streams(self) -> list[str]:
        """The ids of the streams held (oldest first)."""
        ...

    async def info(self, stream_id: str) -> StreamInfo | None:
        """What the store knows about a stream (``None``: it holds no such stream)."""
        ...

    async def set_meta(self, stream_id: str, meta: Mapping[str, Any]) -> None:
        """Merge ``meta`` (JSON values) into the stream's metadata."""
        ...

    async def delete(self, stream_id: str) -> bool:
        """Delete a stream; ``False`` if there was none."""
        ...

    async def purge(self) -> int:
        """Delete the streams whose ``ttl`` has passed; returns how many."""
        ...

    async def aclose(self) -> None:
        """Release the store's resources (idempotent); later use raises
        :class:`~l0.StreamClosed`."""
        ...


class StoreBase:
    """What the built-in stores share: ``ttl``, the clock, ``async with``, closing."""

    def __init__(self, *, ttl: float | None, clock: Callable[[], float]) -> None:
        if not callable(clock):
            raise ConfigError(f"clock must be a callable returning Unix time, got {clock!r}")
        self.ttl: float | None = check_ttl(ttl)
        """Seconds after its last append a stream expires (``None``: never)."""
        self._clock = clock
        self._closed = False

    def _check_open(self) -> None:
        if self._closed:
            raise StreamClosed(f"the {type(self).__name__} is closed")

    def _expired(self, updated: float, now: float) -> bool:
        return self.ttl is not None and updated + self.ttl <= now

    async def __aenter__(self: _S) -> _S:
        self._check_open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the store (idempotent); later use raises :class:`~l0.StreamClosed`."""
        self._closed = True


class ThreadedStore(StoreBase):
    """A store whose work is blocking I/O: each protocol call runs its ``_*_sync`` method in
    a worker thread (``anyio.to_thread``), after checking the store is open and the id."""

    def _append_sync(self, stream_id: str, records: Sequence[bytes]) -> None:
        raise NotImplementedError

    def _read_sync(self, stream_id: str, start: int, stop: int | None) -> list[bytes]:
        raise NotImplementedError

    def _streams_sync(self) -> list[str]:
        raise NotImplementedError

    def _info_sync(self, stream_id: str) -> StreamInfo | None:
        raise NotImplementedError

    def _set_meta_sync(self, stream_id: str, meta: Mapping[str, Any]) -> None:
        raise NotImplementedError

    def _delete_sync(self, stream_id: str) -> bool:
        raise NotImplementedError

    def _purge_sync(self) -> int:
        raise NotImplementedError

    # -- the protocol -------------------------------------------------------------------

    async def append(self, stream_id: str, records: Sequence[bytes]) -> None:
        """See :meth:`l0.record.Store.append`."""
        self._check_open()
        check_stream_id(stream_id)
        await anyio.to_thread.run_sync(self._append_sync, stream_id, list(records))

    async def read(self, stream_id: str, start: int = 0, stop: int | None = None) -> list[bytes]:
        """See :meth:`l0.record.Store.read`."""
        self._check_open()
        check_stream_id(stream_id)
        return await anyio.to_thread.run_sync(self._read_sync, stream_id, start, stop)

    async def streams(self) -> list[str]:
        """See :meth:`l0.record.Store.streams`."""
        self._check_open()
        return await anyio.to_thread.run_sync(self._streams_sync)

    async def info(self, stream_id: str) -> StreamInfo | None:
        """See :meth:`l0.record.Store.info`."""
        self._check_open()
        check_stream_id(stream_id)
        return await anyio.to_thread.run_sync(self._info_sync, stream_id)

    async def set_meta(self, stream_id: str, meta: Mapping[str, Any]) -> None:
        """See :meth:`l0.record.Store.set_meta`."""
        self._check_open()
        check_stream_id(stream_id)
        await anyio.to_thread.run_sync(self._set_meta_sync, stream_id, dict(meta))

    async def delete(self, stream_id: str) -> bool:
        """See :meth:`l0.record.Store.delete`."""
        self._check_open()
        check_stream_id(stream_id)
        return await anyio.to_thread.run_sync(self._delete_sync, stream_id)

    async def purge(self) -> int:
        """See :meth:`l0.record.Store.purge`."""
        self._check_open()
        return await anyio.to_thread.run_sync(self._purge_sync)


@attrs.define(eq=False)
class _Log:
    created: float
    updated: float
    records: list[bytes] = attrs.field(factory=list[bytes])
    meta: dict[str, Any] = attrs.field(factory=dict[str, Any])


class MemoryStore(StoreBase):
    """Records kept in this process's memory: for tests, and for replaying a stream you just ran.

    Args:
        ttl: seconds after its last append a stream expires (``None``: never).
        clock: the Unix time (for ``created``/``updated`` and the ttl); ``time.time`` by default.
    """

    def __init__(self, *, ttl: float | None = None, clock: Callable[[], float] = time.time) -> None:
        super().__init__(ttl=ttl, clock=clock)
        self._logs: dict[str, _Log] = {}

    def __repr__(self) -> str:
        return f"<l0 MemoryStore, {len(self._logs)} streams>"

    def _live(self, stream_id: str) -> _Log | None:
        log = self._logs.get(check_stream_id(stream_id))
        if log is None or self._expired(log.updated, self._clock()):
            return None
        return log

    async def append(self, stream_id: str, records: Sequence[bytes]) -> None:
        """See :meth:`Store.append`."""
        self._check_open()
        check_stream_id(stream_id)
        await anyio.lowlevel.checkpoint()  # cancelled here: nothing was appended
        now = self._clock()
        log = self._logs.get(stream_id)
        if log is None or self._expired(log.updated, now):
            log = self._logs[stream_id] = _Log(created=now, updated=now)
        log.records.extend(bytes(r) for r in records)
        log.updated = now

    async def read(self, stream_id: str, start: int = 0, stop: int | None = None) -> list[bytes]:
        """See :meth:`Store.read`."""
        self._check_open()
        await anyio.lowlevel.checkpoint()
        log = self._live(stream_id)
        return [] if log is None else log.records[start:stop]

    async def streams(self) -> list[str]:
        """See :meth:`Store.streams`."""
        self._check_open()
        await anyio.lowlevel.checkpoint()
        now = self._clock()
        live = [(log.created, sid) for sid, log in self._logs.items()
                if not self._expired(log.updated, now)]  # fmt: skip
        return [sid for _, sid in sorted(live)]

    async def info(self, stream_id: str) -> StreamInfo | None:
        """See :meth:`Store.info`."""
        self._check_open()
        await anyio.lowlevel.checkpoint()
        log = self._live(stream_id)
        if log is None:
            return None
        return StreamInfo(stream_id=stream_id, records=len(log.records), created=log.created,
                          updated=log.updated, meta=dict(log.meta))  # fmt: skip

    async def set_meta(self, stream_id: str, meta: Mapping[str, Any]) -> None:
        """See :meth:`Store.set_meta`."""
        self._check_open()
        check_stream_id(stream_id)
        await anyio.lowlevel.checkpoint()
        now = self._clock()
        log = self._logs.get(stream_id)
        if log is None or self._expired(log.updated, now):
            log = self._logs[stream_id] = _Log(created=now, updated=now)
        log.meta.update(meta)

    async def delete(self, stream_id: str) -> bool:
        """See :meth:`Store.delete`."""
        self._check_open()
        await anyio.lowlevel.checkpoint()
        return self._logs.pop(check_stream_id(stream_id), None) is not None

    async def purge(self) -> int:
        """See :meth:`Store.purge`."""
        self._check_open()
        await anyio.lowlevel.checkpoint()
        now = self._clock()
        expired = [sid for sid, log in self._logs.items() if self._expired(log.updated, now)]
        for sid in expired:
            del self._logs[sid]
        return len(expired)
