"""Scripts: what a fake response says, and the faults it injects.

A :class:`Script` is plain data (a msgspec Struct), so a test can build one in Python, send it
to the test server as JSON in the ``x-l0-script`` header, or play it in-process with
:func:`~l0.testing.fake_stream`. Both read the same compiled plan (:func:`compile_plan`), a flat
list of steps, so a fault means exactly the same thing over HTTP and in-process.

Positions: a fault with ``after=k`` happens once ``k`` *content chunks* were sent. Content
chunks are the text tokens, then the tool-call chunks (one per argument fragment). ``k`` larger
than the number of content chunks means "after all of them, before the finish chunk".
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

import msgspec

from l0._errors import ConfigError

__all__ = [
    "DEFAULT_TEXT",
    "SCRIPT_HEADER",
    "Drop",
    "FunctionCall",
    "HttpError",
    "InBandError",
    "KeepAlive",
    "Malformed",
    "Plan",
    "Script",
    "ScriptFault",
    "SlowHeaders",
    "Stall",
    "Step",
    "TokenUsage",
    "Truncate",
    "compile_plan",
    "split_tokens",
]

DEFAULT_TEXT = "Hello from the l0 test server."
"""What the default script says."""

SCRIPT_HEADER = "x-l0-script"
"""The request header that picks the script: a Script as JSON, or a registered script's name."""

_WORDS = re.compile(r"\s*\S+")


def split_tokens(text: str) -> list[str]:
    """``text`` split into word tokens, each with the whitespace before it (joins back exactly).

    >>> split_tokens("Hello  big world\\n")
    ['Hello', '  big', ' world\\n']
    """
    tokens = _WORDS.findall(text)
    rest = text[sum(map(len, tokens)) :]
    if rest:
        if tokens:
            tokens[-1] += rest
        else:
            tokens.append(rest)
    return tokens


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


def _at_least(
    name: str,
    value: object,
    low: float,
    *,
    integer: bool = False,
    strict: bool = False,
    optional: bool = False,
) -> None:
    """Raise a ConfigError naming ``name`` unless ``value`` is a number (an int if
    ``integer``) ``>= low`` (``> low`` if ``strict``), or ``None`` when ``optional``."""
    if value is None and optional:
        return
    kinds = (int,) if integer else (int, float)
    ok = not isinstance(value, bool) and isinstance(value, kinds)
    if ok:
        number = float(value)  # pyright: ignore[reportArgumentType] - checked above
        ok = number > low if strict else number >= low
    if not ok:
        kind = "an int" if integer else "a number"
        raise ConfigError(f"{name} must be {kind} {'>' if strict else '>='} {low:g}, got {value!r}")


class _Fault(
    msgspec.Struct, frozen=True, kw_only=True, tag_field="type", forbid_unknown_fields=True
):
    """Base of the fault types (tagged by ``type`` in JSON)."""


class Stall(_Fault, frozen=True, kw_only=True, tag="stall"):
    """Pause ``seconds`` after ``after`` content chunks (``after=0``: before the first token)."""

    seconds: float
    after: int = 0

    def __post_init__(self) -> None:
        _at_least("Stall.seconds", self.seconds, 0)
        _at_least("Stall.after", self.after, 0, integer=True)


class SlowHeaders(_Fault, frozen=True, kw_only=True, tag="slow_headers"):
    """Wait ``seconds`` before sending the response headers (a slow first byte)."""

    seconds: float

    def __post_init__(self) -> None:
        _at_least("SlowHeaders.seconds", self.seconds, 0)


class Drop(_Fault, frozen=True, kw_only=True, tag="drop"):
    """Close the connection abruptly after ``after`` content chunks (no end of body).

    ``reset=True`` makes the close a TCP reset (``SO_LINGER`` 0) instead of a FIN.
    In-process, the fake source raises :class:`ConnectionResetError`.
    """

    after: int = 0
    reset: bool = False

    def __post_init__(self) -> None:
        _at_least("Drop.after", self.after, 0, integer=True)


