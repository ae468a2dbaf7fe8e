"""Configuration objects: ``Retry``, ``Timeout``, ``CheckIntervals``.

All are frozen attrs classes validated at construction; every duration is in seconds.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Literal, get_args

import attrs

from l0._errors import ConfigError, RetryReason

if TYPE_CHECKING:
    from l0._errors import L0Error

__all__ = ["CheckIntervals", "Retry", "RetryContext", "Timeout"]

BackoffStrategy = Literal["exponential", "linear", "fixed", "fixed-jitter", "full-jitter"]
_STRATEGIES: frozenset[str] = frozenset(get_args(BackoffStrategy))
_REASONS: frozenset[str] = frozenset(get_args(RetryReason))

DEFAULT_RETRY_ON: frozenset[RetryReason] = frozenset(
    (
        "zero_output",
        "guardrail_violation",
        "drift",
        "incomplete",
        "network_error",
        "timeout",
        "rate_limit",
        "server_error",
        "unknown",
    )
)


def _non_negative(name: str) -> Callable[[Any, Any, Any], None]:
    def check(_inst: Any, _attr: Any, value: Any) -> None:
        if value is None:
            return
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{name} must be a number of seconds or None, got {value!r}")
        if math.isnan(value) or value < 0:
            raise ConfigError(f"{name} must be >= 0 seconds, got {value!r}")

    return check


def _positive_or_none(name: str) -> Callable[[Any, Any, Any], None]:
    def check(_inst: Any, _attr: Any, value: Any) -> None:
        if value is None:
            return
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{name} must be a number of seconds or None, got {value!r}")
        if math.isnan(value) or value <= 0:
            raise ConfigError(f"{name} must be > 0 seconds (or None to disable), got {value!r}")

    return check


def _count(name: str) -> Callable[[Any, Any, Any], None]:
    def check(_inst: Any, _attr: Any, value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ConfigError(f"{name} must be an int >= 0, got {value!r}")

    return check


def _to_reasons(value: Iterable[str]) -> frozenset[RetryReason]:
    if isinstance(value, str):
        raise ConfigError(f"retry_on must be a collection of reasons, got the string {value!r}")
    try:
        reasons = frozenset(value)
    except TypeError:
        raise ConfigError(
            f"retry_on must be a collection of reasons, got {type(value).__name__}"
        ) from None
    unknown = reasons - _REASONS
    if unknown:
        raise ConfigError(
            f"retry_on has unknown reasons {sorted(unknown)}; valid: {sorted(_REASONS)}"
        )
    return reasons  # type: ignore[return-value]  # checked above


@attrs.frozen(kw_only=True)
class RetryContext:
    """What a custom ``should_retry`` / ``calculate_delay`` hook is told about a failure.

    ``retry`` is the number of the retry being considered (1 for the first retry of this source).
    """

    error: L0Error
    retry: int
    attempt: int
    source_index: int
    model_retries: int
    network_retries: int
    default_delay: float


def _callable_or_none(name: str) -> Callable[[Any, Any, Any], None]:
    def check(_inst: Any, _attr: Any, value: Any) -> None:
        if value is not None and not callable(value):
            raise ConfigError(f"{name} must be a callable or None, got {type(value).__name__}")

    return check


def _check_strategy(_inst: Any, _attr: Any, value: str) -> None:
    if not isinstance(value, str) or value not in _STRATEGIES:  # pyright: ignore[reportUnnecessaryIsInstance]
        raise ConfigError(f"strategy must be one of {sorted(_STRATEGIES)}, got {value!r}")


@attrs.frozen(kw_only=True)
class Retry:
    """When and how fast to retry a failed attempt of the same source.

    Budgets, per source (the counters start again for each fallback):

    * ``attempts``: retries for content and model failures (zero output, guardrail, drift,
      unclassified source errors).
    * ``max_retries``: retries of any kind, including network and timeout failures, which do not
      use ``attempts``. So a flaky network cannot make a bad answer retry forever, and vice versa.

    The overall budget is time: ``Timeout.total`` and the caller's own deadline
    (:func:`anyio.current_effective_deadline`); backoff never sleeps past either.

    Delay for retry *k* (k = 1 for the first retry): ``exponential`` base·2^(k-1),
    ``linear`` base·k, ``fixed`` base, ``fixed-jitter`` half of the exponential delay plus a
    random half, ``full-jitter`` uniform in [0, exponential delay]; always capped at
    ``max_delay``. A ``retry_after`` from the provider (HTTP 429/503) wins over a shorter
    delay, capped at ``max_retry_after``.
    """

    attempts: int = attrs.field(default=3, validator=_count("Retry.attempts"))
    max_retries: int = attrs.field(default=6, validator=_count("Retry.max_retries"))
    base_delay: float = attrs.field(default=1.0, validator=_non_negative("Retry.base_delay"))
    max_delay: float = attrs.field(default=10.0, validator=_non_negative("Retry.max_delay"))
    strategy: BackoffStrategy = attrs.field(default="fixed-jitter", validator=_check_strategy)
    retry_on: frozenset[RetryReason] = attrs.field(default=DEFAULT_RETRY_ON, converter=_to_reasons)
    should_retry: Callable[[RetryContext], bool | None] | None = attrs.field(
        default=None, validator=_callable_or_none("Retry.should_retry")
    )
    calculate_delay: Callable[[RetryContext], float | None] | None = attrs.field(
        default=None, validator=_callable_or_none("Retry.calculate_delay")
    )
    max_retry_after: float = attrs.field(
        default=60.0, validator=_non_negative("Retry.max_retry_after")
    )

    def backoff(self, retry: int, rng: random.Random) -> float:
        """The strategy's delay in seconds before retry number ``retry`` (1-based)."""
        base, cap = self.base_delay, self.max_delay
        strategy = self.strategy
        if strategy == "fixed":
            return min(base, cap)
        if strategy == "linear":
            return min(base * retry, cap)
        # 2**k overflows float beyond ~1024: clamp the exponent before it can.
        exp = min(cap, base * 2.0 ** min(retry - 1, 60))
        if strategy == "exponential":
            return exp
        if strategy == "full-jitter":
            return rng.uniform(0.0, exp)
        return exp / 2 + rng.uniform(0.0, exp / 2)  # fixed-jitter

    @classmethod
    def minimal(cls) -> Retry:
        """Two content retries, linear backoff."""
        return cls(attempts=2, max_retries=4, strategy="linear")

    @classmethod
    def recommended(cls) -> Retry:
        """The defaults: three content retries, six in all, fixed-jitter backoff."""
        return cls()

    @classmethod
    def strict(cls) -> Retry:
        """The defaults with full-jitter backoff (best for many concurrent clients)."""
        return cls(strategy="full-jitter")

    @classmethod
    def exponential(cls) -> Retry:
        """Four content retries, eight in all, plain exponential backoff."""
        return cls(attempts=4, max_retries=8, strategy="exponential")


