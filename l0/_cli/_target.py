"""Where the demo's requests go, and how fast its local "models" talk.

Locally (no API key, no ``--base-url``) the tour starts l0's own fault-injecting provider,
:class:`l0.testing.FakeServer`, and each request carries the script of the attempt it is for
(what the "model" says and how it fails) in the ``x-l0-script`` header. Against a real
endpoint the same requests go out with the real model names and no scripts: the faults are
whatever the network and the provider do.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any, Literal

import attrs
import httpx

import l0
from l0.adapters import SSERequest, openai_sse
from l0.testing import SCRIPT_HEADER, FakeServer, Script, ScriptFault, Stall

__all__ = ["Pace", "Plan", "Role", "Target", "open_target"]

Role = Literal["primary", "dead", "backup", "slow", "fast"]
"""Which model a scenario asks for: its main one, a dead one and its fallback, the two of a
race."""

Plan = Callable[[l0.AttemptContext], Script]
"""What the local model does on an attempt (ignored against a real endpoint)."""

_LOCAL_MODELS: Mapping[Role, str] = {
    "primary": "demo-model",
    "dead": "demo-overloaded",
    "backup": "demo-backup",
    "slow": "demo-slow",
    "fast": "demo-fast",
}


@attrs.frozen(kw_only=True)
class Pace:
    """The timings of the tour, in seconds.

    ``token``: between two tokens of a local model; ``first_token``: its latency before the
    first one; ``stall_timeout``: the inter-token timeout of the stall scenario (the local
    model stalls for ``stall``); ``retry_after``: what the 429 asks to wait; ``backoff``: the
    delay before other retries; ``slow_first_token``: the slow candidate of the race.
    """

    token: float
    first_token: float
    stall: float
    stall_timeout: float
    retry_after: float
    backoff: float
    slow_first_token: float

    @classmethod
    def live(cls) -> Pace:
        """Realistic-looking pacing: the whole tour takes a few seconds."""
        return cls(
            token=0.012,
            first_token=0.12,
            stall=30.0,
            stall_timeout=0.6,
            retry_after=1.0,
            backoff=0.2,
            slow_first_token=5.0,
        )

    @classmethod
    def fast(cls) -> Pace:
        """As fast as the faults allow (``--fast``: tests, CI)."""
        return cls(
            token=0.0,
            first_token=0.0,
            stall=30.0,
            stall_timeout=0.5,
            retry_after=0.1,
            backoff=0.01,
            slow_first_token=5.0,
        )

    def script(self, text: str, *faults: ScriptFault, model: str | None = None) -> Script:
        """A local model's answer, at this pace."""
        before: list[ScriptFault] = []
        if self.first_token > 0:
            before.append(Stall(seconds=self.first_token, after=0))
        return Script(text=text, model=model, delay=self.token, faults=[*before, *faults])


@attrs.frozen(kw_only=True)
class Target:
    """The endpoint of the tour, with the client that talks to it.

    ``server`` is the local provider (``None`` for a real endpoint); ``scripted`` says whether
    requests carry their script (locally, or at a ``--base-url`` with no API key, which may be
    a ``python -m l0.testing.server``).
    """

    base_url: str
    client: httpx.AsyncClient
    server: FakeServer | None
    scripted: bool
    models: Mapping[Role, str]

    @property
    def local(self) -> bool:
        """Whether the tour talks to its own local provider (so it knows the faults)."""
        return self.server is not None

    def model(self, role: Role) -> str:
        """The model name for ``role``."""
        return self.models[role]

    def factory(
        self,
        messages: Sequence[Mapping[str, Any]],
        plan: Plan,
        *,
        role: Role = "primary",
        body: Callable[[l0.AttemptContext], Mapping[str, Any]] | None = None,
    ) -> Callable[[l0.AttemptContext], SSERequest]:
        """A stream factory for ``l0.run``: a chat completion of ``messages`` for ``role``.

        Without ``body``, a resumed attempt asks the model to continue its checkpoint; with
        it, ``body(ctx)`` builds each attempt's request (``model`` and ``stream`` are set).
        """
        model = self.model(role)
        if body is None:
            base = openai_sse(
                self.client, json={"model": model, "messages": [dict(m) for m in messages]}
            )
        else:
            make = body
            base = openai_sse(self.client, json=lambda ctx: {**make(ctx), "model": model})

        def factory(ctx: l0.AttemptContext) -> SSERequest:
            sent = base(ctx)
            if not self.scripted:
                return sent
            return attrs.evolve(sent, headers={SCRIPT_HEADER: plan(ctx).to_json()})

        return factory


@asynccontextmanager
async def open_target(
    *,
    base_url: str | None,
    api_key: str | None,
    model: str,
    fallback_model: str,
) -> AsyncGenerator[Target, None]:
    """The local provider (``base_url=None``) or the given endpoint, with an open client.

    Everything is closed when the block ends: the client, then the local provider (its task
    group is cancelled and every connection closed).
    """
    async with AsyncExitStack() as stack:
        server: FakeServer | None = None
        if base_url is None:
            server = await stack.enter_async_context(FakeServer())
            base_url = server.base_url
            models = _LOCAL_MODELS
        else:
            models: Mapping[Role, str] = {
                "primary": model,
                # A model no provider serves: the request fails at once, l0 falls back.
                "dead": "l0-demo-no-such-model",
                "backup": fallback_model,
                "slow": model,
                "fast": fallback_model,
            }
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        client = await stack.enter_async_context(
            httpx.AsyncClient(
                base_url=base_url, headers=headers, timeout=httpx.Timeout(120.0, connect=10.0)
            )
        )
        yield Target(
            base_url=base_url,
            client=client,
            server=server,
            scripted=not api_key,
            models=models,
        )
