"""The errors of the compositions (all :class:`~l0.L0Error` subclasses).

::

    L0Error
    ├── ContentRejected        a race candidate finished, but ``validate`` rejected its text
    ├── TasksFailed            sequential(): a task failed; ``.errors`` by index, ``.result``
    ├── PoolClosed             the pool closed before (or while) running the operation
    ├── ConsensusFailed        the outputs did not agree enough; ``.result`` has the details
    └── PipelineStepFailed     a pipeline step failed; ``.step``, ``.name``, ``.result``

Failures of single candidates and tasks keep their own error types; these only say what the
composition concluded from them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, ClassVar

from l0._errors import ErrorCode, L0Error, RetryReason
from l0._events._observability import FailureType

if TYPE_CHECKING:
    from l0._multi._consensus import ConsensusResult
    from l0._multi._pipeline import PipelineResult
    from l0._multi._results import ParallelResult

__all__ = ["ConsensusFailed", "ContentRejected", "PipelineStepFailed", "PoolClosed", "TasksFailed"]


class ContentRejected(L0Error):
    """A race candidate produced output that its ``validate`` predicate rejected.

    .. versionadded:: 0.1
    """

    default_code = ErrorCode.GUARDRAIL_VIOLATION
    default_failure_type: ClassVar[FailureType] = "model"
    default_retry_reason: ClassVar[RetryReason] = "guardrail_violation"

    def __init__(self, message: str, *, text: str) -> None:
        super().__init__(message)
        self.text = text
        """The rejected output."""


class TasksFailed(L0Error):
    """Tasks that had to succeed failed (:func:`~l0.sequential`).

    ``errors`` maps the index of every failed task to its error; ``result`` is the
    :class:`~l0.ParallelResult` (every task's outcome: ``ok``, ``failed``, ``skipped``); the
    first failure is ``__cause__``.

    .. versionadded:: 0.1
    """

    default_code = ErrorCode.STREAM_ERROR

    def __init__(
        self, message: str, *, errors: Mapping[int, Exception], result: ParallelResult
    ) -> None:
        super().__init__(message)
        self.errors: dict[int, Exception] = dict(errors)
        """Each failed task's error, by index."""
        self.result = result
        """Every task's outcome."""


class PoolClosed(L0Error):
    """The pool was closed: it takes no new operations, or dropped this one on exit.

    .. versionadded:: 0.1
    """

    default_code = ErrorCode.STREAM_CLOSED


class ConsensusFailed(L0Error):
    """The outputs did not reach the agreement the strategy requires.

    ``result`` is the :class:`~l0.ConsensusResult` computed anyway: the groups, the agreement
    reached, the dissent, and each task's output and error.

    .. versionadded:: 0.1
    """

    default_code = ErrorCode.STREAM_ERROR

    def __init__(self, message: str, *, result: ConsensusResult) -> None:
        super().__init__(message)
        self.result = result


class PipelineStepFailed(L0Error):
    """A pipeline step failed; its error is ``__cause__``.

    ``step`` is the step's index, ``name`` its name, and ``result`` the
    :class:`~l0.PipelineResult` of the steps that completed before it.

    .. versionadded:: 0.1
    """

    default_code = ErrorCode.STREAM_ERROR

    def __init__(self, message: str, *, step: int, name: str, result: PipelineResult) -> None:
        super().__init__(message)
        self.step = step
        self.name = name
        self.result = result
