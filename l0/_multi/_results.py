"""Results of running many tasks: per-task outcomes, aggregated telemetry, ``ParallelResult``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

import attrs

if TYPE_CHECKING:
    from l0._runtime._stream import Stream
    from l0._state import State

__all__ = ["ParallelResult", "TaskOutcome", "TaskRecord", "TaskStatus", "TaskTelemetry"]

TaskStatus = Literal["ok", "failed", "cancelled", "skipped"]
"""How a task ended: it succeeded, raised, was cancelled while running (``fail_fast`` or the
caller), or never started."""


class TaskRecord:
    """What is known about one task while it runs (mutable; frozen into a :class:`TaskOutcome`)."""

    __slots__ = ("ended_at", "error", "index", "started_at", "status", "stream", "value")

    def __init__(self, index: int) -> None:
        self.index = index
        self.status: TaskStatus | Literal["pending", "running"] = "pending"
        self.value: Any = None
        self.error: Exception | None = None
        self.stream: Stream | None = None
        self.started_at: float | None = None
        self.ended_at: float | None = None

    def set_stream(self, stream: Stream) -> None:
        """Remember the task's stream (its state feeds the telemetry)."""
        self.stream = stream

    def freeze(self, at: float) -> TaskOutcome:
        """The final outcome; a task still running is ``cancelled``, one never started
        ``skipped``."""
        status: TaskStatus
        if self.status == "pending":
            status = "skipped"
        elif self.status == "running":
            status = "cancelled"
            self.ended_at = at
        else:
            status = self.status
        duration = None
        if self.started_at is not None and self.ended_at is not None:
            duration = self.ended_at - self.started_at
        return TaskOutcome(
            index=self.index,
            status=status,
            value=self.value,
            error=self.error,
            state=self.stream.state if self.stream is not None else None,
            duration=duration,
        )


@attrs.frozen(kw_only=True)
class TaskOutcome:
    """How one task ended.

    ``value`` is its result (``None`` unless ``status == "ok"``), ``error`` what it raised,
    ``state`` the :class:`~l0.State` of its stream if it ran one, ``duration`` seconds from its
    start to its end (``None`` if it never started).

    .. versionadded:: 0.1
    """

    index: int
    status: TaskStatus
    value: Any = None
    error: Exception | None = None
    state: State | None = None
    duration: float | None = None

    @property
    def ok(self) -> bool:
        """Whether the task succeeded."""
        return self.status == "ok"


@attrs.frozen(kw_only=True)
class TaskTelemetry:
    """Totals over the streams the tasks ran (tasks without a stream add only durations).

    ``duration`` is the wall time of the whole call; ``task_durations`` the sum over tasks;
    ``retries`` counts retries of every kind (``model_retries + network_retries``);
    ``fallbacks`` the streams that finished on a fallback source.

    .. versionadded:: 0.1
    """

    tasks: int
    succeeded: int
    failed: int
    cancelled: int
    skipped: int
    streams: int
    total_tokens: int
    model_retries: int
    network_retries: int
    fallbacks: int
    duration: float
    task_durations: float

    @property
    def retries(self) -> int:
        """Retries of every kind."""
        return self.model_retries + self.network_retries

    @property
    def average_duration(self) -> float:
        """Mean duration of the tasks that ran to an end (0.0 if none did)."""
        ran = self.succeeded + self.failed
        return self.task_durations / ran if ran else 0.0

    @classmethod
    def of(cls, outcomes: Sequence[TaskOutcome], duration: float) -> TaskTelemetry:
        """Aggregate ``outcomes``."""
        states = [o.state for o in outcomes if o.state is not None]
        finished = [o for o in outcomes if o.status in ("ok", "failed")]
        return cls(
            tasks=len(outcomes),
            succeeded=sum(o.status == "ok" for o in outcomes),
            failed=sum(o.status == "failed" for o in outcomes),
            cancelled=sum(o.status == "cancelled" for o in outcomes),
            skipped=sum(o.status == "skipped" for o in outcomes),
            streams=len(states),
            total_tokens=sum(s.token_count for s in states),
            model_retries=sum(s.model_retry_count for s in states),
            network_retries=sum(s.network_retry_count for s in states),
            fallbacks=sum(s.fallback_index > 0 for s in states),
            duration=duration,
            task_durations=sum(o.duration or 0.0 for o in finished),
        )


@attrs.frozen(kw_only=True)
class ParallelResult:
    """What :func:`~l0.parallel`, :func:`~l0.sequential` and :func:`~l0.batched` return.

    ``results[i]`` is task *i*'s result (``None`` if it did not succeed) and ``errors[i]`` what
    it raised (``None`` if it did not fail); ``outcomes[i]`` has its status, stream state and
    duration.

    .. versionadded:: 0.1
    """

    outcomes: tuple[TaskOutcome, ...]
    telemetry: TaskTelemetry

    @property
    def results(self) -> list[Any]:
        """Each task's result, by index (``None`` where it did not succeed)."""
        return [o.value for o in self.outcomes]

    @property
    def errors(self) -> list[Exception | None]:
        """Each task's error, by index (``None`` where it did not fail)."""
        return [o.error for o in self.outcomes]

    @property
    def ok(self) -> bool:
        """Whether every task succeeded."""
        return all(o.status == "ok" for o in self.outcomes)

    @property
    def failed(self) -> dict[int, Exception]:
        """The errors of the failed tasks, by index."""
        return {o.index: o.error for o in self.outcomes if o.error is not None}

    def __len__(self) -> int:
        return len(self.outcomes)
