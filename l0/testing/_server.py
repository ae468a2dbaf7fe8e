"""FakeServer: a local OpenAI-compatible HTTP server that injects faults on command."""

from __future__ import annotations

import builtins
import importlib
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from types import TracebackType

import anyio
import anyio.abc

from l0._errors import ConfigError
from l0.testing._connection import Connection
from l0.testing._records import ConnectionRecord, RecordedRequest
from l0.testing._script import Script
from l0.testing._state import ServerState, as_script

__all__ = ["FakeServer"]

_CLOSE_TIMEOUT = 5.0


# BaseExceptionGroup is built in from Python 3.11; anyio uses the backport before that.
_GROUP: type[BaseException] = getattr(builtins, "BaseExceptionGroup", None) or (
    importlib.import_module("exceptiongroup").BaseExceptionGroup
)


def _lone(exc: BaseException) -> BaseException | None:
    """If ``exc`` is an exception group holding one exception (however deeply), that one."""
    while isinstance(exc, _GROUP):
        inner: tuple[BaseException, ...] = getattr(exc, "exceptions", ())
        if len(inner) != 1:
            return None
        exc = inner[0]
    return exc


class FakeServer:
    """A local OpenAI-compatible server on loopback, serving scripted responses.

    ::

        async with FakeServer() as server:
            client = httpx.AsyncClient(base_url=server.base_url)
            ...

    It serves ``POST /v1/chat/completions`` (SSE with ``"stream": true``, else one JSON
    completion) and ``GET /v1/models``. Each chat completion plays a :class:`Script`, chosen in
    this order: the ``x-l0-script`` request header (a script as JSON, or a registered name), a
    script registered under the request's ``model``, the next script of the queue
    (:meth:`enqueue`), else :attr:`default`.

    The server runs in the task group of its ``async with``: every connection handler is a task
    of that group and is cancelled, its socket closed, when the block ends. Time is only awaited
    through :func:`anyio.sleep`, so trio's ``MockClock`` makes stalls instant.

    Records: :attr:`requests` (every request, parsed), :attr:`connections` (each connection's
    lifecycle); wait for a condition with :meth:`wait_until`, for every connection to be closed
    with :meth:`wait_idle`.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        default: Script | str | None = None,
        scripts: Mapping[str, Script | str] | None = None,
    ) -> None:
        if not isinstance(host, str) or not host:  # pyright: ignore[reportUnnecessaryIsInstance]
            raise ConfigError(f"FakeServer host must be a non-empty string, got {host!r}")
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:  # pyright: ignore[reportUnnecessaryIsInstance]
            raise ConfigError(f"FakeServer port must be an int in 0..65535, got {port!r}")
        self._host = host
        self._requested_port = port
        self._port: int | None = None
        self._state = ServerState(
            as_script(default) if default is not None else Script(),
            {name: as_script(s) for name, s in (scripts or {}).items()},
        )
        self._cm: AbstractAsyncContextManager[FakeServer] | None = None
        self._used = False

    def __repr__(self) -> str:
        where = self.base_url if self._port is not None else "not running"
        return f"<FakeServer {where}>"

    # -- address ----------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The TCP port it listens on (only while running)."""
        if self._port is None:
            raise RuntimeError("the FakeServer is not running (use it with 'async with')")
        return self._port

    @property
    def url(self) -> str:
        """``http://HOST:PORT``."""
        return f"http://{self._host}:{self.port}"

    @property
    def base_url(self) -> str:
        """``http://HOST:PORT/v1``: the ``base_url`` to give an OpenAI-compatible client."""
        return f"{self.url}/v1"

    # -- scripts ----------------------------------------------------------------------------------

    @property
    def default(self) -> Script:
        """The script played when no other one applies."""
        return self._state.default

    @default.setter
    def default(self, script: Script | str) -> None:
        self._state.default = as_script(script)

    def register(self, name: str, script: Script | str) -> None:
        """Play ``script`` for requests whose ``model`` (or ``x-l0-script`` header) is ``name``."""
        self._state.scripts[name] = as_script(script)

    def enqueue(self, *scripts: Script | str) -> None:
        """Queue scripts: each chat completion without a header or registered model takes one."""
        self._state.queue.extend(as_script(s) for s in scripts)

    @property
    def queued(self) -> int:
        """How many queued scripts are still waiting for a request."""
        return len(self._state.queue)

    # -- records ----------------------------------------------------------------------------------

    @property
    def requests(self) -> Sequence[RecordedRequest]:
        """Every request received, in order."""
        return self._state.requests

    @property
    def connections(self) -> Sequence[ConnectionRecord]:
        """Every connection accepted, in order."""
        return self._state.connections

    @property
    def open_connections(self) -> int:
        """How many connections are open now."""
        return self._state.open_connections

    async def wait_until(self, predicate: Callable[[], bool]) -> None:
        """Return once ``predicate()`` is true; it is checked after every recorded change.

        Put a deadline around it (``with anyio.fail_after(...)``): it waits for as long as it
        takes.
        """
        await self._state.wait_until(predicate)

    async def wait_idle(self) -> None:
        """Return once no connection is open (close your client first)."""
        await self._state.wait_until(lambda: self._state.open_connections == 0)

    # -- running ----------------------------------------------------------------------------------

    async def __aenter__(self) -> FakeServer:
        if self._used:
            raise RuntimeError("a FakeServer can be started only once")
        self._used = True
        self._cm = self._running()
        return await self._cm.__aenter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        assert self._cm is not None
        cm, self._cm = self._cm, None
        return await cm.__aexit__(exc_type, exc, tb)

    @asynccontextmanager
    async def _running(self) -> AsyncGenerator[FakeServer, None]:
        listener = await anyio.create_tcp_listener(
            local_host=self._host, local_port=self._requested_port
        )
        self._port = listener.extra(anyio.abc.SocketAttribute.local_port)
        lone: BaseException | None = None
        try:
            try:
                async with anyio.create_task_group() as tg:
                    tg.start_soon(listener.serve, self._handle, tg)
                    try:
                        yield self
                    finally:
                        tg.cancel_scope.cancel()
            except BaseException as exc:
                # Don't leak the task group's ExceptionGroup: re-raise a lone error as itself
                # (most often the exception of the ``async with`` body).
                lone = _lone(exc) if isinstance(exc, _GROUP) else None
                if lone is None:
                    raise
        finally:
            with anyio.move_on_after(_CLOSE_TIMEOUT, shield=True):
                await listener.aclose()
            self._port = None
        if lone is not None:
            raise lone

    async def _handle(self, stream: anyio.abc.SocketStream) -> None:
        host, port, *_ = stream.extra(anyio.abc.SocketAttribute.remote_address)
        record = self._state.open_connection(f"{host}:{port}")
        try:
            await Connection(self._state, stream, record).run()
        finally:
            with anyio.move_on_after(_CLOSE_TIMEOUT, shield=True):
                await stream.aclose()
            self._state.close_connection(record)
