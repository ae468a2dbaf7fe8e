"""l0's local OpenAI-compatible server for the SDK figure, in a process of its own.

    python bench/_sdk_server.py TOKENS

Every chat completion streams ``TOKENS`` tokens of prose (no faults). The first line on stdout
is the base URL; the server stops when its stdin is closed. A process of its own so that its
CPU time is not counted in the client's.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(1, str(REPO))

import anyio  # noqa: E402
import anyio.to_thread  # noqa: E402
from _prose import prose_tokens  # noqa: E402

from l0.testing import FakeServer, Script  # noqa: E402


async def serve(tokens: int) -> None:
    async with FakeServer() as server:
        server.default = Script(text=list(prose_tokens(tokens)))
        print(server.base_url, flush=True)
        # Until the parent closes our stdin (or dies): then leave the block, which closes every
        # connection.
        await anyio.to_thread.run_sync(sys.stdin.read)


if __name__ == "__main__":
    anyio.run(serve, int(sys.argv[1]))
