"""CONSENSUS_* events: what :func:`~l0.consensus` reports to ``on_event``.

They are observability events (frozen msgspec Structs with ``type``, ``ts``, ``stream_id`` and
``context``; camelCase on the wire through :func:`l0.events.encode_event`), but not among the
52 types a single stream emits: one consensus run sends them under a ``stream_id`` of its own,
next to the events of the streams it runs (each with its own ``stream_id``). Their names and
fields follow ai2070-l0's consensus events, so monitoring built on those keeps working.
``event_type`` is a :class:`ConsensusEventType`, a ``str`` enum like
:class:`l0.events.EventType`.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable, Mapping
from typing import Any, Literal

import anyio

from l0._context import freeze_context, new_stream_id
from l0._events._observability import ObservabilityEvent
from l0._multi._tasks import call_hook
from l0._runtime._stream import CLEANUP_TIMEOUT

__all__ = [
    "ConsensusAnalysis",
    "ConsensusEnd",
    "ConsensusEvent",
    "ConsensusEventType",
    "ConsensusOutputCollected",
    "ConsensusResolution",
    "ConsensusStart",
    "ConsensusStreamEnd",
    "ConsensusStreamStart",
    "Emitter",
]


class ConsensusEventType(str, enum.Enum):
    """The ``type`` tags of the consensus events.

    .. versionadded:: 0.1
    """

    CONSENSUS_START = "CONSENSUS_START"
    CONSENSUS_STREAM_START = "CONSENSUS_STREAM_START"
    CONSENSUS_STREAM_END = "CONSENSUS_STREAM_END"
    CONSENSUS_OUTPUT_COLLECTED = "CONSENSUS_OUTPUT_COLLECTED"
    CONSENSUS_ANALYSIS = "CONSENSUS_ANALYSIS"
    CONSENSUS_RESOLUTION = "CONSENSUS_RESOLUTION"
    CONSENSUS_END = "CONSENSUS_END"


class ConsensusEvent(ObservabilityEvent, frozen=True, kw_only=True):
    """The base of the consensus events (see the module doc).

    .. versionadded:: 0.1
    """

    @property
    def event_type(self) -> ConsensusEventType:  # pyright: ignore[reportIncompatibleMethodOverride]
        """The :class:`ConsensusEventType` of this event, read from its ``type`` tag."""
        return ConsensusEventType(self.__struct_config__.tag)


class ConsensusStart(ConsensusEvent, frozen=True, kw_only=True, tag="CONSENSUS_START"):
    """A consensus run begins: how many tasks, and how it will decide."""

    task_count: int
    strategy: str
    threshold: float
    resolve_conflicts: str
    minimum_agreement: float | None = None


class ConsensusStreamStart(ConsensusEvent, frozen=True, kw_only=True, tag="CONSENSUS_STREAM_START"):
    """Task ``stream_index`` starts."""

    stream_index: int


class ConsensusStreamEnd(ConsensusEvent, frozen=True, kw_only=True, tag="CONSENSUS_STREAM_END"):
    """Task ``stream_index`` ended: ``success``, ``error`` (``error`` says what), or
    ``cancelled`` (the consensus itself was cancelled)."""

    stream_index: int
    duration_ms: float
    status: Literal["success", "error", "cancelled"]
    error: str | None = None


class ConsensusOutputCollected(
    ConsensusEvent, frozen=True, kw_only=True, tag="CONSENSUS_OUTPUT_COLLECTED"
):
    """Task ``stream_index``'s output was collected for the vote (``length`` characters);
    ``has_errors``: it did not match the ``schema`` and casts no vote."""

    stream_index: int
    length: int
    has_errors: bool


class ConsensusAnalysis(ConsensusEvent, frozen=True, kw_only=True, tag="CONSENSUS_ANALYSIS"):
    """The outputs were compared: the agreement reached, the pairwise similarity matrix
    (by task index; 0 for a task without output) and its mean over the pairs of outputs."""

    agreement_ratio: float
    strategy: str
    unique_results: int
    total_results: int
    similarity_matrix: list[list[float]]
    average_similarity: float


class ConsensusResolution(ConsensusEvent, frozen=True, kw_only=True, tag="CONSENSUS_RESOLUTION"):
    """How the output was chosen: ``method`` is ``consensus``, ``vote``, ``best`` or
    ``merge`` (see :attr:`l0.ConsensusResult.resolution`); ``confidence`` the agreement."""

    method: str
    confidence: float
    index: int | None = None


class ConsensusEnd(ConsensusEvent, frozen=True, kw_only=True, tag="CONSENSUS_END"):
    """The run ended: ``success`` (consensus reached), ``partial`` (a conflict was resolved),
    ``failed`` (it raised) or ``cancelled``."""

    status: Literal["success", "partial", "failed", "cancelled"]
    duration_ms: float
    confidence: float | None = None
    error: str | None = None


class Emitter:
    """Sends one consensus run's events to ``on_event`` (sync or async; what it raises is
    logged). Timestamps are Unix seconds read through anyio's clock, so they are monotonic
    (and follow a test's mock clock)."""

    __slots__ = ("_offset", "context", "on_event", "started", "stream_id")

    def __init__(
        self, on_event: Callable[..., Any] | None, context: Mapping[str, Any] | None
    ) -> None:
        self.on_event = on_event
        self.stream_id = new_stream_id()
        self.context = freeze_context(context)
        self.started = anyio.current_time()
        self._offset = time.time() - self.started

    def elapsed_ms(self, since: float | None = None) -> float:
        """Milliseconds from ``since`` (default: the start of the run) to now."""
        return (anyio.current_time() - (self.started if since is None else since)) * 1000

    async def emit(self, cls: type[ConsensusEvent], **fields: Any) -> None:
        """Build and deliver one event (nothing is built when nobody listens)."""
        on_event = self.on_event
        if on_event is None:
            return
        ts = self._offset + anyio.current_time()
        event = cls(ts=ts, stream_id=self.stream_id, context=self.context, **fields)
        await call_hook("on_event", on_event, event)

    async def emit_shielded(self, cls: type[ConsensusEvent], **fields: Any) -> None:
        """:meth:`emit` on a way out (cancellation): shielded, and bounded in time."""
        if self.on_event is None:
            return
        with anyio.move_on_after(CLEANUP_TIMEOUT, shield=True):
            await self.emit(cls, **fields)
