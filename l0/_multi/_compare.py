"""Comparing outputs: normalisation, text similarity, and JSON values field by field.

Pure functions, no I/O. The default text similarity is linear in the length of the texts: the
Jaccard index of their word sets, averaged with that of their word-bigram sets (so word order
counts for something). :func:`levenshtein_ratio` is exact edit distance, quadratic, for short
answers where single characters matter.
"""

from __future__ import annotations

import importlib
import itertools
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, cast

import msgspec

__all__ = [
    "NOT_JSON",
    "Similarity",
    "canonical",
    "jaccard_similarity",
    "levenshtein_ratio",
    "merge_values",
    "normalize_text",
    "parse_json",
    "text_similarity",
    "value_similarity",
]

Similarity = Callable[[str, str], float]
"""A similarity of two texts, in [0, 1] (1: the same)."""

_WORD = re.compile(r"\w+")
_FENCE = re.compile(r"^```[\w-]*\s*\n(.*?)\n?```$", re.DOTALL)
_DECODER = msgspec.json.Decoder()
NOT_JSON: Any = object()
"""What :func:`parse_json` returns for text that is not JSON."""


def normalize_text(text: str) -> str:
    """``text`` with whitespace collapsed, case folded, and trimmed."""
    return " ".join(text.split()).casefold()


def _words(text: str) -> list[str]:
    return _WORD.findall(text.casefold())


def _jaccard(a: set[Any], b: set[Any]) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def jaccard_similarity(a: str, b: str) -> float:
    """The Jaccard index of the two texts' sets of words (case-insensitive).

    .. versionadded:: 0.1
    """
    return _jaccard(set(_words(a)), set(_words(b)))


def text_similarity(a: str, b: str) -> float:
    """The default similarity: 1.0 for texts equal after :func:`normalize_text`, else the
    mean of the Jaccard indexes of their words and of their word bigrams (just the words' when
    neither has two). Linear time.

    .. versionadded:: 0.1
    """
    if normalize_text(a) == normalize_text(b):
        return 1.0
    wa, wb = _words(a), _words(b)
    unigrams = _jaccard(set(wa), set(wb))
    pa, pb = set(itertools.pairwise(wa)), set(itertools.pairwise(wb))
    if not pa and not pb:  # single words: no order to compare
        return unigrams
    return (unigrams + _jaccard(pa, pb)) / 2


def levenshtein_ratio(a: str, b: str) -> float:
    """``1 - distance / max(len)``, the normalised Levenshtein similarity of the texts after
    :func:`normalize_text`.

    Computed by `rapidfuzz <https://pypi.org/project/rapidfuzz/>`_ when it is installed
    (bit-parallel C++, hundreds of times faster on long texts), else in pure Python
    (O(len(a) * len(b)) time, O(min) memory); both give the same value.

    .. versionadded:: 0.1
    """
    a, b = normalize_text(a), normalize_text(b)
    if a == b:
        return 1.0
    fast = _rapidfuzz_ratio()
    if fast is not None:
        return float(fast(a, b))
    return _levenshtein_ratio_python(a, b)


def _levenshtein_ratio_python(a: str, b: str) -> float:
    if len(a) < len(b):
        a, b = b, a
    if not b:
        return 0.0
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            cost = 0 if ca == cb else 1
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost))
        previous = current
    return 1.0 - previous[-1] / len(a)


_UNSET: Any = object()
_fast_ratio: Any = _UNSET


def _rapidfuzz_ratio() -> Callable[[str, str], float] | None:
    """rapidfuzz's normalised Levenshtein similarity, if rapidfuzz is installed (looked up
    once, on first use: ``import l0`` never imports it)."""
    global _fast_ratio
    if _fast_ratio is _UNSET:
        try:
            module = importlib.import_module("rapidfuzz.distance.Levenshtein")
        except ImportError:
            _fast_ratio = None
        else:
            _fast_ratio = module.normalized_similarity
    return cast("Callable[[str, str], float] | None", _fast_ratio)


def parse_json(text: str) -> Any:
    """The JSON value in ``text`` (a fenced code block is unwrapped), or :data:`NOT_JSON`."""
    stripped = text.strip()
    fenced = _FENCE.match(stripped)
    if fenced is not None:
        stripped = fenced.group(1).strip()
    if not stripped:
        return NOT_JSON
    try:
        return _DECODER.decode(stripped)
    except msgspec.DecodeError:
        return NOT_JSON


