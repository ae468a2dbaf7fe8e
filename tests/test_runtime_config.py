"""Configuration errors: invalid values raise ConfigError naming the field."""

from __future__ import annotations

import gc
import sys
import warnings
from collections.abc import Callable
from typing import Any

import pytest

import l0
import l0.testing
from l0 import ErrorCode
from tests._sources import Script


def src() -> Script:
    return Script(["a"])


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda: l0.Retry(attempts=-1), "attempts"),
        (lambda: l0.Retry(attempts=1.5), "attempts"),
        (lambda: l0.Retry(max_retries=-1), "max_retries"),
        (lambda: l0.Retry(base_delay=-0.1), "base_delay"),
        (lambda: l0.Retry(max_delay=float("nan")), "max_delay"),
        (lambda: l0.Retry(max_retry_after=-1), "max_retry_after"),
        (lambda: l0.Retry(strategy="nope"), "strategy"),
        (lambda: l0.Retry(retry_on={"nope"}), "retry_on"),
        (lambda: l0.Retry(retry_on="timeout"), "retry_on"),
        (lambda: l0.Timeout(initial_token=0), "initial_token"),
        (lambda: l0.Timeout(inter_token=-1), "inter_token"),
        (lambda: l0.Timeout(total=0), "total"),
        (lambda: l0.Timeout(total="5"), "total"),
        (lambda: l0.CheckIntervals(guardrails=-1), "guardrails"),
        (lambda: l0.run(stream=123), "stream"),
        (lambda: l0.run(stream=None), "stream"),
        (lambda: l0.run(src(), fallbacks=[1]), "fallbacks"),
        (lambda: l0.run(src(), fallbacks=src()), "fallbacks"),
        (lambda: l0.run(src(), retry=3), "retry"),
        (lambda: l0.run(src(), timeout=5), "timeout"),
        (lambda: l0.run(src(), check_intervals=3), "check_intervals"),
        (lambda: l0.run(src(), context=object()), "context"),
        (lambda: l0.run(src(), context=["not", "a", "mapping"]), "context"),
        (lambda: l0.run(src(), context={"a": object()}), "context"),
        (lambda: l0.run(src(), context={1: "x"}), "context"),
        (lambda: l0.run(src(), on_token=42), "on_token"),
        (lambda: l0.session(retry="often"), "retry"),
        (lambda: l0.testing.set_testing(attempts=-1), "attempts"),
    ],
)
def test_invalid_values_raise_config_error_naming_the_field(
    make: Callable[[], Any], field: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An invalid configuration value raises ConfigError whose message names the field."""
    # A half-built object's finalizer is checked by its own test below; keep it from
    # spilling into this one (or a later one) as an unraisable exception.
    monkeypatch.setattr(sys, "unraisablehook", lambda _unraisable: None)
    with pytest.raises(l0.ConfigError) as info:
        make()
    assert field in str(info.value)
    assert info.value.code == ErrorCode.INVALID_CONFIG
    assert isinstance(info.value, ValueError)
    del info
    gc.collect()


@pytest.mark.parametrize(
    "context", [object(), {"a": object()}, {1: "x"}], ids=["obj", "val", "key"]
)
def test_config_errors_leave_no_half_built_stream_behind(
    context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run() rejected for its context leaves nothing that fails or warns when collected."""
    unraisable: list[str] = []
    monkeypatch.setattr(
        sys, "unraisablehook", lambda u: unraisable.append(f"{u.exc_type.__name__}: {u.exc_value}")
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(l0.ConfigError):
            l0.run(src(), context=context)
        gc.collect()
    assert unraisable == []
    assert [str(w.message) for w in caught] == []


def test_valid_configuration_is_accepted() -> None:
    """Boundary values that are valid are accepted."""
    retry = l0.Retry(attempts=0, max_retries=0, base_delay=0, max_delay=0)
    timeout = l0.Timeout(initial_token=None, inter_token=None, total=None)
    assert (retry.attempts, retry.max_retries) == (0, 0)
    assert timeout == l0.Timeout.disabled()
    assert isinstance(l0.run(src(), retry=retry, timeout=timeout, context={}), l0.Stream)
