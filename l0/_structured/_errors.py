"""Errors of structured output.

::

    L0Error
    └── StructuredError                  base of structured-output failures
        ├── InvalidJSON (…, ValueError)  INVALID_JSON: text that cannot be healed into JSON
        └── SchemaValidationError        SCHEMA_VALIDATION_FAILED (see _validation.py)

"""

from __future__ import annotations

from typing import Any, ClassVar

from l0._errors import ErrorCode, L0Error
from l0._events._observability import FailureType

__all__ = ["InvalidJSON", "StructuredError"]


class StructuredError(L0Error):
    """Structured output failed: the model's text is not the JSON (or the data) that was asked for.

    Retryable: asking the model again may well produce a valid answer.
    """

    default_code = ErrorCode.INVALID_JSON
    default_retryable = True
    default_failure_type: ClassVar[FailureType] = "model"


class InvalidJSON(StructuredError, ValueError):
    """Text that cannot be healed (or parsed) into JSON.

    Attributes:
        position: index in the text where healing or parsing gave up, if known.
        preview: up to 80 characters of the text around ``position`` (or its start).
    """

    def __init__(self, message: str, *, text: str = "", position: int | None = None) -> None:
        start = max(0, (position or 0) - 40)
        preview = text[start : start + 80]
        metadata: dict[str, Any] = {"position": position, "preview": preview}
        super().__init__(message, metadata=metadata)
        self.position = position
        self.preview = preview
