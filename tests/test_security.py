"""Security: secrets never leak, files are private, stream ids and paths are validated.

* An API key, and the ``Authorization`` header that carries it, never appear in what l0
  produces: errors (message, repr, ``to_json``, metadata, the whole formatted traceback with
  its chained causes), observability events, log records (l0's own and the ``Logging`` sink's,
  content included), recordings, nor the reprs of l0's request objects. Checked through every
  client, over every kind of failure.
* Recordings are private to the user (0600 files, 0700 directories) whatever the umask.
* Stream ids are validated before they become file names: whatever is accepted is a plain
  file name inside the store's directory; ids l0 makes are always accepted.
"""

from __future__ import annotations

import json
import logging
import os
import stat
import tempfile
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

import l0
import l0.monitoring
import l0.record
from l0.adapters import SSERequest, openai_sse
from l0.testing import (
    Drop,
    FakeServer,
    HttpError,
    InBandError,
    Malformed,
    Stall,
    pytest_plugin,
)
from tests._clients import TEXT, Model, has_litellm, has_openai, open_client
from tests._profile import examples

l0_server = pytest_plugin.l0_server  # the plugin's fixture, without the entry point

SECRET = "sk-l0-TOPSECRET-4f3b2a1908c7d6e5"
NEEDLES = (SECRET, SECRET[6:20], "Bearer ")


class Capture(logging.Handler):
    """Every log record, formatted with its traceback and all its extra attributes."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.texts: list[str] = []
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.texts.append(self.format(record))
        self.texts.append(repr(vars(record)))


@pytest.fixture
def logs() -> Iterator[Capture]:
    capture = Capture()
    root = logging.getLogger()
    level = root.level
    root.addHandler(capture)
    root.setLevel(logging.DEBUG)
    try:
        yield capture
    finally:
        root.removeHandler(capture)
        root.setLevel(level)


def error_texts(error: BaseException) -> list[str]:
    """Everything an error can tell: its text, repr, formatted traceback (causes included),
    and for l0 errors their serialisation, metadata and body."""
    texts = [str(error), repr(error), "".join(traceback.format_exception(error))]
    if isinstance(error, l0.L0Error):
        texts.append(json.dumps(error.to_json(), default=repr))
        texts.append(repr(error.metadata))
        texts.append(repr(getattr(error, "body", None)))
        for inner in getattr(error, "errors", ()):
            texts.extend(error_texts(inner))
    return texts


def assert_no_secret(texts: list[str], where: str) -> None:
    for text in texts:
        for needle in NEEDLES:
            assert needle not in text, f"{needle!r} leaked into {where}: {text[:300]!r}"


def _combo(client: str, backend: str) -> Any:
    marks: list[Any] = [pytest.mark.filterwarnings("ignore:Async generator:ResourceWarning")]
    if client in {"openai", "litellm"}:
        marks.append(pytest.mark.skipif(not has_openai(), reason="openai is not installed"))
    if client == "litellm":
        marks.append(pytest.mark.skipif(not has_litellm(), reason="litellm is not installed"))
        marks.append(pytest.mark.filterwarnings("ignore:coroutine .* was never awaited"))
    return pytest.param(client, backend, marks=marks, id=f"{client}-{backend}")


CLIENTS = [
    _combo("httpx", "asyncio"),
    _combo("httpx", "trio"),
    _combo("openai", "asyncio"),
    _combo("openai", "trio"),
    _combo("litellm", "asyncio"),
]

# Attempt by attempt: a rate limit, a server error, an error event, a drop, a malformed line,
# a stall cut by the deadline; then the answer. And a run that ends on a 401.
RECOVERS = {
    (0, 1): [HttpError(status=429, retry_after=0.01)],
    (0, 2): [HttpError(status=500, message=f"upstream failed for key {SECRET[:3]}")],
    (0, 3): [InBandError(after=1)],
    (0, 4): [Drop(after=1)],
    (0, 5): [Malformed(after=1)],
    (0, 6): [Stall(seconds=3600, after=1)],
}
# (every attempt would get the 401: the first one ends the stream, it is not retried)
FAILS = {(0, k): [HttpError(status=401)] for k in range(1, 4)}


@pytest.mark.parametrize(("client", "anyio_backend"), CLIENTS, indirect=["anyio_backend"])
@pytest.mark.parametrize("plan", ["recovers", "fails"])
async def test_the_api_key_never_leaks(
    l0_server: FakeServer, logs: Capture, client: str, plan: str
) -> None:
    """The key travels in the Authorization header of every request; none of what l0 makes
    (errors, events, logs at DEBUG with content, the recording) contains it."""
    events: list[Any] = []
    store = l0.record.MemoryStore()
    sink = l0.monitoring.combine(
        events.append, l0.monitoring.Logging(level=logging.DEBUG, record_content=True)
    )
    model = Model(RECOVERS if plan == "recovers" else FAILS)
    async with open_client(client, l0_server, api_key=SECRET) as make:
        stream = l0.run(
            make(model),
            retry=l0.Retry(attempts=6, max_retries=10, base_delay=0, max_delay=0),
            timeout=l0.Timeout(initial_token=1, inter_token=0.3),
            on_event=sink,
            record=store,
        )
        with anyio.fail_after(30):
            try:
                assert await stream.read() == TEXT
                failure: BaseException | None = None
            except l0.L0Error as exc:
                failure = exc
    # The key really was sent, so the test could have caught a leak.
    chats = [r for r in l0_server.requests if r.path.endswith("/chat/completions")]
    assert all(r.headers["authorization"] == f"Bearer {SECRET}" for r in chats)
    assert (failure is None) == (plan == "recovers")
    # One error per fault (a busy machine may add a deadline or two, nothing else).
    errors = stream.state.errors
    expected = len(RECOVERS) - 1 if plan == "recovers" else 1  # the stall is a timeout
    assert len([e for e in errors if not isinstance(e, l0.StreamTimeout)]) == expected

    texts: list[str] = []
    for error in [*stream.state.errors, *([failure] if failure else [])]:
        texts.extend(error_texts(error))
    assert_no_secret(texts, "errors")
    assert_no_secret([msgspec.json.encode(e).decode() for e in events], "events")
    assert_no_secret([repr(e) for e in events], "event reprs")
    assert_no_secret(logs.texts, "logs")
    assert_no_secret([repr(stream.state)], "the stream's state")
    records = await store.read(stream.stream_id)
    assert records  # it did record
    assert_no_secret([b"".join(records).decode(errors="replace")], "the recording")


def test_request_objects_hide_header_values() -> None:
    """The reprs of l0's request objects name the headers but never show their values."""
    import httpx  # noqa: PLC0415

    client = httpx.AsyncClient()
    headers = {"authorization": f"Bearer {SECRET}", "x-api-key": SECRET}
    request = SSERequest(client=client, url="/v1/chat/completions", json={}, headers=headers)
    factory = openai_sse(client, json={"model": "m", "messages": []}, headers=headers)
    for obj in (request, factory, factory(l0.AttemptContext(
            attempt=1, source_index=0, is_retry=False, is_fallback=False))):  # fmt: skip
        assert "authorization" in repr(obj)
        assert_no_secret([repr(obj), str(obj)], type(obj).__name__)


