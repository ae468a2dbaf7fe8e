"""How a source's raw exceptions become l0 errors: by type, never by message.

Transport failures are network errors (retried off the ``attempts`` budget), a TLS failure is
a network error that is not retried (a configuration problem), timeouts say so, and anything
else is a ``SourceError``. The original exception is always the ``__cause__``.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable

import anyio
import httpx
import pytest

import l0
import l0.adapters
from l0._engine._classify import classify
from tests._sources import Raise, Script

_REQUEST = httpx.Request("GET", "http://x.invalid")

CASES: list[tuple[str, Callable[[], Exception], type[l0.L0Error], bool, str]] = [
    ("reset", lambda: ConnectionResetError("reset"), l0.NetworkError, True, "network_error"),
    ("refused", ConnectionRefusedError, l0.NetworkError, True, "network_error"),
    ("broken", anyio.BrokenResourceError, l0.NetworkError, True, "network_error"),
    ("closed", anyio.ClosedResourceError, l0.NetworkError, True, "network_error"),
    ("end-of-stream", anyio.EndOfStream, l0.NetworkError, True, "network_error"),
    ("eof", EOFError, l0.NetworkError, True, "network_error"),
    ("timeout", TimeoutError, l0.NetworkError, True, "timeout"),
    ("os-error", lambda: PermissionError("denied"), l0.NetworkError, True, "network_error"),
    ("tls", lambda: ssl.SSLError("bad certificate"), l0.NetworkError, False, "network_error"),
    (
        "httpx-timeout",
        lambda: httpx.ReadTimeout("slow", request=_REQUEST),
        l0.NetworkError,
        True,
        "timeout",
    ),
    (
        "httpx-connect",
        lambda: httpx.ConnectError("no", request=_REQUEST),
        l0.NetworkError,
        True,
        "network_error",
    ),
    ("httpx-other", lambda: httpx.DecodingError("bad gzip"), l0.SourceError, True, "unknown"),
    ("value-error", lambda: ValueError("odd"), l0.SourceError, True, "unknown"),
]


@pytest.mark.parametrize(
    ("make", "kind", "retryable", "reason"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_raw_exceptions_are_classified_by_type(
    make: Callable[[], Exception], kind: type[l0.L0Error], retryable: bool, reason: str
) -> None:
    """Each raw exception maps to its l0 error class, retryability and retry reason."""
    error = classify(make())
    assert type(error) is kind
    assert (error.retryable, error.retry_reason) == (retryable, reason)
    if reason == "timeout":
        assert error.failure_type == "timeout"


def test_an_l0_error_is_kept_as_it_is() -> None:
    """An l0 error raised by a source is not wrapped again."""
    error = l0.ZeroOutput("nothing")
    assert classify(error) is error


@pytest.mark.parametrize(
    ("make", "kind", "retryable", "reason"),
    [c[1:] for c in CASES if c[0] in {"reset", "tls", "value-error"}],
    ids=["reset", "tls", "value-error"],
)
async def test_classification_drives_the_retry(
    make: Callable[[], Exception],
    kind: type[l0.L0Error],
    retryable: bool,
    reason: str,
    zero_backoff: None,
) -> None:
    """End to end: a retryable failure is retried and the next attempt's text wins; a TLS
    failure is not retried. The raw exception is the error's __cause__."""
    source = Script(["a", Raise(make)], ["fine"])
    stream = l0.run(source)
    if retryable:
        assert await stream.read() == "fine"
    else:
        with pytest.raises(l0.AllStreamsExhausted):
            await stream.read()
    (error, *_) = stream.state.errors
    assert isinstance(error, kind)
    assert isinstance(error.__cause__, type(make()))
    assert source.calls == (2 if retryable else 1)


async def test_test_mode_caps_the_attempts() -> None:
    """set_testing(attempts=1) allows one retry whatever the Retry says."""
    source = Script([Raise(ValueError)], [Raise(ValueError)], [Raise(ValueError)], ["late"])
    with l0.testing.set_testing(attempts=1):
        stream = l0.run(source, retry=l0.Retry(attempts=5, max_retries=5))
        with pytest.raises(l0.AllStreamsExhausted):
            await stream.read()
    assert source.calls == 2


def test_the_registry_refuses_what_is_not_an_adapter_and_unknown_names() -> None:
    """register() takes Adapter instances only; unregister() and get() of an unknown name
    raise AdapterNotFound."""
    with pytest.raises(l0.ConfigError, match="Adapter instance"):
        l0.adapters.register(object())  # type: ignore[arg-type]
    with pytest.raises(l0.AdapterNotFound, match="no-such-adapter"):
        l0.adapters.unregister("no-such-adapter")
    with pytest.raises(l0.AdapterNotFound, match="no-such-adapter"):
        l0.adapters.get("no-such-adapter")
