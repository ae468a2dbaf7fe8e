"""Validation issues, and the error of output whose JSON does not match its schema.

::

    L0Error
    └── StructuredError
        ├── InvalidJSON (…, ValueError)            INVALID_JSON: no JSON, even after healing
        └── SchemaValidationError (…, ValueError)  SCHEMA_VALIDATION_FAILED: the JSON does not
                                                   match the schema; .issues says how

An issue has the canonical shape of ``toolCallSchemaValidation.validationErrorShape``: a
``code`` (one of :data:`IssueCode`), a ``message``, the ``path`` to the offending value, and
what was ``expected`` and ``received`` when that is known.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Literal, TypeAlias

import msgspec

from l0._errors import ErrorCode
from l0._structured._errors import StructuredError
from l0._structured._heal import Correction

__all__ = ["ISSUE_CODES", "IssueCode", "SchemaValidationError", "ValidationIssue", "format_path"]

IssueCode: TypeAlias = Literal[
    "MISSING_REQUIRED_ARGUMENT",
    "INVALID_ARGUMENT_TYPE",
    "INVALID_ENUM_VALUE",
    "PATTERN_MISMATCH",
    "VALUE_OUT_OF_RANGE",
    "ARRAY_LENGTH_INVALID",
    "UNEXPECTED_ARGUMENT",
]
"""The canonical validation error codes.

``MISSING_REQUIRED_ARGUMENT`` a required field is absent; ``INVALID_ARGUMENT_TYPE`` a value
has the wrong type (also the code of any other failure, such as a custom validator's);
``INVALID_ENUM_VALUE`` not one of the allowed values (``enum``, ``const``, ``Literal``);
``PATTERN_MISMATCH`` a string does not match its ``pattern`` or ``format``;
``VALUE_OUT_OF_RANGE`` a number outside its bounds, or a string of the wrong length;
``ARRAY_LENGTH_INVALID`` too few or too many items; ``UNEXPECTED_ARGUMENT`` a field that is
not allowed (``additionalProperties: false``, ``forbid_unknown_fields``, ``extra="forbid"``).
"""

ISSUE_CODES: tuple[IssueCode, ...] = (
    "MISSING_REQUIRED_ARGUMENT",
    "INVALID_ARGUMENT_TYPE",
    "INVALID_ENUM_VALUE",
    "PATTERN_MISMATCH",
    "VALUE_OUT_OF_RANGE",
    "ARRAY_LENGTH_INVALID",
    "UNEXPECTED_ARGUMENT",
)

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def format_path(path: Sequence[str | int]) -> str:
    """``("items", 0, "name")`` as ``$.items[0].name`` (keys that are not identifiers are
    quoted: ``$["a b"]``)."""
    parts = ["$"]
    for step in path:
        if isinstance(step, int):
            parts.append(f"[{step}]")
        elif _IDENTIFIER.match(step):
            parts.append(f".{step}")
        else:
            parts.append(f"[{msgspec.json.encode(step).decode()}]")
    return "".join(parts)


class ValidationIssue(msgspec.Struct, frozen=True, kw_only=True):
    """One reason why a value does not match its schema.

    ``path`` leads from the top-level value to the offending one: object keys and array
    indexes, e.g. ``("items", 0, "name")``; for a missing field it ends with the field's name.
    """

    code: IssueCode
    message: str
    path: tuple[str | int, ...] = ()
    expected: str | None = None
    received: str | None = None

    @property
    def location(self) -> str:
        """The path as ``$.items[0].name``."""
        return format_path(self.path)

    def to_json(self) -> dict[str, Any]:
        """The canonical shape (``path`` as a list of strings; absent fields left out)."""
        out: dict[str, Any] = {
            "code": self.code,
            "message": self.message,
            "path": [str(step) for step in self.path],
        }
        if self.expected is not None:
            out["expected"] = self.expected
        if self.received is not None:
            out["received"] = self.received
        return out

    def __str__(self) -> str:
        return f"{self.location}: {self.message}"


def _describe(issues: Sequence[ValidationIssue]) -> str:
    if not issues:
        return "invalid value"
    first = str(issues[0])
    return first if len(issues) == 1 else f"{first} (and {len(issues) - 1} more)"


class SchemaValidationError(StructuredError, ValueError):
    """The output is JSON, but not the JSON the schema asks for (code
    ``SCHEMA_VALIDATION_FAILED``, category ``content``, retryable).

    Attributes:
        issues: every :class:`ValidationIssue` found (at least one).
        schema_name: the schema's name, when it has one.
        value: the decoded JSON that failed validation.
        output: the model's output the JSON came from.
        corrections: the repairs healing made to ``output`` before it decoded.
    """

    default_code = ErrorCode.SCHEMA_VALIDATION_FAILED

    def __init__(
        self,
        issues: Sequence[ValidationIssue],
        *,
        schema_name: str | None = None,
        value: Any = None,
        output: str = "",
        corrections: Sequence[Correction] = (),
    ) -> None:
        where = f" {schema_name}" if schema_name else ""
        super().__init__(
            f"the output does not match the schema{where}: {_describe(issues)}",
            metadata={
                "schema": schema_name,
                "issues": [issue.to_json() for issue in issues],
            },
        )
        self.issues: tuple[ValidationIssue, ...] = tuple(issues)
        self.schema_name = schema_name
        self.value: Any = value
        self.output = output
        self.corrections: tuple[Correction, ...] = tuple(corrections)
