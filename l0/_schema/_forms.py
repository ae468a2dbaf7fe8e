"""Wire forms: what msgspec decodes and describes for a type, and the conversions both ways.

A registered l0 class (a config, a result, the two stream events that hold a State or an error)
gets a derived msgspec Struct, built once from its declared fields: same names, same defaults,
wire types in place of field types (``State`` -> its form, an exception -> ``ErrorInfo``, a
nested l0 class -> its own derived Struct). Fields that hold functions are code: they are left
out. Other types are their own wire form.

* :func:`wire` maps a type to its wire type (recursively: unions, containers, generics);
* :func:`loader` gives what turns a decoded wire value back into the type (``None``: nothing
  to do), running the class's own constructor, hence its validation;
* :func:`dump` replaces, in a value, every l0 value by its wire form, ready for msgspec.
"""

from __future__ import annotations

import collections.abc
import contextlib
import enum
import inspect
import math
import sys
import types
import typing
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Final, TypeVar, Union, cast, get_args, get_origin

import attrs
import msgspec

from l0._errors import L0Error
from l0._events._observability import AnyObservabilityEvent, ObservabilityEvent
from l0._events._stream import AnyStreamEvent, StreamEvent
from l0._schema._records import (
    ErrorInfo,
    SerializationError,
    StateForm,
    dump_state,
    load_error,
    load_state,
)
from l0._state import State

__all__ = ["Loader", "dump", "enc_hook", "loader", "wire"]

Loader = Callable[[Any], Any]

# The l0 classes that get a derived form, by name, with the module that defines them: once
# re-exported their ``__module__`` says ``l0``, but their annotations belong to that module.
_ORIGINS: Final[Mapping[str, str]] = {
    "Retry": "l0._config",
    "Timeout": "l0._config",
    "CheckIntervals": "l0._config",
    "RetryContext": "l0._config",
    "ContinuationConfig": "l0._engine._continuation",
    "DriftConfig": "l0._guardrails._drift",
    "AttemptContext": "l0._runtime._options",
    "TaskOutcome": "l0._multi._results",
    "TaskTelemetry": "l0._multi._results",
    "ParallelResult": "l0._multi._results",
    "CandidateOutcome": "l0._multi._race",
    "ConsensusGroup": "l0._multi._consensus",
    "ConsensusResult": "l0._multi._consensus",
    "Dissent": "l0._multi._consensus",
    "FieldAgreement": "l0._multi._consensus",
    "PipelineResult": "l0._multi._pipeline",
    "StepResult": "l0._multi._pipeline",
    "PoolStats": "l0._multi._pool",
    "StructuredResult": "l0._structured._api",
    "ChunkResult": "l0._windows._process",
    "ChunkRun": "l0._windows._process",
    # Structs that hold a State or an error
    "Complete": "l0._events._stream",
    "ErrorEvent": "l0._events._stream",
}

# Configs refuse unknown keys (a misspelt option is an error); results and events ignore them
# (a newer l0 may add fields).
_STRICT: Final = frozenset(
    {"Retry", "Timeout", "CheckIntervals", "ContinuationConfig", "DriftConfig"}
)

# Names that the modules above import only for type checking.
_DEFERRED: Final[Mapping[str, tuple[str, str]]] = {
    "State": ("l0._state", "State"),
    "L0Error": ("l0._errors", "L0Error"),
    "ParallelResult": ("l0._multi._results", "ParallelResult"),
    "DocumentChunk": ("l0._windows._window", "DocumentChunk"),
}

# Abstract bases, decoded as the union of their concrete events.
_UNIONS: Final[Mapping[type, Any]] = {
    StreamEvent: AnyStreamEvent,
    ObservabilityEvent: AnyObservabilityEvent,
}

_FACTORY: Final = cast("type[Any]", attrs.Factory)
_SIMPLE_DEFAULTS: Final = (type(None), bool, int, float, str, bytes, tuple, frozenset)
_SCALARS: Final = frozenset({str, int, float, bool, type(None), bytes})
_UNION_TYPES: Final = (Union, types.UnionType)
_CALLABLE: Final[Any] = collections.abc.Callable


