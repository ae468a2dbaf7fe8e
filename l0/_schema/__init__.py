"""JSON for l0's values: :func:`to_json`, :func:`from_json` and :func:`schema`.

One codec for configs, state, stream and observability events, errors and results, derived by
msgspec from the types' own declarations (there is no second set of models to keep in step):

* an attrs class (a config, a result) is written as its fields, under their Python names. A
  field that holds a function (``Retry.should_retry``) is code, not data: it is left out of the
  schema, and encoding a value in which it is set raises :class:`SerializationError`;
* a msgspec Struct (an event, a document chunk) is written as it declares itself;
* a :class:`~l0.State` is written as its data and decoded back into a ``State``; an exception
  as its canonical ``to_json()`` (:class:`ErrorInfo`), decoded back into a
  :class:`RecordedError`.

Live objects (streams, sessions, pools, windows, race results with their live winner, retry
budgets, circuit breakers, drift detectors) and code (guardrail rules, pipeline steps) have no
JSON form: :class:`SerializationError` says so.
"""

from __future__ import annotations

import contextlib
from typing import Any, Final, TypeVar, cast, overload

import msgspec

from l0._schema._forms import dump, enc_hook, loader, wire
from l0._schema._records import ErrorInfo as ErrorInfo
from l0._schema._records import RecordedError as RecordedError
from l0._schema._records import SerializationError as SerializationError
from l0._schema._records import StateSnapshot as StateSnapshot

__all__ = [
    "ErrorInfo",
    "RecordedError",
    "SerializationError",
    "StateSnapshot",
    "from_json",
    "schema",
    "to_json",
]

T = TypeVar("T")

_ENCODER: Final = msgspec.json.Encoder(enc_hook=enc_hook)


class _Plan:
    """How values of one type are read: the wire type, its decoder and the loader."""

    __slots__ = ("decoder", "load", "wire")

    def __init__(self, tp: Any) -> None:
        self.wire: Any = wire(tp, {})
        self.load = loader(tp, {})
        try:
            self.decoder: msgspec.json.Decoder[Any] = msgspec.json.Decoder(self.wire)
        except TypeError as exc:
            raise SerializationError(f"{_name(tp)} has no JSON form: {exc}") from exc


_PLANS: dict[Any, _Plan] = {}


def _plan(tp: Any) -> _Plan:
    try:
        plan = _PLANS.get(tp)
    except TypeError:  # an unhashable annotation
        return _Plan(tp)
    if plan is None:
        plan = _PLANS[tp] = _Plan(tp)
    return plan


def _name(tp: Any) -> str:
    name: str | None = getattr(tp, "__name__", None)
    return name or repr(tp)


def to_json(value: object) -> bytes:
    """``value`` as JSON (UTF-8 bytes).

    Any public l0 value works: configs, :class:`~l0.State`, stream and observability events,
    errors, results, document chunks; so do plain JSON values and whatever msgspec writes
    (Structs, dataclasses, attrs classes...), nested freely. Observability events come out
    exactly as :func:`l0.events.encode_event` writes them.

    Raises:
        SerializationError: ``value`` holds something with no JSON form: a function in a
            config (``Retry.should_retry``), a live object (a :class:`~l0.Stream`), code (a
            guardrail :class:`~l0.Rule`).

    .. versionadded:: 0.1
    """
    try:
        return _ENCODER.encode(dump(value))
    except SerializationError:
        raise
    except (TypeError, ValueError, OverflowError) as exc:
        raise SerializationError(f"cannot write {type(value).__name__} as JSON: {exc}") from exc


@overload
def from_json(data: bytes | str, type: type[T]) -> T: ...
@overload
def from_json(data: bytes | str, type: Any) -> Any: ...
def from_json(data: bytes | str, type: Any) -> Any:
    """Read ``data`` (JSON from :func:`to_json`, or from anyone) as a ``type``.

    ``type`` is any type :func:`schema` describes: an l0 class (``l0.Retry``,
    ``l0.ParallelResult``; ``l0.StreamEvent`` for any stream event,
    ``l0.events.ObservabilityEvent`` for any observability event), a parametrised one
    (``l0.StructuredResult[MyModel]``), containers of them (``list[l0.Token]``), or anything
    msgspec reads. Configs and results are built through their constructors, so their
    validation runs. An error comes back as a :class:`RecordedError`; decode it as
    :class:`ErrorInfo` for the plain description.

    Raises:
        SerializationError: ``data`` is not JSON, not the JSON form of ``type`` (the message
            says where), or holds values ``type`` refuses (``__cause__`` says why).

    .. versionadded:: 0.1
    """
    plan = _plan(type)
    try:
        raw = plan.decoder.decode(data)
    except msgspec.ValidationError as exc:
        raise SerializationError(f"not the JSON of a {_name(type)}: {exc}") from exc
    except msgspec.DecodeError as exc:
        raise SerializationError(f"not JSON: {exc}") from exc
    if plan.load is None:
        return raw
    try:
        return plan.load(raw)
    except SerializationError:
        raise
    except (ValueError, TypeError) as exc:
        raise SerializationError(f"not a valid {_name(type)}: {exc}") from exc


def schema(type: Any) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of what :func:`to_json` writes for a ``type``.

    Names are the ones on the wire and fields that hold functions are left out; each class is
    a ``$defs`` entry with its docstring as ``description`` and its defaults as ``default``.
    ``type`` is anything :func:`from_json` reads.

    Raises:
        SerializationError: ``type`` has no JSON form.

    .. versionadded:: 0.1
    """
    try:
        result = msgspec.json.schema(_plan(type).wire)
    except TypeError as exc:
        raise SerializationError(f"{_name(type)} has no JSON Schema: {exc}") from exc
    _sort_set_defaults(result)
    return result


def _sort_set_defaults(node: Any) -> None:
    # Defaults that are sets come out in hash order: sort them, so a schema is the same on
    # every run (as the values are in to_json).
    if isinstance(node, dict):
        mapping = cast("dict[str, Any]", node)
        default = mapping.get("default")
        if mapping.get("uniqueItems") and isinstance(default, list):
            with contextlib.suppress(TypeError):
                cast("list[Any]", default).sort()
        for child in mapping.values():
            _sort_set_defaults(child)
    elif isinstance(node, list):
        for child in cast("list[Any]", node):
            _sort_set_defaults(child)
