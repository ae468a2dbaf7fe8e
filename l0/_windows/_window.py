"""``Window``: a document cut into overlapping chunks, with a cursor to walk them."""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final, Literal, TypeAlias, get_args

import msgspec

from l0._errors import ConfigError
from l0._windows._chunking import Strategy, chunk
from l0._windows._process import ChunkResult, ContextRestoration, merge_results, process_window
from l0._windows._tokens import EstimatorSpec, TokenEstimator, resolve_estimator

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from l0._runtime._options import RunOptions

__all__ = ["DocumentChunk", "Preset", "Window"]

Preset: TypeAlias = Literal["small", "medium", "large", "paragraph", "sentence"]

PRESETS: Final[Mapping[str, Mapping[str, Any]]] = MappingProxyType({
    "small": MappingProxyType({"size": 1000, "overlap": 100, "strategy": "token"}),
    "medium": MappingProxyType({"size": 2000, "overlap": 200, "strategy": "token"}),
    "large": MappingProxyType({"size": 4000, "overlap": 400, "strategy": "token"}),
    "paragraph": MappingProxyType({"size": 2000, "overlap": 200, "strategy": "paragraph"}),
    "sentence": MappingProxyType({"size": 1000, "overlap": 100, "strategy": "sentence"}),
})  # fmt: skip


class DocumentChunk(msgspec.Struct, frozen=True, kw_only=True):
    """One chunk of a :class:`Window`: ``text == document[start:end]``.

    ``tokens`` is the window's token estimate of ``text``; ``index`` counts from 0 of ``total``.

    .. versionadded:: 0.1
    """

    index: int
    total: int
    start: int
    end: int
    text: str
    tokens: int

    @property
    def is_first(self) -> bool:
        """Whether this is the first chunk."""
        return self.index == 0

    @property
    def is_last(self) -> bool:
        """Whether this is the last chunk."""
        return self.index == self.total - 1


