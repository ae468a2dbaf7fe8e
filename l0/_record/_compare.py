"""Comparing two event sequences (recordings, re-executions), with a readable diff."""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Sequence
from typing import Any, cast

import attrs

from l0._events._observability import ObservabilityEvent
from l0._record._schema import json_data

__all__ = ["DEFAULT_IGNORE", "Comparison", "compare", "describe_event"]

DEFAULT_IGNORE: frozenset[str] = frozenset({"ts", "stream_id"})
"""Fields :func:`compare` leaves out by default: two runs never share them."""


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _plain(event: ObservabilityEvent, ignore: frozenset[str]) -> dict[str, Any]:
    """The event as JSON data (as stored), without the ignored fields."""
    data = cast("dict[str, Any]", json_data(event))
    return {k: v for k, v in data.items() if k not in ignore}


def _short(value: Any, limit: int | None) -> str:
    text = json.dumps(value, sort_keys=True, default=repr, ensure_ascii=False)
    return text if limit is None or len(text) <= limit else text[: limit - 1] + "…"


def describe_event(
    data: dict[str, Any], *, limit: int | None = 60, omit: Iterable[str] = ("context",)
) -> str:
    """One line for an event's JSON data: ``TYPE key=value ...``, without the fields in
    ``omit`` (values longer than ``limit`` characters shortened; ``None``: never)."""
    skip = {"type", *omit}
    fields = " ".join(f"{k}={_short(v, limit)}" for k, v in data.items() if k not in skip)
    return f"{data.get('type', '?')} {fields}".rstrip()


@attrs.frozen(kw_only=True)
class Comparison:
    """The outcome of :func:`compare`.

    ``equal`` is whether the two sequences are the same (ignoring the ignored fields);
    ``diff`` the unified diff of their one-line descriptions; ``first_difference`` the index
    of the first event that differs (``None`` if none does). ``str()`` gives the diff, or a
    line saying they are equal.
    """

    equal: bool
    diff: tuple[str, ...]
    first_difference: int | None
    left: int
    right: int

    def __bool__(self) -> bool:
        return self.equal

    def __str__(self) -> str:
        if self.equal:
            return f"equal: {self.left} events"
        return "\n".join(self.diff)


def _events(source: Any) -> Sequence[ObservabilityEvent]:
    events = getattr(source, "events", source)
    return list(cast("Iterable[ObservabilityEvent]", events))


def compare(
    a: Any,
    b: Any,
    *,
    ignore: Iterable[str] = DEFAULT_IGNORE,
    names: tuple[str, str] = ("a", "b"),
) -> Comparison:
    """Compare the observability events of ``a`` and ``b``.

    Each may be a :class:`~l0.record.Recording`, a :class:`~l0.record.Replay`, or a list of
    events. Events are compared as their JSON data (so a recording read back from a store
    equals the events of its re-execution); the fields named in ``ignore`` (snake_case or
    camelCase) are left out: by default ``ts`` and ``stream_id``, which two different runs
    never share. Pass ``ignore=()`` for an exact comparison.
    """
    skip = frozenset(name for field in ignore for name in (field, _camel(field)))
    left = [_plain(e, skip) for e in _events(a)]
    right = [_plain(e, skip) for e in _events(b)]
    first = next((i for i, (x, y) in enumerate(zip(left, right, strict=False)) if x != y), None)
    if first is None and len(left) != len(right):
        first = min(len(left), len(right))
    if first is None:
        return Comparison(equal=True, diff=(), first_difference=None, left=len(left),
                          right=len(right))  # fmt: skip
    diff = difflib.unified_diff(
        [describe_event(e, limit=None, omit=()) for e in left],
        [describe_event(e, limit=None, omit=()) for e in right],
        fromfile=names[0],
        tofile=names[1],
        lineterm="",
    )
    return Comparison(equal=False, diff=tuple(diff), first_difference=first, left=len(left),
                      right=len(right))  # fmt: skip
