"""Run the l0 test server from the command line.

.. code-block:: console

    $ python -m l0.testing.server --port 8765
    l0 test server: http://127.0.0.1:8765/v1

It serves until Ctrl+C (or SIGTERM), then closes every connection and exits with status 0.
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence

import anyio

from l0.testing._server import FakeServer

__all__ = ["main"]


async def _serve(host: str, port: int) -> None:
    async with FakeServer(host=host, port=port) as server:
        print(f"l0 test server: {server.base_url}", flush=True)
        if sys.platform == "win32":  # pragma: no cover - no signal receiver there
            await anyio.sleep_forever()
        # Ctrl+C and SIGTERM end the block the same way on both backends: the server's task
        # group is cancelled and every connection closed.
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for _ in signals:
                break
    print("l0 test server: stopped", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv``, serve until interrupted; the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m l0.testing.server",
        description="A local OpenAI-compatible server that injects faults on command.",
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default: %(default)s)"
    )
    parser.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    parser.add_argument(
        "--backend", choices=("asyncio", "trio"), default="asyncio", help="event loop to run on"
    )
    args = parser.parse_args(argv)
    try:
        anyio.run(_serve, args.host, args.port, backend=args.backend)
    except KeyboardInterrupt:  # pragma: no cover - a second Ctrl+C, or Windows
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
