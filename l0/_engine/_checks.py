"""The periodic checks of a stream's output: streaming guardrails and drift detection.

Holds each attempt's checkers and how much of the output each has seen; the engine calls it
every few tokens (``CheckIntervals``) and acts on what it returns. Pure and synchronous.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from l0._events._observability import GuardrailViolation
    from l0._guardrails import (
        AsyncGuardrailsChecker,
        DriftDetector,
        DriftMonitor,
        DriftResult,
        Guardrails,
        GuardrailsChecker,
    )

__all__ = ["Checks"]


class _Fed:
    """How much of the attempt's output (parts, characters) a checker has been given."""

    __slots__ = ("chars", "parts")

    def __init__(self) -> None:
        self.parts = 0
        self.chars = 0

    def take(self, parts: list[str]) -> tuple[str, int] | None:
        """The output not yet given (and its offset), or ``None`` if there is none."""
        if self.parts >= len(parts):
            return None
        delta = "".join(parts[self.parts :])
        self.parts = len(parts)
        offset = self.chars
        self.chars += len(delta)
        return delta, offset


class Checks:
    """A stream's guardrails and drift detector, and their per-attempt state."""

    __slots__ = (
        "_async_fed",
        "_drift_fed",
        "_guard_fed",
        "async_checker",
        "async_names",
        "drift",
        "drift_monitor",
        "guard_checker",
        "guardrails",
        "sync_names",
    )

    def __init__(self, guardrails: Guardrails | None, drift: DriftDetector | None) -> None:
        self.guardrails = guardrails if guardrails else None
        rules = tuple(guardrails or ())
        self.sync_names: tuple[str, ...] = tuple(r.name for r in rules if not r.is_async)
        """The synchronous rules' names, in order (for the per-rule events)."""
        self.async_names: tuple[str, ...] = tuple(r.name for r in rules if r.is_async)
        self.drift = drift
        self.guard_checker: GuardrailsChecker | None = None
        self.async_checker: AsyncGuardrailsChecker | None = None
        """The asynchronous rules' checker of this attempt (the runtime awaits it)."""
        self.drift_monitor: DriftMonitor | None = None
        self._guard_fed = _Fed()
        self._async_fed = _Fed()
        self._drift_fed = _Fed()

    def start_attempt(self) -> None:
        """Fresh checkers for a new attempt (a resumed attempt's kept output is fed to them
        from the start at the next check, so it is validated again)."""
        guardrails = self.guardrails
        self.guard_checker = guardrails.start() if guardrails is not None else None
        self.async_checker = (
            guardrails.start_async() if guardrails is not None and guardrails.has_async else None
        )
        self.drift_monitor = self.drift.start() if self.drift is not None else None
        self._guard_fed = _Fed()
        self._async_fed = _Fed()
        self._drift_fed = _Fed()

    def async_pending(self, parts: list[str]) -> tuple[str, int] | None:
        """The output the asynchronous rules have not seen yet (and its offset)."""
        return self._async_fed.take(parts)

    def feed_guardrails(self, parts: list[str]) -> Sequence[GuardrailViolation] | None:
        """New violations in the output not yet checked; None if there was nothing to check."""
        checker = self.guard_checker
        if checker is None:
            return None
        pending = self._guard_fed.take(parts)
        if pending is None:
            return None
        return checker.feed(*pending)

    def finish_guardrails(self, text: str) -> Sequence[GuardrailViolation]:
        """The completion checks (and the streaming checks of anything never fed)."""
        checker = self.guard_checker
        return checker.finish(text) if checker is not None else ()

    def feed_drift(self, parts: list[str]) -> DriftResult | None:
        """The drift verdict on the output not yet checked, if a check completed."""
        monitor = self.drift_monitor
        if monitor is None:
            return None
        pending = self._drift_fed.take(parts)
        if pending is None:
            return None
        return monitor.feed(pending[0])
