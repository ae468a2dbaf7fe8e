"""JSON values for the JSON Schema validator: type names, JSON equality, previews, string
formats (``format``) and the shared cache of compiled ``pattern`` regexes."""

from __future__ import annotations

import datetime
import functools
import ipaddress
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Final, cast

import msgspec

__all__ = ["FORMATS", "compile_pattern", "has_type", "json_type", "same", "show"]


@functools.lru_cache(maxsize=512)
def compile_pattern(source: str) -> re.Pattern[str]:
    """Compile a ``pattern`` once (shared by every schema that uses it; ``re.error`` if
    invalid)."""
    return re.compile(source)


_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})\Z")
_TIME = re.compile(r"(\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(?:[Zz]|[+-](\d{2}):(\d{2}))\Z")
_DATE_TIME = re.compile(r"(\d{4})-(\d{2})-(\d{2})[Tt ](.+)\Z", re.DOTALL)
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+\Z")
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:[^\s]*\Z")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\Z")
_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)\Z")


def _is_date(value: str) -> bool:
    m = _DATE.match(value)
    if m is None:
        return False
    try:
        datetime.date(int(m[1]), int(m[2]), int(m[3]))
    except ValueError:
        return False
    return True


def _is_time(value: str) -> bool:
    m = _TIME.match(value)
    if m is None:
        return False
    hour, minute, second = int(m[1]), int(m[2]), int(m[3])
    if hour > 23 or minute > 59 or second > 60:  # 60: a leap second
        return False
    return m[4] is None or (int(m[4]) <= 23 and int(m[5]) <= 59)


def _is_date_time(value: str) -> bool:
    m = _DATE_TIME.match(value)
    return m is not None and _is_date(value[:10]) and _is_time(m[4])


def _is_ip(version: int) -> Callable[[str], bool]:
    def check(value: str) -> bool:
        try:
            address = ipaddress.ip_address(value)
        except ValueError:
            return False
        return address.version == version

    return check


def _is_hostname(value: str) -> bool:
    host = value[:-1] if value.endswith(".") else value
    return 0 < len(host) <= 253 and all(_LABEL.match(label) for label in host.split("."))


FORMATS: Final[dict[str, Callable[[str], bool]]] = {
    "date-time": _is_date_time,
    "date": _is_date,
    "time": _is_time,
    "email": lambda v: _EMAIL.match(v) is not None,
    "uri": lambda v: _URI.match(v) is not None,
    "uuid": lambda v: _UUID.match(v) is not None,
    "ipv4": _is_ip(4),
    "ipv6": _is_ip(6),
    "hostname": _is_hostname,
}


def json_type(value: object) -> str:
    """The JSON Schema type name of a decoded JSON value (``integer`` for whole numbers)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "integer" if value.is_integer() else "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (list, tuple)):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def has_type(value: object, name: str) -> bool:
    actual = json_type(value)
    return actual == name or (name == "number" and actual == "integer")


def same(a: object, b: object) -> bool:
    """JSON equality: ``1 == 1.0``, but ``true != 1``; iterative (any depth)."""
    stack = [(a, b)]
    while stack:
        x, y = stack.pop()
        tx, ty = json_type(x), json_type(y)
        if {tx, ty} <= {"integer", "number"}:
            if x != y:
                return False
        elif tx != ty:
            return False
        elif tx == "array":
            xs, ys = cast("Sequence[object]", x), cast("Sequence[object]", y)
            if len(xs) != len(ys):
                return False
            stack.extend(zip(xs, ys, strict=True))
        elif tx == "object":
            xm, ym = cast("Mapping[str, object]", x), cast("Mapping[str, object]", y)
            if xm.keys() != ym.keys():
                return False
            stack.extend((xm[k], ym[k]) for k in xm)
        elif x != y:
            return False
    return True


def show(value: object, limit: int = 60) -> str:
    try:
        text = msgspec.json.encode(value).decode()
    except (TypeError, ValueError, RecursionError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
