"""A store in one SQLite database file: the embedded default for recordings that must last.

The database runs in WAL mode with a busy timeout, and each append is one ``BEGIN IMMEDIATE``
transaction, so several processes on one machine can record into (and read from) the same
file at once: a transaction either happened whole or not at all, whatever kills a process.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, cast

import anyio.to_thread

from l0._errors import ConfigError
from l0._record._store import StreamInfo, ThreadedStore

__all__ = ["SqliteStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS l0_streams (
    stream_id TEXT PRIMARY KEY,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    records INTEGER NOT NULL DEFAULT 0,
    meta TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS l0_records (
    stream_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (stream_id, seq)
) WITHOUT ROWID;
"""

_NO_STOP = 1 << 62
CLOSE_TIMEOUT = 5.0
"""Seconds closing may wait for a transaction of this store still running in a thread."""


def _create_private(path: Path) -> None:
    """Create the database file readable and writable by its owner only (SQLite gives its WAL
    and shared-memory files the same permissions)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


class SqliteStore(ThreadedStore):
    """Recordings in a SQLite database file (created private to you: mode 0600).

    Safe for several processes (and several streams of one process) on one machine: WAL mode,
    a busy timeout, one transaction per append. Close it when done (``await store.aclose()``
    or ``async with``).

    Args:
        path: the database file (created if missing).
        ttl: seconds after its last append a stream expires (``None``: never).
        clock: the Unix time (for ``created``/``updated`` and the ttl); ``time.time`` by default.
        busy_timeout: seconds to wait for another process's transaction before failing.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        ttl: float | None = None,
        clock: Callable[[], float] = time.time,
        busy_timeout: float = 30.0,
    ) -> None:
        self._conn: sqlite3.Connection | None = None
        self.path: Path = Path(path)
        """The database file."""
        super().__init__(ttl=ttl, clock=clock)
        number = isinstance(busy_timeout, (int, float))  # pyright: ignore[reportUnnecessaryIsInstance]
        if isinstance(busy_timeout, bool) or not number or not busy_timeout >= 0:
            raise ConfigError(
                f"busy_timeout must be a number of seconds >= 0, got {busy_timeout!r}"
            )
        self.busy_timeout: float = float(busy_timeout)
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<l0 SqliteStore {str(self.path)!r}>"

    def __del__(self) -> None:
        conn: sqlite3.Connection | None = getattr(self, "_conn", None)
        if conn is not None:
            warnings.warn(
                f"{self!r} was never closed (await store.aclose())", ResourceWarning, stacklevel=1
            )
            with contextlib.suppress(Exception):
                conn.close()

    # -- blocking parts (run in a worker thread, one at a time) -------------------------

    def _db(self) -> sqlite3.Connection:
        conn = self._conn
        if conn is None:
            _create_private(self.path)
            conn = sqlite3.connect(
                self.path, timeout=self.busy_timeout, isolation_level=None, check_same_thread=False
            )
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.executescript(_SCHEMA)
            except BaseException:
                conn.close()
                raise
            self._conn = conn
        return conn

    def _run(self, fn: Callable[[sqlite3.Connection], Any], *, write: bool = False) -> Any:
        with self._lock:
            self._check_open()
            conn = self._db()
            if not write:
                return fn(conn)
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = fn(conn)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return result

    def _live_row(self, conn: sqlite3.Connection, stream_id: str) -> tuple[Any, ...] | None:
        row = conn.execute(
            "SELECT created, updated, records, meta FROM l0_streams WHERE stream_id = ?",
            (stream_id,),
        ).fetchone()
        if row is None or self._expired(row[1], self._clock()):
            return None
        return cast("tuple[Any, ...]", row)

    def _ensure(self, conn: sqlite3.Connection, stream_id: str, now: float) -> int:
        """The stream's record count, creating it (or restarting an expired one)."""
        row = conn.execute(
            "SELECT updated, records FROM l0_streams WHERE stream_id = ?", (stream_id,)
        ).fetchone()
        if row is not None and not self._expired(row[0], now):
            return int(row[1])
        if row is not None:
            self._delete_rows(conn, stream_id)
        conn.execute(
            "INSERT INTO l0_streams (stream_id, created, updated) VALUES (?, ?, ?)",
            (stream_id, now, now),
        )
        return 0

    def _append_sync(self, stream_id: str, records: Sequence[bytes]) -> None:
        def append(conn: sqlite3.Connection) -> None:
            now = self._clock()
            count = self._ensure(conn, stream_id, now)
            conn.executemany(
                "INSERT INTO l0_records (stream_id, seq, data) VALUES (?, ?, ?)",
                ((stream_id, count + i, bytes(r)) for i, r in enumerate(records)),
            )
            conn.execute(
                "UPDATE l0_streams SET records = ?, updated = ? WHERE stream_id = ?",
                (count + len(records), now, stream_id),
            )

        self._run(append, write=True)

    def _read_sync(self, stream_id: str, start: int, stop: int | None) -> list[bytes]:
        def read(conn: sqlite3.Connection) -> list[bytes]:
            row = self._live_row(conn, stream_id)
            if row is None:
                return []
            count = int(row[2])
            first = start if start >= 0 else max(0, count + start)
            last = _NO_STOP if stop is None else (stop if stop >= 0 else max(0, count + stop))
            rows = conn.execute(
                "SELECT data FROM l0_records WHERE stream_id = ? AND seq >= ? AND seq < ? "
                "ORDER BY seq",
                (stream_id, first, last),
            ).fetchall()
            return [bytes(r[0]) for r in rows]

        return self._run(read)

    def _streams_sync(self) -> list[str]:
        def streams(conn: sqlite3.Connection) -> list[str]:
            rows = conn.execute(
                "SELECT stream_id, updated FROM l0_streams ORDER BY created, stream_id"
            ).fetchall()
            now = self._clock()
            return [str(r[0]) for r in rows if not self._expired(r[1], now)]

        return self._run(streams)

    def _info_sync(self, stream_id: str) -> StreamInfo | None:
        def info(conn: sqlite3.Connection) -> StreamInfo | None:
            row = self._live_row(conn, stream_id)
            if row is None:
                return None
            created, updated, records, meta = row
            return StreamInfo(stream_id=stream_id, records=int(records), created=float(created),
                              updated=float(updated), meta=json.loads(meta))  # fmt: skip

        return self._run(info)

    def _set_meta_sync(self, stream_id: str, meta: Mapping[str, Any]) -> None:
        def set_meta(conn: sqlite3.Connection) -> None:
            now = self._clock()
            self._ensure(conn, stream_id, now)
            (text,) = conn.execute(
                "SELECT meta FROM l0_streams WHERE stream_id = ?", (stream_id,)
            ).fetchone()
            merged = {**json.loads(text), **meta}
            conn.execute(
                "UPDATE l0_streams SET meta = ? WHERE stream_id = ?",
                (json.dumps(merged, default=repr), stream_id),
            )

        self._run(set_meta, write=True)

    @staticmethod
    def _delete_rows(conn: sqlite3.Connection, stream_id: str) -> bool:
        conn.execute("DELETE FROM l0_records WHERE stream_id = ?", (stream_id,))
        return conn.execute("DELETE FROM l0_streams WHERE stream_id = ?", (stream_id,)).rowcount > 0

    def _delete_sync(self, stream_id: str) -> bool:
        return self._run(lambda conn: self._delete_rows(conn, stream_id), write=True)

    def _purge_sync(self) -> int:
        ttl = self.ttl
        if ttl is None:
            return 0

        def purge(conn: sqlite3.Connection) -> int:
            cutoff = self._clock() - ttl
            ids = [r[0] for r in conn.execute(
                "SELECT stream_id FROM l0_streams WHERE updated <= ?", (cutoff,)
            ).fetchall()]  # fmt: skip
            for stream_id in ids:
                self._delete_rows(conn, stream_id)
            return len(ids)

        return self._run(purge, write=True)

    def _close_sync(self) -> None:
        with self._lock:
            conn, self._conn = self._conn, None
            if conn is not None:
                conn.close()

    async def aclose(self) -> None:
        """Close the database connection (idempotent); later use raises
        :class:`~l0.StreamClosed`."""
        self._closed = True
        if self._conn is not None:
            with anyio.move_on_after(CLOSE_TIMEOUT, shield=True):
                await anyio.to_thread.run_sync(self._close_sync)
