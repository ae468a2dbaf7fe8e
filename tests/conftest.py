"""Backend matrix for the anyio pytest plugin.

Every test that uses the ``anyio_backend`` fixture (every ``async def`` test, through
``anyio_mode = "auto"`` or ``@pytest.mark.anyio``) runs on:

* ``asyncio`` and ``trio`` by default;
* ``asyncio`` and ``trio-mockclock`` when marked ``@pytest.mark.timing``: trio with a fresh
  ``trio.testing.MockClock(autojump_threshold=0)``, so sleeps and timeouts complete
  instantly and exactly.

With ``L0_TEST_LOOP=uvloop`` in the environment, the asyncio variant runs on uvloop.
``L0_HYPOTHESIS_PROFILE=soak`` loads the Hypothesis profile with many more examples.
Tests marked ``slow`` run only when a ``-m`` expression selects them (``-m slow``).

A test may still pin its own backend(s) with
``@pytest.mark.parametrize("anyio_backend", [...])``; this hook then leaves it alone.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
import trio.testing
from hypothesis import settings

import l0.testing

# Hypothesis: the default profile in the default run; L0_HYPOTHESIS_PROFILE=soak (set by
# `nox -s soak`) runs 20 times as many examples, with no deadline.
settings.register_profile("soak", max_examples=2000, deadline=None)
settings.load_profile(os.environ.get("L0_HYPOTHESIS_PROFILE", "default"))

_ASYNCIO = "asyncio"
_TRIO = "trio"
_TRIO_MOCKCLOCK = "trio-mockclock"


def _explicitly_parametrized(metafunc: pytest.Metafunc) -> bool:
    for marker in metafunc.definition.iter_markers("parametrize"):
        argnames = marker.args[0] if marker.args else marker.kwargs.get("argnames", ())
        if isinstance(argnames, str):
            argnames = [name.strip() for name in argnames.split(",")]
        if "anyio_backend" in argnames:
            return True
    return False


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Leave the ``slow`` tests out unless a ``-m`` expression asks for them (``-m slow``,
    ``nox -s soak``): the default run is the short version."""
    if config.option.markexpr:
        return
    slow = [item for item in items if item.get_closest_marker("slow") is not None]
    if slow:
        config.hook.pytest_deselected(items=slow)
        items[:] = [item for item in items if item.get_closest_marker("slow") is None]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "anyio_backend" not in metafunc.fixturenames or _explicitly_parametrized(metafunc):
        return
    if metafunc.definition.get_closest_marker("timing") is not None:
        variants = [_ASYNCIO, _TRIO_MOCKCLOCK]
    else:
        variants = [_ASYNCIO, _TRIO]
    metafunc.parametrize("anyio_backend", variants, ids=variants, indirect=True)


@pytest.fixture
def anyio_backend(request: pytest.FixtureRequest) -> str | tuple[str, dict[str, Any]]:
    """The backend (and its options) that the anyio pytest plugin runs the test on."""
    variant: str = getattr(request, "param", _ASYNCIO)
    if variant == _ASYNCIO:
        if os.environ.get("L0_TEST_LOOP") == "uvloop":
            return (_ASYNCIO, {"use_uvloop": True})
        return _ASYNCIO
    if variant == _TRIO_MOCKCLOCK:
        return (_TRIO, {"clock": trio.testing.MockClock(autojump_threshold=0)})
    return variant


@pytest.fixture
def zero_backoff() -> Iterator[None]:
    """l0's test mode for the test: no backoff sleeps between attempts."""
    with l0.testing.set_testing():
        yield
