"""``l0.run`` and ``l0.session``: the entry points."""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar, overload

import anyio

from l0._budget import RetryBudget
from l0._errors import ConfigError
from l0._runtime._options import Factory, Options, RunOptions, merge
from l0._runtime._stream import CLEANUP_TIMEOUT, Stream

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from anyio.abc import TaskGroup
    from typing_extensions import Unpack

    from l0._structured._api import StructuredResult
    from l0._structured._schema import Schema

__all__ = ["Session", "run", "session"]

T = TypeVar("T")

_DEFAULTS = Options()  # frozen: shared by every stream that does not override it


def run(stream: Factory, **options: Unpack[RunOptions]) -> Stream:
    """Wrap a model stream and make it reliable.

    ``stream`` is a factory: a callable (sync or async) returning the model's stream, called once
    per attempt; if it takes a positional parameter it receives an :class:`~l0.AttemptContext`.
    ``fallbacks`` are factories tried in order once a source's retries are spent.
    ``retry=None`` disables retries and ``timeout=None`` disables deadlines; leaving an option out
    uses the default (or the session's). Callbacks may be sync or async.

    Args:
        stream: the factory of the primary source.
        **options: the keywords of :class:`~l0.RunOptions`: ``fallbacks``, ``retry``,
            ``timeout``, ``check_intervals``, ``context``, ``adapter``, ``seed``,
            ``continue_from_last_good_token``, ``guardrails``, ``drift``, ``tools``,
            ``tool_calls``, ``keep_raw``, ``retry_budget``, ``circuit_breaker``, ``record``, and
            the ``on_*`` callbacks. An unknown keyword is a ``TypeError``; a bad value an
            :class:`~l0.ConfigError` naming it.

    Returns:
        A :class:`~l0.Stream`, at once; nothing runs until it is iterated or read.
        ``await l0.run(...)`` also gives the stream.
    """
    return Stream(merge(_DEFAULTS, {"stream": stream, **options}))


class Session:
    """Shared defaults, and the scope that owns every stream started from it.

    Leaving the ``async with`` closes the streams that are still open (their sources included).
    The session's task group runs its streams' guardrail checker tasks (asynchronous rules
    checked off the token path).
    """

    def __init__(self, defaults: Options) -> None:
        self.defaults = defaults
        """The :class:`Options` every ``run`` of this session starts from."""
        self._streams: list[Stream] = []
        self._prune_at = 64
        self._open = False
        self._tg: TaskGroup | None = None

    async def __aenter__(self) -> Session:
        if self._open:
            raise ConfigError("a session can be entered only once at a time")
        tg = anyio.create_task_group()
        await tg.__aenter__()
        self._tg = tg
        self._open = True
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._open = False
        streams, self._streams = self._streams, []
        try:
            with anyio.move_on_after(CLEANUP_TIMEOUT, shield=True):
                for stream in streams:
                    await stream.aclose()
        finally:
            tg, self._tg = self._tg, None
            if tg is not None:
                # The streams' checker tasks are stopped by now. The body's own exception is
                # not handed to the task group: it propagates as is, never in a group.
                tg.cancel_scope.cancel()
                await tg.__aexit__(None, None, None)

    def run(self, stream: Factory, **options: Unpack[RunOptions]) -> Stream:
        """Like :func:`l0.run`, starting from the session's defaults; closed with the session."""
        if not self._open:
            raise ConfigError("use the session inside 'async with l0.session(...) as s:'")
        created = Stream(merge(self.defaults, {"stream": stream, **options}, where="Session.run()"))
        streams = self._streams
        if len(streams) >= self._prune_at:
            # Forget finished streams once the list has doubled: amortised O(1) per run().
            streams[:] = [s for s in streams if not s.done]
            self._prune_at = max(64, 2 * len(streams))
        streams.append(created)
        # The guardrail checker task's home (asynchronous rules).
        created._life.task_group = self._tg  # pyright: ignore[reportPrivateUsage]
        return created

    @overload
    async def structured(
        self,
        schema: Schema[T] | type[T],
        stream: Factory,
        *,
        auto_correct: bool = ...,
        strict_mode: bool = ...,
        reask: bool = ...,
        on_validation_error: Callable[..., Any] | None = ...,
        on_auto_correct: Callable[..., Any] | None = ...,
        **options: Unpack[RunOptions],
    ) -> StructuredResult[T]: ...
    @overload
    async def structured(
        self,
        schema: Mapping[str, Any],
        stream: Factory,
        *,
        auto_correct: bool = ...,
        strict_mode: bool = ...,
        reask: bool = ...,
        on_validation_error: Callable[..., Any] | None = ...,
        on_auto_correct: Callable[..., Any] | None = ...,
        **options: Unpack[RunOptions],
    ) -> StructuredResult[Any]: ...
    async def structured(
        self,
        schema: Any,
        stream: Factory,
        *,
        auto_correct: bool = True,
        strict_mode: bool = False,
        reask: bool = True,
        on_validation_error: Callable[..., Any] | None = None,
        on_auto_correct: Callable[..., Any] | None = None,
        **options: Unpack[RunOptions],
    ) -> StructuredResult[Any]:
        """Like :func:`l0.structured`, starting from the session's defaults (its retry budget,
        ``on_event``, ``context``...); the stream is closed with the session.

        .. versionadded:: 0.1
        """
        # Imported here: l0._structured imports this module.
        from l0._structured._api import structured_in  # noqa: PLC0415

        return await structured_in(
            self,
            schema,
            stream,
            auto_correct=auto_correct,
            strict_mode=strict_mode,
            reask=reask,
            on_validation_error=on_validation_error,
            on_auto_correct=on_auto_correct,
            options=options,
        )


def session(**defaults: Unpack[RunOptions]) -> Session:
    """A session: ``async with l0.session(retry=..., on_event=...) as s: s.run(...)``.

    The keywords are defaults for every stream of the session (same meaning as in
    :func:`run`); a stream's own keywords override them one by one. Unless given
    ``retry_budget=`` (``None`` for none), the session makes a fresh :class:`~l0.RetryBudget`
    that all of its streams share.
    """
    if "retry_budget" not in defaults:
        # Each session has a retry budget of its own (retry_budget=None: none).
        defaults = {**defaults, "retry_budget": RetryBudget()}
    return Session(merge(_DEFAULTS, defaults, where="session()"))
