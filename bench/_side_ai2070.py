"""ai2070-l0's consumers: the same workloads through ai2070-l0, in its own virtual environment.

ai2070-l0 installs a package named ``l0`` too, so this module runs only in the venv that
``bench/_ai2070.py`` makes (it refuses to run against any other ``l0``). It imports only
ai2070-l0, anyio and ``_common`` (stdlib + anyio).

ai2070-l0 is asyncio-only. Its documented entry point is ``result = await l0.run(stream=factory,
...)`` then ``async for event in result``. Its built-in adapters take OpenAI/LiteLLM chunks or its
own ``Event`` objects (anything else is dropped), so a plain stream of strings goes through a
minimal adapter passed as ``adapter=`` (a documented option) that turns each string into a token
``Event``: the same work l0 does for a string source.
"""

from __future__ import annotations

import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import _common as c

import l0  # ai2070-l0  # pyright: ignore[reportMissingImports]
from l0.adapters import AdaptedEvent  # pyright: ignore[reportMissingImports]
from l0.drift import DriftDetector  # pyright: ignore[reportMissingImports]
from l0.types import Event, EventType  # pyright: ignore[reportMissingImports]

if not Path(l0.__file__).resolve().is_relative_to(Path(sys.prefix).resolve()):
    raise SystemExit(f"_side_ai2070: imported the wrong l0: {l0.__file__}")

NAME = "ai2070-l0"
_TOKEN = EventType.TOKEN
TIMEOUTS_ON = l0.Timeout(initial_token=30_000, inter_token=10_000)  # ms: l0's defaults (30 s, 10 s)


class TextAdapter:
    """Plain ``str`` chunks -> token events (ai2070-l0's Adapter protocol)."""

    name = "text"

    def detect(self, stream: Any) -> bool:
        return hasattr(stream, "__aiter__")

    async def wrap(self, stream: Any, options: Any = None) -> Any:
        async for text in stream:
            yield AdaptedEvent(event=Event(type=_TOKEN, text=text), raw_chunk=None)


ADAPTER = TextAdapter()


async def _read(factory: c.Factory, **options: Any) -> int:
    result = await l0.run(stream=factory, adapter=ADAPTER, **options)
    async for _ in result:
        pass
    return result.state.token_count


async def core(factory: c.Factory) -> int:
    """ai2070-l0 with the same deadlines as l0's defaults (its own default is no timeouts)."""
    return await _read(factory, timeout=TIMEOUTS_ON)


async def core_no_timeouts(factory: c.Factory) -> int:
    """ai2070-l0 with its defaults (no timeouts)."""
    return await _read(factory)


async def full(factory: c.Factory) -> int:
    """The full stack as ai2070-l0 spells it: ``Guardrails.recommended()``, a ``DriftDetector``,
    ``continue_from_last_good_token=True`` (checkpoints) and timeouts, its default check
    intervals (guardrails every 15 tokens, drift every 25, a checkpoint every 20)."""
    return await _read(
        factory,
        timeout=TIMEOUTS_ON,
        guardrails=l0.Guardrails.recommended(),
        drift_detector=DriftDetector(),
        continue_from_last_good_token=True,
    )


CONSUMERS: dict[str, c.Consumer] = {
    "core": core,
    "core_no_timeouts": core_no_timeouts,
    "full": full,
}


def version() -> str:
    """The ai2070-l0 version."""
    return metadata.version("ai2070-l0")