class Truncate(_Fault, frozen=True, kw_only=True, tag="truncate"):
    """End the body cleanly after ``after`` content chunks (default: all), with no
    ``finish_reason`` chunk and no ``[DONE]``."""

    after: int | None = None

    def __post_init__(self) -> None:
        _at_least("Truncate.after", self.after, 0, integer=True, optional=True)


_DEFAULT_MALFORMED = 'data: {"id": "chatcmpl-broken", "choices": [{"delta": {"content": "bro'


class Malformed(_Fault, frozen=True, kw_only=True, tag="malformed"):
    """Send ``line`` (by default a ``data:`` line of cut-off JSON) after ``after`` content
    chunks, then carry on. In-process, the fake source raises :class:`json.JSONDecodeError`."""

    after: int = 0
    line: str = _DEFAULT_MALFORMED

    def __post_init__(self) -> None:
        _at_least("Malformed.after", self.after, 0, integer=True)
        _check(isinstance(self.line, str), f"Malformed.line must be a string, got {self.line!r}")  # pyright: ignore[reportUnnecessaryIsInstance]
        _check("\n" not in self.line and "\r" not in self.line, "Malformed.line must be one line")


class InBandError(_Fault, frozen=True, kw_only=True, tag="error"):
    """Send ``data: {"error": {...}}`` after ``after`` content chunks, then end the body
    (no ``[DONE]``). In-process: an :class:`l0.adapters.Fault` chunk (or the error dict)."""

    after: int = 0
    message: str = "The server had an error while processing your request."
    error_type: str = "server_error"
    code: str | None = None

    def __post_init__(self) -> None:
        _at_least("InBandError.after", self.after, 0, integer=True)


class KeepAlive(_Fault, frozen=True, kw_only=True, tag="keep_alive"):
    """From ``after`` content chunks on, send only ``: keep-alive`` comments, one every
    ``interval`` seconds; after ``count`` of them end the body (no ``[DONE]``), or never if
    ``count`` is ``None``."""

    interval: float = 1.0
    count: int | None = None
    after: int = 0

    def __post_init__(self) -> None:
        _at_least("KeepAlive.interval", self.interval, 0, strict=True)
        _at_least("KeepAlive.count", self.count, 0, integer=True, optional=True)
        _at_least("KeepAlive.after", self.after, 0, integer=True)


class HttpError(_Fault, frozen=True, kw_only=True, tag="http_error"):
    """Answer with HTTP ``status`` and an OpenAI-style JSON error body instead of a completion.

    ``retry_after`` (seconds) is sent as ``Retry-After``, ``retry_after_ms`` as
    ``retry-after-ms``. ``message``/``error_type``/``code`` default to what OpenAI sends for the
    status. In-process, the fake source raises :class:`httpx.HTTPStatusError`.
    """

    status: int = 500
    retry_after: float | None = None
    retry_after_ms: int | None = None
    message: str | None = None
    error_type: str | None = None
    code: str | None = None

    def __post_init__(self) -> None:
        _check(
            type(self.status) is int and 400 <= self.status <= 599,
            f"HttpError.status must be 4xx or 5xx, got {self.status!r}",
        )
        _at_least("HttpError.retry_after", self.retry_after, 0, optional=True)
        _at_least("HttpError.retry_after_ms", self.retry_after_ms, 0, integer=True, optional=True)

    def body(self) -> dict[str, Any]:
        """The JSON error body."""
        if self.status == 429:
            message, kind, code = "Rate limit reached.", "requests", "rate_limit_exceeded"
        elif self.status >= 500:
            message, kind, code = "The server had an error.", "server_error", None
        else:
            message, kind, code = "Invalid request.", "invalid_request_error", None
        return {
            "error": {
                "message": self.message if self.message is not None else message,
                "type": self.error_type if self.error_type is not None else kind,
                "param": None,
                "code": self.code if self.code is not None else code,
            }
        }

    def headers(self) -> list[tuple[str, str]]:
        """The rate-limit headers to send."""
        headers: list[tuple[str, str]] = []
        if self.retry_after is not None:
            headers.append(("retry-after", f"{self.retry_after:g}"))
        if self.retry_after_ms is not None:
            headers.append(("retry-after-ms", str(self.retry_after_ms)))
        return headers