@attrs.frozen(kw_only=True)
class Timeout:
    """Deadlines of a stream, in seconds; ``None`` disables one.

    * ``initial_token``: from the start of an attempt (the factory call included) to its first
      content.
    * ``inter_token``: the longest wait for the next content once some has arrived. Keep-alives,
      empty chunks and progress events do not count as content.
    * ``total``: the whole stream, every attempt and backoff included; when it passes the
      stream fails with ``TOTAL_TIMEOUT`` and is not retried.
    """

    initial_token: float | None = attrs.field(
        default=30.0, validator=_positive_or_none("Timeout.initial_token")
    )
    inter_token: float | None = attrs.field(
        default=10.0, validator=_positive_or_none("Timeout.inter_token")
    )
    total: float | None = attrs.field(default=None, validator=_positive_or_none("Timeout.total"))

    @classmethod
    def disabled(cls) -> Timeout:
        """No deadlines at all."""
        return cls(initial_token=None, inter_token=None, total=None)


@attrs.frozen(kw_only=True)
class CheckIntervals:
    """How often (in content events) the periodic checks run.

    ``guardrails``: streaming guardrail checks (default every 15); ``drift``: drift
    detection (every 25); ``checkpoint``: saving the last-known-good checkpoint used for
    continuation (every 20). The defaults are ai2070-l0's. Each check costs time linear in
    the text added since the previous one, so lower values cost more per check call, not
    per character: lower them for violations caught a few tokens sooner, raise them for the
    last bit of throughput. The completion checks always see the whole output.
    """

    guardrails: int = attrs.field(default=15, validator=_count("CheckIntervals.guardrails"))
    drift: int = attrs.field(default=25, validator=_count("CheckIntervals.drift"))
    checkpoint: int = attrs.field(default=20, validator=_count("CheckIntervals.checkpoint"))
