"""``check_adapter``: the conformance suite any adapter (built-in or your own) can run.

It checks what the runtime relies on, without an event loop or a network:

* the class attributes have the right types (``name``, ``backends``, ``requires_finish``,
  ``text_items``);
* :meth:`~l0.adapters.Adapter.detect` returns a ``bool`` for anything, never raises and imports
  nothing (so trying it on every stream costs nothing, and ``import l0`` stays free of SDKs);
  it accepts the ``streams`` you give and rejects plain values;
* :meth:`~l0.adapters.Adapter.open` of each of ``streams`` returns an async iterator, at once
  (it must not do I/O: the first read does);
* :meth:`~l0.adapters.Adapter.convert` is pure: the same sample gives the same chunks twice, the
  sample is not changed, nothing is awaited, only l0 chunks come out, and it raises nothing but
  :class:`~l0.L0Error`; with ``text_items`` a ``str`` converts to itself (the runtime skips
  ``convert`` for text, so both paths must agree); with ``plain_text``, every sample it gives a
  text for converts to exactly that text, and it never raises;
* with ``requires_finish``, some sample converts to a :class:`~l0.adapters.Finish` (give a
  whole stream's worth of samples: otherwise every stream would read as truncated);
* :meth:`~l0.adapters.Adapter.map_error` returns ``None`` or an :class:`~l0.L0Error` for any
  exception and never raises; and what it decides does not depend on the message.
"""

from __future__ import annotations

import copy
import inspect
import sys
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any, cast

from l0._errors import L0Error
from l0._events._stream import Data, Message, Progress, StreamEvent, Token, ToolCall
from l0.adapters._base import Adapter, Fault, Finish, ToolCallDelta, Usage

__all__ = ["check_adapter"]

_SOURCE_EVENTS = (Token, Message, Data, Progress, ToolCall)
_SIGNALS = (Finish, Usage, Fault, ToolCallDelta)
_BACKENDS = frozenset({"asyncio", "trio"})


async def _never_started() -> AsyncIterator[str]:  # pragma: no cover - never iterated
    yield ""


def _foreign_objects() -> list[object]:
    """Plain values (not iterable, or text) that no adapter should claim."""
    return [None, 0, 1.5, "text", b"bytes", {"type": "token"}, object(), Exception("x")]


def _exceptions() -> list[Exception]:
    """Exceptions of the kinds a source raises, to try ``map_error`` on."""
    return [
        ValueError("bad value"),
        RuntimeError("boom"),
        KeyError("k"),
        ConnectionResetError(104, "Connection reset by peer"),
        TimeoutError("timed out"),
        OSError("os"),
        StopAsyncIteration(),
        L0Error("already an l0 error"),
    ]


def _describe(chunk: object) -> object:
    """A comparable form of a chunk (an l0 error compares by its class, code and verdicts)."""
    if isinstance(chunk, Fault):
        error = chunk.error
        return ("Fault", type(error), error.code, error.retryable, error.retry_reason, str(error))
    return chunk


def _as_list(result: object) -> list[object]:
    if result is None:
        return []
    if isinstance(result, (list, tuple)):
        return list(result)  # pyright: ignore[reportUnknownArgumentType]
    return [result]


def _verdict(error: L0Error | None) -> object:
    if error is None:
        return None
    return (type(error), error.code, error.retryable, error.retry_reason)


class _Report:
    def __init__(self, adapter: Adapter) -> None:
        self.adapter = adapter
        self.problems: list[str] = []

    def fail(self, message: str) -> None:
        self.problems.append(message)

    def raise_if_any(self) -> None:
        if self.problems:
            lines = "\n".join(f"  - {p}" for p in self.problems)
            raise AssertionError(f"adapter {self.adapter!r} does not conform:\n{lines}")


