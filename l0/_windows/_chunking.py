"""Cutting a document into overlapping spans: pure functions, linear in the document's length.

Every chunker returns ``(start, end, tokens)`` spans with these invariants (checked by property
tests): the first starts at 0, the last ends at ``len(document)``, each starts after the previous
one started and no later than it ended (no gaps), each is non-empty, and no boundary falls
between the two halves of a surrogate pair.

No chunker slices more than a bounded multiple of each chunk's own length, and token estimates
are only ever taken of such slices, so a 2 MB document costs a few passes over 2 MB.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Literal, TypeAlias

__all__ = ["Span", "Strategy", "chunk", "cut_at", "snap_back", "snap_forward"]

Strategy: TypeAlias = Literal["token", "char", "paragraph", "sentence"]
Span: TypeAlias = tuple[int, int, int]
Estimator: TypeAlias = Callable[[str], int]

_SNAP = 200  # how far back a cut looks for whitespace before giving up and cutting a word
_MAX_STEPS = 24
_BREAK = r"(?:\r\n|\r|\n)"
_PARAGRAPH_END = re.compile(rf"{_BREAK}(?:[^\S\r\n]*{_BREAK})+")
_SENTENCE_END = re.compile(
    r"[.!?\u2026\u3002\uff01\uff1f]+[\"'\u201d\u2019)\]]*(?:\s+|\Z)"
    rf"|{_BREAK}(?:[^\S\r\n]*{_BREAK})+"
)


def _splits_pair(doc: str, i: int) -> bool:
    return (
        0 < i < len(doc) and "\ud800" <= doc[i - 1] <= "\udbff" and "\udc00" <= doc[i] <= "\udfff"
    )


def cut_at(doc: str, i: int, floor: int) -> int:
    """``i``, or a neighbour if ``i`` falls inside a surrogate pair (staying above ``floor``)."""
    if _splits_pair(doc, i):
        return i - 1 if i - 1 > floor else i + 1
    return i


def snap_back(doc: str, e: int, floor: int) -> int:
    """``e`` moved back to just after the nearest whitespace, if one is near and above ``floor``."""
    lo = max(floor, e - _SNAP)
    w = max(doc.rfind(" ", lo, e), doc.rfind("\n", lo, e), doc.rfind("\t", lo, e))
    return w + 1 if w >= 0 and w + 1 > floor else e


def snap_forward(doc: str, i: int, limit: int) -> int:
    """``i`` moved forward to the start of the next word, if one starts before ``limit``."""
    if i <= 0 or doc[i - 1] in " \n\t":
        return i
    hi = min(limit, i + _SNAP)
    found = [w for w in (doc.find(" ", i, hi), doc.find("\n", i, hi), doc.find("\t", i, hi))
             if w >= 0]  # fmt: skip
    if not found:
        return i
    w = min(found) + 1
    return w if w < limit else i


def _fit(
    doc: str, s: int, limit: int, size: int, est: Estimator, ratio: float, floor: int = 0
) -> tuple[int, int]:
    """The largest end ``e <= limit`` whose ``est(doc[s:e]) <= size``, by a secant search
    bracketed from both sides. Ends fall just after whitespace (never snapped back to
    ``floor`` or before); only a word longer than the budget is cut inside. At least one code
    point, even if that alone is over the budget."""
    lo, lo_t = s, 0
    hi: int | None = None
    guess = s + max(1, int(size * ratio))
    for _ in range(_MAX_STEPS):
        e = min(guess, limit) if hi is None else min(guess, limit, hi - 1)
        e = max(e, lo + 1)
        if e < limit:
            bottom = max(lo, floor)
            w = max(doc.rfind(" ", bottom, e), doc.rfind("\n", bottom, e),
                    doc.rfind("\t", bottom, e))  # fmt: skip
            if w >= 0:
                e = w + 1  # just after the last whitespace
            elif lo > s:
                break  # no word boundary between the best fit and here: keep the best fit
            else:
                e = cut_at(doc, e, lo)  # one long word: cut inside it
        t = est(doc[s:e])
        if t <= size:
            lo, lo_t = e, t
            if e >= limit or t >= size:
                break
        else:
            hi = e
        if hi is not None and hi - lo <= max(1, (lo - s) // 64):
            break
        scaled = s + int((e - s) * size / max(t, 1))
        if hi is None:
            guess = min(max(scaled, e + 1), s + 2 * (e - s) + 64)
        else:
            guess = scaled if lo < scaled < hi else (lo + hi) // 2
    if lo == s:
        e = cut_at(doc, s + 1, s)
        return e, est(doc[s:e])
    return lo, lo_t


def _ratio(length: int, tokens: int) -> float:
    return min(64.0, max(0.25, length / max(tokens, 1)))


def _by_chars(doc: str, size: int, overlap: int, est: Estimator) -> list[Span]:
    n = len(doc)
    spans: list[Span] = []
    s = prev_end = 0
    while s < n:
        e = cut_at(doc, min(s + size, n), s)
        if e <= prev_end < n:  # a surrogate pair ate the progress: no overlap this time
            s = prev_end
            e = cut_at(doc, min(s + size, n), s)
        spans.append((s, e, est(doc[s:e])))
        prev_end = e
        if e >= n:
            break
        ns = e - overlap
        if _splits_pair(doc, ns):
            ns += 1
        s = ns if ns > s else cut_at(doc, s + 1, s)
    return spans


def _overlap_start(doc: str, s: int, e: int, t: int, overlap: int, est: Estimator) -> int:
    """Where the next chunk starts so that it repeats at most ``overlap`` tokens of this one
    (whole words when possible); ``e`` for no overlap."""
    if overlap <= 0:
        return e
    ns = e - int((e - s) * overlap / max(t, 1))
    for _ in range(4):
        ns = snap_forward(doc, max(ns, s + 1), e)
        if _splits_pair(doc, ns):
            ns += 1
        tail = est(doc[ns:e])
        if tail <= overlap:
            return ns
        ns = max(ns + 1, e - int((e - ns) * overlap / tail))
        if ns >= e:
            break
    return e


def _by_tokens(doc: str, size: int, overlap: int, est: Estimator) -> list[Span]:
    n = len(doc)
    spans: list[Span] = []
    s = prev_end = 0
    ratio = 4.0
    while s < n:
        e, t = _fit(doc, s, n, size, est, ratio, prev_end)
        if e <= prev_end < n:  # the overlap left no room to move on: none this time
            s = prev_end
            e, t = _fit(doc, s, n, size, est, ratio, prev_end)
        spans.append((s, e, t))
        prev_end = e
        if e >= n:
            break
        ratio = _ratio(e - s, t)
        ns = _overlap_start(doc, s, e, t, overlap, est)
        s = ns if ns > s else cut_at(doc, s + 1, s)
    return spans


def _pieces(doc: str, a: int, b: int, size: int, est: Estimator) -> list[Span]:
    """``doc[a:b]`` cut into budget-sized pieces (no overlap)."""
    out: list[Span] = []
    s = a
    ratio = 4.0
    while s < b:
        e, t = _fit(doc, s, b, size, est, ratio)
        out.append((s, e, t))
        ratio = _ratio(e - s, t)
        s = e
    return out


def _ends(pattern: re.Pattern[str], doc: str, a: int, b: int) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    start = a
    for match in pattern.finditer(doc, a, b):
        end = match.end()
        if start < end < b:
            spans.append((start, end))
            start = end
    if start < b:
        spans.append((start, b))
    return spans


def _units(doc: str, size: int, est: Estimator, strategy: Strategy) -> list[Span]:
    """Paragraphs or sentences (each with its trailing whitespace); oversized ones split."""
    first = _PARAGRAPH_END if strategy == "paragraph" else _SENTENCE_END
    units: list[Span] = []
    for a, b in _ends(first, doc, 0, len(doc)):
        t = est(doc[a:b])
        if t <= size:
            units.append((a, b, t))
            continue
        inner = _ends(_SENTENCE_END, doc, a, b) if strategy == "paragraph" else [(a, b)]
        for c, d in inner:
            u = est(doc[c:d]) if len(inner) > 1 else t
            if u <= size:
                units.append((c, d, u))
            else:
                units.extend(_pieces(doc, c, d, size, est))
    return units


def _pack(doc: str, units: list[Span], size: int, overlap: int, est: Estimator) -> list[Span]:
    """Consecutive units packed up to ``size``; each chunk repeats the trailing units of the
    previous one that fit in ``overlap``."""
    spans: list[Span] = []
    i = 0
    count = len(units)
    while i < count:
        j = i
        total = 0
        while j < count and (j == i or total + units[j][2] <= size):
            total += units[j][2]
            j += 1
        start, end = units[i][0], units[j - 1][1]
        spans.append((start, end, est(doc[start:end]) if j - i > 1 else units[i][2]))
        if j >= count:
            break
        # Repeat the last units that fit in the overlap, leaving room for the next unit so
        # that every chunk reaches further than the one before.
        k = j
        repeated = 0
        room = size - units[j][2]
        while k - 1 > i and repeated + units[k - 1][2] <= min(overlap, room):
            k -= 1
            repeated += units[k][2]
        i = k
    return spans


def chunk(doc: str, *, size: int, overlap: int, strategy: Strategy, est: Estimator) -> list[Span]:
    """``doc`` cut into spans by ``strategy`` (``size`` and ``overlap`` in characters for
    ``"char"``, in estimated tokens otherwise)."""
    if not doc:
        return []
    if strategy == "char":
        return _by_chars(doc, size, overlap, est)
    if strategy == "token":
        return _by_tokens(doc, size, overlap, est)
    return _pack(doc, _units(doc, size, est, strategy), size, overlap, est)
