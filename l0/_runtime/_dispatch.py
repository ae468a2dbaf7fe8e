"""Delivering the engine's notices to ``on_event`` and the ``on_*`` callbacks."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from l0._engine import Notice

__all__ = ["Dispatcher"]

logger = logging.getLogger("l0")


class Dispatcher:
    """Calls the user's callbacks; a callback that raises is logged and ignored.

    Callbacks may be sync or async; async ones are awaited in order, in the consumer's task, so
    they see events in lifecycle order. Only ``Exception`` is caught: cancellation and
    ``KeyboardInterrupt`` propagate.
    """

    __slots__ = ("_callbacks", "on_event", "on_token")

    def __init__(self, callbacks: Mapping[str, Callable[..., Any] | None]) -> None:
        self._callbacks = {name: fn for name, fn in callbacks.items() if fn is not None}
        self.on_event = self._callbacks.get("on_event")
        self.on_token = self._callbacks.get("on_token")

    @property
    def observed(self) -> bool:
        """Whether anyone listens to observability events."""
        return self.on_event is not None

    async def call(self, name: str, fn: Callable[..., Any], args: Sequence[Any]) -> None:
        """Call one callback, awaiting it if it is async; log what it raises."""
        try:
            result = fn(*args)
            if inspect.isawaitable(result):
                await result
        except Exception:
            logger.exception("l0 callback %s raised; the stream goes on", name)

    async def deliver(self, notices: Sequence[Notice]) -> None:
        """Deliver ``notices`` in order."""
        callbacks = self._callbacks
        on_event = self.on_event
        for notice in notices:
            if on_event is not None and notice.event is not None:
                await self.call("on_event", on_event, (notice.event,))
            if notice.callback is not None:
                fn = callbacks.get(notice.callback)
                if fn is not None:
                    await self.call(notice.callback, fn, notice.args)
