"""Protection against retry storms: a retry budget shared by a session, and a circuit breaker
per source. Both are plain synchronous objects driven by the engine with the time it is given,
so they are deterministic and need no task of their own.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any, Literal

import attrs

from l0._errors import ConfigError

__all__ = ["CircuitBreaker", "CircuitState", "RetryBudget", "named", "source_key"]

CircuitState = Literal["closed", "open", "half_open"]


def _positive(_inst: Any, attr: attrs.Attribute[Any], value: float) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:  # pyright: ignore[reportUnnecessaryIsInstance]
        raise ConfigError(f"{attr.name} must be a number > 0, got {value!r}")


def _non_negative(_inst: Any, attr: attrs.Attribute[Any], value: float) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:  # pyright: ignore[reportUnnecessaryIsInstance]
        raise ConfigError(f"{attr.name} must be a number >= 0, got {value!r}")


@attrs.define(eq=False)
class RetryBudget:
    """A token bucket of retries, shared by every stream that is given it (a session gives
    its own to all of its streams), in the spirit of the AWS SDKs' retry quota.

    Each retry takes ``cost`` tokens (``timeout_cost`` when the failure was a timeout); a
    stream that completes returns ``refund`` tokens, plus what its retries took when it
    needed them. When the bucket cannot pay for a retry, the stream does not retry (it falls
    back, or fails): during an outage, retries stop multiplying the load after
    ``capacity / cost`` of them, and resume as requests succeed again. First attempts and
    fallbacks are never refused.
    """

    capacity: float = attrs.field(default=500.0, validator=_positive)
    cost: float = attrs.field(default=5.0, validator=_non_negative)
    timeout_cost: float = attrs.field(default=10.0, validator=_non_negative)
    refund: float = attrs.field(default=1.0, validator=_non_negative)
    available: float = attrs.field(init=False)
    """Tokens in the bucket now."""
    refused: int = attrs.field(init=False, default=0)
    """Retries refused so far for lack of tokens."""

    def __attrs_post_init__(self) -> None:
        self.available = self.capacity

    def acquire(self, timeout: bool) -> float | None:
        """Take the tokens for one retry; returns what was taken, or None (refused)."""
        cost = self.timeout_cost if timeout else self.cost
        if cost > self.available:
            self.refused += 1
            return None
        self.available -= cost
        return cost

    def release(self, taken: float) -> None:
        """A stream completed after its retries took ``taken`` tokens: give those back, and
        ``refund`` more (capped at ``capacity``)."""
        self.available = min(self.capacity, self.available + taken + self.refund)


@attrs.define(eq=False)
class _Circuit:
    failures: int = 0
    state: CircuitState = "closed"
    opened_at: float = 0.0
    probing: bool = False


@attrs.define(eq=False)
class CircuitBreaker:
    """Skips a source known to be down, straight to the next one, and probes it again later.

    Shared by the streams that are given it (a session's streams, a pool's operations). A
    source's circuit opens after ``failure_threshold`` consecutive attempts on it failed for
    a reason that says the provider is unwell (a network error, a timeout, a 5xx, a 429);
    while it is open, attempts on that source are not made at all: the stream moves to its
    next source at once (with a :class:`~l0.CircuitOpen` error for the skipped one). After
    ``recovery_time`` seconds one attempt is let through as a probe ("half open"): if it
    succeeds the circuit closes, if it fails it opens again for another ``recovery_time``.
    Content failures (guardrails, zero output, invalid tool calls) do not count.

    Sources are told apart by key: the name given with :func:`l0.named`, the client and
    model for :func:`l0.wrap`, otherwise the factory object itself.
    """

    failure_threshold: int = attrs.field(default=5, validator=_positive)
    recovery_time: float = attrs.field(default=30.0, validator=_positive)
    _circuits: dict[Hashable, _Circuit] = attrs.field(init=False, factory=dict[Hashable, _Circuit])

    def state(self, key: Hashable) -> CircuitState:
        """The circuit of source ``key`` as last seen (``open`` turns ``half_open`` when an
        attempt is asked for after ``recovery_time``)."""
        circuit = self._circuits.get(key)
        return circuit.state if circuit is not None else "closed"

    def allow(self, key: Hashable, now: float) -> bool:
        """Whether an attempt on source ``key`` may be made now."""
        circuit = self._circuits.get(key)
        if circuit is None or circuit.state == "closed":
            return True
        if circuit.state == "open":
            if now - circuit.opened_at < self.recovery_time:
                return False
            circuit.state = "half_open"
            circuit.probing = False
        if circuit.probing:
            return False  # one probe at a time
        circuit.probing = True
        return True

    def release(self, key: Hashable) -> None:
        """An attempt on ``key`` ended without saying whether the source is healthy (a
        content failure, an abort): a probe it was may be made again."""
        circuit = self._circuits.get(key)
        if circuit is not None:
            circuit.probing = False

    def success(self, key: Hashable) -> None:
        """An attempt on ``key`` succeeded: its circuit closes."""
        self._circuits.pop(key, None)

    def failure(self, key: Hashable, now: float) -> bool:
        """An attempt on ``key`` failed in a way that counts; True if the circuit opened now."""
        circuit = self._circuits.get(key)
        if circuit is None:
            circuit = self._circuits[key] = _Circuit()
        if circuit.state == "half_open":
            circuit.state, circuit.opened_at, circuit.probing = "open", now, False
            return True
        circuit.failures += 1
        if circuit.state == "closed" and circuit.failures >= self.failure_threshold:
            circuit.state, circuit.opened_at = "open", now
            return True
        return False


class _Named:
    """A factory with a source name (see :func:`named`)."""

    __slots__ = ("factory", "l0_source", "wants_context")

    def __init__(self, factory: Callable[..., Any], name: Hashable) -> None:
        from l0._runtime._options import wants_context  # noqa: PLC0415 - import cycle

        self.factory = factory
        self.l0_source = name
        self.wants_context = wants_context(factory)

    def __call__(self, ctx: Any) -> Any:
        return self.factory(ctx) if self.wants_context else self.factory()

    def __repr__(self) -> str:
        return f"l0.named({self.factory!r}, {self.l0_source!r})"


def named(factory: Callable[..., Any], name: Hashable) -> Callable[[Any], Any]:
    """``factory`` under the name ``name``: the key a :class:`CircuitBreaker` knows its
    source by, so that the new factory objects a program makes for each request to the same
    provider share one circuit. The result is a factory (it takes the attempt context and
    passes it on if ``factory`` wants it)."""
    if not callable(factory):
        raise ConfigError(f"named() needs a factory (a callable), got {type(factory).__name__}")
    return _Named(factory, name)


def source_key(factory: object) -> Hashable:
    """The key of a factory's source (see :class:`CircuitBreaker`)."""
    key = getattr(factory, "l0_source", None)
    return key if key is not None else factory
