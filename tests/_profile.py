"""Example counts for the Hypothesis tests of the reliability suite: modest in the default run,
twenty times more with ``L0_HYPOTHESIS_PROFILE=soak`` (``nox -s soak``; the profile itself is
registered in tests/conftest.py)."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

__all__ = ["SOAK", "examples"]

SOAK = os.environ.get("L0_HYPOTHESIS_PROFILE") == "soak"


def examples(n: int) -> settings:
    """Settings for ``n`` examples (``20 * n`` under the soak profile), no deadline."""
    return settings(
        max_examples=n * (20 if SOAK else 1),
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
