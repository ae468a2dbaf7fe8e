"""Conversation history ("memory") for prompts: normalised, filtered, truncated, formatted."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Literal, NamedTuple, TypeAlias, cast

from l0._errors import ConfigError
from l0._text import normalize_whitespace
from l0._windows._tokens import EstimatorSpec, resolve_estimator
from l0.format._escape import escape_delimiters, xml_attribute

__all__ = ["MemoryEntry", "MemoryStyle", "filter_memory", "format_memory", "to_memory",
           "truncate_memory"]  # fmt: skip

MemoryStyle: TypeAlias = Literal["conversational", "structured", "compact"]
"""How :func:`format_memory` lays out messages."""

_SEPARATORS: dict[str, str] = {"conversational": "\n\n", "structured": "\n", "compact": "\n"}


class MemoryEntry(NamedTuple):
    """One message of a conversation.

    .. versionadded:: 0.1
    """

    role: str
    content: str


def _content_text(content: Any, where: int) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence) and not isinstance(content, (bytes, bytearray)):
        texts: list[str] = []
        for part in content:  # pyright: ignore[reportUnknownVariableType]
            if isinstance(part, str):
                texts.append(part)
            elif isinstance(part, Mapping):
                text = part.get("text")  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
                if isinstance(text, str):
                    texts.append(text)
        return "\n".join(texts)
    raise ConfigError(f"message {where}: content must be a str or a list of parts, got "
                      f"{type(content).__name__}")  # fmt: skip


def _entry(item: object, where: int) -> MemoryEntry:
    if isinstance(item, MemoryEntry):
        return item
    role: Any
    content: Any
    if isinstance(item, Mapping):
        mapping = cast("Mapping[str, Any]", item)
        role, content = mapping.get("role"), mapping.get("content")
    elif isinstance(item, tuple) and len(cast("tuple[Any, ...]", item)) == 2:
        role, content = cast("tuple[Any, Any]", item)
    elif hasattr(item, "role") and hasattr(item, "content"):  # pyright: ignore[reportUnknownArgumentType]
        role, content = cast("Any", item).role, cast("Any", item).content
    else:
        raise ConfigError(f"message {where} is not a {{role, content}} mapping, a (role, content) "
                          f"tuple or an object with .role and .content: {item!r}")  # fmt: skip
    if not isinstance(role, str) or not role:
        raise ConfigError(f"message {where}: role must be a non-empty str, got {role!r}")
    return MemoryEntry(role, _content_text(content, where))


def to_memory(messages: Iterable[Any]) -> list[MemoryEntry]:
    """Messages as :class:`MemoryEntry` tuples.

    Accepted: ``{"role", "content"}`` mappings (content a str, ``None``, or a list of parts whose
    ``"text"`` entries are joined), ``(role, content)`` tuples, and objects with ``.role`` and
    ``.content`` (such as :class:`l0.Message`).

    .. versionadded:: 0.1
    """
    return [_entry(item, i) for i, item in enumerate(messages)]


def filter_memory(
    messages: Iterable[Any],
    *,
    roles: Iterable[str] | None = None,
    exclude_roles: Iterable[str] | None = None,
) -> list[MemoryEntry]:
    """The messages whose role (case-insensitive) is in ``roles`` and not in ``exclude_roles``.

    .. versionadded:: 0.1
    """
    keep = None if roles is None else {r.lower() for r in roles}
    drop: set[str] = set() if exclude_roles is None else {r.lower() for r in exclude_roles}
    return [e for e in to_memory(messages)
            if (keep is None or e.role.lower() in keep) and e.role.lower() not in drop]  # fmt: skip


def _budget(max_tokens: int | None, max_chars: int | None) -> None:
    for name, value in (("max_tokens", max_tokens), ("max_chars", max_chars)):
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < 0  # pyright: ignore[reportUnnecessaryIsInstance]
        ):
            raise ConfigError(f"{name} must be None or an int >= 0, got {value!r}")


def _select(
    entries: Sequence[MemoryEntry],
    pieces: Sequence[str],
    *,
    cost: Callable[[str], int],
    limit: int,
    separator_cost: int,
    keep_system: bool,
) -> list[int]:
    """Indices to keep: the first system message (if asked and it fits), then the most recent
    messages, newest first, until the next one would exceed ``limit``."""
    chosen: list[int] = []
    used = 0
    system = next((i for i, e in enumerate(entries) if e.role.lower() == "system"), None)
    if not keep_system:
        system = None
    if system is not None:
        first = cost(pieces[system])
        if first <= limit:
            chosen.append(system)
            used = first
        else:
            system = None
    for i in range(len(entries) - 1, -1, -1):
        if i == system:
            continue
        extra = cost(pieces[i]) + (separator_cost if chosen else 0)
        if used + extra > limit:
            break
        chosen.append(i)
        used += extra
    return sorted(chosen)


def _truncate(
    entries: list[MemoryEntry],
    pieces: list[str],
    separator: str,
    *,
    max_tokens: int | None,
    max_chars: int | None,
    keep_system: bool,
    estimate_tokens: EstimatorSpec,
) -> list[int]:
    _budget(max_tokens, max_chars)
    keep = list(range(len(entries)))
    if max_chars is not None:
        keep = _select(entries, pieces, cost=len, limit=max_chars,
                       separator_cost=len(separator), keep_system=keep_system)  # fmt: skip
    if max_tokens is not None:
        est = resolve_estimator(estimate_tokens)
        sub = [entries[i] for i in keep]
        picked = _select(sub, [pieces[i] for i in keep], cost=est, limit=max_tokens,
                         separator_cost=est(separator), keep_system=keep_system)  # fmt: skip
        keep = [keep[i] for i in picked]
    return keep


def truncate_memory(
    messages: Iterable[Any],
    *,
    max_tokens: int | None = None,
    max_chars: int | None = None,
    keep_system: bool = True,
    estimate_tokens: EstimatorSpec = None,
) -> list[MemoryEntry]:
    """The most recent messages whose contents fit in the budget(s), in their original order.

    Whole messages only: the newest one that does not fit, and everything older, is dropped.
    With ``keep_system`` the first ``system`` message is kept first if it fits on its own.
    ``estimate_tokens`` as in :meth:`l0.Window.create`.

    .. versionadded:: 0.1
    """
    entries = to_memory(messages)
    keep = _truncate(entries, [e.content for e in entries], "", max_tokens=max_tokens,
                     max_chars=max_chars, keep_system=keep_system,
                     estimate_tokens=estimate_tokens)  # fmt: skip
    return [entries[i] for i in keep]


def _label(role: str, labels: Mapping[str, str] | None, compact: bool) -> str:
    if labels and role in labels:
        return labels[role]
    return role[:1].upper() if compact else role[:1].upper() + role[1:]


def _piece(entry: MemoryEntry, style: MemoryStyle, labels: Mapping[str, str] | None) -> str:
    if style == "structured":
        body = escape_delimiters(entry.content, "xml")
        return f'<message role="{xml_attribute(entry.role)}">\n{body}\n</message>'
    if style == "compact":
        return f"{_label(entry.role, labels, True)}: {normalize_whitespace(entry.content, single_line=True)}"  # noqa: E501
    return f"{_label(entry.role, labels, False)}: {entry.content}"


def format_memory(
    messages: Iterable[Any],
    *,
    style: MemoryStyle = "conversational",
    roles: Iterable[str] | None = None,
    exclude_roles: Iterable[str] | None = None,
    max_tokens: int | None = None,
    max_chars: int | None = None,
    keep_system: bool = True,
    estimate_tokens: EstimatorSpec = None,
    labels: Mapping[str, str] | None = None,
) -> str:
    """A conversation as prompt text.

    * ``"conversational"``: ``User: ...`` paragraphs, separated by blank lines;
    * ``"structured"``: ``<message role="user">`` blocks, content escaped so that it cannot
      close its block (the style to use for untrusted history);
    * ``"compact"``: ``U: ...`` one line per message, whitespace collapsed.

    ``roles`` / ``exclude_roles`` filter (see :func:`filter_memory`); ``max_chars`` and
    ``max_tokens`` bound the *formatted* text, separators included (see
    :func:`truncate_memory` for what is kept); ``labels`` maps roles to the names shown.

    .. versionadded:: 0.1
    """
    if style not in _SEPARATORS:
        raise ConfigError(f"unknown memory style {style!r}; valid: {', '.join(_SEPARATORS)}")
    entries = filter_memory(messages, roles=roles, exclude_roles=exclude_roles)
    pieces = [_piece(e, style, labels) for e in entries]
    separator = _SEPARATORS[style]
    keep = _truncate(entries, pieces, separator, max_tokens=max_tokens, max_chars=max_chars,
                     keep_system=keep_system, estimate_tokens=estimate_tokens)  # fmt: skip
    return separator.join(pieces[i] for i in keep)
