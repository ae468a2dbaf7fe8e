"""Streamed tool calls: assembling their fragments, and checking their arguments (pure).

Fragments (:class:`~l0.adapters.ToolCallDelta`) are joined by index. A call is delivered whole,
never in pieces: in ``"buffered"`` mode (the default) every call of an attempt is delivered
only once the attempt has succeeded, so a failed attempt never shows a call at all; in
``"eager"`` mode a call is delivered as soon as it is complete, that is when the fragments of
a later call start (providers stream calls one after another) or when the output ends.

With tool definitions (``tools=``), each call's arguments are validated against its tool's
JSON Schema; a call to a tool that was not offered, or with arguments that do not match, is
a :class:`~l0.ToolCallError` whose ``metadata["issues"]`` lists what is wrong in the
canonical shape (``code``, ``message``, ``path``, ``expected``, ``received``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, cast

import msgspec

from l0._errors import ConfigError, ToolCallError
from l0._events._stream import ToolCall
from l0.adapters._base import ToolCallDelta

if TYPE_CHECKING:
    from l0._structured._jsonschema import JSONSchemaValidator

__all__ = ["ToolAssembler", "ToolCallMode", "ToolSchemas"]

ToolCallMode = Literal["buffered", "eager"]


class ToolSchemas:
    """The argument schemas of the tools offered to the model, by tool name.

    Accepts the tool definitions as they are sent to providers: OpenAI's
    ``{"type": "function", "function": {"name", "parameters"}}``, the flat
    ``{"name", "parameters"}`` form, Anthropic's ``{"name", "input_schema"}``, or a mapping of
    tool name to JSON Schema. A definition without a schema accepts any arguments object.
    """

    __slots__ = ("_validators",)

    def __init__(self, tools: Sequence[Mapping[str, Any]] | Mapping[str, Any]) -> None:
        validators: dict[str, JSONSchemaValidator | None] = {}
        if isinstance(tools, Mapping):
            for name, schema in cast("Mapping[Any, Any]", tools).items():
                if not isinstance(name, str):
                    raise ConfigError(f"tools: a tool name must be a string, got {name!r}")
                validators[name] = _validator(schema, f"tools[{name!r}]")
        elif isinstance(tools, (str, bytes)):
            raise ConfigError("tools must be a list of tool definitions or a name->schema map")
        else:
            for i, tool in enumerate(tools):
                name, schema = _definition(tool, i)
                validators[name] = _validator(schema, f"tools[{i}] ({name})")
        self._validators = validators

    @property
    def names(self) -> tuple[str, ...]:
        """The names of the tools offered."""
        return tuple(self._validators)

    def check(self, call: ToolCall) -> ToolCallError | None:
        """Why ``call`` does not fit the tools offered, or None."""
        if call.name not in self._validators:
            offered = ", ".join(sorted(self._validators)) or "none"
            return _error(
                call.id, None, f"the model called {call.name!r}, a tool it was not offered "
                f"(offered: {offered})", tool_name=call.name,
            )  # fmt: skip
        validator = self._validators[call.name]
        if validator is None:
            return None
        issues = validator.validate(call.arguments)
        if not issues:
            return None
        first = issues[0]
        where = f" at {first.location}" if first.path else ""
        return _error(
            call.id,
            None,
            f"arguments of {call.name!r} do not match its schema{where}: {first.message}",
            tool_name=call.name,
            issues=[
                {**issue.to_json(), "path": ["arguments", *map(str, issue.path)]}
                for issue in issues
            ],
        )


def _definition(tool: object, i: int) -> tuple[str, object]:
    if not isinstance(tool, Mapping):
        raise ConfigError(f"tools[{i}] must be a mapping (a tool definition)")
    spec = cast("Mapping[str, Any]", tool)
    inner = spec.get("function")
    if isinstance(inner, Mapping):
        spec = cast("Mapping[str, Any]", inner)
    name = spec.get("name")
    if not isinstance(name, str) or not name:
        raise ConfigError(f"tools[{i}] has no name")
    for key in ("parameters", "input_schema", "inputSchema"):
        if key in spec:
            return name, spec[key]
    return name, None


def _validator(schema: object, where: str) -> JSONSchemaValidator | None:
    from l0._structured._jsonschema import JSONSchemaValidator  # noqa: PLC0415 - when used

    if schema is None:
        return None
    if not isinstance(schema, (Mapping, bool)):
        raise ConfigError(f"{where}: the schema must be a JSON Schema object")
    try:
        return JSONSchemaValidator(cast("Mapping[str, Any] | bool", schema))
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc.message}") from exc


class _Parts:
    __slots__ = ("arguments", "id", "name")

    def __init__(self) -> None:
        self.id: str | None = None
        self.name: str | None = None
        self.arguments: list[str] = []


class ToolAssembler:
    """Joins :class:`~l0.adapters.ToolCallDelta` fragments by index, in arrival order, and
    hands out whole calls (see the module notes for when)."""

    __slots__ = ("_calls", "_delivered", "_eager", "_schemas", "_whole")

    def __init__(self, schemas: ToolSchemas | None = None, mode: ToolCallMode = "buffered") -> None:
        self._calls: dict[int, _Parts] = {}
        self._whole: list[ToolCall | ToolCallError] = []  # buffered whole calls from the source
        self._schemas = schemas
        self._eager = mode == "eager"
        self._delivered = -1  # eager: the highest index handed out

    def __bool__(self) -> bool:
        """Whether calls are waiting (half-streamed, or whole but not yet delivered)."""
        return bool(self._calls) or bool(self._whole)

    def add_call(self, call: ToolCall) -> list[ToolCall | ToolCallError]:
        """A whole call from a source that assembles its own; returns it at once when eager
        (checked against the schemas), else keeps it for :meth:`take`."""
        checked: ToolCall | ToolCallError = call
        if self._schemas is not None:
            checked = self._schemas.check(call) or call
        if self._eager:
            return [checked]
        self._whole.append(checked)
        return []

    def add(self, delta: ToolCallDelta) -> list[ToolCall | ToolCallError]:
        """One fragment; returns the calls it completes (eager mode only)."""
        index = delta.index
        if index <= self._delivered:
            return [_error(delta.id or f"call_{index}", index,
                           "a fragment arrived after the call was delivered")]  # fmt: skip
        parts = self._calls.get(index)
        ready: list[ToolCall | ToolCallError] = []
        if parts is None:
            if self._eager and self._calls:
                # A later call starts: the ones before it are complete.
                ready = self._take(below=index)
            parts = self._calls[index] = _Parts()
        if delta.id:
            parts.id = delta.id
        if delta.name and delta.name != parts.name:
            # Providers send the whole name once; a few split it, or repeat it per fragment.
            parts.name = delta.name if parts.name is None else parts.name + delta.name
        if delta.arguments:
            parts.arguments.append(delta.arguments)
        return ready

    def take(self) -> list[ToolCall | ToolCallError]:
        """Every call assembled so far, by index: a :class:`~l0.ToolCall`, or the error saying
        why it cannot be delivered. The assembler is empty afterwards."""
        out = self._take(below=None)
        if self._whole:
            out.extend(self._whole)
            self._whole = []
        return out

    def _take(self, below: int | None) -> list[ToolCall | ToolCallError]:
        out: list[ToolCall | ToolCallError] = []
        for index in sorted(self._calls):
            if below is not None and index >= below:
                break
            out.append(self._build(index, self._calls.pop(index)))
            self._delivered = max(self._delivered, index) if self._eager else -1
        return out

    def _build(self, index: int, parts: _Parts) -> ToolCall | ToolCallError:
        call_id = parts.id or f"call_{index}"
        text = "".join(parts.arguments)
        if not parts.name:
            return _error(call_id, index, "the tool call has no name")
        try:
            arguments: Any = msgspec.json.decode(text) if text.strip() else {}
        except msgspec.DecodeError as exc:
            return _error(call_id, index, f"arguments are not valid JSON: {exc}")
        if not isinstance(arguments, dict):
            kind = type(arguments).__name__
            return _error(call_id, index, f"arguments are a JSON {kind}, not an object")
        call = ToolCall(id=call_id, name=parts.name, arguments=cast("dict[str, Any]", arguments))
        if self._schemas is not None:
            error = self._schemas.check(call)
            if error is not None:
                error.metadata["index"] = index
                return error
        return call


def _error(call_id: str, index: int | None, why: str, **metadata: Any) -> ToolCallError:
    where = f" (index {index})" if index is not None else ""
    return ToolCallError(
        f"tool call {call_id!r}{where}: {why}",
        metadata={"tool_call_id": call_id, "index": index, **metadata},
    )
