"""Running a window's chunks as l0 streams (bounded concurrency, context restoration); merging."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal, TypeAlias, get_args

import anyio
import attrs

from l0._errors import AllStreamsExhausted, ConfigError, DriftDetected, L0Error, SourceError
from l0._runtime._api import run
from l0._runtime._options import Options, merge
from l0._text import normalize_with_offsets
from l0._windows._chunking import cut_at, snap_back, snap_forward

if TYPE_CHECKING:
    from l0._state import State
    from l0._windows._window import DocumentChunk, Window

__all__ = ["ChunkResult", "ChunkRun", "ContextRestoration", "merge_results", "process_window"]

ContextRestoration: TypeAlias = Literal["none", "adjacent", "overlap", "full"]
"""How much of the document a chunk is re-run with when its stream fails or drifts."""

StreamFactory: TypeAlias = Callable[["str", "DocumentChunk"], "Any | Awaitable[Any]"]


@attrs.frozen(kw_only=True)
class ChunkRun:
    """One run of a chunk's stream.

    ``context`` is the restoration mode it ran with (``"none"`` for the first run);
    ``start``/``end`` the slice of the document it was given.

    .. versionadded:: 0.1
    """

    context: ContextRestoration
    start: int
    end: int
    text: str
    error: L0Error | None
    drifted: bool
    state: State = attrs.field(repr=False)

    @property
    def ok(self) -> bool:
        """Whether the run produced output without drifting."""
        return self.error is None and not self.drifted


@attrs.frozen(kw_only=True)
class ChunkResult:
    """What :meth:`Window.process` got for one chunk.

    ``text``, ``error`` and ``state`` are those of the run that counts: the first clean one,
    else the last one with output (it drifted), else the last one. ``runs`` holds every run,
    so ``restored`` (more than one run) shows that context restoration triggered. ``drifted``:
    the run that counts drifted (restoration, if any, did not cure it).

    .. versionadded:: 0.1
    """

    chunk: DocumentChunk
    text: str
    error: L0Error | None
    drifted: bool
    state: State = attrs.field(repr=False)
    runs: tuple[ChunkRun, ...] = attrs.field(repr=False)

    @property
    def index(self) -> int:
        """The chunk's index."""
        return self.chunk.index

    @property
    def ok(self) -> bool:
        """Whether the chunk produced output (possibly after restoration)."""
        return self.error is None

    @property
    def restored(self) -> bool:
        """Whether the chunk was re-run with more context."""
        return len(self.runs) > 1

    @property
    def context(self) -> ContextRestoration:
        """The context of the last run."""
        return self.runs[-1].context


def _modes(
    value: ContextRestoration | Iterable[ContextRestoration],
) -> tuple[ContextRestoration, ...]:
    valid = get_args(ContextRestoration)
    items: tuple[Any, ...] = (value,) if isinstance(value, str) else tuple(value)
    for item in items:
        if item not in valid:
            raise ConfigError(f"unknown context_restoration {item!r}; valid: {', '.join(valid)}")
    return tuple(m for m in items if m != "none")


