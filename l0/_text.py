"""Text normalisation: newlines, whitespace, indentation, dedent, offset-preserving normalising.

Everything here is linear in the length of the text. :func:`normalize_with_offsets` is the one the
continuation and de-duplication code uses: it returns the normalised text together with a
piecewise mapping between normalised and original offsets, so a match found in normalised text
can be cut at the right place of the original.

The offset-preserving normaliser only ever *keeps*, *replaces by one character* or *deletes* a
piece of the original (it never expands: tabs are not turned into several spaces there), so the
mapping is exact: ``to_normalized(to_original(i)) == i`` for every normalised offset ``i``.
"""

from __future__ import annotations

import re
from bisect import bisect_right

from l0._errors import ConfigError

__all__ = [
    "NormalizedText",
    "dedent",
    "normalize_indentation",
    "normalize_newlines",
    "normalize_whitespace",
    "normalize_with_offsets",
]

# A whitespace run that may need work: more than one character, or one that is not a plain space,
# or any run touching either end of the text. A single space between two words never matches, so
# ordinary prose costs no Python-level work at all.
_RUN = re.compile(r"\A\s+|\s+\Z|\s{2,}|[^\S ]")
_BREAK = re.compile(r"(\r\n|\r|\n)")
_INDENT = re.compile(r"^[ \t]+", re.MULTILINE)


def normalize_newlines(text: str) -> str:
    """``\\r\\n`` and lone ``\\r`` become ``\\n``; nothing else changes.

    .. versionadded:: 0.1
    """
    if "\r" not in text:
        return text
    return text.replace("\r\n", "\n").replace("\r", "\n")


class NormalizedText:
    """Normalised text, the original it came from, and the mapping between their offsets.

    Offsets are positions *between* characters (``0 .. len(text)``), as for slicing.
    :meth:`to_original` is non-decreasing, maps ``0`` to the original position of the first kept
    character and ``len(text)`` to ``len(original)``; :meth:`to_normalized` maps an original
    offset to the normalised offset at or just after it. Both are ``O(log k)`` for ``k``
    changed pieces.

    .. versionadded:: 0.1
    """

    __slots__ = ("_f_norm", "_f_orig", "_f_same", "_i_len", "_i_norm", "_i_orig", "_i_same",
                 "original", "text")  # fmt: skip

    def __init__(self, text: str, original: str, segments: list[tuple[int, int, int, bool]]):
        self.text: str = text
        """The normalised text."""
        self.original: str = original
        """The text that was normalised."""
        # segments: (norm_start, orig_start, norm_len, verbatim), tiling the original in order.
        self._i_norm = [s[0] for s in segments]
        self._i_orig = [s[1] for s in segments]
        self._i_len = [s[2] for s in segments]
        self._i_same = [s[3] for s in segments]
        kept = [s for s in segments if s[2] > 0]
        self._f_norm = [s[0] for s in kept]
        self._f_orig = [s[1] for s in kept]
        self._f_same = [s[3] for s in kept]

    def to_original(self, index: int) -> int:
        """The original offset of normalised offset ``index`` (``0 <= index <= len(text)``)."""
        if not 0 <= index <= len(self.text):
            raise IndexError(f"offset {index} is outside 0..{len(self.text)}")
        if index == len(self.text):
            return len(self.original)
        k = bisect_right(self._f_norm, index) - 1
        if self._f_same[k]:
            return self._f_orig[k] + (index - self._f_norm[k])
        return self._f_orig[k]

    def to_normalized(self, index: int) -> int:
        """The normalised offset of original offset ``index`` (``0 <= index <= len(original)``).

        An offset inside a piece that was collapsed or deleted maps to the normalised offset
        just after that piece's replacement.
        """
        if not 0 <= index <= len(self.original):
            raise IndexError(f"offset {index} is outside 0..{len(self.original)}")
        if index == len(self.original):
            return len(self.text)
        k = bisect_right(self._i_orig, index) - 1
        start = self._i_orig[k]
        if self._i_same[k]:
            return self._i_norm[k] + (index - start)
        if index == start:
            return self._i_norm[k]
        return self._i_norm[k] + self._i_len[k]

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        """The original ``(start, end)`` of the normalised slice ``text[start:end]``."""
        if start > end:
            raise ValueError(f"start {start} is after end {end}")
        return self.to_original(start), self.to_original(end)

    def __repr__(self) -> str:
        return f"NormalizedText({self.text!r}, original={self.original!r})"


