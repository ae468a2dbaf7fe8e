"""LiteLLM streams (``await litellm.acompletion(..., stream=True)``), asyncio only.

litellm's chunks are OpenAI-shaped (``ModelResponseStream``), so they go through the same
conversion as the openai SDK's. Its errors need more care:

* before the stream starts, litellm raises its own exception types, which subclass the openai
  SDK's: they are mapped by type and ``status_code`` like the SDK's;
* every fault in the middle of a stream arrives as ``MidStreamFallbackError`` (status 500,
  whatever happened), its ``original_exception`` a ``litellm.APIConnectionError`` (also 500).
  What really happened is further down the chain of causes (``__cause__``/``__context__``):
  a dropped connection (an httpx or openai connection error), a malformed data line
  (``json.JSONDecodeError``), an error event from the server (``openai.APIError``), or a body
  that ended before the finish reason (``StopAsyncIteration``). l0 classifies by the first of
  those it finds, by type;
* litellm's streaming needs asyncio: under trio it fails before sending anything, with what
  looks like a retryable 500 (or a plain ``RuntimeError`` from asyncio, raised inside litellm's
  code). l0 raises :class:`~l0.AdapterNotFound` naming the backend instead (not retried: it
  would fail the same way every time).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any, ClassVar

from l0._errors import AdapterNotFound, L0Error, NetworkError, StreamTruncated
from l0.adapters._base import Adapter, Chunk
from l0.adapters._errors import StreamProtocolError, headers_of, status_error, transport_error
from l0.adapters._openai import convert_chunk, map_openai_error

__all__ = ["LiteLLMAdapter", "map_litellm_error"]

_PROVIDER = "litellm"


def _is_litellm(obj: object) -> bool:
    module = type(obj).__module__
    return module == "litellm" or module.startswith("litellm.")


def _backend() -> str | None:
    # Imported here: the registry may list this module's adapter among its defaults.
    from l0.adapters._registry import current_backend  # noqa: PLC0415

    try:
        return current_backend()
    except Exception:  # no async library running: nothing to check
        return None


def _raised_in_litellm(exc: BaseException) -> bool:
    """Whether ``exc`` was raised from litellm's code (under trio litellm fails with plain
    asyncio errors, not its own types: where it came from is what identifies it)."""
    tb = exc.__traceback__
    while tb is not None:
        module = tb.tb_frame.f_globals.get("__name__", "")
        if isinstance(module, str) and (module == "litellm" or module.startswith("litellm.")):
            return True
        tb = tb.tb_next
    return False


def _causes(exc: BaseException) -> list[BaseException]:
    """``exc`` and its chain of causes, outermost first (cycles cut)."""
    chain: list[BaseException] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def _mid_stream(original: BaseException) -> L0Error:
    """Classify a fault in the middle of a litellm stream by what lies under its wrappers."""
    openai = sys.modules.get("openai")
    for cause in _causes(original):
        if _is_litellm(cause):
            continue  # litellm's own wrappers say 500 / connection error whatever happened
        if isinstance(cause, json.JSONDecodeError):
            error: L0Error = StreamProtocolError(
                f"{_PROVIDER}: malformed data line in the event stream: {cause}"
            )
        elif isinstance(cause, StopAsyncIteration):
            error = StreamTruncated(
                f"{_PROVIDER}: the stream ended without a finish reason (truncated)"
            )
        elif openai is not None and isinstance(cause, openai.APIError):
            mapped = map_openai_error(cause, provider=_PROVIDER)
            if mapped is None:  # pragma: no cover - every APIError maps
                continue
            error = mapped
        else:
            mapped = transport_error(cause)
            if mapped is None:
                continue
            error = mapped
        error.__cause__ = cause
        return error
    mapped = map_openai_error(original, provider=_PROVIDER)
    if mapped is not None:
        return mapped
    return NetworkError(f"{_PROVIDER}: the stream failed: {type(original).__name__}")


def map_litellm_error(exc: BaseException) -> L0Error | None:
    """An l0 error for an exception raised by litellm; ``None`` if it is not litellm's.

    .. versionadded:: 0.1
    """
    backend = _backend()
    if (
        backend is not None
        and backend != "asyncio"
        and (_is_litellm(exc) or _raised_in_litellm(exc))
    ):
        return AdapterNotFound(
            f"litellm streams need the asyncio backend; this is {backend} (use the openai SDK "
            "or l0.adapters.openai_sse with httpx, which work on both)"
        )
    if not _is_litellm(exc):
        return None
    original = getattr(exc, "original_exception", None)
    if isinstance(original, BaseException):
        return _mid_stream(original)
    mapped = map_openai_error(exc, provider=_PROVIDER)
    if mapped is not None:
        return mapped
    status = getattr(exc, "status_code", None)
    if isinstance(status, int) and 400 <= status <= 599:
        return status_error(
            status, headers=headers_of(exc), provider=_PROVIDER, message=type(exc).__name__
        )
    return None


class LiteLLMAdapter(Adapter):
    """Streams of ``litellm.acompletion(..., stream=True)`` (its ``CustomStreamWrapper``),
    detected by type without importing litellm. asyncio only.

    Turn litellm's own retries off (``num_retries=0``, ``max_retries=0``): l0 retries.

    .. versionadded:: 0.1
    """

    name = "litellm"
    backends: ClassVar[frozenset[str] | None] = frozenset({"asyncio"})
    requires_finish = True

    def detect(self, obj: object) -> bool:
        """A litellm ``CustomStreamWrapper``."""
        return type(obj).__name__ == "CustomStreamWrapper" and _is_litellm(obj)

    def open(self, obj: Any) -> Any:
        """The wrapper itself: it is its own async iterator, and its ``aclose`` closes the
        provider's response."""
        return obj

    def convert(self, item: Any) -> Chunk | Sequence[Chunk] | None:
        """See :func:`~l0.adapters._openai.convert_chunk`."""
        return convert_chunk(item)

    def map_error(self, exc: Exception) -> L0Error | None:
        """See :func:`map_litellm_error`."""
        return map_litellm_error(exc)
