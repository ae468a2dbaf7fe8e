"""Structured output: typed, validated JSON from model streams, and the JSON tools under it.

``result = await l0.structured.structured(Model, factory)`` (or ``l0.structured(...)``)
streams through :func:`l0.run`, heals the output into JSON, validates it against the schema,
and retries (telling the model what was wrong) until it matches. ``structured_stream`` gives
the fields as they complete; ``heal``, ``parse`` and ``PartialJSON`` are the pure tools, and
``Schema`` and ``JSONSchemaValidator`` validate any schema kind. See the "Structured output"
docs page.

This module is also callable: ``l0.structured(schema, stream, ...)`` is
``l0.structured.structured(schema, stream, ...)``.
"""

import sys
import types
from typing import Any

from l0._structured._api import StructuredResult as StructuredResult
from l0._structured._api import structured as structured
from l0._structured._api import structured_array as structured_array
from l0._structured._api import structured_object as structured_object
from l0._structured._errors import InvalidJSON as InvalidJSON
from l0._structured._errors import StructuredError as StructuredError
from l0._structured._heal import Correction as Correction
from l0._structured._heal import CorrectionKind as CorrectionKind
from l0._structured._heal import Healed as Healed
from l0._structured._heal import heal as heal
from l0._structured._heal import parse as parse
from l0._structured._job import RULE_NAME as RULE_NAME
from l0._structured._jsonschema import JSONSchemaValidator as JSONSchemaValidator
from l0._structured._partial import Done as Done
from l0._structured._partial import FieldComplete as FieldComplete
from l0._structured._partial import PartialEvent as PartialEvent
from l0._structured._partial import PartialJSON as PartialJSON
from l0._structured._reask import failed_output as failed_output
from l0._structured._reask import reask_messages as reask_messages
from l0._structured._reask import reask_prompt as reask_prompt
from l0._structured._schema import Schema as Schema
from l0._structured._schema import SchemaKind as SchemaKind
from l0._structured._schema import json_schema as json_schema
from l0._structured._streaming import StructuredEvent as StructuredEvent
from l0._structured._streaming import StructuredStream as StructuredStream
from l0._structured._streaming import structured_stream as structured_stream
from l0._structured._validation import ISSUE_CODES as ISSUE_CODES
from l0._structured._validation import IssueCode as IssueCode
from l0._structured._validation import SchemaValidationError as SchemaValidationError
from l0._structured._validation import ValidationIssue as ValidationIssue

__all__ = [
    "ISSUE_CODES",
    "RULE_NAME",
    "Correction",
    "CorrectionKind",
    "Done",
    "FieldComplete",
    "Healed",
    "InvalidJSON",
    "IssueCode",
    "JSONSchemaValidator",
    "PartialEvent",
    "PartialJSON",
    "Schema",
    "SchemaKind",
    "SchemaValidationError",
    "StructuredError",
    "StructuredEvent",
    "StructuredResult",
    "StructuredStream",
    "ValidationIssue",
    "failed_output",
    "heal",
    "json_schema",
    "parse",
    "reask_messages",
    "reask_prompt",
    "structured",
    "structured_array",
    "structured_object",
    "structured_stream",
]


def _fixup_module_metadata() -> None:
    # Reprs, tracebacks and docs say l0.structured.Schema, not l0._structured._schema.Schema.
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


class _CallableModule(types.ModuleType):
    """``l0.structured`` is both this module and the :func:`structured` function: whichever
    of the two ``import l0.structured`` or ``l0.structured`` bound first, calling it works."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return structured(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
