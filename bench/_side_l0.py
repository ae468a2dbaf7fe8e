"""l0's consumers (this checkout's l0): what the figures time on l0's side.

Each consumer reads one stream to its end with ``async for``, the way a user does, and checks
that it ended with ``l0.Complete``; it returns ``state.token_count``.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # measure this checkout's l0, installed or not
    sys.path.insert(1, str(REPO))

import _common as c  # noqa: E402

import l0  # noqa: E402

NAME = "l0"


def full_stack_options() -> dict[str, Any]:
    """The full stack: recommended guardrails, drift detection, checkpoints (continuation) and
    the default timeouts (30 s to the first token, 10 s between tokens), l0's default check
    intervals (guardrails every 15 tokens, drift every 25, a checkpoint every 20: ai2070-l0's)."""
    return {
        "guardrails": l0.Guardrails.recommended(),
        "drift": True,
        "continue_from_last_good_token": True,
        "timeout": l0.Timeout(),
    }


async def _read(stream: l0.Stream) -> int:
    last: Any = None
    async for last in stream:  # noqa: B007 - the last event is checked below
        pass
    if type(last) is not l0.Complete:
        raise AssertionError(f"l0 stream ended with {last!r:.100}")
    return stream.state.token_count


async def core(factory: c.Factory) -> int:
    """l0 core with its defaults (timeouts on: 30 s first token, 10 s between tokens)."""
    return await _read(l0.run(factory))


async def core_no_timeouts(factory: c.Factory) -> int:
    """l0 core with ``timeout=None``."""
    return await _read(l0.run(factory, timeout=None))


async def full(factory: c.Factory) -> int:
    """l0 with the full stack (:func:`full_stack_options`), built per stream as a user would."""
    return await _read(l0.run(factory, **full_stack_options()))


CONSUMERS: dict[str, c.Consumer] = {
    "core": core,
    "core_no_timeouts": core_no_timeouts,
    "full": full,
}


async def _ttft(delay: float, tokens: Sequence[str], **options: Any) -> float:
    t0 = c.perf_counter()
    stream = l0.run(lambda: c.delayed_source(delay, tokens), **options)
    async for event in stream:
        if event.is_token:
            elapsed = c.perf_counter() - t0
            break
    else:  # pragma: no cover - the source always yields
        raise AssertionError("l0: no first token")
    await stream.aclose()
    return elapsed


async def ttft_core(delay: float, tokens: Sequence[str]) -> float:
    """Seconds from ``l0.run(...)`` to holding the first token (defaults: timeouts on)."""
    return await _ttft(delay, tokens)


async def ttft_core_no_timeouts(delay: float, tokens: Sequence[str]) -> float:
    """The same with ``timeout=None``."""
    return await _ttft(delay, tokens, timeout=None)


def version() -> str:
    """The l0 version and where it was imported from."""
    return f"{c.dist_version('l0') or '(not installed)'} from {Path(l0.__file__).parent}"
