"""The recording stores: one protocol, three backends; crash safety and private files."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

import l0
from l0._record._recorder import BATCH
from l0.record import JsonlStore, MemoryStore, SqliteStore, Store, check_stream_id, load

KINDS = ["memory", "jsonl", "sqlite"]


class FakeClock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def make(kind: str, tmp_path: Path, **options: Any) -> Any:
    if kind == "memory":
        return MemoryStore(**options)
    if kind == "jsonl":
        return JsonlStore(tmp_path / "recordings", **options)
    return SqliteStore(tmp_path / "recordings.db", **options)


@pytest.fixture(params=KINDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Any]:
    async with make(request.param, tmp_path) as opened:
        yield opened


def records(*values: int) -> list[bytes]:
    return [json.dumps({"i": v}).encode() for v in values]


async def test_append_and_read_ranges(store: Any) -> None:
    """Appends accumulate in order; read takes a [start, stop) range; unknown streams are
    empty."""
    assert isinstance(store, Store)
    await store.append("s1", records(0, 1, 2))
    await store.append("s1", records(3))
    assert await store.read("s1") == records(0, 1, 2, 3)
    assert await store.read("s1", 1, 3) == records(1, 2)
    assert await store.read("s1", 2) == records(2, 3)
    assert await store.read("nobody") == []
    assert await store.info("nobody") is None


async def test_streams_info_metadata_and_delete(store: Any) -> None:
    await store.append("first", records(0))
    await store.append("second", records(0, 1))
    await store.set_meta("second", {"status": "recording", "seed": 7})
    await store.set_meta("second", {"status": "completed"})
    assert await store.streams() == ["first", "second"]
    info = await store.info("second")
    assert info is not None
    assert (info.stream_id, info.records) == ("second", 2)
    assert info.meta == {"status": "completed", "seed": 7}
    assert info.created <= info.updated
    assert await store.delete("first") is True
    assert await store.delete("first") is False
    assert await store.streams() == ["second"]


@pytest.mark.parametrize("kind", KINDS)
async def test_ttl_hides_and_purges_old_streams(kind: str, tmp_path: Path) -> None:
    clock = FakeClock()
    async with make(kind, tmp_path, ttl=60, clock=clock) as store:
        await store.append("old", records(0))
        clock.now += 30
        await store.append("young", records(0))
        clock.now += 40  # "old" was last appended 70 s ago, "young" 40 s ago
        if kind == "jsonl":  # file times are the OS's: age the file itself
            path = tmp_path / "recordings" / "old.jsonl"
            os.utime(path, (clock.now - 70, clock.now - 70))
            os.utime(path.with_name("young.jsonl"), (clock.now - 40, clock.now - 40))
        assert await store.streams() == ["young"]
        assert await store.read("old") == []
        assert await store.info("old") is None
        assert await store.purge() == 1
        assert await store.read("young") == records(0)
        assert await store.purge() == 0


@pytest.mark.parametrize("kind", KINDS)
async def test_bad_arguments_are_refused(kind: str, tmp_path: Path) -> None:
    async with make(kind, tmp_path) as store:
        for bad in ["", "../escape", "a/b", "a\\b", ".hidden", "x" * 129, "nul\x00", 7]:
            with pytest.raises(l0.ConfigError, match="stream_id"):
                await store.append(bad, records(0))
            with pytest.raises(l0.ConfigError, match="stream_id"):
                await store.read(bad)
    with pytest.raises(l0.StreamClosed):
        await store.read("s")
    await store.aclose()  # idempotent
    with pytest.raises(l0.ConfigError, match="ttl"):
        make(kind, tmp_path, ttl=0)
    with pytest.raises(l0.ConfigError, match="clock"):
        make(kind, tmp_path, clock=5)


def test_stream_ids() -> None:
    assert check_stream_id("01a2-b_c.d") == "01a2-b_c.d"
    with pytest.raises(l0.ConfigError):
        check_stream_id("..")
    with pytest.raises(l0.ConfigError, match="fsync"):
        JsonlStore("x", fsync="yes")  # type: ignore[arg-type]
    with pytest.raises(l0.ConfigError, match="busy_timeout"):
        SqliteStore("x.db", busy_timeout=-1)


async def test_files_are_private(tmp_path: Path) -> None:
    """Directories and files the stores create are the user's alone."""
    async with JsonlStore(tmp_path / "dir", fsync=True) as store:
        await store.append("s", records(0))
        await store.set_meta("s", {"status": "x"})
    assert stat.S_IMODE((tmp_path / "dir").stat().st_mode) == 0o700
    for path in (tmp_path / "dir").iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    async with SqliteStore(tmp_path / "db" / "r.db") as store:
        await store.append("s", records(0))
    for path in (tmp_path / "db").iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