def _is_number(value: object) -> bool:  # a bool is not a number here
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def value_similarity(a: object, b: object, strings: Similarity = text_similarity) -> float:
    """Similarity of two JSON values in [0, 1].

    Objects: the mean over the union of their keys (a key missing on one side scores 0).
    Arrays: position by position over the longer one. Numbers: equal within a relative
    tolerance of 1e-9. Strings: ``strings`` (the text similarity). Others: equality.
    """
    if _is(a, Mapping) and _is(b, Mapping):
        ma = cast("Mapping[str, Any]", a)
        mb = cast("Mapping[str, Any]", b)
        keys = ma.keys() | mb.keys()
        if not keys:
            return 1.0
        total = sum(value_similarity(ma[k], mb[k], strings) for k in keys if k in ma and k in mb)
        return total / len(keys)
    if _is(a, list) and _is(b, list):
        la = cast("list[Any]", a)
        lb = cast("list[Any]", b)
        longest = max(len(la), len(lb))
        if not longest:
            return 1.0
        return sum(value_similarity(x, y, strings) for x, y in zip(la, lb, strict=False)) / longest
    if _is_number(a) and _is_number(b):
        fa, fb = cast("float", a), cast("float", b)
        return 1.0 if math.isclose(fa, fb, rel_tol=1e-9, abs_tol=1e-12) else 0.0
    if _is(a, str) and _is(b, str):
        return strings(cast("str", a), cast("str", b))
    if type(a) is not type(b):
        return 0.0
    return 1.0 if a == b else 0.0


def _is(value: object, kind: type) -> bool:
    # isinstance without narrowing: the callers cast to the parametrised type they expect.
    return isinstance(value, kind)


def canonical(value: Any) -> Any:
    """A hashable key under which equal-after-normalisation JSON values collide."""
    if isinstance(value, Mapping):
        mapping = cast("Mapping[str, Any]", value)
        return ("{", tuple(sorted((k, canonical(v)) for k, v in mapping.items())))
    if isinstance(value, list):
        items = cast("list[Any]", value)
        return ("[", tuple(canonical(v) for v in items))
    if isinstance(value, str):
        return ("s", normalize_text(value))
    if _is_number(value):
        return ("n", float(cast("float", value)))
    return ("v", value)


def merge_values(
    values: Sequence[tuple[float, Any]],
    total: float,
    fields: dict[str, tuple[Any, float]],
    path: str = "",
) -> Any:
    """Merge ``(weight, value)`` pairs field by field; ``total`` is the weight of all voters.

    Objects merge key by key (a key is kept if more than half of the weight voting on this
    object has it); arrays of equal length merge position by position; anything else takes
    the value with the most weight (ties: the first). ``fields`` receives, for each leaf
    path, the chosen value and its share of ``total``.
    """
    if values and all(isinstance(v, Mapping) for _, v in values):
        present = sum(w for w, _ in values)
        merged: dict[str, Any] = {}
        for key in _keys_in_order(v for _, v in values):
            having = [(w, v[key]) for w, v in values if key in v]
            if sum(w for w, _ in having) * 2 > present:
                merged[key] = merge_values(having, total, fields, f"{path}.{key}" if path else key)
        return merged
    if values and all(isinstance(v, list) for _, v in values):
        lengths = {len(v) for _, v in values}
        if len(lengths) == 1:
            return [
                merge_values([(w, v[i]) for w, v in values], total, fields, f"{path}[{i}]")
                for i in range(lengths.pop())
            ]
    tally: dict[Any, list[Any]] = {}
    for weight, value in values:
        key = canonical(value)
        entry = tally.setdefault(key, [0.0, value])
        entry[0] += weight
    weight, value = max(tally.values(), key=lambda e: e[0])  # first maximum: stable
    fields[path or "$"] = (value, weight / total if total else 0.0)
    return value


def _keys_in_order(mappings: Iterable[Mapping[str, Any]]) -> list[str]:
    seen: dict[str, None] = {}
    for mapping in mappings:
        for key in mapping:
            seen.setdefault(key, None)
    return list(seen)
