"""The fault matrix: every fault the local server injects, through every real client (raw
httpx, the openai SDK, litellm), on asyncio and trio, with continuation on and off.

Each run either produces exactly the expected text or fails with the expected typed error,
within its configured deadline, and leaves no connection open on the server: the connection
of an attempt that l0 cut is closed at once, and once the client is closed the server has no
connection left at all.

The default run plays each fault once per client, backend and continuation setting (faults
that strike before any output only with continuation on: there, resuming is restarting), with
tight deadlines. ``-m slow`` (``nox -s soak``) plays the full cross product: every position
of the positional faults, two faults in a row, and a fallback after a non-retryable fault.

Backends: httpx runs on asyncio and on trio with a MockClock (deadlines take no time); the
openai SDK on asyncio and plain trio (it waits on a worker thread, which a mock clock would
jump over); litellm on asyncio only (under trio l0 refuses it: tests/test_adapter_litellm.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import anyio
import attrs
import pytest

import l0
from l0 import ErrorCode
from l0.adapters import ProviderError, StreamProtocolError
from l0.testing import (
    Drop,
    FakeServer,
    HttpError,
    InBandError,
    KeepAlive,
    Malformed,
    ScriptFault,
    SlowHeaders,
    Stall,
    Truncate,
    pytest_plugin,
    split_tokens,
)
from tests._clients import CHAT_PATH, TEXT, Model, has_litellm, has_openai, open_client

l0_server = pytest_plugin.l0_server  # the plugin's fixture, without the entry point

DEADLINE = 0.15  # first token and between tokens: tight, so timing faults cost little
BUDGET = 10.0  # Timeout.total: every run ends well within it, or fails with TOTAL_TIMEOUT
MID = 3  # the position of a mid-stream fault, in content chunks
RETRY = l0.Retry(attempts=3, max_retries=6, base_delay=0, max_delay=0)


@attrs.frozen
class Case:
    """A fault, the typed error it must produce, and whether a retry recovers from it."""

    fault: ScriptFault
    error: type[l0.L0Error] | tuple[type[l0.L0Error], ...]
    code: ErrorCode | None = None
    recovers: bool = True
    cuts: bool = False  # l0 itself must close the attempt's connection (or the server drops it)


FAULTS: dict[str, Case] = {
    "stall-first": Case(Stall(seconds=3600), l0.StreamTimeout, ErrorCode.INITIAL_TOKEN_TIMEOUT,
                        cuts=True),
    "stall-mid": Case(Stall(seconds=3600, after=MID), l0.StreamTimeout,
                      ErrorCode.INTER_TOKEN_TIMEOUT, cuts=True),
    "slow-headers": Case(SlowHeaders(seconds=3600), l0.StreamTimeout,
                         ErrorCode.INITIAL_TOKEN_TIMEOUT, cuts=True),
    "keep-alive": Case(KeepAlive(interval=DEADLINE / 4), l0.StreamTimeout,
                       ErrorCode.INITIAL_TOKEN_TIMEOUT, cuts=True),
    "keep-alive-mid": Case(KeepAlive(interval=DEADLINE / 4, after=MID), l0.StreamTimeout,
                           ErrorCode.INTER_TOKEN_TIMEOUT, cuts=True),
    "drop": Case(Drop(after=MID), l0.NetworkError, ErrorCode.NETWORK_ERROR, cuts=True),
    "reset": Case(Drop(after=MID, reset=True), l0.NetworkError, ErrorCode.NETWORK_ERROR,
                  cuts=True),
    "truncate": Case(Truncate(after=MID), l0.StreamTruncated, ErrorCode.STREAM_TRUNCATED),
    "malformed": Case(Malformed(after=MID), StreamProtocolError, cuts=True),
    "in-band": Case(InBandError(after=MID), ProviderError),
    "in-band-invalid": Case(InBandError(after=MID, error_type="invalid_request_error"),
                            ProviderError, recovers=False),
    "429": Case(HttpError(status=429, retry_after=0.05), ProviderError),
    "503": Case(HttpError(status=503), ProviderError),
    "401": Case(HttpError(status=401), ProviderError, recovers=False),
}  # fmt: skip

COMBOS = [
    ("httpx", "asyncio"),
    ("httpx", "trio-mockclock"),
    ("openai", "asyncio"),
    ("openai", "trio"),
    ("litellm", "asyncio"),
]


def _combo_param(client: str, backend: str) -> Any:
    marks: list[Any] = []
    if client in {"openai", "litellm"}:
        marks.append(pytest.mark.skipif(not has_openai(), reason="openai is not installed"))
        # Under trio the openai SDK leaves async generators to the garbage collector (its
        # stream breaks out of its SSE loop at [DONE]); trio warns about each. Not l0's.
        marks.append(pytest.mark.filterwarnings("ignore:Async generator:ResourceWarning"))
    if client == "litellm":
        marks.append(pytest.mark.skipif(not has_litellm(), reason="litellm is not installed"))
        # litellm, cancelled inside acompletion() (a first-token deadline cutting the call),
        # drops a coroutine it never awaited: its leak, reported when collected.
        marks.append(pytest.mark.filterwarnings("ignore:coroutine .* was never awaited"))
    return pytest.param(client, backend, marks=marks, id=f"{client}-{backend}")


COMBO_PARAMS = [_combo_param(c, b) for c, b in COMBOS]
combos = pytest.mark.parametrize(
    ("client", "anyio_backend"), COMBO_PARAMS, indirect=["anyio_backend"]
)
continuation = pytest.mark.parametrize("resume", [False, True], ids=["restart", "resume"])


# -- the run and what it must satisfy ----------------------------------------------------------


def _matches(error: l0.L0Error, case: Case) -> bool:
    return isinstance(error, case.error) and (case.code is None or error.code == case.code)


async def play(
    client: str,
    server: FakeServer,
    faults: dict[tuple[int, int], Sequence[Case]],
    *,
    resume: bool,
    fallback: bool = False,
) -> None:
    """Run one stream whose attempts fail as ``faults`` says, and check the outcome (again,
    up to twice, if a deadline cut an attempt before it could meet its fault: a machine too
    busy for the tight deadlines, so that run proves nothing either way)."""
    for final in (False, False, True):
        if await _play_once(client, server, faults, resume=resume, fallback=fallback, final=final):
            return


async def _play_once(
    client: str,
    server: FakeServer,
    faults: dict[tuple[int, int], Sequence[Case]],
    *,
    resume: bool,
    fallback: bool,
    final: bool,
) -> bool:
    """One run; False if it was inconclusive (and not ``final``), True once it passed."""
    first_request = len(server.requests)
    model = Model({where: [c.fault for c in cases] for where, cases in faults.items()})
    expected = [c for _, cases in sorted(faults.items()) for c in cases]
    recovers = all(c.recovers for c in expected) or fallback
    async with open_client(client, server) as make:
        factory = make(model)
        stream = l0.run(
            factory,
            fallbacks=[factory] if fallback else None,
            retry=RETRY,
            timeout=l0.Timeout(initial_token=DEADLINE, inter_token=DEADLINE, total=BUDGET),
            continue_from_last_good_token=(
                l0.ContinuationConfig(min_overlap=1) if resume else None
            ),
        )
        events: list[l0.StreamEvent] = []
        failure: Exception | None = None
        start = anyio.current_time()
        with anyio.fail_after(BUDGET + 5):
            try:
                events.extend([event async for event in stream])
            except l0.L0Error as exc:
                failure = exc
        elapsed = anyio.current_time() - start
        assert elapsed < BUDGET, elapsed

        errors = stream.state.errors
        # The faults come first, in order, each with its typed error. A loaded machine may
        # add a spurious deadline after them, never anything else.
        assert len(errors) >= len(expected), errors
        for error, case in zip(errors, expected, strict=False):
            if isinstance(error, l0.StreamTimeout) and not _matches(error, case) and not final:
                return False
            assert _matches(error, case), (error, case)
        assert all(isinstance(e, l0.StreamTimeout) for e in errors[len(expected) :]), errors

        if recovers:
            assert failure is None, repr(failure)
            _check_text(events, stream, model, resume=resume)
        chats = [r for r in server.requests[first_request:] if r.path == CHAT_PATH]
        if not recovers:
            assert isinstance(failure, l0.AllStreamsExhausted), repr(failure)
            assert failure.errors[0] is errors[0]
            assert errors[0].retryable is False
            assert len(chats) == 1  # not retried

        # An attempt that l0 cut (or the server dropped) has its connection closed already.
        for index, case in enumerate(expected):
            if case.cuts and len(chats) > index:
                connection = server.connections[chats[index].connection]
                with anyio.fail_after(5):
                    await server.wait_until(lambda c=connection: not c.open)
    # The client is closed: no connection is left open on the server.
    with anyio.fail_after(5):
        await server.wait_idle()
    return True


async def test_a_deadline_that_cuts_an_attempt_before_its_fault_is_inconclusive(
    l0_server: FakeServer,
) -> None:
    """The guard against a busy machine: a deadline hitting an attempt that should have met a
    non-timing fault makes the run inconclusive (retried by play), not a pass."""
    slow_first = Case(SlowHeaders(seconds=3600), ProviderError)  # "expects" a ProviderError
    faults = {(0, 1): [slow_first]}
    assert not await _play_once(
        "httpx", l0_server, faults, resume=False, fallback=False, final=False
    )
    with pytest.raises(AssertionError, match="StreamTimeout"):
        await _play_once("httpx", l0_server, faults, resume=False, fallback=False, final=True)


def _check_text(
    events: list[l0.StreamEvent], stream: l0.Stream, model: Model, *, resume: bool
) -> None:
    resets = [i for i, e in enumerate(events) if isinstance(e, l0.Reset)]
    after = events[resets[-1] + 1 :] if resets else events
    assert "".join(e.value for e in after if isinstance(e, l0.Token)) == TEXT
    assert stream.state.content == TEXT
    first_error = next(i for i, e in enumerate(events) if isinstance(e, l0.ErrorEvent))
    seen = "".join(e.value for e in events[:first_error] if isinstance(e, l0.Token))
    if not seen:
        return
    if resume:
        # The output was kept: no Reset, and the next attempt was asked to continue it.
        assert resets == [], events
        assert model.contexts[1].checkpoint == seen
        assert "".join(e.value for e in events if isinstance(e, l0.Token)) == TEXT
    else:
        assert resets, events  # the consumer was told to clear what it showed
        assert all(not ctx.checkpoint for ctx in model.contexts)


# -- the default run: each fault once per client, backend and continuation setting ------------


# Before any output, resuming and restarting are the same thing: the default run plays those
# faults with continuation on only (the slow run plays both).
_BEFORE_OUTPUT = {"stall-first", "slow-headers", "keep-alive", "429", "503", "401"}
_DEFAULT = [
    pytest.param(name, resume, id=f"{name}-{'resume' if resume else 'restart'}")
    for name in sorted(FAULTS)
    for resume in (True, False)
    if resume or name not in _BEFORE_OUTPUT
]


@combos
@pytest.mark.parametrize(("fault", "resume"), _DEFAULT)
async def test_each_fault_gives_the_exact_text_or_its_typed_error(
    l0_server: FakeServer, client: str, resume: bool, fault: str
) -> None:
    """The first attempt meets the fault; the stream ends with the exact text (or, for a
    non-retryable fault, its typed error) within its deadline, leaving no connection open."""
    await play(client, l0_server, {(0, 1): [FAULTS[fault]]}, resume=resume)


@pytest.mark.slow
@combos
@pytest.mark.parametrize("fault", sorted(_BEFORE_OUTPUT))
async def test_faults_before_any_output_without_continuation(
    l0_server: FakeServer, client: str, fault: str
) -> None:
    """The faults before any output, with continuation off (the default run has them on)."""
    await play(client, l0_server, {(0, 1): [FAULTS[fault]]}, resume=False)


# -- the full cross product (-m slow) ----------------------------------------------------------

_POSITIONAL = {
    "stall-mid": lambda k: Stall(seconds=3600, after=k),
    "keep-alive-mid": lambda k: KeepAlive(interval=DEADLINE / 4, after=k),
    "drop": lambda k: Drop(after=k),
    "reset": lambda k: Drop(after=k, reset=True),
    "truncate": lambda k: Truncate(after=k),
    "malformed": lambda k: Malformed(after=k),
    "in-band": lambda k: InBandError(after=k),
}
_POSITIONS = [0, 1, len(split_tokens(TEXT)) // 2, len(split_tokens(TEXT)) - 1, 1000]


def _at(name: str, k: int) -> Case:
    case = FAULTS[name]
    fault = _POSITIONAL[name](k)
    code = case.code
    error = case.error
    if k == 0 and code == ErrorCode.INTER_TOKEN_TIMEOUT:
        code = ErrorCode.INITIAL_TOKEN_TIMEOUT  # nothing arrived yet: the first-token deadline
    if k == 0 and name == "truncate":
        # An empty answer without a finish reason: no output for the engine (httpx, openai),
        # a truncated stream for litellm, which raises on it itself (see the report).
        error, code = (l0.ZeroOutput, l0.StreamTruncated), None
    return attrs.evolve(case, fault=fault, error=error, code=code)


@pytest.mark.slow
@combos
@continuation
@pytest.mark.parametrize("position", _POSITIONS)
@pytest.mark.parametrize("fault", sorted(_POSITIONAL))
async def test_every_position_of_every_positional_fault(
    l0_server: FakeServer, client: str, resume: bool, fault: str, position: int
) -> None:
    """A positional fault before the first token, after one, in the middle, before the last,
    and after the last (before the finish chunk): exact text or the typed error."""
    await play(client, l0_server, {(0, 1): [_at(fault, position)]}, resume=resume)


_RECOVERABLE = sorted(name for name, case in FAULTS.items() if case.recovers)


@pytest.mark.slow
@combos
@continuation
@pytest.mark.parametrize("second", ["drop", "malformed", "stall-mid", "503"])
@pytest.mark.parametrize("first", _RECOVERABLE)
async def test_two_faults_in_a_row(
    l0_server: FakeServer, client: str, resume: bool, first: str, second: str
) -> None:
    """The first two attempts fail (the second one while resuming, when continuation is on);
    the third gives the exact text."""
    faults = {(0, 1): [FAULTS[first]], (0, 2): [FAULTS[second]]}
    await play(client, l0_server, faults, resume=resume)


@pytest.mark.slow
@combos
@continuation
@pytest.mark.parametrize("fault", sorted(n for n, c in FAULTS.items() if not c.recovers))
async def test_a_non_retryable_fault_falls_back(
    l0_server: FakeServer, client: str, resume: bool, fault: str
) -> None:
    """A non-retryable fault is not retried, but the fallback runs and gives the exact text."""
    await play(client, l0_server, {(0, 1): [FAULTS[fault]]}, resume=resume, fallback=True)
