"""The global test switch behind :func:`l0.testing.set_testing`."""

from __future__ import annotations

from types import TracebackType

import attrs

from l0._config import Retry
from l0._errors import ConfigError

__all__ = ["TestingMode", "apply", "current", "set_testing"]


@attrs.frozen
class TestingMode:
    """Whether test mode is on, and the retry cap it imposes."""

    enabled: bool = False
    attempts: int | None = None


_mode = TestingMode()


def current() -> TestingMode:
    """The mode in force."""
    return _mode


def apply(retry: Retry) -> Retry:
    """``retry`` with the test mode's attempt cap applied."""
    if not _mode.enabled or _mode.attempts is None:
        return retry
    cap = _mode.attempts
    return attrs.evolve(
        retry, attempts=min(retry.attempts, cap), max_retries=min(retry.max_retries, cap)
    )


class _Restore:
    """Returned by :func:`set_testing`; leaving it restores the previous mode."""

    def __init__(self, previous: TestingMode) -> None:
        self._previous = previous

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        global _mode
        _mode = self._previous


def set_testing(enabled: bool = True, *, attempts: int | None = None) -> _Restore:
    """Turn test mode on (no backoff sleeps; retries capped at ``attempts``) or off.

    Works as a plain call or as a context manager that restores the previous mode::

        with l0.testing.set_testing(attempts=1):
            ...
    """
    global _mode
    if attempts is not None and (
        isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 0  # pyright: ignore[reportUnnecessaryIsInstance]
    ):
        raise ConfigError(f"set_testing(attempts=...) must be an int >= 0, got {attempts!r}")
    previous = _mode
    _mode = TestingMode(enabled=enabled, attempts=attempts if enabled else None)
    return _Restore(previous)