ScriptFault = (
    Stall | SlowHeaders | Drop | Truncate | Malformed | InBandError | KeepAlive | HttpError
)
"""Any fault a :class:`Script` can inject."""


class FunctionCall(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A tool call the fake model makes, streamed as OpenAI ``tool_calls`` deltas.

    ``arguments`` is the JSON text of the arguments (a ``dict`` is encoded compactly), split into
    ``split`` fragments of near-equal size, or a list giving the fragments exactly. ``id``
    defaults to ``call_<i>`` (``i`` its index among the script's tool calls).
    """

    name: str
    arguments: str | list[str] | dict[str, Any] = "{}"
    id: str | None = None
    split: int = 3

    def __post_init__(self) -> None:
        _at_least("FunctionCall.split", self.split, 1, integer=True)

    def fragments(self) -> list[str]:
        """The argument fragments, in order (at least one)."""
        if isinstance(self.arguments, list):
            return list(self.arguments) or [""]
        text = (
            self.arguments
            if isinstance(self.arguments, str)
            else json.dumps(self.arguments, separators=(",", ":"))
        )
        if not text:
            return [""]
        size = -(-len(text) // min(self.split, len(text)))
        return [text[i : i + size] for i in range(0, len(text), size)]

    def arguments_text(self) -> str:
        """The complete arguments JSON text."""
        return "".join(self.fragments())


class TokenUsage(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Token counts for the usage chunk; ``completion_tokens`` defaults to the number of text
    tokens of the script."""

    prompt_tokens: int = 0
    completion_tokens: int | None = None


class Script(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What one fake response says, and which faults it injects.

    * ``text``: the text, as a list of tokens or a string split by :func:`split_tokens`;
    * ``model``: the model name in the chunks (default: the request's, or ``"l0-test"``);
    * ``tool_calls``: tool calls streamed after the text;
    * ``faults``: :data:`ScriptFault` items; at one position they happen in list order, and the
      first fault that ends the response (drop, truncate, error, keep-alive) ends it;
    * ``delay``: seconds between two content chunks (a slow trickle);
    * ``finish_reason``: default ``"tool_calls"`` if there are tool calls, else ``"stop"``;
    * ``usage``: send a usage chunk at the end (``True`` for counted tokens, or explicit
      :class:`TokenUsage`); the server also sends one when the request asks with
      ``stream_options.include_usage``.
    """

    text: str | list[str] = DEFAULT_TEXT
    model: str | None = None
    tool_calls: Sequence[FunctionCall] = ()
    faults: Sequence[ScriptFault] = ()
    delay: float = 0.0
    finish_reason: str | None = None
    usage: bool | TokenUsage = False

    def __post_init__(self) -> None:
        _at_least("Script.delay", self.delay, 0)
        # Store the sequences as tuples, and a copy of a token list: the caller's list may change.
        msgspec.structs.force_setattr(self, "tool_calls", tuple(self.tool_calls))
        msgspec.structs.force_setattr(self, "faults", tuple(self.faults))
        if isinstance(self.text, list):
            msgspec.structs.force_setattr(self, "text", list(self.text))

    def tokens(self) -> list[str]:
        """The text tokens, in order."""
        return list(self.text) if isinstance(self.text, list) else split_tokens(self.text)

    def to_json(self) -> str:
        """This script as ASCII JSON, e.g. for the ``x-l0-script`` request header."""
        return json.dumps(msgspec.to_builtins(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, data: str | bytes) -> Script:
        """Decode a script from JSON (raises :class:`msgspec.ValidationError` if invalid)."""
        return _DECODER.decode(data)


_DECODER = msgspec.json.Decoder(Script)


# -- the compiled plan ----------------------------------------------------------------------------


class Sleep(msgspec.Struct, frozen=True):
    """Wait ``seconds``."""

    seconds: float


class TextDelta(msgspec.Struct, frozen=True):
    """A text token."""

    text: str


class ToolDelta(msgspec.Struct, frozen=True):
    """One chunk of tool call ``index``: the first one names it, the last one completes it."""

    index: int
    call_id: str
    name: str
    fragment: str
    first: bool
    last: bool
    arguments: str  # the complete arguments text, for consumers that want it whole


class MalformedLine(msgspec.Struct, frozen=True):
    """A line that is not a valid SSE event."""

    line: str


class End(msgspec.Struct, frozen=True):
    """The normal end: the finish chunk, the usage chunk (if any), then ``[DONE]``."""

    finish_reason: str
    usage: TokenUsage | None


Step = (
    Sleep | TextDelta | ToolDelta | MalformedLine | End | Drop | Truncate | InBandError | KeepAlive
)
"""One step of a compiled plan; the last one is always an end (``End`` or a terminal fault)."""


class Plan(msgspec.Struct, frozen=True, kw_only=True):
    """A script compiled for one response."""

    script: Script
    headers_delay: float
    http_error: HttpError | None
    steps: tuple[Step, ...]


def compile_plan(script: Script, *, include_usage: bool = False) -> Plan:
    """The steps ``script`` plays, in order (pure: no I/O, no clock)."""
    headers_delay = sum(f.seconds for f in script.faults if isinstance(f, SlowHeaders))
    http_error = next((f for f in script.faults if isinstance(f, HttpError)), None)
    tokens = script.tokens()
    content: list[TextDelta | ToolDelta] = [TextDelta(t) for t in tokens]
    for index, call in enumerate(script.tool_calls):
        fragments = call.fragments()
        arguments = "".join(fragments)
        call_id = call.id if call.id is not None else f"call_{index}"
        for i, fragment in enumerate(fragments):
            first, last = i == 0, i == len(fragments) - 1
            content.append(ToolDelta(index, call_id, call.name, fragment, first, last, arguments))
    at: dict[int, list[Stall | Drop | Truncate | Malformed | InBandError | KeepAlive]] = {}
    for fault in script.faults:
        if isinstance(fault, (SlowHeaders, HttpError)):
            continue
        after = len(content) if isinstance(fault, Truncate) and fault.after is None else fault.after
        at.setdefault(min(after or 0, len(content)), []).append(fault)
    steps: list[Step] = []
    for position in range(len(content) + 1):
        for fault in at.get(position, ()):
            if isinstance(fault, Stall):
                if fault.seconds:
                    steps.append(Sleep(fault.seconds))
            elif isinstance(fault, Malformed):
                steps.append(MalformedLine(fault.line))
            else:
                steps.append(fault)  # a terminal fault ends the plan
                return Plan(
                    script=script,
                    headers_delay=headers_delay,
                    http_error=http_error,
                    steps=tuple(steps),
                )
        if position < len(content):
            if position and script.delay:
                steps.append(Sleep(script.delay))
            steps.append(content[position])
    usage: TokenUsage | None = None
    if isinstance(script.usage, TokenUsage):
        usage = script.usage
    elif script.usage or include_usage:
        usage = TokenUsage()
    if usage is not None and usage.completion_tokens is None:
        usage = TokenUsage(prompt_tokens=usage.prompt_tokens, completion_tokens=len(tokens))
    reason = script.finish_reason or ("tool_calls" if script.tool_calls else "stop")
    steps.append(End(reason, usage))
    return Plan(
        script=script, headers_delay=headers_delay, http_error=http_error, steps=tuple(steps)
    )
