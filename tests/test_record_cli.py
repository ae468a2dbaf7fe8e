"""``python -m l0 replay``: a recorded stream as a readable timeline."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest

import l0
from l0._record._cli import main
from l0.record import JsonlStore, MemoryStore, SqliteStore, load, timeline
from tests._sources import collect_until_error


async def _flaky() -> AsyncIterator[Any]:
    yield "Half "
    raise ConnectionResetError("peer reset")


async def _good() -> AsyncIterator[Any]:
    for word in ["The ", "whole ", "answer."]:
        yield word


def _record(store: Any) -> str:
    """Record one stream that retries once, with guardrails, and return its id."""

    async def run() -> str:
        async with store:
            calls: list[int] = []

            def factory() -> AsyncIterator[Any]:
                calls.append(1)
                return _flaky() if len(calls) == 1 else _good()

            stream = l0.run(
                factory,
                record=store,
                retry=l0.Retry(base_delay=0),
                guardrails=l0.Guardrails.minimal(),
            )
            await stream.read()
            return stream.stream_id

    return anyio.run(run)


@pytest.mark.parametrize("kind", ["jsonl", "sqlite"])
def test_the_timeline_of_a_recorded_stream(
    kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / ("recordings" if kind == "jsonl" else "recordings.db")
    store = JsonlStore(path) if kind == "jsonl" else SqliteStore(path)
    stream_id = _record(store)
    assert main(["replay", str(path)]) == 0
    listing = capsys.readouterr().out
    assert listing.startswith(stream_id)
    assert "completed" in listing

    assert main([str(path), stream_id]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == f"stream {stream_id}: completed"
    assert "retry: attempts=3" in out
    assert "guardrails: json, zero_output" in out
    assert "→ attempt 1 of source 0" in out
    assert "source failed: NetworkError [NETWORK_ERROR]" in out
    assert "ConnectionResetError('peer reset')" in out
    assert "→ attempt 2 of source 0 (retry)" in out
    assert "← text, 2 chunks (13 chars, until" in out
    assert "· RETRY_ATTEMPT" in out
    assert "streamId" not in out
    assert lines[-1].endswith('■ completed: 3 tokens, "The whole answer."')

    assert main([str(path), stream_id, "--tokens", "-v"]) == 0
    verbose = capsys.readouterr().out
    assert '← text "whole "' in verbose
    assert "guardrails (feed): nothing" in verbose


def test_a_jsonl_file_names_its_stream(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``python -m l0 replay FILE.jsonl``: the file names the stream."""
    from l0.__main__ import main as l0_main  # noqa: PLC0415 - the command line of l0

    stream_id = _record(JsonlStore(tmp_path))
    assert l0_main(["replay", str(tmp_path / f"{stream_id}.jsonl")]) == 0
    assert capsys.readouterr().out.startswith(f"stream {stream_id}: completed")


def test_errors_and_help(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path / "missing")]) == 1
    assert "no such file" in capsys.readouterr().err
    other = tmp_path / "notes.txt"
    other.write_text("hello")
    assert main([str(other), "x"]) == 1
    assert "neither" in capsys.readouterr().err
    assert main([str(tmp_path), "nobody"]) == 1
    assert "no recording of stream 'nobody'" in capsys.readouterr().err
    assert main([str(tmp_path), "../etc"]) == 1
    assert "stream_id" in capsys.readouterr().err
    assert main(["--help"]) == 0
    assert "PATH_OR_DB" in capsys.readouterr().out
    assert main(["--bogus"]) == 2


def test_timeline_of_failures_aborts_and_answers() -> None:
    """Every kind of record has a line: a stream failed by verdicts on its output, with budget
    and breaker answers (verbose); an aborted stream."""

    async def run() -> list[list[str]]:
        store = MemoryStore()

        async def bad() -> AsyncIterator[Any]:
            yield {"type": "progress", "percent": 5}
            for word in ["not ", "json ", "at ", "all, ", "is ", "it? "]:
                yield word
            yield l0.adapters.Finish()

        stream = l0.run(
            bad,
            record=store,
            guardrails=l0.Guardrails.json_only(),
            drift=True,
            check_intervals=l0.CheckIntervals(guardrails=5),
            retry_budget=l0.RetryBudget(),
            circuit_breaker=l0.CircuitBreaker(),
            retry=l0.Retry(base_delay=0, attempts=1),
        )
        with pytest.raises(l0.AllStreamsExhausted):
            await stream.read()
        failed = await load(store, stream.stream_id)

        aborted = l0.run(_good, record=store)
        _, error = await collect_until_error(aborted, lambda _event: aborted.abort())
        assert isinstance(error, l0.StreamAborted)
        return [
            timeline(failed, verbose=True),
            timeline(await load(store, aborted.stream_id)),
        ]

    failed, aborted = anyio.run(run)
    text = "\n".join(failed)
    assert "← progress percent=5.0" in text
    assert "drift (record)" in text
    assert "? guardrails (feed): json (error)" in text
    assert "retry budget: took" in text
    assert "circuit breaker allow: True" in text
    assert "→ attempt stopped by a verdict" in text
    assert "■ failed: AllStreamsExhausted [ALL_STREAMS_EXHAUSTED]" in failed[-1]
    assert "→ abort()" in "\n".join(aborted)
    assert aborted[-1].split("■ ")[1].startswith("aborted: StreamAborted")
