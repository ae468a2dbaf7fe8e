"""Bad input: random and adversarial input for the SSE parser, the JSON healer and partial
parser, the adapters' chunk parsing (through real clients, over a mock transport), every
guardrail rule (patterns included) and drift detection.

Three properties:

* only typed l0 errors come out (or a result): never a ``KeyError``, ``IndexError``,
  ``RecursionError`` or a provider SDK's exception;
* no hang (every run is bounded; pytest-timeout is the backstop);
* work linear in the input size: each component is run on inputs of size n and 8n, counting
  the lines of l0's own code executed (deterministic, whatever the machine's load) and, for
  work done inside C (``str.find``, ``join``...), timing it with a generous factor.

(The per-component properties that already exist are not repeated here: any chunking of an
event stream, valid JSON unchanged by healing, any chunking of guardrail input: see
tests/test_adapter_sse.py, tests/test_json_heal.py, tests/test_guardrail_rules.py.)
"""

from __future__ import annotations

import contextlib
import itertools
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

import anyio
import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

import l0
from l0 import guardrails as g
from l0.adapters import SSEParser, SSERequest, convert_chunk
from l0.structured import InvalidJSON, PartialJSON, heal
from tests._clients import has_litellm, has_openai
from tests._profile import examples

_L0 = str(Path(l0.__file__).parent)
_TESTING = str(Path(l0.__file__).parent / "testing")


# -- counting l0's work --------------------------------------------------------------------------


def l0_lines(work: Callable[[], object]) -> int:
    """How many lines of l0's own code (not the testing kit) ``work()`` executes."""
    count = 0

    def local(frame: FrameType, event: str, arg: object) -> Any:
        nonlocal count
        if event == "line":
            count += 1
        return local

    def tracer(frame: FrameType, event: str, arg: object) -> Any:
        name = frame.f_code.co_filename
        if name.startswith(_L0) and not name.startswith(_TESTING):
            return local
        return None

    previous = sys.gettrace()  # coverage's, when it runs: put it back
    sys.settrace(tracer)
    try:
        work()
    finally:
        sys.settrace(previous)
    return count


def cpu_seconds(work: Callable[[], object]) -> float:
    """The best of two CPU times of ``work()`` (the least disturbed by other processes)."""
    best = float("inf")
    for _ in range(2):
        start = time.process_time()
        work()
        best = min(best, time.process_time() - start)
    return best


def assert_linear(make: Callable[[int], Callable[[], object]], n: int) -> None:
    """``make(size)`` gives the work for an input of ``size``; 8 times the input must cost at
    most about 8 times the lines executed, and well under 64 times (quadratic) the CPU time."""
    small, big = l0_lines(make(n)), l0_lines(make(8 * n))
    assert big <= 9 * small + 200, f"lines of l0 code: {small} for n={n}, {big} for 8n"
    # C-level work is invisible to the line count: time it. Sizes are picked so the small
    # run takes milliseconds; a quadratic algorithm would take ~64 times as long at 8n.
    small_t, big_t = cpu_seconds(make(2 * n)), cpu_seconds(make(16 * n))
    assert big_t <= 24 * small_t + 0.02, f"CPU seconds: {small_t:.4f} at 2n, {big_t:.4f} at 16n"


# -- the SSE parser ----------------------------------------------------------------------------

