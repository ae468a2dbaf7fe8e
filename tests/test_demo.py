"""``python -m l0 demo``: the live tour against l0's local fault-injecting provider."""

from __future__ import annotations

import importlib.util
import io
import os
import signal
import subprocess
import sys
from contextlib import AsyncExitStack

import anyio
import httpx
import pytest

from l0.__main__ import main as l0_main
from l0._cli import main as demo_main
from l0._cli._main import build_parser, tour_options
from l0._cli._recorder import Recorder, ScenarioResult, describe_error
from l0._cli._scenarios import SCENARIOS
from l0._cli._target import Pace
from l0._cli._tour import TourOptions, play_tour
from l0._cli._view import PlainView
from l0.adapters import ProviderError
from l0.testing import SCRIPT_HEADER, FakeServer, HttpError, Script

BACKENDS = ["asyncio", "trio"]
NAMES = [s.name for s in SCENARIOS]

# What each scenario must tell about what l0 did (the plain output's "OK: ..." line).
STORIES = {
    "clean": ["nothing to recover"],
    "stall": ["stalled 0.5 s -> timeout", "chars discarded", "retry 1"],
    "drop": ["dropped after 14 tokens", "retry 1", "resumed at char", "0 duplicated chars"],
    "rate-limit": ["HTTP 429 Too Many Requests", "Retry-After 0.10 s", "waited", "retry 1"],
    "fallback": ["HTTP 503 Service Unavailable", "fell back to demo-backup", "completed"],
    "guardrail": ["guardrail pattern (error)", "retry 1", "passed"],
    "structured": ["invalid: $.version", "healed (", "valid Release"],
    "race": ["demo-fast won at its first token", "demo-slow cancelled", "connection closed"],
}


def _child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"OPENAI_API_KEY", "NO_COLOR"}}
    env["PYTHONIOENCODING"] = "utf-8"
    return env


@pytest.fixture(autouse=True)
def _no_api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """The demo goes to the local provider: no real endpoint is ever called by these tests."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)


# --------------------------------------------------------------------------- the whole tour


@pytest.mark.parametrize("backend", BACKENDS)
def test_demo_plays_every_scenario_and_exits_0(backend: str) -> None:
    """The whole tour, in-process with plain output: each scenario tells what l0 did."""
    out = io.StringIO()
    assert demo_main(["--backend", backend, "--no-color", "--fast"], out=out) == 0
    text = out.getvalue()
    outcomes = [line for line in text.splitlines() if line.startswith("  OK: ")]
    assert len(outcomes) == len(SCENARIOS), text
    assert "FAILED" not in text
    for name, outcome in zip(NAMES, outcomes, strict=True):
        for phrase in STORIES[name]:
            assert phrase in outcome, (name, phrase, outcome)
    assert f"on {backend}." in text
    assert f"{len(SCENARIOS)}/{len(SCENARIOS)} scenarios ok" in text
    assert text.endswith("local provider stopped\n")
    assert text.isascii()


async def test_tour_results_count_what_happened() -> None:
    """The summary's numbers: attempts, retries and fallbacks per scenario, TTFT, tokens/s."""
    results = await play_tour(TourOptions(pace=Pace.fast()), PlainView(io.StringIO()))
    by_name = {r.name: r for r in results}
    assert list(by_name) == NAMES
    assert all(r.ok and not r.problems for r in results), [r.problems for r in results]
    counts = {r.name: (r.attempts, r.retries, r.fallbacks) for r in results}
    assert counts == {
        "clean": (1, 0, 0),
        "stall": (2, 1, 0),
        "drop": (2, 1, 0),
        "rate-limit": (2, 1, 0),
        "fallback": (3, 1, 1),
        "guardrail": (2, 1, 0),
        "structured": (2, 1, 0),
        "race": (2, 0, 0),
    }
    for result in results:
        assert result.ttft is not None
        assert 0 <= result.ttft <= result.duration
        assert result.tokens_per_second is not None
        assert result.tokens_per_second > 0
    # The 429 asked for 0.1 s: the retry waited at least that long.
    assert by_name["rate-limit"].duration >= 0.1


async def test_a_scenario_that_goes_wrong_is_reported_not_raised() -> None:
    """A stream that fails (here: the provider refuses every request) is a FAILED row whose
    story says why, and the other scenarios still run."""
    async with FakeServer(default="unused") as server:
        options = TourOptions(
            scenarios=(SCENARIOS[0],),
            base_url=server.base_url,
            api_key="test-key",  # a "real" endpoint: no fault scripts are sent
            pace=Pace.fast(),
        )
        server.register("gpt-4o-mini", Script(faults=[HttpError(status=401)]))
        out = io.StringIO()
        [result] = await play_tour(options, PlainView(out))
    assert not result.ok
    assert result.story == ("HTTP 401 Unauthorized", "gave up")
    text = out.getvalue()
    assert "failed: all 1 attempt(s) failed" in text
    assert "  FAILED: HTTP 401 Unauthorized -> gave up" in text


