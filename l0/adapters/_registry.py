"""The adapter registry: explicit registration, detection by type, hints by name or instance."""

from __future__ import annotations

import anyio

from l0._engine._classify import classify
from l0._errors import AdapterNotFound, ConfigError, InvalidStream, L0Error
from l0.adapters._base import Adapter
from l0.adapters._builtin import AsyncIteratorAdapter, IterableAdapter
from l0.adapters._providers import provider_adapters

__all__ = [
    "classify_failure",
    "current_backend",
    "detect",
    "get",
    "register",
    "registered",
    "resolve",
    "unregister",
]

# Most specific first: provider adapters registered later are tried before the generic ones.
_adapters: list[Adapter] = [*provider_adapters(), AsyncIteratorAdapter(), IterableAdapter()]


def register(adapter: Adapter, *, replace: bool = False) -> None:
    """Add ``adapter``; it is tried before every adapter registered earlier."""
    if not isinstance(adapter, Adapter):  # pyright: ignore[reportUnnecessaryIsInstance]
        raise ConfigError(f"register() needs an l0.adapters.Adapter instance, got {adapter!r}")
    existing = [a for a in _adapters if a.name == adapter.name]
    if existing and not replace:
        raise ConfigError(f"an adapter named {adapter.name!r} is already registered")
    for old in existing:
        _adapters.remove(old)
    _adapters.insert(0, adapter)


def unregister(name: str) -> None:
    """Remove the adapter called ``name``."""
    for adapter in _adapters:
        if adapter.name == name:
            _adapters.remove(adapter)
            return
    raise AdapterNotFound(f"no adapter named {name!r} is registered")


def get(name: str) -> Adapter:
    """The registered adapter called ``name``."""
    for adapter in _adapters:
        if adapter.name == name:
            return adapter
    raise AdapterNotFound(f"no adapter named {name!r}; registered: {[a.name for a in _adapters]}")


def registered() -> list[Adapter]:
    """The registered adapters, in the order they are tried."""
    return list(_adapters)


def detect(obj: object) -> Adapter:
    """The first registered adapter whose ``detect(obj)`` is true."""
    for adapter in _adapters:
        if adapter.detect(obj):
            return adapter
    raise InvalidStream(
        f"no adapter can read a {type(obj).__name__}; the factory must return an async "
        "iterator (of str, l0 events or event dicts) or a provider stream with a registered "
        "adapter"
    )


def current_backend() -> str:
    """``"asyncio"`` or ``"trio"``: the backend running the current task."""
    cancelled = anyio.get_cancelled_exc_class()
    return "trio" if cancelled.__module__.startswith("trio") else "asyncio"


def resolve(obj: object, hint: Adapter | str | None) -> Adapter:
    """The adapter for ``obj``: the hint if given, else detection; checks the backend."""
    if hint is None:
        adapter = detect(obj)
    elif isinstance(hint, str):
        adapter = get(hint)
    else:
        adapter = hint
    if adapter.backends is not None:
        backend = current_backend()
        if backend not in adapter.backends:
            raise AdapterNotFound(
                f"adapter {adapter.name!r} does not support the {backend} backend "
                f"(it supports: {', '.join(sorted(adapter.backends))})"
            )
    return adapter


def classify_failure(
    exc: Exception, adapter: Adapter | None, hint: Adapter | str | None
) -> L0Error:
    """The l0 error for what an attempt raised: the first adapter that recognises its
    provider's exception maps it, else the generic classification.

    Before an adapter is known (the factory itself raised), every registered adapter may
    recognise it (the ``hint`` first, if it is an adapter instance).
    """
    error: L0Error | None = None
    candidates = (
        (adapter,)
        if adapter is not None
        else (*((hint,) if isinstance(hint, Adapter) else ()), *registered())
    )
    for candidate in candidates:
        error = candidate.map_error(exc)
        if error is not None:
            break
    if error is None:
        error = classify(exc)
    if error is not exc and error.__cause__ is None:
        error.__cause__ = exc
    return error
