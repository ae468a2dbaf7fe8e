"""``l0.wrap(client)``: an OpenAI-style client whose streaming chat completions are l0 streams."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from l0._engine._continuation import continuation_messages
from l0._errors import ConfigError
from l0._runtime._api import run
from l0._runtime._options import AttemptContext, Factory, RunOptions

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from l0._runtime._stream import Stream

__all__ = ["wrap"]

C = TypeVar("C")

_WRAPPED = (("chat",), ("chat", "completions"))


def wrap(client: C, **options: Unpack[RunOptions]) -> C:
    """``client`` (an ``openai.AsyncOpenAI`` or anything shaped like it), made reliable.

    ``await client.chat.completions.create(..., stream=True)`` returns an :class:`~l0.Stream`
    (iterate it, or ``await stream.read()``); calls without ``stream=True`` and every other
    attribute of the client pass through untouched. The keywords are those of :func:`l0.run`,
    except that each of ``fallbacks`` may be a model name (the same client, another model), a
    client (the same request on it), a ``(client, model)`` pair, or a plain factory.

    Each stream's ``context`` gets the request's ``model``, the ``provider`` (``"openai"``, or
    ``"azure.ai.openai"`` for an Azure client) and the fallbacks' models
    (``fallback_models``), which the monitoring sinks report; keys you set in ``context``
    win.
    """
    if _completions(client) is None:
        raise ConfigError(f"{type(client).__name__} has no chat.completions.create() to wrap")
    fallbacks = options.pop("fallbacks", None)
    if fallbacks is not None and (isinstance(fallbacks, (str, bytes)) or callable(fallbacks)):
        raise ConfigError("fallbacks must be a list (of model names, clients, or factories)")
    entries = tuple(fallbacks or ())
    for entry in entries:
        _check_fallback(entry)
    return cast("C", _Proxy(client, (), _Wrapper(client, entries, options)))


def _check_fallback(entry: object) -> None:
    if isinstance(entry, str) or _completions(entry) is not None or callable(entry):
        return
    if isinstance(entry, tuple):
        pair = cast("tuple[Any, ...]", entry)
        if len(pair) == 2 and _completions(pair[0]) is not None and isinstance(pair[1], str):
            return
        raise ConfigError(f"a fallback pair must be (client, model name), got {pair!r}")
    raise ConfigError(
        "a fallback must be a model name, a client, a (client, model) pair or a factory, "
        f"got {type(entry).__name__}"
    )


class _Wrapper:
    __slots__ = ("client", "fallbacks", "options")

    def __init__(self, client: object, fallbacks: tuple[Any, ...], options: RunOptions) -> None:
        self.client = client
        self.fallbacks = fallbacks
        self.options = options

    def create(self, original: Callable[..., Any]) -> Callable[..., Any]:
        def create(*args: Any, **kwargs: Any) -> Any:
            if args or not kwargs.get("stream"):
                return original(*args, **kwargs)
            primary = _factory(self.client, kwargs, None)
            others = [self._fallback(entry, kwargs) for entry in self.fallbacks]
            options = cast("RunOptions", {**self.options, "fallbacks": others})
            known = self._known(kwargs)
            if known:
                # What monitoring sinks read (gen_ai.request.model, gen_ai.provider.name...),
                # unless the caller's context says otherwise.
                options["context"] = {**known, **(self.options.get("context") or {})}
            if "tools" not in self.options and kwargs.get("tools"):
                # The tools offered in the request: tool calls are checked against them.
                options["tools"] = kwargs["tools"]
            stream: Stream = run(primary, **options)
            return stream

        return create

    def _known(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """The request's model, the provider, and the fallbacks' models, as context keys."""
        known: dict[str, Any] = {}
        model = request.get("model")
        if isinstance(model, str):
            known["model"] = model
        provider = _provider(self.client)
        if provider is not None:
            known["provider"] = provider
        models: list[str] = []
        for entry in self.fallbacks:
            named = entry if isinstance(entry, str) else None
            if isinstance(entry, tuple):
                named = cast("tuple[object, str]", entry)[1]
            elif named is None and _completions(entry) is not None and isinstance(model, str):
                named = model
            if named is None:
                break  # a plain factory: its model is unknown, and so are the later ones'
            models.append(named)
        if models:
            known["fallback_models"] = models
        return known

    def _fallback(self, entry: Any, request: Mapping[str, Any]) -> Factory:
        # Entries were checked by wrap().
        if isinstance(entry, str):
            return _factory(self.client, request, entry)
        if isinstance(entry, tuple):
            client, model = cast("tuple[object, str]", entry)
            return _factory(client, request, model)
        if _completions(entry) is not None:
            return _factory(entry, request, None)
        return cast("Factory", entry)


def _provider(client: object) -> str | None:
    """The GenAI provider name of an openai SDK client (Azure's has its own)."""
    cls = type(client)
    module = cls.__module__
    if not (module == "openai" or module.startswith("openai.")):
        return None
    return "azure.ai.openai" if "Azure" in cls.__name__ else "openai"


def _completions(client: object) -> Any:
    chat = getattr(client, "chat", None)
    completions = getattr(chat, "completions", None)
    return completions if callable(getattr(completions, "create", None)) else None


def _factory(client: object, request: Mapping[str, Any], model: str | None) -> Factory:
    completions = _completions(client)
    if completions is None:
        raise ConfigError(f"{type(client).__name__} has no chat.completions.create()")
    body = dict(request)
    if model is not None:
        body["model"] = model

    async def open_attempt(ctx: AttemptContext) -> Any:
        if ctx.checkpoint and "messages" in body:
            # Resuming: ask the model to continue its partial reply.
            messages = continuation_messages(
                body["messages"], ctx.checkpoint, ctx.continuation_prompt
            )
            return await completions.create(**{**body, "messages": messages})
        return await completions.create(**body)

    # The circuit breaker's key for this source: the client's endpoint and the model.
    open_attempt.l0_source = (  # pyright: ignore[reportFunctionMemberAccess]
        str(getattr(client, "base_url", type(client).__name__)),
        body.get("model"),
    )
    return open_attempt


class _Proxy:
    """Passes everything through to ``target``, except the path to ``create``."""

    __slots__ = ("_path", "_target", "_wrapper")

    def __init__(self, target: object, path: tuple[str, ...], wrapper: _Wrapper) -> None:
        self._target = target
        self._path = path
        self._wrapper = wrapper

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._target, name)
        path = (*self._path, name)
        if path in _WRAPPED:
            return _Proxy(value, path, self._wrapper)
        if path == ("chat", "completions", "create"):
            return self._wrapper.create(value)
        return value

    def __repr__(self) -> str:
        return f"<l0-wrapped {self._target!r}>"
