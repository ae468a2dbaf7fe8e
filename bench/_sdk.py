"""The openai SDK figure: CPU time of ``l0.wrap(client)`` against the raw SDK, same requests.

The server (l0's own ``l0.testing.FakeServer``) runs in a process of its own
(``bench/_sdk_server.py``), so the CPU time measured here is the client's alone: the openai
SDK's HTTP, SSE and pydantic work, plus, through ``l0.wrap``, l0's.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Generator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # measure this checkout's l0, installed or not
    sys.path.insert(1, str(REPO))

from _common import BENCH_DIR  # noqa: E402

import l0  # noqa: E402

TOKENS = 200
"""Content chunks per response (about a paragraph: what one answer streams)."""

REQUEST: dict[str, Any] = {
    "model": "bench",
    "messages": [{"role": "user", "content": "Write a paragraph."}],
    "stream": True,
}


class ServerFailed(Exception):
    """The local server did not start."""


@contextmanager
def server(tokens: int = TOKENS) -> Generator[str, None, None]:
    """Run ``bench/_sdk_server.py`` for the duration of the block; its base URL."""
    proc = subprocess.Popen(
        [sys.executable, str(BENCH_DIR / "_sdk_server.py"), str(tokens)],
        cwd=BENCH_DIR,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        if not url.startswith("http"):
            raise ServerFailed(f"the local server printed {url!r} (exit {proc.poll()})")
        yield url
    finally:
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


async def measure(
    base_url: str, requests: int, rounds: int, warmup: int = 3, tokens: int = TOKENS
) -> dict[str, Any]:
    """CPU seconds per request, raw SDK and through ``l0.wrap`` (defaults), in the running loop.

    Each round makes ``requests`` sequential requests per variant and reads ``time.process_time()``
    around them (this process's CPU time, every thread); the variants alternate their order from
    round to round. The overhead is the median over rounds of (l0 CPU / raw CPU) - 1: the two
    halves of a round are adjacent in time, so a drift of the machine cancels out.
    """
    import openai  # noqa: PLC0415 - only this figure needs it

    async with openai.AsyncOpenAI(base_url=base_url, api_key="bench", max_retries=0) as client:
        wrapped = l0.wrap(client)

        async def raw() -> None:
            chunks = 0
            create: Any = client.chat.completions.create  # overloads: **REQUEST picks none
            stream: Any = await create(**REQUEST)
            async with stream:
                async for chunk in stream:
                    if chunk.choices and chunk.choices[0].delta.content:
                        chunks += 1
            if chunks != tokens:
                raise AssertionError(f"raw SDK: {chunks} content chunks of {tokens}")

        async def through_l0() -> None:
            stream = cast("l0.Stream", await wrapped.chat.completions.create(**REQUEST))
            async for event in stream:
                if event.is_token:
                    _ = event.text
            if stream.state.token_count != tokens:
                raise AssertionError(f"l0.wrap: {stream.state.token_count} tokens of {tokens}")

        variants: dict[str, Callable[[], Awaitable[None]]] = {"raw": raw, "l0": through_l0}
        for _ in range(warmup):
            for fn in variants.values():
                await fn()
        cpu: dict[str, list[float]] = {"raw": [], "l0": []}
        wall: dict[str, list[float]] = {"raw": [], "l0": []}
        for r in range(rounds):
            for name in ("raw", "l0") if r % 2 == 0 else ("l0", "raw"):
                fn = variants[name]
                c0, w0 = time.process_time(), time.perf_counter()
                for _ in range(requests):
                    await fn()
                cpu[name].append((time.process_time() - c0) / requests)
                wall[name].append((time.perf_counter() - w0) / requests)
    ratios = [a / b for a, b in zip(cpu["l0"], cpu["raw"], strict=True) if b > 0]
    return {
        "overhead": statistics.median(ratios) - 1 if ratios else float("nan"),
        "raw_cpu_ms": statistics.median(cpu["raw"]) * 1e3,
        "l0_cpu_ms": statistics.median(cpu["l0"]) * 1e3,
        "raw_wall_ms": statistics.median(wall["raw"]) * 1e3,
        "l0_wall_ms": statistics.median(wall["l0"]) * 1e3,
        "requests": requests,
        "rounds": rounds,
        "tokens": tokens,
        "openai": openai.__version__,
    }
