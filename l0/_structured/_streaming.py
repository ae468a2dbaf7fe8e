"""``l0.structured_stream``: the fields of a structured answer as they complete, then the
validated result."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, TypeAlias, TypeVar, overload

import anyio

from l0._errors import L0Error, StreamClosed
from l0._events._stream import Reset, Token
from l0._structured._api import StructuredResult, finish, prepare
from l0._structured._errors import InvalidJSON
from l0._structured._partial import FieldComplete, PartialJSON
from l0._structured._schema import Schema

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from typing_extensions import Unpack

    from l0._runtime._options import Factory, RunOptions
    from l0._runtime._stream import Stream
    from l0._structured._job import Job

__all__ = ["StructuredEvent", "StructuredStream", "structured_stream"]

T = TypeVar("T")

StructuredEvent: TypeAlias = "FieldComplete | Reset | StructuredResult[T]"
"""What a :class:`StructuredStream` yields."""


class StructuredStream(Generic[T]):
    """The answer of a structured call, field by field, then as a validated result.

    ``async for event in stream`` yields:

    * :class:`~l0.structured.FieldComplete` each time a value inside the JSON is complete
      (``path`` and ``value``), in document order, as the tokens arrive;
    * :class:`~l0.Reset` when an attempt failed and its output was discarded (forget the
      fields seen so far: the next attempt starts over);
    * finally one :class:`~l0.structured.StructuredResult`, after validation.

    :attr:`partial` is the value parsed so far (open objects and arrays included). Failures
    are raised from the iteration, as by :func:`~l0.structured.structured`. Use it under
    ``async with`` (or call :meth:`aclose`) to close the model's stream if you stop early.
    Partial events are best effort: output the incremental parser cannot follow (prose that
    looks like JSON, single quotes) gives no more of them for that attempt, but is still
    healed and validated at the end.

    .. versionadded:: 0.1
    """

    __slots__ = (
        "_closed",
        "_events",
        "_finished",
        "_first",
        "_iter",
        "_job",
        "_parser",
        "_start",
        "stream",
    )

    def __init__(self, job: Job[T], stream: Stream) -> None:
        self._job = job
        self.stream: Stream = stream
        """The underlying :class:`~l0.Stream` (its ``state``, ``abort()``...)."""
        self._parser: PartialJSON | None = PartialJSON()
        self._events: deque[FieldComplete | Reset | StructuredResult[T]] = deque()
        self._iter: AsyncIterator[Any] | None = None
        self._finished = False
        self._closed = False
        self._start = 0.0
        self._first: float | None = None

    @property
    def partial(self) -> Any:
        """The value parsed so far (``None`` before the JSON starts). The parser's own
        objects: copy what you keep."""
        parser = self._parser
        return parser.value if parser is not None else None

    def __aiter__(self) -> StructuredStream[T]:
        return self

    async def __anext__(self) -> FieldComplete | Reset | StructuredResult[T]:
        if self._closed:
            raise StreamClosed("the structured stream is closed")
        events = self._events
        while not events:
            if self._finished:
                raise StopAsyncIteration
            await self._pull()
        return events.popleft()

    async def _pull(self) -> None:
        job, stream = self._job, self.stream
        if self._iter is None:
            self._start = anyio.current_time()
            self._iter = stream.__aiter__()
        try:
            event = await self._iter.__anext__()
        except StopAsyncIteration:
            self._finished = True
            error = stream.state.error
            if error is not None:
                job.translate_final(error)
                await job.flush()
                raise error from None
            await job.flush()
            self._events.append(finish(job, stream, self._start, self._first))
            return
        except L0Error as exc:
            self._finished = True
            job.translate_final(exc)
            await job.flush()
            raise
        if type(event) is Token:
            if self._first is None:
                self._first = anyio.current_time() - self._start
            parser = self._parser
            if parser is not None:
                try:
                    self._events.extend(
                        e for e in parser.feed(event.value) if type(e) is FieldComplete
                    )
                except InvalidJSON:
                    self._parser = None  # the rest of this attempt gives no partial events
        elif type(event) is Reset:
            self._parser = PartialJSON()
            self._events.append(event)

    async def aclose(self) -> None:
        """Close the stream (and the model's stream) now; idempotent. Iterating it afterwards
        raises :class:`~l0.StreamClosed`."""
        self._closed = self._finished = True
        await self.stream.aclose()

    async def __aenter__(self) -> StructuredStream[T]:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


@overload
def structured_stream(
    schema: Schema[T] | type[T],
    stream: Factory,
    *,
    auto_correct: bool = ...,
    strict_mode: bool = ...,
    reask: bool = ...,
    on_validation_error: Callable[..., Any] | None = ...,
    on_auto_correct: Callable[..., Any] | None = ...,
    **options: Unpack[RunOptions],
) -> StructuredStream[T]: ...
@overload
def structured_stream(
    schema: Mapping[str, Any],
    stream: Factory,
    *,
    auto_correct: bool = ...,
    strict_mode: bool = ...,
    reask: bool = ...,
    on_validation_error: Callable[..., Any] | None = ...,
    on_auto_correct: Callable[..., Any] | None = ...,
    **options: Unpack[RunOptions],
) -> StructuredStream[Any]: ...
def structured_stream(
    schema: Any,
    stream: Factory,
    *,
    auto_correct: bool = True,
    strict_mode: bool = False,
    reask: bool = True,
    on_validation_error: Callable[..., Any] | None = None,
    on_auto_correct: Callable[..., Any] | None = None,
    **options: Unpack[RunOptions],
) -> StructuredStream[Any]:
    """:func:`~l0.structured.structured`, streaming: fields as they complete, then the
    validated result (see :class:`StructuredStream`). Nothing runs until it is iterated.

    .. versionadded:: 0.1
    """
    job, created = prepare(
        schema,
        stream,
        auto_correct=auto_correct,
        strict_mode=strict_mode,
        reask=reask,
        on_validation_error=on_validation_error,
        on_auto_correct=on_auto_correct,
        options=options,
    )
    return StructuredStream(job, created)
