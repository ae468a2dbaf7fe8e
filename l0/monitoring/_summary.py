"""Latency summaries in bounded memory: quantiles within 1 % relative error.

Values land in logarithmic buckets (bucket ``k`` holds ``(gamma**(k-1), gamma**k]`` with
``gamma = (1 + alpha) / (1 - alpha)``), the scheme of DDSketch: any quantile is then known
within a relative error ``alpha``, whatever the distribution, and memory depends on the spread
of the values (about 1,400 buckets from a microsecond to twelve days at 1 %), never on how many
there were. Past ``max_buckets`` the lowest buckets are merged, which only coarsens the
smallest values.
"""

from __future__ import annotations

import math

import msgspec

__all__ = ["Quantiles", "Summary"]


class Summary(msgspec.Struct, frozen=True, kw_only=True):
    """Count, mean, extremes and quantiles of a duration, in seconds (``None`` when empty).

    .. versionadded:: 0.1
    """

    count: int = 0
    mean: float | None = None
    min: float | None = None
    max: float | None = None
    p50: float | None = None
    p95: float | None = None
    p99: float | None = None


class Quantiles:
    """A mergeable log-bucket histogram of non-negative values. Not thread-safe by itself."""

    __slots__ = (
        "_buckets",
        "_gamma",
        "_log_gamma",
        "_zeros",
        "count",
        "max",
        "max_buckets",
        "min",
        "min_value",
        "total",
    )

    def __init__(
        self, alpha: float = 0.01, *, min_value: float = 1e-6, max_buckets: int = 2048
    ) -> None:
        if not 0 < alpha < 1:
            raise ValueError(f"alpha must be between 0 and 1, got {alpha}")
        self._gamma = (1 + alpha) / (1 - alpha)
        self._log_gamma = math.log(self._gamma)
        self.min_value = min_value
        self.max_buckets = max_buckets
        self._buckets: dict[int, int] = {}
        self._zeros = 0
        self.count = 0
        self.total = 0.0
        self.min = math.inf
        self.max = -math.inf

    def add(self, value: float) -> None:
        """Record one value (negative and NaN values are ignored)."""
        if not value >= 0:
            return
        self.count += 1
        self.total += value
        self.min = min(self.min, value)
        self.max = max(self.max, value)
        if value <= self.min_value:
            self._zeros += 1
            return
        key = math.ceil(math.log(value) / self._log_gamma)
        buckets = self._buckets
        buckets[key] = buckets.get(key, 0) + 1
        if len(buckets) > self.max_buckets:
            low, second = sorted(buckets)[:2]
            buckets[second] += buckets.pop(low)

    def quantile(self, q: float) -> float | None:
        """The ``q``-quantile (0 <= q <= 1) by nearest rank, within the relative error;
        ``None`` if empty."""
        if self.count == 0:
            return None
        index = max(0, math.ceil(q * self.count) - 1)
        seen = self._zeros
        if index < seen:
            return self.min
        value = self.max
        for key in sorted(self._buckets):
            seen += self._buckets[key]
            if index < seen:
                value = 2 * self._gamma**key / (self._gamma + 1)
                break
        return min(max(value, self.min), self.max)

    def summary(self) -> Summary:
        """This histogram as a :class:`Summary`."""
        if self.count == 0:
            return Summary()
        return Summary(
            count=self.count,
            mean=self.total / self.count,
            min=self.min,
            max=self.max,
            p50=self.quantile(0.5),
            p95=self.quantile(0.95),
            p99=self.quantile(0.99),
        )

    def __len__(self) -> int:
        return len(self._buckets) + (1 if self._zeros else 0)
