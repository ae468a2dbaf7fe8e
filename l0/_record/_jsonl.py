"""A store of JSON Lines files: one append-only file per stream, in one directory.

Crash safety: records are appended whole lines at a time with ``O_APPEND``. A process killed
in the middle of a write leaves at most one partial last line, which readers skip and the next
append to that stream cuts off first; every complete line before it is intact. With
``fsync=True`` each append is flushed to the disk before it returns (and a new file's
directory entry too), so a power loss cannot take records already appended either.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, cast

from l0._errors import ConfigError
from l0._record._store import StreamInfo, ThreadedStore, check_stream_id

__all__ = ["JsonlStore"]

_SUFFIX = ".jsonl"
_META_SUFFIX = ".meta.json"
_FILE_MODE = 0o600
_DIR_MODE = 0o700


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _complete_end(fd: int) -> int:
    """The size of the file up to its last newline (what a crash mid-line left before it)."""
    size = os.fstat(fd).st_size
    if size == 0:
        return 0
    block = 4096
    end = size
    while end > 0:
        begin = max(0, end - block)
        chunk = os.pread(fd, end - begin, begin)
        newline = chunk.rfind(b"\n")
        if newline >= 0:
            return begin + newline + 1
        end = begin
    return 0


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _lines(data: bytes) -> list[bytes]:
    """The complete lines of ``data`` (a partial last line, cut by a crash, is not one)."""
    lines = data.split(b"\n")
    lines.pop()  # after the last newline: empty, or a partial line
    return [line for line in lines if line]


class JsonlStore(ThreadedStore):
    """Recordings as JSON Lines files: ``<directory>/<stream_id>.jsonl``, one record a line.

    The directory is created (private: mode 0700) on the first append, and every file in it
    is created readable and writable by you only (mode 0600). Each stream's metadata sits
    next to it in ``<stream_id>.meta.json``, replaced atomically. Stream ids are checked
    (:func:`~l0.record.check_stream_id`), so one cannot name a file elsewhere.

    Args:
        directory: where the files go.
        fsync: flush each append to the disk before returning (durable across power loss;
            costs a disk flush per batch). Without it, what was appended survives the process
            being killed, not the machine losing power.
        ttl: seconds after its last append a stream expires (``None``: never).
        clock: the Unix time used for the ttl; ``time.time`` by default.

    One process writes a given stream (the one recording it); any number may read.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        fsync: bool = False,
        ttl: float | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(ttl=ttl, clock=clock)
        if not isinstance(fsync, bool):  # pyright: ignore[reportUnnecessaryIsInstance]
            raise ConfigError(f"fsync must be True or False, got {fsync!r}")
        self.directory: Path = Path(directory)
        """Where the files are."""
        self.fsync = fsync
        """Whether each append is flushed to the disk."""

    def __repr__(self) -> str:
        return f"<l0 JsonlStore {str(self.directory)!r}>"

    def _path(self, stream_id: str, suffix: str = _SUFFIX) -> Path:
        return self.directory / f"{check_stream_id(stream_id)}{suffix}"

    # -- blocking parts (run in a worker thread) ----------------------------------------

    def _append_sync(self, stream_id: str, records: Sequence[bytes]) -> None:
        path = self._path(stream_id)
        data = b"".join(bytes(r) + b"\n" for r in records)
        if any(b"\n" in r for r in records):
            raise ConfigError("a record must not contain a newline")
        created = False
        if not self.directory.exists():
            self.directory.mkdir(mode=_DIR_MODE, parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL, _FILE_MODE)
            created = True
        except FileExistsError:
            fd = os.open(path, os.O_RDWR | os.O_APPEND)
        try:
            if not created:
                end = _complete_end(fd)
                if end != os.fstat(fd).st_size:
                    os.ftruncate(fd, end)  # a crash left a partial line: cut it off
            _write_all(fd, data)
            if self.fsync:
                os.fsync(fd)
        finally:
            os.close(fd)
        if created and self.fsync:
            _fsync_dir(self.directory)

    def _expired_file(self, stream_id: str) -> bool:
        try:
            updated = self._path(stream_id).stat().st_mtime
        except FileNotFoundError:
            return False
        return self._expired(updated, self._clock())

    def _read_sync(self, stream_id: str, start: int, stop: int | None) -> list[bytes]:
        path = self._path(stream_id)
        if self._expired_file(stream_id):
            return []
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return []
        return _lines(data)[start:stop]

    def _meta_sync(self, stream_id: str) -> dict[str, Any]:
        try:
            text = self._path(stream_id, _META_SUFFIX).read_text(encoding="utf-8")
            meta = json.loads(text)
        except (FileNotFoundError, ValueError):
            return {}
        return cast("dict[str, Any]", meta) if isinstance(meta, dict) else {}

    def _streams_sync(self) -> list[str]:
        if not self.directory.is_dir():
            return []
        found: list[tuple[float, str]] = []
        now = self._clock()
        for path in self.directory.iterdir():
            name = path.name
            if not name.endswith(_SUFFIX):
                continue
            stream_id = name[: -len(_SUFFIX)]
            try:
                check_stream_id(stream_id)
                stat = path.stat()
            except (ConfigError, FileNotFoundError):
                continue
            if self._expired(stat.st_mtime, now):
                continue
            created = self._meta_sync(stream_id).get("created", stat.st_mtime)
            found.append((float(created), stream_id))
        return [sid for _, sid in sorted(found)]

    def _info_sync(self, stream_id: str) -> StreamInfo | None:
        path = self._path(stream_id)
        try:
            stat = path.stat()
        except FileNotFoundError:
            return None
        if self._expired(stat.st_mtime, self._clock()):
            return None
        meta = self._meta_sync(stream_id)
        created = min(float(meta.pop("created", stat.st_mtime)), stat.st_mtime)
        return StreamInfo(stream_id=stream_id, records=len(_lines(path.read_bytes())),
                          created=created, updated=stat.st_mtime, meta=meta)  # fmt: skip

    def _set_meta_sync(self, stream_id: str, meta: Mapping[str, Any]) -> None:
        path = self._path(stream_id, _META_SUFFIX)
        merged = self._meta_sync(stream_id)
        merged.setdefault("created", self._clock())
        merged.update(meta)
        if not self.directory.exists():
            self.directory.mkdir(mode=_DIR_MODE, parents=True, exist_ok=True)
        temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, _FILE_MODE)
        try:
            _write_all(fd, json.dumps(merged, default=repr).encode())
            if self.fsync:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, path)

    def _delete_sync(self, stream_id: str) -> bool:
        existed = False
        for suffix in (_SUFFIX, _META_SUFFIX):
            with contextlib.suppress(FileNotFoundError):
                self._path(stream_id, suffix).unlink()
                existed = True
        return existed

    def _purge_sync(self) -> int:
        if not self.directory.is_dir() or self.ttl is None:
            return 0
        now = self._clock()
        count = 0
        for path in self.directory.iterdir():
            name = path.name
            if not name.endswith(_SUFFIX):
                continue
            try:
                stream_id = check_stream_id(name[: -len(_SUFFIX)])
                expired = self._expired(path.stat().st_mtime, now)
            except (ConfigError, FileNotFoundError):
                continue
            if expired and self._delete_sync(stream_id):
                count += 1
        return count