def _positive_int(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{name} must be an int >= {minimum}, got {value!r}")
    return value


class Window:
    """A document cut into chunks, and a cursor over them.

    Make one with :meth:`create` (or a preset: :meth:`small`, :meth:`medium`, :meth:`large`,
    :meth:`paragraph`, :meth:`sentence`). A window is a sequence of :class:`DocumentChunk`
    (``len``, indexing, iteration) with a cursor (:attr:`current`, :meth:`next`, :meth:`prev`,
    :meth:`jump`) and :meth:`process` runs every chunk through an l0 stream.

    .. versionadded:: 0.1
    """

    __slots__ = ("_chunks", "_position", "document", "estimator", "overlap", "size", "strategy")

    presets: Final[Mapping[str, Mapping[str, Any]]] = PRESETS
    """The presets by name: their ``size``, ``overlap`` and ``strategy``."""

    def __init__(
        self,
        document: str,
        chunks: tuple[DocumentChunk, ...],
        *,
        size: int,
        overlap: int,
        strategy: Strategy,
        estimator: TokenEstimator,
    ) -> None:
        self.document: str = document
        """The whole document."""
        self.size: int = size
        """Largest chunk: characters for the ``"char"`` strategy, estimated tokens otherwise."""
        self.overlap: int = overlap
        """How much consecutive chunks share, in the same unit as :attr:`size`."""
        self.strategy: Strategy = strategy
        """How the document was cut."""
        self.estimator: TokenEstimator = estimator
        """The token estimator the window uses."""
        self._chunks = chunks
        self._position = 0

    @classmethod
    def create(
        cls,
        document: str,
        *,
        size: int | None = None,
        overlap: int | None = None,
        strategy: Strategy | None = None,
        estimate_tokens: EstimatorSpec = None,
        preset: Preset | None = None,
    ) -> Window:
        """Cut ``document`` into chunks.

        * ``strategy="token"`` (default): chunks of at most ``size`` estimated tokens, cut at
          word boundaries where possible; consecutive chunks share about ``overlap`` tokens
          (whole words, never more).
        * ``"char"``: chunks of at most ``size`` characters, sharing exactly ``overlap``.
        * ``"paragraph"`` / ``"sentence"``: whole paragraphs (blank-line separated) or sentences
          packed up to ``size`` tokens; one longer than ``size`` is split (a paragraph into
          sentences, a sentence at word boundaries); a chunk repeats the previous chunk's last
          units that fit in ``overlap`` tokens.

        ``preset`` supplies the defaults (``"medium"`` if none: 2000 tokens, overlap 200); the
        other keywords override it. ``estimate_tokens`` is a callable ``str -> int``,
        ``"heuristic"``, ``"tiktoken"`` or ``"auto"``/``None`` (tiktoken if installed, else the
        heuristic of :func:`l0.estimate_tokens`). No boundary ever splits a surrogate pair.
        """
        if not isinstance(document, str):  # pyright: ignore[reportUnnecessaryIsInstance]
            raise ConfigError(f"document must be a str, got {type(document).__name__}")
        if preset is not None and preset not in PRESETS:
            raise ConfigError(f"unknown preset {preset!r}; valid: {', '.join(PRESETS)}")
        base = PRESETS[preset or "medium"]
        size = _positive_int("size", base["size"] if size is None else size, 1)
        overlap = _positive_int("overlap", base["overlap"] if overlap is None else overlap, 0)
        how: Strategy = base["strategy"] if strategy is None else strategy
        if how not in get_args(Strategy):
            raise ConfigError(f"unknown strategy {how!r}; valid: {', '.join(get_args(Strategy))}")
        if overlap >= size:
            raise ConfigError(f"overlap ({overlap}) must be smaller than size ({size})")
        est = resolve_estimator(estimate_tokens)
        spans = chunk(document, size=size, overlap=overlap, strategy=how, est=est)
        total = len(spans)
        chunks = tuple(
            DocumentChunk(index=i, total=total, start=s, end=e, text=document[s:e], tokens=t)
            for i, (s, e, t) in enumerate(spans)
        )
        return cls(document, chunks, size=size, overlap=overlap, strategy=how, estimator=est)

    @classmethod
    def small(cls, document: str, **overrides: Any) -> Window:
        """The ``"small"`` preset: 1000 tokens, overlap 100."""
        return cls.create(document, preset="small", **overrides)

    @classmethod
    def medium(cls, document: str, **overrides: Any) -> Window:
        """The ``"medium"`` preset: 2000 tokens, overlap 200."""
        return cls.create(document, preset="medium", **overrides)

    @classmethod
    def large(cls, document: str, **overrides: Any) -> Window:
        """The ``"large"`` preset: 4000 tokens, overlap 400."""
        return cls.create(document, preset="large", **overrides)

    @classmethod
    def paragraph(cls, document: str, **overrides: Any) -> Window:
        """The ``"paragraph"`` preset: whole paragraphs up to 2000 tokens, overlap 200."""
        return cls.create(document, preset="paragraph", **overrides)

    @classmethod
    def sentence(cls, document: str, **overrides: Any) -> Window:
        """The ``"sentence"`` preset: whole sentences up to 1000 tokens, overlap 100."""
        return cls.create(document, preset="sentence", **overrides)

    # -- the sequence ---------------------------------------------------------------------

    @property
    def chunks(self) -> tuple[DocumentChunk, ...]:
        """Every chunk, in order."""
        return self._chunks

    def __len__(self) -> int:
        return len(self._chunks)

    def __iter__(self) -> Iterator[DocumentChunk]:
        return iter(self._chunks)

    def __getitem__(self, index: int) -> DocumentChunk:
        return self.get(index)

    def get(self, index: int) -> DocumentChunk:
        """Chunk ``index`` (negative counts from the end); ``IndexError`` if there is none."""
        if isinstance(index, bool) or not isinstance(index, int):  # pyright: ignore[reportUnnecessaryIsInstance]
            raise TypeError(f"chunk indices are ints, got {type(index).__name__}")
        try:
            return self._chunks[index]
        except IndexError:
            raise IndexError(
                f"chunk {index} out of range: the window has {len(self._chunks)} chunk(s)"
            ) from None

    # -- the cursor -----------------------------------------------------------------------

    @property
    def position(self) -> int:
        """The cursor's chunk index."""
        return self._position

    @property
    def current(self) -> DocumentChunk | None:
        """The chunk under the cursor (``None`` for an empty document)."""
        return self._chunks[self._position] if self._chunks else None

    @property
    def has_next(self) -> bool:
        """Whether :meth:`next` would move."""
        return self._position + 1 < len(self._chunks)

    @property
    def has_prev(self) -> bool:
        """Whether :meth:`prev` would move."""
        return self._position > 0

    def next(self) -> DocumentChunk | None:
        """Move the cursor forward; the new current chunk, or ``None`` (not moving) at the end."""
        if not self.has_next:
            return None
        self._position += 1
        return self._chunks[self._position]

    def prev(self) -> DocumentChunk | None:
        """Move the cursor back; the new current chunk, or ``None`` (not moving) at the start."""
        if not self.has_prev:
            return None
        self._position -= 1
        return self._chunks[self._position]

    def jump(self, index: int) -> DocumentChunk:
        """Put the cursor on chunk ``index`` (negative counts from the end) and return it."""
        found = self.get(index)
        self._position = found.index
        return found

    def reset(self) -> DocumentChunk | None:
        """Put the cursor back on the first chunk and return it."""
        self._position = 0
        return self.current

    # -- searching ------------------------------------------------------------------------

    def find(self, text: str, *, case_sensitive: bool = True) -> list[int]:
        """Indices of the chunks holding an occurrence of ``text``, in order.

        An occurrence that no single chunk holds whole (it straddles a cut) counts for every
        chunk it touches.
        """
        if not text:
            raise ValueError("find() needs a non-empty text")
        pattern = re.compile(re.escape(text), 0 if case_sensitive else re.IGNORECASE)
        chunks = self._chunks
        starts = [c.start for c in chunks]
        ends = [c.end for c in chunks]
        found: set[int] = set()
        for match in pattern.finditer(self.document):
            a, b = match.span()
            # chunks holding it whole: start <= a and end >= b
            first = bisect_left(ends, b)
            last = bisect_right(starts, a) - 1
            if first <= last:
                found.update(range(first, last + 1))
            else:  # it straddles a cut: every chunk that overlaps it
                lo = bisect_right(ends, a)
                hi = bisect_left(starts, b) - 1
                found.update(range(lo, hi + 1))
        return sorted(found)

    def context(self, index: int, *, before: int = 1, after: int = 1) -> str:
        """The document text from ``before`` chunks before chunk ``index`` to ``after`` after it
        (fewer at the edges), as one slice of the document."""
        _positive_int("before", before, 0)
        _positive_int("after", after, 0)
        target = self.get(index)
        first = self._chunks[max(0, target.index - before)]
        last = self._chunks[min(len(self._chunks) - 1, target.index + after)]
        return self.document[first.start : last.end]

    # -- processing -----------------------------------------------------------------------

    async def process(
        self,
        stream_factory: Callable[[str, DocumentChunk], Any | Awaitable[Any]],
        *,
        concurrency: int = 4,
        context_restoration: ContextRestoration | Iterable[ContextRestoration] = "none",
        **run_options: Unpack[RunOptions],
    ) -> list[ChunkResult]:
        """Run every chunk through an l0 stream; the results in chunk order.

        ``stream_factory(text, chunk)`` returns the model's stream for one chunk (anything
        :func:`l0.run` accepts from a factory); ``text`` is the chunk's text, or the chunk with
        more context around it when it is re-run. At most ``concurrency`` streams run at once,
        on a task group owned by this call. ``run_options`` go to every :func:`l0.run`.

        ``context_restoration``: when a chunk's stream fails (its retries and fallbacks spent) or
        drifts (``state.drift_detected``, or a :class:`~l0.DriftDetected` error), re-run it with
        more context -- ``"adjacent"`` (the neighbouring chunks too), ``"overlap"`` (the text
        around it, as much as the window's overlap, or a quarter of the chunk without one) or
        ``"full"`` (the whole document). A sequence of modes escalates: each further failure
        uses the next. Every run is recorded in :attr:`ChunkResult.runs`. A chunk that still
        fails is an unsuccessful result, not an exception.
        """
        return await process_window(
            self,
            stream_factory,
            concurrency=concurrency,
            context_restoration=context_restoration,
            run_options=run_options,
        )

    @staticmethod
    def merge(
        results: Iterable[ChunkResult],
        *,
        separator: str = "\n\n",
        dedupe_overlap: bool = False,
        min_overlap: int = 8,
        strict: bool = False,
    ) -> str:
        """The outputs of :meth:`process` joined in chunk order.

        Failed chunks are left out (``strict=True``: their error is raised instead). With
        ``dedupe_overlap=True``, text that one output repeats from the end of the previous one
        (at least ``min_overlap`` characters, compared with whitespace collapsed) is dropped and
        the two are joined directly, without ``separator``.
        """
        return merge_results(
            results,
            separator=separator,
            dedupe_overlap=dedupe_overlap,
            min_overlap=min_overlap,
            strict=strict,
        )

    def __repr__(self) -> str:
        return (
            f"Window(chunks={len(self._chunks)}, strategy={self.strategy!r}, size={self.size}, "
            f"overlap={self.overlap}, position={self._position})"
        )
