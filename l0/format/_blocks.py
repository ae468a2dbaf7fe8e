"""Context, document and instructions blocks for prompts, safe against delimiter injection."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from l0._errors import ConfigError
from l0.format._escape import (
    Delimiter,
    check_delimiter,
    check_label,
    escape_delimiters,
    fence,
    xml_attribute,
)

__all__ = ["format_block", "format_context", "format_document", "format_documents",
           "format_instructions"]  # fmt: skip

_LINE_BREAKS = re.compile(r"\s*[\r\n]+\s*")


def _title(label: str) -> str:
    return label.replace("_", " ").replace("-", " ").strip().capitalize()


def _one_line(value: object) -> str:
    """A metadata value on one line (a newline could start a fake delimiter line)."""
    return _LINE_BREAKS.sub(" ", str(value)).strip()


def _metadata(metadata: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    if not metadata:
        return []
    items: list[tuple[str, str]] = []
    for key, value in metadata.items():
        check_label(key)
        if value is not None:
            items.append((key, _one_line(value)))
    return items


def format_block(
    content: str,
    *,
    label: str,
    delimiter: Delimiter = "xml",
    metadata: Mapping[str, Any] | None = None,
    heading: str | None = None,
) -> str:
    """``content`` in a block named ``label``, escaped so that it cannot end the block.

    * ``xml``: ``<label key="value">`` ... ``</label>`` (metadata as attributes);
    * ``markdown``: a ``## Heading`` line, metadata as ``- key: value`` lines, then the content
      in a backtick fence longer than any backtick run inside it;
    * ``brackets``: ``[LABEL]`` ... ``[/LABEL]``, metadata as ``key: value`` lines first;
    * ``none``: the content as it is (no protection at all).

    Metadata keys follow the label rules; values are put on one line (and XML-escaped);
    ``None`` values are left out. ``heading`` replaces the markdown heading's text.

    .. versionadded:: 0.1
    """
    if not isinstance(content, str):  # pyright: ignore[reportUnnecessaryIsInstance]
        raise ConfigError(f"block content must be a str, got {type(content).__name__}")
    check_delimiter(delimiter)
    check_label(label)
    items = _metadata(metadata)
    if delimiter == "xml":
        attrs = "".join(f' {key}="{xml_attribute(value)}"' for key, value in items)
        return f"<{label}{attrs}>\n{escape_delimiters(content, 'xml')}\n</{label}>"
    if delimiter == "markdown":
        lines = [f"## {_one_line(heading) if heading is not None else _title(label)}", ""]
        if items:
            lines.extend(f"- {key}: {value}" for key, value in items)
            lines.append("")
        lines.append(fence(content))
        return "\n".join(lines)
    if delimiter == "brackets":
        marker = label.upper()
        head = "".join(f"{key}: {escape_delimiters(value, 'brackets')}\n" for key, value in items)
        body = escape_delimiters(content, "brackets")
        return f"[{marker}]\n{head}{body}\n[/{marker}]"
    return content  # "none"


def format_context(content: str, *, label: str = "context", delimiter: Delimiter = "xml") -> str:
    """``content`` as a context block (see :func:`format_block`).

    .. versionadded:: 0.1
    """
    return format_block(content, label=label, delimiter=delimiter)


def format_instructions(
    content: str, *, label: str = "instructions", delimiter: Delimiter = "xml"
) -> str:
    """``content`` as an instructions block (see :func:`format_block`).

    .. versionadded:: 0.1
    """
    return format_block(content, label=label, delimiter=delimiter)


def format_document(
    content: str,
    *,
    title: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    label: str = "document",
    delimiter: Delimiter = "xml",
) -> str:
    """``content`` as a document block with an optional ``title`` and ``metadata``
    (``source``, ``author``, ``date``...), see :func:`format_block`.

    .. versionadded:: 0.1
    """
    merged: dict[str, Any] = {}
    if title is not None and delimiter != "markdown":  # markdown puts it in the heading
        merged["title"] = title
    if metadata:
        merged.update(metadata)
    heading = f"{_title(label)}: {_one_line(title)}" if title is not None else None
    return format_block(content, label=label, delimiter=delimiter, metadata=merged,
                        heading=heading)  # fmt: skip


def format_documents(
    documents: Iterable[str | Mapping[str, Any]],
    *,
    label: str = "document",
    delimiter: Delimiter = "xml",
    separator: str = "\n\n",
) -> str:
    """Several documents, numbered from 1 (an ``index`` attribute or metadata line).

    Each item is the content, or a mapping with ``"content"`` and optionally ``"title"`` and
    other metadata.

    .. versionadded:: 0.1
    """
    blocks: list[str] = []
    for number, item in enumerate(documents, start=1):
        if isinstance(item, str):
            blocks.append(format_document(item, metadata={"index": number}, label=label,
                                          delimiter=delimiter))  # fmt: skip
            continue
        fields = dict(item)
        content = fields.pop("content", None)
        if not isinstance(content, str):
            raise ConfigError(f"document {number} needs a str 'content', got {content!r}")
        title = fields.pop("title", None)
        meta = {"index": number, **fields}
        blocks.append(format_document(content, title=None if title is None else str(title),
                                      metadata=meta, label=label, delimiter=delimiter))  # fmt: skip
    return separator.join(blocks)