async def test_jsonl_skips_and_repairs_a_partial_last_line(tmp_path: Path) -> None:
    """What a crash mid-write leaves (a line without its end) is never read, and the next
    append cuts it off before writing."""
    async with JsonlStore(tmp_path) as store:
        await store.append("s", records(0, 1))
        with (tmp_path / "s.jsonl").open("ab") as file:
            file.write(b'{"i": 2, "cut sho')
        assert await store.read("s") == records(0, 1)
        info = await store.info("s")
        assert info is not None
        assert info.records == 2
        await store.append("s", records(3))
        assert await store.read("s") == records(0, 1, 3)
        assert (tmp_path / "s.jsonl").read_bytes().endswith(b'{"i": 3}\n')
        with pytest.raises(l0.ConfigError, match="newline"):
            await store.append("s", [b"two\nlines"])


# --- processes -----------------------------------------------------------------------------

WRITER = """
import sys, anyio
from l0.record import JsonlStore, SqliteStore

kind, path, stream_id, batches = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
pad = "x" * 500

async def main():
    store = JsonlStore(path) if kind == "jsonl" else SqliteStore(path)
    i = 0
    for _ in range(batches):
        await store.append(stream_id, [('{"i": %d, "pad": "%s"}' % (i + j, pad)).encode()
                                       for j in range(20)])
        i += 20
        if i == 20:
            print("started", flush=True)
        await anyio.sleep(0.001)
    await store.aclose()

anyio.run(main)
"""


def _writer(
    kind: str, path: Path, stream_id: str, batches: int, *, watch: bool
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, kind, str(path), stream_id, str(batches)],
        stdout=subprocess.PIPE if watch else subprocess.DEVNULL,
        text=True,
    )


def _read(make_store: Callable[[], Any], stream_id: str) -> list[int]:
    async def main() -> list[bytes]:
        async with make_store() as store:
            return await store.read(stream_id)

    return [json.loads(line)["i"] for line in anyio.run(main)]


@pytest.mark.parametrize("kind", ["jsonl", "sqlite"])
def test_a_writer_killed_mid_write_loses_nothing_it_finished(kind: str, tmp_path: Path) -> None:
    """SIGKILL while a process appends (to one store, next to another process that keeps
    writing): every record read back is whole, in order, with no gap; the other writer's
    records are all there; the store still takes appends afterwards."""
    path = tmp_path / ("dir" if kind == "jsonl" else "r.db")
    victim = _writer(kind, path, "victim", 10_000, watch=True)
    survivor = _writer(kind, path, "survivor", 25, watch=False)
    assert victim.stdout is not None
    with victim.stdout:
        assert victim.stdout.readline().strip() == "started"
        time.sleep(0.2)
        victim.send_signal(signal.SIGKILL)
        victim.wait()
    assert victim.returncode == -signal.SIGKILL
    assert survivor.wait(timeout=60) == 0

    def make_store() -> Any:
        return JsonlStore(path) if kind == "jsonl" else SqliteStore(path)

    got = _read(make_store, "victim")
    assert len(got) >= 20
    assert got == list(range(len(got)))
    assert _read(make_store, "survivor") == list(range(25 * 20))

    async def append_after() -> None:
        async with make_store() as store:
            await store.append("victim", [b'{"i": -1}'])

    anyio.run(append_after)
    assert _read(make_store, "victim") == [*range(len(got)), -1]
    if kind == "sqlite":
        with sqlite3.connect(path) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)