class _Form:
    """How one l0 class is written: its wire Struct, its data fields and its code fields."""

    __slots__ = ("cls", "code", "fields", "wire")

    def __init__(
        self,
        cls: Any,
        wire: type[msgspec.Struct],
        fields: tuple[tuple[str, str, Loader | None], ...],
        code: tuple[str, ...],
    ) -> None:
        self.cls = cls
        self.wire = wire
        self.fields = fields  # (attribute, constructor keyword, loader)
        self.code = code

    def dump(self, value: Any) -> msgspec.Struct:
        name = self.cls.__name__
        for field in self.code:
            if getattr(value, field) is not None:
                raise SerializationError(
                    f"{name}.{field} is a function, which has no JSON form; encode the {name} "
                    f"without it (attrs.evolve(value, {field}=None)) and set it again after "
                    f"decoding"
                )
        return self.wire(**{field: dump(getattr(value, field)) for field, _, _ in self.fields})

    def load(self, raw: Any) -> Any:
        kwargs: dict[str, Any] = {}
        for field, keyword, load in self.fields:
            value = getattr(raw, field)
            if value is not msgspec.UNSET:
                kwargs[keyword] = value if load is None else load(value)
        return self.cls(**kwargs)


_FORMS: dict[Any, _Form | None] = {}


def _origin_module(cls: Any) -> types.ModuleType | None:
    name: str = getattr(cls, "__qualname__", "")
    module = sys.modules.get(_ORIGINS.get(name, ""))
    if module is None or getattr(module, name, None) is not cls:
        return None
    return module


def _is_l0(cls: Any) -> bool:
    module: str = getattr(cls, "__module__", "") or ""
    return module.partition(".")[0] == "l0"


def _hints(cls: Any, module: types.ModuleType) -> dict[str, Any]:
    namespace = dict(vars(module))
    for name, (where, attr) in _DEFERRED.items():
        if name not in namespace and where in sys.modules:
            namespace[name] = getattr(sys.modules[where], attr)
    return typing.get_type_hints(cls, globalns=namespace, include_extras=True)


def _is_code(tp: Any) -> bool:
    arms = get_args(tp) if get_origin(tp) in _UNION_TYPES else (tp,)
    return any(arm is _CALLABLE or get_origin(arm) is _CALLABLE for arm in arms)


def _field_spec(name: str, wire_type: Any, default: Any) -> tuple[Any, ...]:
    if default is attrs.NOTHING or default is msgspec.NODEFAULT:
        return (name, wire_type)
    if isinstance(default, _FACTORY) and not default.takes_self:
        return (name, wire_type, msgspec.field(default_factory=default.factory))
    if isinstance(default, _SIMPLE_DEFAULTS):
        return (name, wire_type, cast("Any", default))
    # A default the wire form cannot hold: absent means "the constructor's default".
    return (name, Union[wire_type, msgspec.UnsetType], msgspec.UNSET)  # noqa: UP007


def _declared(cls: Any) -> tuple[list[tuple[str, str, Any]], dict[str, Any]]:
    """The fields (attribute, constructor keyword, default) and the Struct options."""
    if attrs.has(cls):
        fields = [(a.name, a.alias or a.name, a.default) for a in attrs.fields(cls) if a.init]
        return fields, {}
    names: tuple[str, ...] = cls.__struct_fields__
    defaults: tuple[Any, ...] = cls.__struct_defaults__
    padded = (msgspec.NODEFAULT,) * (len(names) - len(defaults)) + defaults
    encoded: tuple[str, ...] = cls.__struct_encode_fields__
    config: Any = cls.__struct_config__
    renamed = {n: e for n, e in zip(names, encoded, strict=True) if n != e}
    options = {"tag_field": config.tag_field, "tag": config.tag, "rename": renamed or None}
    return [(n, n, d) for n, d in zip(names, padded, strict=True)], options


