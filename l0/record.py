"""Record and replay: every input of a stream's lifecycle, kept, and fed back.

``l0.run(..., record=store)`` (or ``l0.session(record=store)``) records each stream under its
id: what the runtime told the engine (content and when it came, failures, deadlines, aborts),
what the engine was answered (its clock, guardrail and drift verdicts, retry budget, circuit
breaker, retry hooks), the seed and the option values, and every observability event it
emitted. Then:

* :func:`load` reads a recording back: its :attr:`~Recording.events`, final
  :attr:`~Recording.state`, and :attr:`~Recording.attempts`;
* :meth:`Recording.reexecute` feeds the recorded inputs to a fresh engine: the same events
  again (:func:`compare` shows it), or with other options what would have happened;
* :meth:`Recording.play` gives what the consumer iterated, with the original pacing if asked;
* :meth:`Recording.source` plays the recorded output as a source with faults injected;
* ``python -m l0 replay PATH_OR_DB STREAM_ID`` prints a recording as a timeline.

Stores: :class:`MemoryStore`, :class:`JsonlStore` (a directory of JSON Lines files),
:class:`SqliteStore` (one database file, several processes); your own implements
:class:`Store`. See the "Record and replay" docs page.
"""

from l0._record._compare import DEFAULT_IGNORE as DEFAULT_IGNORE
from l0._record._compare import Comparison as Comparison
from l0._record._compare import compare as compare
from l0._record._faults import ReplaySource as ReplaySource
from l0._record._jsonl import JsonlStore as JsonlStore
from l0._record._recording import AttemptRecord as AttemptRecord
from l0._record._recording import Recording as Recording
from l0._record._recording import load as load
from l0._record._reexec import Replay as Replay
from l0._record._schema import SCHEMA_VERSION as SCHEMA_VERSION
from l0._record._sqlite import SqliteStore as SqliteStore
from l0._record._store import MemoryStore as MemoryStore
from l0._record._store import Store as Store
from l0._record._store import StreamInfo as StreamInfo
from l0._record._store import check_stream_id as check_stream_id
from l0._record._timeline import timeline as timeline

__all__ = [
    "DEFAULT_IGNORE",
    "SCHEMA_VERSION",
    "AttemptRecord",
    "Comparison",
    "JsonlStore",
    "MemoryStore",
    "Recording",
    "Replay",
    "ReplaySource",
    "SqliteStore",
    "Store",
    "StreamInfo",
    "check_stream_id",
    "compare",
    "load",
    "timeline",
]


def _fixup_module_metadata() -> None:
    # Reprs, tracebacks and docs say l0.record.JsonlStore, not l0._record._jsonl.JsonlStore.
    namespace = globals()
    for name in __all__:
        obj = namespace[name]
        if getattr(obj, "__module__", "").startswith("l0._"):
            try:
                obj.__module__ = __name__
            except (AttributeError, TypeError):  # pragma: no cover - builtins refuse
                continue


_fixup_module_metadata()
del _fixup_module_metadata
