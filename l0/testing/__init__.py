"""Test helpers for code that uses l0 (not imported by ``import l0``).

* :func:`set_testing`: the global test switch (no backoff sleeps, capped retries);
* :class:`Script` and its faults: one vocabulary for what a fake response says and how it fails;
* :class:`FakeServer`: a local OpenAI-compatible HTTP server that plays scripts
  (also ``python -m l0.testing.server``);
* :func:`fake_stream`, :class:`FakeStream`, :class:`FakeProvider`: the same scripts in-process;
* the pytest plugin :mod:`l0.testing.pytest_plugin` (fixtures ``l0_server``, ``l0_fake_stream``).
"""

# Not public: the re-exported msgspec Structs say they live here, so msgspec and
# inspect.signature() resolve their annotations (strings) in this module's namespace.
from collections.abc import Sequence  # noqa: F401  # pyright: ignore[reportUnusedImport]
from typing import Any  # noqa: F401  # pyright: ignore[reportUnusedImport]

from l0._testing_mode import set_testing as set_testing
from l0.testing._fakes import FakeAdapter as FakeAdapter
from l0.testing._fakes import FakeProvider as FakeProvider
from l0.testing._fakes import FakeStream as FakeStream
from l0.testing._fakes import Shape as Shape
from l0.testing._fakes import fake_stream as fake_stream
from l0.testing._records import CloseReason as CloseReason
from l0.testing._records import ConnectionRecord as ConnectionRecord
from l0.testing._records import RecordedRequest as RecordedRequest
from l0.testing._script import DEFAULT_TEXT as DEFAULT_TEXT
from l0.testing._script import SCRIPT_HEADER as SCRIPT_HEADER
from l0.testing._script import Drop as Drop
from l0.testing._script import FunctionCall as FunctionCall
from l0.testing._script import HttpError as HttpError
from l0.testing._script import InBandError as InBandError
from l0.testing._script import KeepAlive as KeepAlive
from l0.testing._script import Malformed as Malformed
from l0.testing._script import Script as Script
from l0.testing._script import ScriptFault as ScriptFault
from l0.testing._script import SlowHeaders as SlowHeaders
from l0.testing._script import Stall as Stall
from l0.testing._script import TokenUsage as TokenUsage
from l0.testing._script import Truncate as Truncate
from l0.testing._script import split_tokens as split_tokens
from l0.testing._server import FakeServer as FakeServer

__all__ = [
    "DEFAULT_TEXT",
    "SCRIPT_HEADER",
    "CloseReason",
    "ConnectionRecord",
    "Drop",
    "FakeAdapter",
    "FakeProvider",
    "FakeServer",
    "FakeStream",
    "FunctionCall",
    "HttpError",
    "InBandError",
    "KeepAlive",
    "Malformed",
    "RecordedRequest",
    "Script",
    "ScriptFault",
    "Shape",
    "SlowHeaders",
    "Stall",
    "TokenUsage",
    "Truncate",
    "fake_stream",
    "set_testing",
    "split_tokens",
]


def _fixup_module_metadata() -> None:
    # Reprs, tracebacks, docs and pickle say l0.testing.Script, not l0.testing._script.Script.
    namespace = globals()
    for name in __all__:
        obj = namespace[name]
        if getattr(obj, "__module__", "").startswith("l0.testing._"):
            try:
                obj.__module__ = __name__
            except (AttributeError, TypeError):  # pragma: no cover - builtins refuse
                continue


_fixup_module_metadata()
del _fixup_module_metadata