class _Builder:
    """Collects output pieces and, optionally, the offset segments."""

    __slots__ = ("norm_len", "out", "record", "segments")

    def __init__(self, record: bool) -> None:
        self.out: list[str] = []
        self.record = record
        self.segments: list[tuple[int, int, int, bool]] = []
        self.norm_len = 0

    def keep(self, orig_start: int, piece: str) -> None:
        """``piece`` of the original, at ``orig_start``, is kept as it is."""
        if not piece:
            return
        self.out.append(piece)
        if self.record:
            segs = self.segments
            last = segs[-1] if segs else None
            if last is not None and last[3] and last[1] + last[2] == orig_start:
                segs[-1] = (last[0], last[1], last[2] + len(piece), True)
            else:
                segs.append((self.norm_len, orig_start, len(piece), True))
        self.norm_len += len(piece)

    def replace(self, orig_start: int, piece: str, new: str) -> None:
        """``piece`` (non-empty) of the original becomes ``new`` ("" or one character)."""
        if new == piece:
            self.keep(orig_start, piece)
            return
        if new:
            self.out.append(new)
        if self.record:
            self.segments.append((self.norm_len, orig_start, len(new), False))
        self.norm_len += len(new)


def _check_options(max_blank_lines: int | None) -> None:
    if max_blank_lines is None:
        return
    if (
        isinstance(max_blank_lines, bool)
        or not isinstance(max_blank_lines, int)  # pyright: ignore[reportUnnecessaryIsInstance]
        or max_blank_lines < 0
    ):
        raise ConfigError(f"max_blank_lines must be None or an int >= 0, got {max_blank_lines!r}")


def _normalize(
    text: str,
    *,
    collapse: bool,
    trim_lines: bool,
    keep_indentation: bool,
    max_blank_lines: int | None,
    strip: bool,
    single_line: bool,
    record: bool,
) -> tuple[str, list[tuple[int, int, int, bool]]]:
    _check_options(max_blank_lines)
    b = _Builder(record)
    n = len(text)
    pos = 0
    for match in _RUN.finditer(text):
        start, end = match.span()
        b.keep(pos, text[pos:start])
        pos = end
        run = match.group()
        edge = strip and (start == 0 or end == n)
        if single_line:
            b.replace(start, run, "" if edge else " ")
            continue
        parts = _BREAK.split(run)  # [h0, b1, h1, ..., bk, hk]
        last_index = len(parts) - 1
        allowed = len(parts) if max_blank_lines is None else max_blank_lines + 1
        kept_breaks = 0
        offset = start
        for i, part in enumerate(parts):
            if not part:
                continue
            if i % 2:  # a line break
                if edge or kept_breaks >= allowed:
                    b.replace(offset, part, "")
                else:
                    kept_breaks += 1
                    b.replace(offset, part, "\n")
            else:
                line_start = i > 0 or start == 0
                line_end = i < last_index or end == n
                if edge or (0 < i < last_index and kept_breaks >= allowed):
                    new = ""  # the text's own edges, or a blank line over the limit
                elif line_end:  # trailing whitespace (or a whitespace-only line)
                    new = "" if trim_lines else (" " if collapse else part)
                elif line_start:  # indentation
                    new = part if keep_indentation else ""
                else:  # between two words
                    new = " " if collapse else part
                b.replace(offset, part, new)
            offset += len(part)
    b.keep(pos, text[pos:])
    return "".join(b.out), b.segments


