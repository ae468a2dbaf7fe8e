"""The provider adapters, in the order they must be tried."""

from __future__ import annotations

from l0.adapters._base import Adapter
from l0.adapters._httpx import HttpxSSEAdapter
from l0.adapters._litellm import LiteLLMAdapter
from l0.adapters._openai import OpenAIAdapter

__all__ = ["provider_adapters"]


def provider_adapters() -> list[Adapter]:
    """Fresh instances of the provider adapters, most specific first.

    litellm comes before openai: litellm's exceptions subclass the openai SDK's, and only the
    litellm adapter knows to look inside ``MidStreamFallbackError`` and to refuse trio. All of
    them go before the generic async-iterator adapter, which would accept any of their streams.
    """
    return [LiteLLMAdapter(), OpenAIAdapter(), HttpxSSEAdapter()]