def context_span(window: Window, chunk: DocumentChunk, mode: ContextRestoration) -> tuple[int, int]:
    """The slice of the document a chunk runs with in ``mode``."""
    doc = window.document
    if mode == "full":
        return 0, len(doc)
    if mode == "adjacent":
        chunks = window.chunks
        first = chunks[chunk.index - 1] if chunk.index > 0 else chunk
        last = chunks[chunk.index + 1] if chunk.index + 1 < len(chunks) else chunk
        return first.start, last.end
    if mode == "overlap":
        length = chunk.end - chunk.start
        if window.strategy == "char":
            margin = window.overlap
        else:
            margin = window.overlap * length // max(chunk.tokens, 1)
        margin = margin or max(1, length // 4)
        a = max(0, chunk.start - margin)
        b = min(len(doc), chunk.end + margin)
        a = cut_at(doc, snap_forward(doc, a, chunk.start), -1)
        b = cut_at(doc, snap_back(doc, b, chunk.end), b)
        return a, b
    return chunk.start, chunk.end


def _is_drift(error: L0Error | None) -> bool:
    if isinstance(error, DriftDetected):
        return True
    if isinstance(error, AllStreamsExhausted):
        return any(isinstance(e, DriftDetected) for e in error.errors)
    return False


async def _run_once(
    factory: StreamFactory, text: str, chunk: DocumentChunk, run_options: Mapping[str, Any]
) -> tuple[str, L0Error | None, State]:
    stream = run(lambda: factory(text, chunk), **run_options)
    output = ""
    error: L0Error | None = None
    async with stream:
        try:
            output = await stream.read()
        except L0Error as exc:
            error = exc
        except Exception as exc:  # l0 wraps source errors; anything else is still this chunk's
            error = SourceError(f"chunk {chunk.index} failed: {exc!r}")
            error.__cause__ = exc
    return output, error, stream.state


async def _run_chunk(
    window: Window,
    chunk: DocumentChunk,
    factory: StreamFactory,
    modes: tuple[ContextRestoration, ...],
    run_options: Mapping[str, Any],
) -> ChunkResult:
    runs: list[ChunkRun] = []
    for mode in ("none", *modes):
        start, end = context_span(window, chunk, mode)
        text = chunk.text if mode == "none" else window.document[start:end]
        output, error, state = await _run_once(factory, text, chunk, run_options)
        drifted = state.drift_detected or _is_drift(error)
        runs.append(ChunkRun(context=mode, start=start, end=end, text=output, error=error,
                             drifted=drifted, state=state))  # fmt: skip
        if error is None and not drifted:
            break
    with_output = [r for r in runs if r.error is None]
    chosen = with_output[-1] if with_output else runs[-1]
    return ChunkResult(chunk=chunk, text=chosen.text, error=chosen.error, drifted=chosen.drifted,
                       state=chosen.state, runs=tuple(runs))  # fmt: skip


def _check_options(factory: Any, run_options: Mapping[str, Any]) -> None:
    if not callable(factory):
        raise ConfigError(
            f"stream_factory must be a callable (text, chunk) -> stream, got "
            f"{type(factory).__name__}"
        )
    if "stream" in run_options:
        raise TypeError("Window.process() takes the stream factory as its first argument")
    # Unknown keywords are a TypeError and bad values a ConfigError, before anything runs.
    merge(Options(), {"stream": factory, **run_options}, where="Window.process()")


async def process_window(
    window: Window,
    factory: StreamFactory,
    *,
    concurrency: int,
    context_restoration: ContextRestoration | Iterable[ContextRestoration],
    run_options: Mapping[str, Any],
) -> list[ChunkResult]:
    """See :meth:`Window.process`."""
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:  # pyright: ignore[reportUnnecessaryIsInstance]
        raise ConfigError(f"concurrency must be an int >= 1, got {concurrency!r}")
    modes = _modes(context_restoration)
    _check_options(factory, run_options)
    chunks = window.chunks
    results: list[ChunkResult | None] = [None] * len(chunks)
    pending = iter(range(len(chunks)))

    async def worker() -> None:
        for i in pending:  # shared: each index is taken by exactly one worker
            results[i] = await _run_chunk(window, chunks[i], factory, modes, run_options)

    async with anyio.create_task_group() as tg:
        for _ in range(min(concurrency, len(chunks))):
            tg.start_soon(worker)
    return [r for r in results if r is not None]


def _suffix_prefix(a: str, b: str) -> int:
    """The length of the longest prefix of ``b`` that is a suffix of ``a`` (KMP, linear)."""
    length = min(len(a), len(b))
    if not length:
        return 0
    p = b[:length]
    fail = [0] * length
    k = 0
    for i in range(1, length):
        while k and p[i] != p[k]:
            k = fail[k - 1]
        if p[i] == p[k]:
            k += 1
        fail[i] = k
    q = 0
    for c in a[len(a) - length :]:
        while q and p[q] != c:
            q = fail[q - 1]
        if p[q] == c:
            q += 1
    return q


def overlap_cut(previous: str, text: str, min_overlap: int) -> int | None:
    """Where ``text`` stops repeating the end of ``previous`` (whitespace-insensitive), or
    ``None`` if it repeats fewer than ``min_overlap`` normalised characters."""
    a = normalize_with_offsets(previous, single_line=True, strip=False).text
    nb = normalize_with_offsets(text, single_line=True, strip=False)
    k = _suffix_prefix(a, nb.text)
    if k < max(min_overlap, 1):
        return None
    return nb.to_original(k)


def merge_results(
    results: Iterable[ChunkResult],
    *,
    separator: str,
    dedupe_overlap: bool,
    min_overlap: int,
    strict: bool,
) -> str:
    """See :meth:`Window.merge`."""
    if isinstance(min_overlap, bool) or not isinstance(min_overlap, int) or min_overlap < 1:  # pyright: ignore[reportUnnecessaryIsInstance]
        raise ConfigError(f"min_overlap must be an int >= 1, got {min_overlap!r}")
    pieces: list[str] = []
    previous: str | None = None
    for result in sorted(results, key=lambda r: r.index):
        if result.error is not None:
            if strict:
                raise result.error
            continue
        text = result.text
        cut = overlap_cut(previous, text, min_overlap) if dedupe_overlap and previous else None
        if cut is None:
            if pieces:
                pieces.append(separator)
            pieces.append(text)
        else:
            pieces.append(text[cut:])
        previous = text
    return "".join(pieces)