def normalize_whitespace(
    text: str,
    *,
    collapse: bool = True,
    trim_lines: bool = True,
    keep_indentation: bool = True,
    max_blank_lines: int | None = None,
    strip: bool = True,
    single_line: bool = False,
) -> str:
    """Normalise newlines and whitespace.

    * newlines: ``\\r\\n`` and ``\\r`` become ``\\n`` (always);
    * ``collapse``: a run of spaces, tabs or other non-newline whitespace inside a line becomes
      one space;
    * ``trim_lines``: whitespace at the end of each line is removed (whitespace-only lines
      become empty);
    * ``keep_indentation``: leading whitespace of each line stays as it is (``False``: removed);
    * ``max_blank_lines``: at most this many consecutive blank lines (``None``: no limit);
    * ``strip``: whitespace at the start and the end of the whole text is removed;
    * ``single_line``: every whitespace run, newlines included, becomes one space (the other
      options except ``strip`` are then moot) -- the form to compare texts in.

    .. versionadded:: 0.1
    """
    out, _ = _normalize(
        text, collapse=collapse, trim_lines=trim_lines, keep_indentation=keep_indentation,
        max_blank_lines=max_blank_lines, strip=strip, single_line=single_line, record=False,
    )  # fmt: skip
    return out


def normalize_with_offsets(
    text: str,
    *,
    collapse: bool = True,
    trim_lines: bool = True,
    keep_indentation: bool = True,
    max_blank_lines: int | None = None,
    strip: bool = True,
    single_line: bool = False,
) -> NormalizedText:
    """:func:`normalize_whitespace`, plus the offset mapping (a :class:`NormalizedText`).

    ``normalize_with_offsets(t, **o).text == normalize_whitespace(t, **o)`` for all options.

    .. versionadded:: 0.1
    """
    out, segments = _normalize(
        text, collapse=collapse, trim_lines=trim_lines, keep_indentation=keep_indentation,
        max_blank_lines=max_blank_lines, strip=strip, single_line=single_line, record=True,
    )  # fmt: skip
    return NormalizedText(out, text, segments)


def _check_tab_size(tab_size: int) -> None:
    if isinstance(tab_size, bool) or not isinstance(tab_size, int) or tab_size < 1:  # pyright: ignore[reportUnnecessaryIsInstance]
        raise ConfigError(f"tab_size must be an int >= 1, got {tab_size!r}")


def normalize_indentation(text: str, *, tab_size: int = 4, use_tabs: bool = False) -> str:
    """Make the leading whitespace of every line uniform.

    Tabs in the indentation expand to the next multiple of ``tab_size`` columns; with
    ``use_tabs=True`` the indentation is then rewritten as tabs (plus spaces for the remainder).
    Tabs after the first non-blank character of a line are left alone.

    .. versionadded:: 0.1
    """
    _check_tab_size(tab_size)

    def fix(match: re.Match[str]) -> str:
        width = len(match.group().expandtabs(tab_size))
        if use_tabs:
            return "\t" * (width // tab_size) + " " * (width % tab_size)
        return " " * width

    return _INDENT.sub(fix, text)


def dedent(text: str) -> str:
    """Remove the whitespace prefix that every non-blank line shares.

    Blank (whitespace-only) lines do not count and become empty. Line endings (``\\n``,
    ``\\r\\n``) are kept. Tabs and spaces are different characters here: a tab-indented line and
    a space-indented one share no prefix (use :func:`normalize_indentation` first).

    .. versionadded:: 0.1
    """
    lines = text.split("\n")
    prefix: str | None = None
    for line in lines:
        body = line.lstrip(" \t")
        if not body or body == "\r":
            continue
        indent = line[: len(line) - len(body)]
        if prefix is None:
            prefix = indent
            continue
        if not indent.startswith(prefix):
            i = 0
            limit = min(len(prefix), len(indent))
            while i < limit and prefix[i] == indent[i]:
                i += 1
            prefix = prefix[:i]
    cut = len(prefix) if prefix else 0
    out: list[str] = []
    for line in lines:
        body = line.lstrip(" \t")
        if not body or body == "\r":
            out.append(body)
        else:
            out.append(line[cut:])
    return "\n".join(out)