def _form_of(tp: Any) -> _Form | None:
    """The form of a registered l0 class (or of a parametrised generic one), else None."""
    try:
        return _FORMS[tp]
    except KeyError:
        pass
    origin: Any = get_origin(tp) or tp
    module = _origin_module(origin)
    if module is None:
        _FORMS[tp] = None
        return None
    params: tuple[Any, ...] = getattr(origin, "__parameters__", ())
    tvars = dict(zip(params, get_args(tp), strict=True)) if origin is not tp else {}
    hints = _hints(origin, module)
    declared, options = _declared(origin)
    specs: list[tuple[Any, ...]] = []
    fields: list[tuple[str, str, Loader | None]] = []
    code: list[str] = []
    for name, keyword, default in declared:
        field_type = hints[name]
        if _is_code(field_type):
            if default is attrs.NOTHING or default is msgspec.NODEFAULT:
                raise SerializationError(f"{origin.__name__} has no JSON form: {name} is code")
            code.append(name)
            continue
        specs.append(_field_spec(name, wire(field_type, tvars), default))
        fields.append((name, keyword, loader(field_type, tvars)))
    wire_struct = msgspec.defstruct(
        origin.__name__,
        specs,
        kw_only=True,
        module=origin.__module__,
        namespace={"__doc__": _description(origin.__doc__)},
        forbid_unknown_fields=origin.__name__ in _STRICT,
        **options,
    )
    form = _Form(origin, wire_struct, tuple(fields), tuple(code))
    _FORMS[tp] = form
    return form


def _description(doc: str | None) -> str | None:
    # The docstring as a schema's description: dedented, without Sphinx directives.
    if not doc:
        return None
    lines = inspect.cleandoc(doc).splitlines()
    return "\n".join(line for line in lines if not line.startswith(".. ")).strip() or None


def _parametrised_form(origin: Any, args: tuple[Any, ...], tvars: Mapping[Any, Any]) -> _Form:
    bound = tuple(tvars.get(arg, Any) if isinstance(arg, TypeVar) else arg for arg in args)
    form = _form_of(origin[bound])
    assert form is not None
    return form


def no_form(cls: Any) -> SerializationError:
    """The error for an l0 class that deliberately has no JSON form."""
    return SerializationError(
        f"l0.{cls.__name__} has no JSON form: it holds code or live state (the JSON page of "
        f"the docs lists what can be written)"
    )


# --------------------------------------------------------------------------- types


def wire(tp: Any, tvars: Mapping[Any, Any]) -> Any:
    """The type msgspec decodes and describes for ``tp`` (``tvars`` binds type variables)."""
    if isinstance(tp, TypeVar):
        return wire(tvars[tp], {}) if tp in tvars else Any
    origin = get_origin(tp)
    if origin is None:
        return _wire_class(tp) if isinstance(tp, type) else tp
    args: tuple[Any, ...] = get_args(tp)
    if origin is Annotated:
        return Annotated[(wire(args[0], tvars), *tp.__metadata__)]
    if origin is typing.Literal or not args:
        return tp
    if origin in _UNION_TYPES:
        return Union[tuple(wire(arg, tvars) for arg in args)]  # noqa: UP007
    if origin is _CALLABLE:
        raise SerializationError("functions have no JSON form")
    if _form_of(origin) is not None:
        return _parametrised_form(origin, args, tvars).wire
    wired: tuple[Any, ...] = tuple(arg if arg is Ellipsis else wire(arg, tvars) for arg in args)
    return origin[wired[0]] if len(wired) == 1 else origin[wired]


def _wire_class(cls: Any) -> Any:
    if cls is State:
        return StateForm
    if issubclass(cls, BaseException):
        return ErrorInfo
    union = _union_of(cls)
    if union is not None:
        return wire(union, {})
    form = _form_of(cls)
    if form is not None:
        return form.wire
    if _is_l0(cls) and not issubclass(cls, (msgspec.Struct, enum.Enum)):
        raise no_form(cls)
    return cls


def loader(tp: Any, tvars: Mapping[Any, Any]) -> Loader | None:
    """What turns the decoded wire value of ``tp`` into a ``tp`` (None: it already is one)."""
    if isinstance(tp, TypeVar):
        return loader(tvars[tp], {}) if tp in tvars else None
    origin = get_origin(tp)
    if origin is None:
        return _class_loader(tp) if isinstance(tp, type) else None
    args = get_args(tp)
    if origin is Annotated:
        return loader(args[0], tvars)
    if origin is typing.Literal or not args:
        return None
    if origin in _UNION_TYPES:
        return _union_loader(args, tvars)
    if _form_of(origin) is not None:
        return _parametrised_form(origin, args, tvars).load
    if origin in (dict, collections.abc.Mapping, collections.abc.MutableMapping):
        load_value = loader(args[1], tvars)
        if load_value is None:
            return None
        return lambda raw: {key: load_value(value) for key, value in raw.items()}
    if origin is tuple and args[-1] is not Ellipsis:  # one type per position
        loaders = [loader(arg, tvars) for arg in args]
        if all(load is None for load in loaders):
            return None
        return lambda raw: tuple(
            value if load is None else load(value) for load, value in zip(loaders, raw, strict=True)
        )
    load_item = loader(args[0], tvars)
    if load_item is None:
        return None
    return lambda raw: type(raw)(load_item(item) for item in raw)


