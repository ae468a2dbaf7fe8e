"""l0.monitoring.Logging: structured records for the lifecycle, levels, privacy."""

from __future__ import annotations

import logging

import pytest

import l0
from l0.monitoring import Logging
from tests._sources import Raise, Script, collect_until_error, paced

SECRET = "s3cr3t-payload"


def secret_error() -> RuntimeError:
    return RuntimeError(f"provider said {SECRET}")


def by_event(caplog: pytest.LogCaptureFixture, name: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if getattr(r, "l0_event", None) == name]


async def test_lifecycle_records_with_structured_fields(
    caplog: pytest.LogCaptureFixture, zero_backoff: None
) -> None:
    """Start and completion at INFO, the retry and the failed attempt at WARNING, with extras."""
    caplog.set_level(logging.INFO, logger="l0")
    stream = l0.run(
        Script([Raise(l0.NetworkError("reset"))], paced("a", "b")),
        on_event=Logging(),
        context={"request": "r-9"},
    )
    await stream.read()
    (start,) = by_event(caplog, "SESSION_START")
    assert start.levelno == logging.INFO
    assert start.l0_stream_id == stream.stream_id  # type: ignore[attr-defined]
    assert start.l0_context == {"request": "r-9"}  # type: ignore[attr-defined]
    (failed,) = by_event(caplog, "ERROR")
    assert failed.levelno == logging.WARNING
    assert failed.l0_error_code == "NETWORK_ERROR"  # type: ignore[attr-defined]
    assert failed.l0_error_category == "network"  # type: ignore[attr-defined]
    assert failed.l0_failure_type == "network"  # type: ignore[attr-defined]
    assert failed.l0_recovery == "retry"  # type: ignore[attr-defined]
    assert failed.l0_attempt == 1  # type: ignore[attr-defined]
    (retry,) = by_event(caplog, "RETRY_ATTEMPT")
    assert retry.levelno == logging.WARNING
    assert "retry 1" in retry.getMessage()
    (done,) = by_event(caplog, "COMPLETE")
    assert done.levelno == logging.INFO
    assert done.l0_token_count == 2  # type: ignore[attr-defined]
    assert "completed: 2 tokens" in done.getMessage()
    assert not by_event(caplog, "STREAM_INIT")  # DEBUG only


async def test_final_failure_is_an_error_record(caplog: pytest.LogCaptureFixture) -> None:
    """The error that ends a stream is logged at ERROR with its code and category."""
    caplog.set_level(logging.INFO, logger="l0")
    stream = l0.run(Script([Raise(secret_error)]), retry=None, on_event=Logging())
    with pytest.raises(l0.AllStreamsExhausted):
        await stream.read()
    (final,) = [r for r in by_event(caplog, "ERROR") if r.levelno == logging.ERROR]
    assert final.l0_error_code == "STREAM_ERROR"  # type: ignore[attr-defined]
    assert final.l0_error_category == "provider"  # type: ignore[attr-defined]
    assert "failed: STREAM_ERROR" in final.getMessage()


async def test_fallback_and_abort_records(caplog: pytest.LogCaptureFixture) -> None:
    """A fallback is a WARNING naming the source; an abort is logged at the routine level."""
    caplog.set_level(logging.DEBUG, logger="app")
    sink = Logging("app", logging.DEBUG)
    stream = l0.run(
        Script([Raise(secret_error)]),
        fallbacks=[Script(paced("x", "y", "z"))],
        retry=None,
        on_event=sink,
    )
    _, error = await collect_until_error(stream, lambda e: stream.abort())
    assert isinstance(error, l0.StreamAborted)
    (fallback,) = by_event(caplog, "FALLBACK_MODEL_SELECTED")
    assert fallback.levelno == logging.WARNING
    assert fallback.l0_fallback_index == 1  # type: ignore[attr-defined]
    (aborted,) = by_event(caplog, "ABORT_COMPLETED")
    assert aborted.levelno == logging.DEBUG
    assert aborted.name == "app"


async def test_debug_switch_logs_every_event(caplog: pytest.LogCaptureFixture) -> None:
    """With the logger at DEBUG, every event gets a record (fields without content)."""
    caplog.set_level(logging.DEBUG, logger="l0")
    events: list[l0.events.ObservabilityEvent] = []
    sink = l0.monitoring.combine(events.append, Logging())
    await l0.run(Script(paced("a", "b")), on_event=sink).read()
    logged = [getattr(r, "l0_event", None) for r in caplog.records if r.name == "l0"]
    assert logged == [e.event_type.value for e in events]
    (summary,) = by_event(caplog, "SESSION_SUMMARY")
    assert summary.l0_fields["token_count"] == 2  # type: ignore[attr-defined]
    (complete_event,) = by_event(caplog, "COMPLETE")
    assert complete_event.levelno == logging.INFO


async def test_no_content_or_error_text_unless_opted_in(
    caplog: pytest.LogCaptureFixture, zero_backoff: None
) -> None:
    """Output text and error messages stay out of records unless record_content=True."""
    caplog.set_level(logging.DEBUG, logger="l0")
    src = Script([SECRET, Raise(secret_error)], [f"{SECRET} again"])
    await l0.run(src, on_event=Logging()).read()
    dumped = " ".join(f"{r.getMessage()} {vars(r)}" for r in caplog.records)
    assert SECRET not in dumped
    caplog.clear()
    await l0.run(
        Script([Raise(secret_error)], ["ok"]), on_event=Logging(record_content=True)
    ).read()
    (failed,) = by_event(caplog, "ERROR")
    assert SECRET in failed.getMessage()
    assert SECRET in failed.l0_error  # type: ignore[attr-defined]


async def test_nothing_is_formatted_when_the_logger_is_off(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A logger above ERROR gets no records at all."""
    caplog.set_level(logging.CRITICAL, logger="l0")
    stream = l0.run(Script([Raise(secret_error)]), retry=None, on_event=Logging())
    with pytest.raises(l0.AllStreamsExhausted):
        await stream.read()
    assert [r for r in caplog.records if r.name == "l0"] == []