def _check_attributes(adapter: Adapter, report: _Report) -> None:
    name: object = getattr(adapter, "name", None)
    if not isinstance(name, str) or not name:
        report.fail(f"name must be a non-empty str, got {name!r}")
    backends: object = getattr(adapter, "backends", None)
    if backends is not None and (
        not isinstance(backends, frozenset)
        or not backends
        or not cast("frozenset[object]", backends) <= _BACKENDS
    ):
        report.fail(f"backends must be None or a non-empty frozenset of {sorted(_BACKENDS)}")
    for flag in ("requires_finish", "text_items"):
        if not isinstance(getattr(adapter, flag), bool):
            report.fail(f"{flag} must be a bool")


def _among(obj: object, items: Sequence[object]) -> bool:
    return any(obj is item for item in items)


def _check_detect(adapter: Adapter, streams: Sequence[object], report: _Report) -> None:
    generator = _never_started()
    candidates: list[object] = [*_foreign_objects(), generator]
    before = set(sys.modules)
    for obj in [*candidates, *streams]:
        try:
            answer = adapter.detect(obj)
        except Exception as exc:
            report.fail(f"detect({type(obj).__name__}) raised {type(exc).__name__}: {exc}")
            continue
        if not isinstance(answer, bool):  # pyright: ignore[reportUnnecessaryIsInstance]
            report.fail(f"detect({type(obj).__name__}) returned {answer!r}, not a bool")
        elif _among(obj, streams) and not answer:
            report.fail(f"detect() does not accept the stream {obj!r}")
        elif obj is not generator and not _among(obj, streams) and answer:
            report.fail(f"detect() claims a plain {type(obj).__name__}: decide by type")
    imported = sorted(set(sys.modules) - before)
    if imported:
        report.fail(f"detect() imported modules {imported}: look in sys.modules instead")


def _check_open(adapter: Adapter, streams: Sequence[object], report: _Report) -> None:
    for obj in streams:
        try:
            iterator = adapter.open(obj)
        except Exception as exc:
            report.fail(f"open({type(obj).__name__}) raised {type(exc).__name__}: {exc}")
            continue
        if inspect.isawaitable(iterator):
            report.fail("open() returned an awaitable: it must return the iterator at once")
            close = getattr(iterator, "close", None)
            if close is not None:
                close()  # don't leave a never-awaited coroutine behind
        elif not hasattr(type(iterator), "__anext__"):
            report.fail(f"open() returned a {type(iterator).__name__}, not an async iterator")


def _snapshot(sample: object) -> object:
    try:
        return copy.deepcopy(sample)
    except Exception:
        return _NO_COPY


_NO_COPY = object()


def _same(before: object, after: object) -> bool:
    """Whether ``after`` still equals its copy ``before`` (by value; objects without their own
    ``__eq__`` by their attributes)."""
    if type(after).__eq__ is not object.__eq__:
        return before == after
    if hasattr(after, "__dict__") and hasattr(before, "__dict__"):
        return bool(vars(before) == vars(after))
    return True  # no way to tell


def _check_chunk(chunk: object, where: str, report: _Report) -> bool:
    if isinstance(chunk, (str, _SIGNALS)):
        return True
    if isinstance(chunk, _SOURCE_EVENTS):
        return True
    if isinstance(chunk, StreamEvent):
        report.fail(f"{where} produced a {type(chunk).__name__}: only l0 can emit it")
    else:
        report.fail(f"{where} produced a {type(chunk).__name__}, which is not an l0 chunk")
    return False


def _convert_once(adapter: Adapter, sample: object, report: _Report) -> list[object] | None:
    where = f"convert({type(sample).__name__})"
    try:
        result = adapter.convert(sample)
    except L0Error as exc:
        return [("raised", type(exc), exc.code, exc.retryable, str(exc))]
    except Exception as exc:
        report.fail(f"{where} raised {type(exc).__name__} (only l0 errors may escape): {exc}")
        return None
    if inspect.isawaitable(result):
        report.fail(f"{where} returned an awaitable: convert must be synchronous")
        close = getattr(result, "close", None)
        if close is not None:
            close()
        return None
    chunks = _as_list(result)
    if not all(_check_chunk(chunk, where, report) for chunk in chunks):
        return None
    return [_describe(chunk) for chunk in chunks]