# --------------------------------------------------------------------------- real endpoints


async def test_base_url_with_api_key_sends_real_requests() -> None:
    """With an API key, requests carry it and the real model names, and no fault script."""
    async with FakeServer() as server:
        options = TourOptions(
            scenarios=tuple(s for s in SCENARIOS if s.name in {"clean", "fallback"}),
            base_url=server.base_url,
            api_key="sk-test",
            model="model-a",
            fallback_model="model-b",
            pace=Pace.fast(),
        )
        results = await play_tour(options, PlainView(io.StringIO()))
    # The server says its default text: the clean stream is fine; the "dead" primary is a
    # model no provider has, which this server answers all the same (so no fallback).
    assert [r.ok for r in results] == [True, True]
    models = [r.json["model"] for r in server.requests]
    assert models == ["model-a", "l0-demo-no-such-model"]
    assert all(r.headers["authorization"] == "Bearer sk-test" for r in server.requests)
    assert not any(SCRIPT_HEADER in r.headers for r in server.requests)


async def test_base_url_without_api_key_sends_the_fault_scripts() -> None:
    """A ``--base-url`` with no key may be a ``python -m l0.testing.server``: the scripts go
    along, so the faults (and their checks) are the same as locally."""
    async with FakeServer() as server:
        options = TourOptions(
            scenarios=tuple(s for s in SCENARIOS if s.name in {"stall", "fallback"}),
            base_url=server.base_url,
            pace=Pace.fast(),
        )
        results = await play_tour(options, PlainView(io.StringIO()))
    assert [(r.ok, r.retries, r.fallbacks) for r in results] == [(True, 1, 0), (True, 1, 1)]
    assert all(SCRIPT_HEADER in r.headers for r in server.requests)
    assert "authorization" not in server.requests[0].headers


def test_api_key_picks_the_openai_endpoint_unless_local(monkeypatch: pytest.MonkeyPatch) -> None:
    """``OPENAI_API_KEY`` sends the tour to api.openai.com; ``--local`` keeps it local."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
    remote = tour_options(build_parser().parse_args(["--model", "m1"]))
    assert (remote.base_url, remote.api_key) == ("https://api.openai.com/v1", "sk-env")
    assert (remote.model, remote.fallback_model) == ("m1", "m1")
    local = tour_options(
        build_parser().parse_args(["--local", "--scenario", "race", "--scenario", "drop"])
    )
    assert (local.base_url, local.api_key) == (None, None)
    assert [s.name for s in local.scenarios] == ["drop", "race"]  # the tour's order


# --------------------------------------------------------------------------- views


def test_rich_view_draws_panels_and_the_summary_table() -> None:
    """``--color`` draws the live view (with Rich) even into a pipe."""
    out = io.StringIO()
    assert demo_main(["--color", "--fast", "--scenario", "drop"], out=out) == 0
    text = out.getvalue()
    assert "\x1b[" in text  # drawn for a terminal
    assert "1/1 drop" in text
    assert "resuming from the checkpoint" in text
    assert "0 duplicated chars" in text
    for header in ("attempts", "retries", "fallbacks", "TTFT", "tokens/s"):
        assert header in text
    assert "1/1 scenarios ok" in text


def test_without_rich_the_demo_falls_back_to_plain_output(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Rich is optional: without it even ``--color`` gets the plain view, and it still works."""
    monkeypatch.setitem(sys.modules, "rich", None)  # "import rich" fails; find_spec says None
    out = io.StringIO()
    assert demo_main(["--color", "--fast", "--scenario", "clean"], out=out) == 0
    assert "  OK: " in out.getvalue()
    assert "\x1b[" not in out.getvalue()


def test_plain_view_streams_text_and_events_on_separate_lines() -> None:
    """Text goes behind ``  | ``, each event on a line of its own; non-ASCII is replaced
    when the output cannot encode it."""
    out = io.TextIOWrapper(io.BytesIO(), encoding="ascii", write_through=True)
    view = PlainView(out)
    rec = Recorder(lambda: 0.25, view.entry)
    view.token("Hello ")
    view.token("wörld\nnext")
    rec.note("a fault", "fault")
    view.token("more")
    view.close()
    out.seek(0)
    assert out.read() == "  | Hello w?rld\n  | next\n    0.00s ! a fault\n  | more\n"