# --- recording into every store ------------------------------------------------------------


async def _words() -> AsyncIterator[str]:
    for word in ["Stored ", "and ", "replayed."]:
        yield word


async def test_streams_record_into_every_store(store: Any) -> None:
    """A recorded stream reads back from each store, with its metadata, and re-executes."""
    stream = l0.run(_words, record=store)
    assert await stream.read() == "Stored and replayed."
    info = await store.info(stream.stream_id)
    assert info is not None
    assert info.meta["status"] == "completed"
    assert info.meta["seed"] == stream.seed
    recording = await load(store, stream.stream_id)
    assert recording.content == "Stored and replayed."
    assert info.records == len(recording.records)
    replay = await recording.reexecute()
    assert l0.record.compare(recording, replay, ignore=()).equal


class CountingStore(MemoryStore):
    def __init__(self) -> None:
        super().__init__()
        self.appends: list[int] = []

    async def append(self, stream_id: str, records: Any) -> None:
        self.appends.append(len(records))
        await super().append(stream_id, records)


async def test_records_go_to_the_store_in_batches() -> None:
    """Records are appended at boundaries and every few hundred records, never per token."""
    store = CountingStore()

    async def many() -> AsyncIterator[str]:
        for i in range(2000):
            yield f"t{i} "

    stream = l0.run(many, record=store)
    await stream.read()
    total = sum(store.appends)
    assert total == len(await store.read(stream.stream_id)) > 2000
    assert 8 <= len(store.appends) <= 20
    assert max(store.appends) <= BATCH + 50


class BrokenStore(MemoryStore):
    async def append(self, stream_id: str, records: Any) -> None:
        raise OSError("disk full")


async def test_a_failing_store_does_not_fail_the_stream(caplog: pytest.LogCaptureFixture) -> None:
    stream = l0.run(_words, record=BrokenStore())
    assert await stream.read() == "Stored and replayed."
    assert "recording stream" in caplog.text
    assert "disk full" in caplog.text


async def test_record_must_be_a_store() -> None:
    with pytest.raises(l0.ConfigError, match="record must be"):
        l0.run(_words, record="recordings.db")  # type: ignore[arg-type]


async def test_load_errors(tmp_path: Path) -> None:
    store = MemoryStore()
    with pytest.raises(l0.ConfigError, match="no recording"):
        await load(store, "missing")
    await store.append("junk", [b'{"not": "a record"}'])
    with pytest.raises(l0.ConfigError, match="not an l0 recording record"):
        await load(store, "junk")
    await store.append("future", [b'{"k": "start", "v": 99, "now": 0.0}'])
    with pytest.raises(l0.ConfigError, match="schema version 99"):
        await load(store, "future")
    await store.append("headless", [b'{"k": "start", "v": 1, "now": 0.0}'])
    with pytest.raises(l0.ConfigError, match="header"):
        await load(store, "headless")


class SlowFirstAppend(MemoryStore):
    """A store whose first append takes long (a slow network)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    async def append(self, stream_id: str, records: Any) -> None:
        self.calls += 1
        if self.calls == 1:
            await anyio.sleep(10)
        await super().append(stream_id, records)


async def test_a_cancelled_append_is_made_again_in_the_final_flush() -> None:
    """Cancelled while the store was appending: the batch is kept and appended (once) by the
    shielded final flush; the recording is whole and re-executes."""
    store = SlowFirstAppend()
    stream = l0.run(_words, record=store)
    with anyio.move_on_after(0.05):
        await stream.read()
    recording = await load(store, stream.stream_id)
    assert recording.status == "interrupted"
    assert [type(r).__name__ for r in recording.records][:2] == ["Header", "Start"]
    assert l0.record.compare(recording, await recording.reexecute(), ignore=()).equal
