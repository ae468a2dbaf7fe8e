"""Prompt formatting: delimited blocks safe against injection, conversation memory, output and
JSON instructions, tool definitions and function-call parsing, and text normalisation.

Everything here is a pure function of its arguments (no I/O), so it can be used anywhere,
with or without :func:`l0.run`.
"""

from l0._text import NormalizedText as NormalizedText
from l0._text import dedent as dedent
from l0._text import normalize_indentation as normalize_indentation
from l0._text import normalize_newlines as normalize_newlines
from l0._text import normalize_whitespace as normalize_whitespace
from l0._text import normalize_with_offsets as normalize_with_offsets
from l0.format._blocks import format_block as format_block
from l0.format._blocks import format_context as format_context
from l0.format._blocks import format_document as format_document
from l0.format._blocks import format_documents as format_documents
from l0.format._blocks import format_instructions as format_instructions
from l0.format._calls import FunctionCall as FunctionCall
from l0.format._calls import FunctionCallParseError as FunctionCallParseError
from l0.format._calls import parse_function_call as parse_function_call
from l0.format._calls import parse_function_calls as parse_function_calls
from l0.format._escape import Delimiter as Delimiter
from l0.format._escape import escape_delimiters as escape_delimiters
from l0.format._escape import fence as fence
from l0.format._escape import unescape_delimiters as unescape_delimiters
from l0.format._memory import MemoryEntry as MemoryEntry
from l0.format._memory import MemoryStyle as MemoryStyle
from l0.format._memory import filter_memory as filter_memory
from l0.format._memory import format_memory as format_memory
from l0.format._memory import to_memory as to_memory
from l0.format._memory import truncate_memory as truncate_memory
from l0.format._output import format_json_output as format_json_output
from l0.format._output import format_output_constraints as format_output_constraints
from l0.format._strings import trim as trim
from l0.format._strings import truncate as truncate
from l0.format._strings import truncate_words as truncate_words
from l0.format._tools import Tool as Tool
from l0.format._tools import ToolStyle as ToolStyle
from l0.format._tools import format_tool as format_tool
from l0.format._tools import format_tool_call_instructions as format_tool_call_instructions
from l0.format._tools import format_tools as format_tools

__all__ = [
    "Delimiter",
    "FunctionCall",
    "FunctionCallParseError",
    "MemoryEntry",
    "MemoryStyle",
    "NormalizedText",
    "Tool",
    "ToolStyle",
    "dedent",
    "escape_delimiters",
    "fence",
    "filter_memory",
    "format_block",
    "format_context",
    "format_document",
    "format_documents",
    "format_instructions",
    "format_json_output",
    "format_memory",
    "format_output_constraints",
    "format_tool",
    "format_tool_call_instructions",
    "format_tools",
    "normalize_indentation",
    "normalize_newlines",
    "normalize_whitespace",
    "normalize_with_offsets",
    "parse_function_call",
    "parse_function_calls",
    "to_memory",
    "trim",
    "truncate",
    "truncate_memory",
    "truncate_words",
    "unescape_delimiters",
]


def _fixup_module_metadata() -> None:
    # Reprs, tracebacks and docs say l0.format.Tool, not l0.format._tools.Tool.
    namespace = globals()
    for name in __all__:
        obj = namespace[name]
        if getattr(obj, "__module__", "").startswith(("l0.format._", "l0._text")):
            try:
                obj.__module__ = __name__
            except (AttributeError, TypeError):  # pragma: no cover - builtins refuse
                continue


_fixup_module_metadata()
del _fixup_module_metadata
