"""A tour of l0's runtime core against scripted, misbehaving sources.

Run it with ``python3 -m uv run python docs/examples/quickstart.py`` (add ``--backend trio`` to
run the same on trio). No API key or network is needed: the "models" are async generators that
stall, break and drop mid-stream the way real providers do.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import AsyncIterator

import anyio

import l0


async def flaky_model(attempt: int) -> AsyncIterator[str]:
    """Stalls on its first attempt, drops the connection on its second, then works."""
    words = ["Reliable ", "streams ", "survive ", "the ", "real ", "world."]
    for i, word in enumerate(words):
        if attempt == 1 and i == 2:
            await anyio.sleep(3600)  # a stall: l0's inter-token timeout ends it
        if attempt == 2 and i == 4:
            raise ConnectionResetError("connection reset by peer")
        await anyio.sleep(0.01)
        yield word


async def dead_model() -> AsyncIterator[str]:
    """Fails before saying anything."""
    raise ConnectionRefusedError("connection refused")
    yield ""  # pragma: no cover - makes this an async generator


async def backup_model() -> AsyncIterator[str]:
    """A fallback that works."""
    for word in ["The ", "fallback ", "answered."]:
        await anyio.sleep(0.01)
        yield word


def show(event: l0.events.ObservabilityEvent) -> None:
    interesting = (
        l0.events.TimeoutTriggered,
        l0.events.Error,
        l0.events.RetryAttempt,
        l0.events.FallbackStart,
        l0.events.Complete,
    )
    if isinstance(event, interesting):
        fields = _fields(event)
        print(f"\n  [{event.event_type.value}] {fields}")


def _fields(event: l0.events.ObservabilityEvent) -> dict[str, object]:
    skip = {"ts", "stream_id", "context", "state", "policy"}
    return {name: getattr(event, name) for name in event.__struct_fields__ if name not in skip}


async def main() -> None:
    print("1) A model that stalls, then drops the connection, then answers:")
    stream = l0.run(
        lambda ctx: flaky_model(ctx.attempt),
        retry=l0.Retry(attempts=3, base_delay=0.05, strategy="fixed"),
        timeout=l0.Timeout(initial_token=1.0, inter_token=0.2),
        on_event=show,
    )
    async for event in stream:
        if isinstance(event, l0.Token):
            print(event.text, end="", flush=True)
        elif isinstance(event, l0.Reset):
            print(f"\n  <reset: {event.discarded} chars discarded>")
    print(f"\n  -> {stream.state.content!r} after {stream.state.retry_count} retries\n")

    print("2) A dead primary falls back to a second model:")
    text = await l0.run(
        dead_model,
        fallbacks=[backup_model],
        retry=l0.Retry(attempts=1, max_retries=1, base_delay=0.05, strategy="fixed"),
        on_event=show,
    ).read()
    print(f"\n  -> {text!r}\n")

    print("3) When everything fails, one typed error says what happened:")
    try:
        await l0.run(dead_model, retry=l0.Retry(max_retries=1, base_delay=0.01)).read()
    except l0.AllStreamsExhausted as exc:
        print(f"  -> {exc.code.value}: {[e.code.value for e in exc.errors]}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backend", choices=["asyncio", "trio"], default="asyncio")
    args = parser.parse_args()
    anyio.run(main, backend=args.backend)
    sys.exit(0)
