"""pytest fixtures for testing code that uses l0 (registered as the ``l0`` pytest plugin).

* ``l0_server``: a running :class:`~l0.testing.FakeServer` for the test (async fixture: run
  the test with the anyio pytest plugin, on asyncio or trio);
* ``l0_fake_stream``: the :func:`~l0.testing.fake_stream` factory.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from l0.testing._fakes import FakeStream, fake_stream
from l0.testing._server import FakeServer

__all__ = ["l0_fake_stream", "l0_server"]


@pytest.fixture
async def l0_server(anyio_backend: object) -> AsyncIterator[FakeServer]:
    """A :class:`~l0.testing.FakeServer` running for the duration of the test."""
    async with FakeServer() as server:
        yield server


@pytest.fixture
def l0_fake_stream() -> Callable[..., FakeStream]:
    """The :func:`~l0.testing.fake_stream` factory: ``l0_fake_stream(script, shape=...)``."""
    return fake_stream
