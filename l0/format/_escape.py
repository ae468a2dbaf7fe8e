"""Escaping content so it cannot close the block it is put in.

* ``xml``: a ``<`` that starts something tag-like -- a closing tag, spaces and invisible
  characters allowed around its ``/`` (``< / context >``), or ``<`` directly followed by a
  letter, ``!`` or ``?`` -- becomes ``&lt;``; an ``&`` that would read as one of the two
  entities used here (``&lt;``, ``&amp;``) becomes ``&amp;``. Nothing in escaped content reads
  as a tag, so ``</context>`` in any spelling cannot end a block. Other ``<``, ``>`` and ``&``
  (``a < b``, ``x -> y``, ``R&D``) are left alone.
* ``brackets``: a ``[`` that starts a marker (``[NAME]``, ``[/NAME]``, any case, spaces
  allowed) is preceded by a backslash; backslashes right before such a ``[`` are doubled.
* ``markdown``: content is never changed: :func:`fence` picks a backtick fence longer than any
  backtick run inside, which CommonMark cannot close early.

Each escape is exactly undone by its unescape (property-tested).
"""

from __future__ import annotations

import re
from typing import Literal, TypeAlias

from l0._errors import ConfigError

__all__ = [
    "Delimiter",
    "check_delimiter",
    "check_label",
    "escape_delimiters",
    "fence",
    "unescape_delimiters",
    "xml_attribute",
    "xml_text",
]

Delimiter: TypeAlias = Literal["xml", "markdown", "brackets", "none"]
"""How a block is delimited."""

DELIMITERS: tuple[Delimiter, ...] = ("xml", "markdown", "brackets", "none")

# invisible format characters, and whitespace, that a reader might skip over inside a tag
_INVISIBLE = r"[\u00ad\u180e\u200b-\u200f\u2060-\u2064\ufeff]*"
_GAP = r"[\s\u00ad\u180e\u200b-\u200f\u2060-\u2064\ufeff]*"
# a closing tag, spaces allowed ("< / context >"), or an opening one ("<context", "<!--")
_XML_TAG = re.compile(rf"<(?={_GAP}/{_GAP}[A-Za-z]|{_INVISIBLE}[A-Za-z!?])")
_XML_AMP = re.compile(r"&(?=lt;|amp;)")
_XML_UNESCAPE = re.compile(r"&(lt|amp);")
_MARKER = re.compile(rf"\[(?={_GAP}(?:/{_GAP})?[A-Za-z_][\w.-]*{_GAP}\])")
_BACKTICKS = re.compile(r"`+")
_LABEL = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")


def check_label(label: str) -> str:
    """``label`` if it is a valid block name (a letter or ``_``, then letters, digits, ``_.-``)."""
    if not isinstance(label, str) or not _LABEL.fullmatch(label):  # pyright: ignore[reportUnnecessaryIsInstance]
        raise ConfigError(
            f"a block label must start with a letter or '_' and hold only letters, digits, "
            f"'_', '.' and '-'; got {label!r}"
        )
    return label


def check_delimiter(delimiter: str) -> None:
    """Raise ``ConfigError`` unless ``delimiter`` is one of :data:`Delimiter`."""
    if delimiter not in DELIMITERS:
        raise ConfigError(f"unknown delimiter {delimiter!r}; valid: {', '.join(DELIMITERS)}")


def _escape_xml(text: str) -> str:
    return _XML_TAG.sub("&lt;", _XML_AMP.sub("&amp;", text))


def _unescape_xml(text: str) -> str:
    return _XML_UNESCAPE.sub(lambda m: "<" if m.group(1) == "lt" else "&", text)


def _backslashes_before(text: str, i: int, floor: int) -> int:
    j = i
    while j > floor and text[j - 1] == "\\":
        j -= 1
    return i - j


def _escape_brackets(text: str) -> str:
    out: list[str] = []
    pos = 0
    for match in _MARKER.finditer(text):
        i = match.start()
        run = _backslashes_before(text, i, pos)
        out.append(text[pos:i])
        out.append("\\" * run + "\\[")  # the run doubled, then an escaping backslash
        pos = i + 1
    out.append(text[pos:])
    return "".join(out)


def _unescape_brackets(text: str) -> str:
    out: list[str] = []
    pos = 0
    for match in _MARKER.finditer(text):
        i = match.start()
        run = _backslashes_before(text, i, pos)
        if run % 2 == 0:  # not something escape_delimiters produced: leave it
            continue
        out.append(text[pos : i - run])
        out.append("\\" * (run // 2) + "[")
        pos = i + 1
    out.append(text[pos:])
    return "".join(out)


def escape_delimiters(text: str, delimiter: Delimiter = "xml") -> str:
    """``text`` made safe to put inside a ``delimiter`` block (see the module docstring).

    ``"markdown"`` and ``"none"`` return ``text`` unchanged (a markdown block is made safe by
    its fence, see :func:`fence`).

    .. versionadded:: 0.1
    """
    check_delimiter(delimiter)
    if delimiter == "xml":
        return _escape_xml(text)
    if delimiter == "brackets":
        return _escape_brackets(text)
    return text


def unescape_delimiters(text: str, delimiter: Delimiter = "xml") -> str:
    """The inverse of :func:`escape_delimiters`.

    .. versionadded:: 0.1
    """
    check_delimiter(delimiter)
    if delimiter == "xml":
        return _unescape_xml(text)
    if delimiter == "brackets":
        return _unescape_brackets(text)
    return text


def fence(text: str, info: str = "") -> str:
    """``text`` in a fenced code block whose backtick fence is longer than any backtick run in it
    (at least three), so nothing inside can close it. ``info`` is the info string (a language).

    .. versionadded:: 0.1
    """
    if "\n" in info or "`" in info:
        raise ConfigError(f"a fence info string cannot hold newlines or backticks: {info!r}")
    longest = max((len(m) for m in _BACKTICKS.findall(text)), default=0)
    marks = "`" * max(3, longest + 1)
    return f"{marks}{info}\n{text}\n{marks}"


def xml_text(text: str) -> str:
    """Full XML escaping of character data (``&``, ``<``, ``>``)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def xml_attribute(value: str) -> str:
    """``value`` escaped for a double-quoted XML attribute (newlines and tabs as references)."""
    return (
        xml_text(value)
        .replace('"', "&quot;")
        .replace("\n", "&#10;")
        .replace("\r", "&#13;")
        .replace("\t", "&#9;")
    )