def _check_convert(adapter: Adapter, samples: Sequence[object], report: _Report) -> None:
    finished = False
    for sample in samples:
        where = f"convert({type(sample).__name__})"
        snapshot = _snapshot(sample)
        first = _convert_once(adapter, sample, report)
        if first is None:
            continue
        second = _convert_once(adapter, sample, report)
        if first != second:
            report.fail(f"{where} is not pure: {first!r} then {second!r}")
        if snapshot is not _NO_COPY and not _same(snapshot, sample):
            report.fail(f"{where} changed its input")
        if any(isinstance(chunk, Finish) for chunk in first):
            finished = True
    if adapter.text_items:
        try:
            same = adapter.convert("text")
        except Exception as exc:
            report.fail(f"text_items is set but convert('text') raised {type(exc).__name__}")
        else:
            if same != "text":
                report.fail(
                    f"text_items is set but convert('text') gives {same!r}: the runtime skips "
                    "convert for str items, so both paths must agree"
                )
    plain_text = type(adapter).plain_text
    if plain_text is not None:
        for index, sample in enumerate(samples):
            try:
                text = plain_text(sample)
            except Exception as exc:
                report.fail(f"plain_text(sample {index}) raised {type(exc).__name__}")
                continue
            if text is None:
                continue
            converted = _convert_once(adapter, sample, report)
            if converted != [text]:
                report.fail(
                    f"plain_text(sample {index}) gives {text!r} but convert gives {converted!r}:"
                    " the runtime skips convert for what plain_text reads, so both must agree"
                )
    if adapter.requires_finish and samples and not finished:
        report.fail(
            "requires_finish is set but no sample converts to Finish: every stream would read "
            "as truncated (include a stream's final chunk in the samples)"
        )


def _check_map_error(adapter: Adapter, errors: Sequence[BaseException], report: _Report) -> None:
    for exc in [*_exceptions(), *errors]:
        if not isinstance(exc, Exception):
            report.fail(f"{exc!r} is not an Exception: l0 never classifies BaseExceptions")
            continue
        try:
            mapped = adapter.map_error(exc)
        except Exception as err:
            report.fail(f"map_error({type(exc).__name__}) raised {type(err).__name__}: {err}")
            continue
        if mapped is not None and not isinstance(mapped, L0Error):  # pyright: ignore[reportUnnecessaryIsInstance]
            report.fail(f"map_error({type(exc).__name__}) returned {mapped!r}")
    # Same types, other words: the verdict must not change.
    for make in (ValueError, RuntimeError, ConnectionError, TimeoutError):
        try:
            plain = _verdict(adapter.map_error(make("something went wrong")))
            worded = _verdict(adapter.map_error(make("HTTP 429 rate limit; 503 retry timeout")))
        except Exception:
            continue
        if plain != worded:
            report.fail(
                f"map_error({make.__name__}) decides by the message's words: classify by "
                "type, status code or header"
            )


def check_adapter(
    adapter: Adapter,
    *,
    samples: Iterable[Any] = (),
    streams: Iterable[object] = (),
    errors: Iterable[BaseException] = (),
) -> None:
    """Check that ``adapter`` behaves as l0's runtime expects; raise :class:`AssertionError`
    listing every problem found.

    ``samples`` are raw items as ``adapter.open(...)`` yields them (a whole stream's worth, its
    final chunk included); ``streams`` are objects a factory returns, which ``detect`` must
    accept (they are opened, never read); ``errors`` are exceptions of your provider, which
    ``map_error`` must handle without raising. Call it from a test::

        def test_my_adapter():
            l0.adapters.check_adapter(MyAdapter(), samples=[...], errors=[MyAPIError(...)])

    .. versionadded:: 0.1
    """
    report = _Report(adapter)
    if not isinstance(adapter, Adapter):  # pyright: ignore[reportUnnecessaryIsInstance]
        raise TypeError(f"{adapter!r} is not an l0.adapters.Adapter")
    stream_list = list(streams)
    _check_attributes(adapter, report)
    _check_detect(adapter, stream_list, report)
    _check_open(adapter, stream_list, report)
    _check_convert(adapter, list(samples), report)
    _check_map_error(adapter, list(errors), report)
    report.raise_if_any()
