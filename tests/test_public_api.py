"""The curated public surface."""

from __future__ import annotations

import subprocess
import sys

import pytest

import l0
import l0.adapters
import l0.events


def test_all_lists_exactly_the_public_names() -> None:
    """``l0.__all__`` is sorted and equals the public names of the package."""
    # (pytest's assertion rewriting of plugin distributions adds "@py_..." names.)
    public = {name for name in vars(l0) if name.isidentifier() and not name.startswith("_")}
    public -= {"testing", "monitoring", "format", "record"}  # imported explicitly by users
    public -= {"TYPE_CHECKING", "Any"}  # the lazy loader's own imports
    lazy = set(l0._LAZY)  # pyright: ignore[reportPrivateUsage]
    assert sorted(l0.__all__) == l0.__all__
    assert set(l0.__all__) == public | lazy


def test_guardrails_are_imported_on_first_use() -> None:
    """``import l0`` does not import the guardrails (they compile patterns); using
    ``l0.Guardrails`` does, and the lazy names are the real ones."""
    code = (
        "import sys, l0; assert 'l0._guardrails' not in sys.modules; "
        "g = l0.Guardrails.minimal(); assert 'l0._guardrails' in sys.modules; "
        "from l0.guardrails import Guardrails; assert l0.Guardrails is Guardrails; "
        "assert l0.Rule.__module__ == 'l0.guardrails'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_public_names_have_public_module_paths() -> None:
    """Re-exported classes say ``l0.X`` in reprs, not ``l0._private.X``."""
    for name in l0.__all__:
        obj = getattr(l0, name)
        if isinstance(obj, type):
            assert obj.__module__ in ("l0", "l0.guardrails", "l0.structured"), (
                name,
                obj.__module__,
            )
    assert l0.events.SessionStart.__module__ == "l0.events"
    assert repr(l0.Retry()).startswith("Retry(")


def test_import_is_light() -> None:
    """``import l0`` imports no provider SDK (nor httpx) and no event loop library."""
    code = (
        "import sys, l0; "
        "print(sorted(m for m in ('openai', 'litellm', 'httpx', 'trio', 'opentelemetry') "
        "if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_adapters_registry_round_trip() -> None:
    """register / get / detect / unregister work, newest first; duplicates need replace=True."""

    class Mine(l0.adapters.Adapter):
        name = "mine"

        def detect(self, obj: object) -> bool:
            return isinstance(obj, bytes)

    adapter = Mine()
    l0.adapters.register(adapter)
    try:
        assert l0.adapters.get("mine") is adapter
        assert l0.adapters.detect(b"x") is adapter
        assert l0.adapters.registered()[0] is adapter
        with pytest.raises(l0.ConfigError, match="already registered"):
            l0.adapters.register(Mine())
        l0.adapters.register(Mine(), replace=True)
    finally:
        l0.adapters.unregister("mine")
    assert all(a.name != "mine" for a in l0.adapters.registered())
    with pytest.raises(l0.AdapterNotFound) as info:
        l0.adapters.get("mine")
    assert info.value.code is l0.ErrorCode.ADAPTER_NOT_FOUND