def test_describe_error() -> None:
    """Failures are described by what they are, not by their whole message."""
    limited = ProviderError("slow down", status_code=429, retry_after=2.0)
    assert describe_error(limited) == "HTTP 429 Too Many Requests, Retry-After 2.00 s"
    assert describe_error(ProviderError("odd", status_code=599)) == "HTTP 599"
    assert describe_error(ValueError("x" * 200)) == "ValueError: " + "x" * 90


def test_result_outcome_joins_the_story() -> None:
    """The outcome line is the story, in order."""
    result = ScenarioResult(name="n", title="t", ok=True, story=("a", "b"))
    assert result.outcome == "a -> b"
    assert ScenarioResult(name="n", title="t", ok=True, story=()).outcome == "nothing happened"


# --------------------------------------------------------------------------- the command line


def test_import_l0_imports_neither_rich_nor_the_demo() -> None:
    """``import l0`` stays light: no Rich, no demo; the plain demo does not import
    its Rich view."""
    code = (
        "import sys, l0; "
        "assert 'rich' not in sys.modules and 'l0._cli' not in sys.modules; "
        "from l0.__main__ import main; "
        "code = main(['demo', '--fast', '--no-color', '--scenario', 'clean']); "
        "assert 'l0._cli._rich' not in sys.modules, 'the Rich view was imported'; "
        "sys.exit(code)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, env=_child_env(), check=False
    )
    assert done.returncode == 0, done.stderr
    assert b"1/1 scenarios ok" in done.stdout


def test_python_m_l0_demo_scenario_clean() -> None:
    """``python -m l0 demo --scenario clean`` exits 0 with plain output in a pipe."""
    done = subprocess.run(
        [sys.executable, "-m", "l0", "demo", "--scenario", "clean"],
        capture_output=True,
        env=_child_env(),
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == b""
    lines = done.stdout.decode().splitlines()
    assert lines[0].startswith("Talking to l0's local fault-injecting provider at http://127.")
    assert "  OK: 37 tokens, nothing to recover" in lines
    assert lines[-1] == "local provider stopped"


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT delivery to a child process")
@pytest.mark.parametrize("anyio_backend", ["asyncio"])  # the test's own loop; the demo's varies
@pytest.mark.parametrize("backend", BACKENDS)
async def test_ctrl_c_exits_130_cleanly(backend: str) -> None:
    """Ctrl+C mid-stream: the tour is cancelled, everything closed, exit status 130, no
    traceback."""
    command = [sys.executable, "-m", "l0", "demo", "--backend", backend, "--scenario", "stall"]
    async with AsyncExitStack() as stack:
        process = await stack.enter_async_context(
            await anyio.open_process(command, env=_child_env())
        )
        assert process.stdout is not None
        assert process.stderr is not None
        seen = b""
        with anyio.fail_after(30):
            while b"first token" not in seen:  # mid-stream (the stall lasts 30 s)
                chunk = await process.stdout.receive()
                seen += chunk
            process.send_signal(signal.SIGINT)
            assert await process.wait() == 130
            seen += b"".join([chunk async for chunk in process.stdout])
            errors = b"".join([chunk async for chunk in process.stderr])
    assert errors == b""
    assert seen.endswith(b"interrupted: every stream closed, local provider stopped\n")
    assert b"OK:" not in seen


def test_l0_command_line() -> None:
    """``python -m l0``: --version, --help, a command's --help, unknown commands."""
    assert l0_main(["--version"]) == 0
    assert l0_main(["--help"]) == 0
    assert l0_main(["demo", "--help"]) == 0
    assert l0_main([]) == 2
    assert l0_main(["nope"]) == 2
    assert l0_main(["demo", "--scenario", "nope"]) == 2
    try:
        has_replay = importlib.util.find_spec("l0._record._cli") is not None
    except ModuleNotFoundError:
        has_replay = False
    if has_replay:  # dispatched to l0._record._cli
        assert l0_main(["replay", "--help"]) == 0
    else:
        assert l0_main(["replay"]) == 2


async def test_local_provider_closes_every_connection() -> None:
    """After the tour, the local provider has stopped: its port refuses connections."""
    out = io.StringIO()
    await play_tour(TourOptions(scenarios=SCENARIOS[:1], pace=Pace.fast()), PlainView(out))
    url = out.getvalue().split(" at ", 1)[1].split(",", 1)[0]
    async with httpx.AsyncClient() as client:
        with pytest.raises(httpx.ConnectError):
            await client.get(url + "/models")
