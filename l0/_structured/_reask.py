"""Re-asking: telling the model why its previous answer was refused.

``structured(..., reask=True)`` gives the next attempt's factory the refusal as
``ctx.error``; these helpers turn it into what the model reads.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import msgspec

from l0._runtime._options import AttemptContext
from l0._structured._errors import InvalidJSON, StructuredError
from l0._structured._schema import json_schema
from l0._structured._validation import SchemaValidationError

__all__ = ["failed_output", "reask_messages", "reask_prompt"]

_MAX_ISSUES = 20
_INSTRUCTION = "Reply again with only the corrected JSON: no explanations, no Markdown."


def failed_output(error: BaseException | None) -> str | None:
    """The output a structured failure refused (``None`` for any other error)."""
    if isinstance(error, SchemaValidationError):
        return error.output
    if isinstance(error, InvalidJSON):
        output = error.metadata.get("output")
        return output if isinstance(output, str) else None
    return None


def reask_prompt(error: StructuredError, *, schema: Any = None) -> str:
    """What to tell the model about ``error``: the issues (at most 20) or the JSON problem,
    the JSON Schema of ``schema`` when given, and to answer with JSON only.

    .. versionadded:: 0.1
    """
    if isinstance(error, SchemaValidationError):
        lines = ["Your previous answer did not match the required JSON schema:"]
        lines.extend(f"- {issue}" for issue in error.issues[:_MAX_ISSUES])
        if len(error.issues) > _MAX_ISSUES:
            lines.append(f"- ... and {len(error.issues) - _MAX_ISSUES} more")
    elif isinstance(error, InvalidJSON):
        lines = [f"Your previous answer was not valid JSON: {error.message}."]
    else:
        lines = [f"Your previous answer could not be used: {error.message}."]
    if schema is not None:
        text = msgspec.json.encode(json_schema(schema)).decode()
        lines.append(f"The answer must be JSON matching this JSON Schema: {text}")
    lines.append(_INSTRUCTION)
    return "\n".join(lines)


def reask_messages(
    messages: Sequence[Mapping[str, Any]],
    previous: AttemptContext | BaseException | None,
    *,
    schema: Any = None,
    include_output: bool = True,
) -> list[dict[str, Any]]:
    """Chat ``messages`` for the next attempt: a copy of ``messages``, plus, when the
    previous attempt's output was refused (``previous`` is the
    :class:`~l0.AttemptContext` or its ``error``), that output as an ``assistant`` message
    (unless ``include_output`` is false) and a ``user`` message with
    :func:`reask_prompt`. Any other error (or none) adds nothing: the question is asked again.

    .. versionadded:: 0.1
    """
    error = previous.error if isinstance(previous, AttemptContext) else previous
    out = [dict(message) for message in messages]
    if not isinstance(error, StructuredError):
        return out
    output = failed_output(error)
    if include_output and output:
        out.append({"role": "assistant", "content": output})
    out.append({"role": "user", "content": reask_prompt(error, schema=schema)})
    return out