def _class_loader(cls: Any) -> Loader | None:
    if cls is State:
        return load_state
    if issubclass(cls, BaseException):
        if cls in (L0Error, Exception, BaseException):
            return load_error
        raise SerializationError(
            f"from_json cannot rebuild a {cls.__name__}: decode errors as l0.L0Error (which "
            f"gives a RecordedError) or as l0.ErrorInfo"
        )
    union = _union_of(cls)
    if union is not None:
        return loader(union, {})
    form = _form_of(cls)
    return None if form is None else form.load


def _union_of(cls: Any) -> Any | None:
    """For the base of a tagged family of Structs (``l0.StreamEvent``, ``PartialEvent``...):
    the union of its concrete members, which is what its JSON is one of."""
    if cls in _UNIONS:
        return _UNIONS[cls]
    if not issubclass(cls, msgspec.Struct) or cls.__struct_config__.tag_field is None:
        return None
    leaves: list[type] = []
    todo: list[type] = list(cls.__subclasses__())
    while todo:
        sub = todo.pop(0)
        children = sub.__subclasses__()
        todo.extend(children)
        if not children:
            leaves.append(sub)
    return Union[tuple(leaves)] if leaves else None  # noqa: UP007


def _union_loader(args: tuple[Any, ...], tvars: Mapping[Any, Any]) -> Loader | None:
    by_type: dict[Any, Loader] = {}
    for arg in args:
        load = loader(arg, tvars)
        if load is not None:
            wired = wire(arg, tvars)
            by_type[get_origin(wired) or wired] = load
    if not by_type:
        return None

    def load_union(raw: Any) -> Any:
        load = by_type.get(type(raw))
        return raw if load is None else load(raw)

    return load_union


# --------------------------------------------------------------------------- values


def dump(value: Any) -> Any:
    """``value`` with every l0 value replaced by its wire form (containers rebuilt)."""
    cls = cast("type[Any]", type(value))
    if cls in _SCALARS:
        if cls is float and not math.isfinite(value):
            raise SerializationError(f"{value} has no JSON form (JSON has no NaN or infinity)")
        return value
    if cls is State:
        return dump_state(value)
    if isinstance(value, BaseException):
        return ErrorInfo.of(value)
    form = _form_of(cls)
    if form is not None:
        return form.dump(value)
    if cls is list:
        return [dump(item) for item in cast("list[Any]", value)]
    if cls is tuple:
        return tuple(dump(item) for item in cast("tuple[Any, ...]", value))
    if isinstance(value, dict):
        items = cast("dict[Any, Any]", value).items()
        return {key: dump(item) for key, item in items}
    if cls is frozenset or cls is set:
        listed = [dump(item) for item in value]
        with contextlib.suppress(TypeError):  # sorted: the same JSON on every run
            listed.sort()
        return listed
    if isinstance(value, msgspec.Struct):
        return _dump_struct(value)
    if attrs.has(cls) and _is_l0(cls):
        raise no_form(cls)
    return value


def _dump_struct(value: msgspec.Struct) -> msgspec.Struct:
    # Fields typed Any (a Data payload, metadata) may hold l0 values: dump them too, and copy
    # the Struct only if one changed.
    changed: dict[str, Any] = {}
    for field in value.__struct_fields__:
        item = getattr(value, field)
        dumped = dump(item)
        if dumped is not item:
            changed[field] = dumped
    return msgspec.structs.replace(value, **changed) if changed else value


def enc_hook(value: Any) -> Any:
    """What msgspec calls for values it cannot write itself (inside ``Any`` fields)."""
    if isinstance(value, State):
        return dump_state(value)
    if isinstance(value, BaseException):
        return ErrorInfo.of(value)
    if _is_l0(type(value)):
        raise no_form(type(value))
    if isinstance(value, type):
        raise SerializationError(f"a class ({value.__qualname__}) has no JSON form")
    if callable(value):
        raise SerializationError(f"a function ({value!r}) has no JSON form")
    raise SerializationError(f"objects of type {type(value).__qualname__} have no JSON form")