# -- files ---------------------------------------------------------------------------------------


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


async def test_recordings_are_private_whatever_the_umask(
    tmp_path: Path, permissive_umask: None
) -> None:
    """With a umask of 0 (everything world-writable by default), the stores still create
    0700 directories and 0600 files, nested directories included."""
    jsonl = tmp_path / "a" / "b" / "jsonl"
    sqlite = tmp_path / "c" / "d" / "r.db"
    for store in (l0.record.JsonlStore(jsonl), l0.record.SqliteStore(sqlite)):
        async with store:
            stream = l0.run(lambda: ["private ", "words"], record=store)
            assert await stream.read() == "private words"
    for root in (jsonl, sqlite.parent):
        assert stat.S_IMODE(root.stat().st_mode) == 0o700, root
        for path in root.iterdir():
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


# -- stream ids and paths ---------------------------------------------------------------------


TRICKY_IDS = ["..", ".", "../x", "a/b", "a\\b", "a\0b", "~root", " a", "a" * 129, "CON", "a:b"]


@examples(300)
@given(candidate=st.text(max_size=140) | st.sampled_from(TRICKY_IDS))
def test_accepted_stream_ids_are_plain_file_names(candidate: str) -> None:
    """Any string is refused (ConfigError naming stream_id) or is a plain, visible file name
    with no path in it."""
    try:
        accepted = l0.record.check_stream_id(candidate)
    except l0.ConfigError as exc:
        refused = str(exc)
    else:
        refused = ""
    if refused:
        assert "stream_id" in refused
        return
    assert accepted == candidate
    assert 1 <= len(accepted) <= 128
    assert Path(accepted).name == accepted
    assert not accepted.startswith((".", "-", "~"))
    assert not any(c in accepted for c in "/\\\0:")
    assert accepted.isascii()


@examples(25)
@given(ids=st.lists(st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,20}", fullmatch=True),
                    min_size=1, max_size=4, unique=True))  # fmt: skip
async def test_every_file_a_store_writes_is_inside_its_directory(ids: list[str]) -> None:
    """Whatever valid ids are recorded under, the files stay inside the store's directory."""
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp) / "store"
        async with l0.record.JsonlStore(directory) as store:
            for stream_id in ids:
                await store.append(stream_id, [b'{"x": 1}'])
        created = {p.resolve() for p in Path(tmp).rglob("*") if p.is_file()}  # noqa: ASYNC240 - a test's temporary directory
        assert created
        assert all(p.parent == directory.resolve() for p in created)


@pytest.mark.parametrize("bad", ["..", "../../etc/passwd", "a/b", "", ".hidden", "x" * 200])
async def test_stores_refuse_bad_stream_ids(tmp_path: Path, bad: str) -> None:
    """Reading, writing or loading under an invalid id is a ConfigError, and touches nothing."""
    async with l0.record.JsonlStore(tmp_path / "store") as store:
        with pytest.raises(l0.ConfigError, match="stream_id"):
            await store.append(bad, [b"{}"])
        with pytest.raises(l0.ConfigError, match="stream_id"):
            await store.read(bad)
        with pytest.raises(l0.ConfigError, match="stream_id"):
            await l0.record.load(store, bad)
    assert not list(tmp_path.parent.glob("passwd"))
    assert [p.name for p in (tmp_path / "store").glob("*")] == []


async def test_stream_ids_l0_makes_are_valid() -> None:
    """The ids of streams (UUID v7) are always valid store ids."""
    for _ in range(200):
        stream = l0.run(lambda: ["x"])
        assert l0.record.check_stream_id(stream.stream_id) == stream.stream_id