SSE_FAMILIES: dict[str, Callable[[int], bytes]] = {
    "tiny events": lambda n: b"data: x\n\n" * (n // 9),
    "one long line": lambda n: b"data: " + b"x" * n,
    "many data lines": lambda n: b"data: y\n" * (n // 8) + b"\n",
    "bare carriage returns": lambda n: b"\r" * n,
    "crlf pairs": lambda n: b"data: z\r\n\r\n" * (n // 11),
    "comments": lambda n: b": keep-alive\n" * (n // 13),
    "invalid utf-8": lambda n: b"data: \xff\xfe\xc3\n\n" * (n // 11),
    "fields without colon": lambda n: b"data\nevent\nid\n" * (n // 14) + b"\n",
}


def _sse_work(family: str, byte_chunks: int) -> Callable[[int], Callable[[], object]]:
    def make(n: int) -> Callable[[], object]:
        data = SSE_FAMILIES[family](n)
        pieces = [data[i : i + byte_chunks] for i in range(0, len(data), byte_chunks)]

        def work() -> None:
            parser = SSEParser()
            for piece in pieces:
                parser.feed(piece)
            parser.close()

        return work

    return make


@pytest.mark.parametrize("chunk", [1, 997], ids=["byte-by-byte", "in-blocks"])
@pytest.mark.parametrize("family", sorted(SSE_FAMILIES))
def test_sse_parser_is_linear(family: str, chunk: int) -> None:
    """Adversarial event streams, byte by byte or in blocks: linear work."""
    n = 1_000 if chunk == 1 else 8_000
    assert_linear(_sse_work(family, chunk), n)


@examples(150)
@given(
    data=st.binary(max_size=400),
    limit=st.integers(1, 40),
    cuts=st.lists(st.integers(0, 400), max_size=8),
)
def test_sse_parser_with_tiny_limits_raises_only_its_typed_error(
    data: bytes, limit: int, cuts: list[int]
) -> None:
    """Random bytes against tiny line and event limits: events, or StreamProtocolError (an
    l0.L0Error) that sticks; nothing else."""
    parser = SSEParser(max_line_length=limit, max_event_size=limit)
    bounds = [0, *sorted(c for c in cuts if c < len(data)), len(data)]
    try:
        for start, end in itertools.pairwise(bounds):
            parser.feed(data[start:end])
        parser.close()
    except l0.adapters.StreamProtocolError:
        broken = True
    else:
        broken = False
    if broken:  # the error sticks
        with pytest.raises(l0.adapters.StreamProtocolError):
            parser.feed(b"data: more\n\n")


# -- JSON: the healer and the partial parser ------------------------------------------------------

JSON_FAMILIES: dict[str, Callable[[int], str]] = {
    "unicode escapes": lambda n: '["' + "\\u12" * (n // 4),
    "escaped quotes": lambda n: '{"a": "' + '\\"' * (n // 2),
    "alternating brackets": lambda n: "[{" * (n // 2),
    "keys without values": lambda n: "{" + '"k":,' * (n // 5),
    "numbers run together": lambda n: "[" + "1e1.2-" * (n // 6),
    "literals cut": lambda n: "[" + "tru fals nul " * (n // 13),
    "fences and prose": lambda n: "Here:\n```json\n{" * (n // 15),
    "single-quoted": lambda n: "{'a': 'b', " * (n // 11),
}


@pytest.mark.parametrize("family", sorted(JSON_FAMILIES))
def test_json_healer_is_linear(family: str) -> None:
    """Healing adversarial text (new families beyond test_json_heal.py's) is linear."""

    def make(n: int) -> Callable[[], object]:
        text = JSON_FAMILIES[family](n)

        def work() -> None:
            with contextlib.suppress(InvalidJSON):
                heal(text)

        return work

    assert_linear(make, 2_000)


@pytest.mark.parametrize("family", sorted(JSON_FAMILIES))
def test_partial_json_is_linear(family: str) -> None:
    """The incremental parser, fed in small deltas, is linear on the same families."""

    def make(n: int) -> Callable[[], object]:
        text = JSON_FAMILIES[family](n)
        deltas = [text[i : i + 7] for i in range(0, len(text), 7)]

        def work() -> None:
            parser = PartialJSON(max_depth=100_000)
            try:
                for delta in deltas:
                    parser.feed(delta)
                parser.close()
            except InvalidJSON:
                pass

        return work

    assert_linear(make, 2_000)


@examples(200)
@given(text=st.text(max_size=80), cuts=st.lists(st.integers(0, 80), max_size=6))
def test_partial_json_raises_only_invalid_json(text: str, cuts: list[int]) -> None:
    """Any text, in any deltas: values and events, or InvalidJSON (an l0.L0Error)."""
    parser = PartialJSON()
    bounds = [0, *sorted(c for c in cuts if c < len(text)), len(text)]
    with contextlib.suppress(InvalidJSON):
        for start, end in itertools.pairwise(bounds):
            parser.feed(text[start:end])
        parser.close()
        _ = parser.value


# -- guardrails and drift ----------------------------------------------------------------------


def every_rule() -> list[g.Rule]:
    return [
        g.json_rule(),
        g.strict_json_rule(),
        g.markdown_rule(),
        g.latex_rule(),
        g.pattern_rule(),
        g.custom_pattern_rule("custom", [r"\bsecret\w{0,8}", r"(?:ab){2,6}c"]),
        g.zero_output_rule(),
        g.stall_rule(),
        g.repetition_rule(),
    ]


RULE_FAMILIES: dict[str, Callable[[int], str]] = {
    "near-miss phrases": lambda n: "as an a I cannot n [insert TOD <|im_st " * (n // 38),
    "nested math": lambda n: "$\\begin{a}\\[" * (n // 12),
    "table rows": lambda n: "| a | b |\n|---|\n" * (n // 16),
    "unclosed fences": lambda n: "```py\n~~~\n" * (n // 10),
    "json brackets": lambda n: '{"a": [' * (n // 7),
    "looping words": lambda n: "the cat the cat the dog " * (n // 24),
    "custom near misses": lambda n: "secre ababab abab " * (n // 18),
    "one character": lambda n: "a" * n,
}


def _feed_all(rule: g.Rule | g.Guardrails, text: str, step: int) -> None:
    checker = rule.start()
    for i in range(0, len(text), step):
        checker.feed(text[i : i + step], i)
    checker.finish(text)


@pytest.mark.parametrize("family", sorted(RULE_FAMILIES))
@pytest.mark.parametrize("rule", every_rule(), ids=lambda r: r.name)
def test_every_guardrail_rule_is_linear(rule: g.Rule, family: str) -> None:
    """Each rule, fed in 16-character deltas then finished, does linear work."""

    def make(n: int) -> Callable[[], object]:
        text = RULE_FAMILIES[family](n)
        return lambda: _feed_all(rule, text, 16)

    assert_linear(make, 1_500)


@examples(150)
@given(text=st.text(max_size=200), step=st.integers(1, 50))
def test_every_rule_and_preset_takes_any_text(text: str, step: int) -> None:
    """Any unicode text, in any step, through every rule and every preset: violations, never
    an exception."""
    for rules in (
        *every_rule(),
        g.Guardrails.recommended(),
        g.Guardrails.strict(),
        g.Guardrails.json_only(),
        g.Guardrails.markdown_only(),
        g.Guardrails.latex_only(),
    ):
        _feed_all(rules, text, step)


def test_drift_detection_is_linear() -> None:
    """Drift detection over long, shifting text is linear (it works per fixed block)."""
    piece = "Hey dude, LOL. As an AI model I think perhaps. Therefore, accordingly. ## T\n"

    def make(n: int) -> Callable[[], object]:
        text = (piece * (n // len(piece) + 1))[:n]

        def work() -> None:
            monitor = g.DriftDetector().start()
            for i in range(0, len(text), 16):
                monitor.feed(text[i : i + 16])

        return work

    assert_linear(make, 3_000)


@examples(100)
@given(text=st.text(max_size=400), step=st.integers(1, 64))
def test_drift_detection_takes_any_text(text: str, step: int) -> None:
    """Any text, in any step: drift results, never an exception."""
    monitor = g.DriftDetector(g.DriftConfig(window=32)).start()
    for i in range(0, len(text), step):
        monitor.feed(text[i : i + step])


# -- the adapters, end to end, over a mock transport -------------------------------------------

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=6),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=10,
)
_KEYS = st.sampled_from(["choices", "delta", "content", "tool_calls", "index", "function",
                         "arguments", "name", "id", "usage", "error", "finish_reason",
                         "message", "type", "code"])  # fmt: skip
_CHUNKISH = st.recursive(
    _JSON, lambda inner: st.dictionaries(_KEYS, inner, max_size=4), max_leaves=16
)


def _line(value: Any) -> bytes:
    return b"data: " + json.dumps(value).encode() + b"\n\n"


def _good(text: str) -> bytes:
    chunk = {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "m"}
    body = b"".join(
        _line({**chunk, "choices": [{"index": 0, "delta": {"content": t}, "finish_reason": None}]})
        for t in text.split(" ")
    )
    end = {**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
    return body + _line(end) + b"data: [DONE]\n\n"


@st.composite
def sse_bodies(draw: st.DrawFn) -> bytes:
    """A valid stream, mutated: random chunk-shaped JSON lines spliced in, cut anywhere, bytes
    inserted; or plain random bytes."""
    if draw(st.integers(0, 4)) == 0:
        return draw(st.binary(max_size=300))
    body = _good(draw(st.text(alphabet="ab c", min_size=1, max_size=12)))
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, len(body)))
        kind = draw(st.sampled_from(["json", "bytes", "cut", "line"]))
        if kind == "json":
            body = body[:at] + _line(draw(_CHUNKISH)) + body[at:]
        elif kind == "bytes":
            body = body[:at] + draw(st.binary(max_size=12)) + body[at:]
        elif kind == "line":
            body = body[:at] + b"data: " + draw(st.binary(max_size=20)) + b"\n\n" + body[at:]
        else:
            body = body[:at]
    return body


def _respond(body: bytes, status: int) -> Callable[[Any], Any]:
    def handler(request: Any) -> Any:
        module = sys.modules[type(request).__module__.split(".")[0]]  # httpx or httpx2
        return module.Response(status, headers={"content-type": "text/event-stream"}, content=body)

    return handler


async def _outcome(factory: Callable[..., Any]) -> str | l0.L0Error:
    """The stream's text, or the typed error that ended it (anything else fails the test)."""
    with anyio.fail_after(10):
        try:
            return await l0.run(factory, retry=None, timeout=None).read()
        except l0.L0Error as exc:
            for error in getattr(exc, "errors", [exc]):
                assert isinstance(error, l0.L0Error), repr(error)
            return exc


statuses = st.sampled_from([200, 200, 200, 200, 400, 429, 500, 503])


@examples(60)
@given(body=sse_bodies(), status=statuses)
async def test_raw_httpx_adapter_takes_any_body(body: bytes, status: int) -> None:
    """Any body (and status) through openai_sse's reader: a text, or a typed l0 error."""
    transport = httpx.MockTransport(_respond(body, status))
    async with httpx.AsyncClient(transport=transport, base_url="http://fuzz.invalid") as http:
        await _outcome(lambda: SSERequest(client=http, url="/v1/chat/completions", json={}))


@pytest.mark.skipif(not has_openai(), reason="openai is not installed")
@pytest.mark.filterwarnings("ignore:Async generator:ResourceWarning")  # the SDK's, under trio
@examples(25)
@given(body=sse_bodies(), status=statuses)
async def test_openai_sdk_adapter_takes_any_body(body: bytes, status: int) -> None:
    """Any body (and status) through the openai SDK and l0's adapter: a text, or a typed l0
    error (the SDK's own exceptions are mapped at the boundary)."""
    import openai  # noqa: PLC0415 - optional

    transport = sys.modules["httpx2" if "httpx2" in sys.modules else "httpx"].MockTransport(
        _respond(body, status)
    )
    async with openai.AsyncOpenAI(
        base_url="http://fuzz.invalid/v1",
        api_key="sk-fuzz",
        max_retries=0,
        http_client=openai.DefaultAsyncHttpxClient(transport=transport),
    ) as sdk:

        async def factory() -> Any:
            return await sdk.chat.completions.create(model="m", messages=[], stream=True)

        await _outcome(factory)


@examples(100)
@given(chunk=_CHUNKISH)
def test_chunk_conversion_takes_any_json(chunk: Any) -> None:
    """Any JSON value as a provider chunk converts to l0 chunks (or a Fault), never raises."""
    convert_chunk(chunk)


@pytest.mark.skipif(not has_litellm() or not has_openai(), reason="litellm is not installed")
@pytest.mark.parametrize("anyio_backend", ["asyncio"])  # litellm runs on asyncio only
@examples(10)
@given(body=sse_bodies(), status=statuses)
async def test_litellm_adapter_takes_any_body(body: bytes, status: int) -> None:
    """Any body (and status) through litellm and l0's adapter: a text, or a typed l0 error."""
    import openai  # noqa: PLC0415 - optional

    from tests._clients import _litellm  # noqa: PLC0415 - slow import, only here

    litellm = _litellm()
    transport = sys.modules["httpx2" if "httpx2" in sys.modules else "httpx"].MockTransport(
        _respond(body, status)
    )
    async with openai.AsyncOpenAI(
        base_url="http://fuzz.invalid/v1",
        api_key="sk-fuzz",
        max_retries=0,
        http_client=openai.DefaultAsyncHttpxClient(transport=transport),
    ) as sdk:

        async def factory() -> Any:
            return await litellm.acompletion(
                model="openai/m",
                api_base="http://fuzz.invalid/v1",
                api_key="sk-fuzz",
                messages=[{"role": "user", "content": "x"}],
                stream=True,
                num_retries=0,
                max_retries=0,
                client=sdk,
            )

        await _outcome(factory)
