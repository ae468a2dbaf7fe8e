"""Document windows: chunking invariants, strategies, presets, estimators, navigation."""

from __future__ import annotations

import itertools
import re
import sys
import types
from collections.abc import Callable, Iterator
from typing import Any

import anyio.lowlevel
import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import l0
from l0._windows import (
    ChunkResult,
    ChunkRun,
    DocumentChunk,
    Window,
    _process,
    _tokens,
    estimate_tokens,
)

SMILE = "\ud83d\ude00"  # a surrogate pair, as two code points

WORDS = ["alpha", "beta", "gamma", "delta.", "epsilon,", "zeta!", "eta?", "theta", "\u4f60\u597d"]


def _document(n_paragraphs: int, seed: int = 7) -> str:
    state = seed
    paragraphs: list[str] = []
    for _ in range(n_paragraphs):
        words: list[str] = []
        state = (state * 1103515245 + 12345) % 2**31
        for _ in range(20 + state % 150):
            state = (state * 1103515245 + 12345) % 2**31
            words.append(WORDS[state % len(WORDS)])
        paragraphs.append(" ".join(words))
    return "\n\n".join(paragraphs)


def _words(text: str) -> int:
    return len(text.split())


def _check_invariants(window: Window, doc: str) -> None:
    chunks = window.chunks
    if not doc:
        assert chunks == ()
        return
    assert chunks[0].start == 0
    assert chunks[-1].end == len(doc)
    for i, c in enumerate(chunks):
        assert (c.index, c.total) == (i, len(chunks))
        assert c.text == doc[c.start : c.end]
        assert c.start < c.end
        assert c.tokens == window.estimator(c.text)
        for cut in (c.start, c.end):
            if 0 < cut < len(doc):
                pair = doc[cut - 1 : cut + 1]
                assert pair != SMILE, f"cut {cut} splits a pair"
    for a, b in itertools.pairwise(chunks):
        assert a.start < b.start <= a.end < b.end


@pytest.fixture
def fake_tiktoken(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """A stand-in ``tiktoken`` module whose tokens are characters; records encoded texts."""
    seen: list[str] = []

    class Encoding:
        def encode(self, text: str, disallowed_special: Any = ()) -> list[int]:
            seen.append(text)
            return [ord(c) for c in text]

    module = types.ModuleType("tiktoken")
    module.get_encoding = lambda name: Encoding()  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "tiktoken", module)
    _tokens._encoding.cache_clear()
    _tokens._auto.cache_clear()
    yield seen
    _tokens._encoding.cache_clear()
    _tokens._auto.cache_clear()


@pytest.fixture
def no_tiktoken(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """``import tiktoken`` fails."""
    monkeypatch.setitem(sys.modules, "tiktoken", None)
    _tokens._encoding.cache_clear()
    _tokens._auto.cache_clear()
    yield
    _tokens._encoding.cache_clear()
    _tokens._auto.cache_clear()


# --------------------------------------------------------------------------- invariants

TEXTS = st.lists(
    st.sampled_from(
        [
            "word",
            "a",
            "b.",
            " ",
            "  ",
            "\n",
            "\n\n",
            "\t",
            "x! ",
            "y? ",
            SMILE,
            "\u4f60",
            "\r\n",
            ", ",
        ]
    ),
    max_size=80,
).map("".join)
ESTIMATORS: dict[str, Callable[[str], int]] = {
    "heuristic": estimate_tokens,
    "len": len,
    "words": _words,
}


@settings(max_examples=300, deadline=None)
@given(
    doc=TEXTS,
    size=st.integers(1, 40),
    overlap_fraction=st.floats(0, 0.95),
    strategy=st.sampled_from(["token", "char", "paragraph", "sentence"]),
    estimator=st.sampled_from(sorted(ESTIMATORS)),
)
def test_chunks_tile_the_document(
    doc: str, size: int, overlap_fraction: float, strategy: Any, estimator: str
) -> None:
    """Every strategy: chunks cover the document from 0 to its end with no gaps, each starts
    after the previous one, no cut splits a surrogate pair, and no chunk (nor the part it
    repeats from the previous one) is over budget."""
    overlap = min(size - 1, int(size * overlap_fraction))
    est = ESTIMATORS[estimator]
    window = Window.create(doc, size=size, overlap=overlap, strategy=strategy, estimate_tokens=est)
    _check_invariants(window, doc)
    for a, b in zip(window.chunks, window.chunks[1:], strict=False):
        shared = doc[b.start : a.end]
        if strategy == "char":
            assert len(a.text) <= size or a.text == SMILE  # a pair is never split
            if SMILE not in doc:
                assert len(shared) == overlap
        else:
            assert est(shared) <= overlap
    for c in window.chunks:
        if strategy != "char" and est(c.text) > size:
            assert len(c.text) <= 2, "only a single code point may exceed the budget"


def test_char_strategy_example() -> None:
    """Char windows of 4 with overlap 1 over 10 characters."""
    window = Window.create("abcdefghij", size=4, overlap=1, strategy="char")
    assert [c.text for c in window] == ["abcd", "defg", "ghij"]
    assert [(c.start, c.end) for c in window] == [(0, 4), (3, 7), (6, 10)]


def test_char_cuts_never_split_a_surrogate_pair() -> None:
    """An odd size over surrogate pairs moves each cut to a pair boundary."""
    doc = SMILE * 10
    window = Window.create(doc, size=3, overlap=0, strategy="char")
    assert all(c.text == SMILE for c in window)
    assert len(window) == 10
    _check_invariants(Window.create(doc, size=1, overlap=0, strategy="char"), doc)


def test_token_strategy_cuts_at_word_boundaries() -> None:
    """Token windows end after whitespace (whole words) when words are short."""
    doc = _document(40)
    window = Window.create(doc, size=100, overlap=10, estimate_tokens="heuristic")
    assert len(window) > 5
    for c in window.chunks[:-1]:
        assert c.text[-1].isspace(), repr(c.text[-20:])
        assert 90 <= c.tokens <= 100
    for a, b in zip(window.chunks, window.chunks[1:], strict=False):
        assert 0 < estimate_tokens(doc[b.start : a.end]) <= 10
        assert b.start == 0 or doc[b.start - 1].isspace()


def test_a_word_longer_than_the_budget_is_cut() -> None:
    """A word with no whitespace in reach is cut inside, within budget."""
    doc = "x" * 1000
    window = Window.create(doc, size=10, overlap=0, estimate_tokens=len)
    assert [len(c.text) for c in window] == [10] * 100


def test_paragraph_strategy_keeps_paragraphs_whole() -> None:
    """Paragraphs that fit are packed whole; chunks start at paragraph starts."""
    paragraphs = [f"Paragraph {i} has some words in it." for i in range(12)]
    doc = "\n\n".join(paragraphs)
    window = Window.create(doc, size=30, overlap=0, strategy="paragraph", estimate_tokens=_words)
    starts = {doc.index(p) for p in paragraphs}
    assert all(c.start in starts for c in window)
    assert all(c.tokens <= 30 for c in window)
    assert [c.text.count("Paragraph") for c in window] == [4, 4, 4]


def test_paragraph_overlap_repeats_whole_paragraphs() -> None:
    """The overlap is the previous chunk's last paragraphs that fit in it."""
    doc = "\n\n".join(f"p{i} a b c d" for i in range(6))  # 5 words each
    window = Window.create(doc, size=15, overlap=5, strategy="paragraph", estimate_tokens=_words)
    texts = [c.text.split("\n\n")[0].split()[0] for c in window]
    assert texts == ["p0", "p2", "p4"]
    assert window[1].text.startswith("p2")
    assert window[0].text.rstrip().endswith("p2 a b c d")


def test_a_long_paragraph_is_split_into_sentences() -> None:
    """A paragraph over the budget is split at sentence ends; every chunk fits."""
    long = " ".join(f"Sentence number {i} is here." for i in range(30))
    doc = f"Short intro.\n\n{long}\n\nShort outro."
    window = Window.create(doc, size=20, overlap=0, strategy="paragraph", estimate_tokens=_words)
    _check_invariants(window, doc)
    assert all(c.tokens <= 20 for c in window)
    starts = {m.start() for m in re.finditer(r"Sentence|Short", doc)}
    assert all(c.start in starts for c in window)
    assert all(c.text.rstrip().endswith(".") for c in window)
    assert len(window) == 8  # 4 five-word sentences a chunk (2 with the intro and outro)


def test_sentence_strategy() -> None:
    """Sentences are packed whole (ends at ., !, ?, closing quotes included)."""
    doc = 'One two three. "Four five!" Six seven? Eight nine ten. Eleven.'
    window = Window.create(doc, size=5, overlap=0, strategy="sentence", estimate_tokens=_words)
    assert [c.text.strip() for c in window] == [
        'One two three. "Four five!"',
        "Six seven? Eight nine ten.",
        "Eleven.",
    ]


def test_a_sentence_longer_than_the_budget_is_cut_at_words() -> None:
    """A single sentence over the budget becomes word-boundary pieces."""
    doc = " ".join(["word"] * 50) + "."
    window = Window.create(doc, size=10, overlap=0, strategy="sentence", estimate_tokens=_words)
    assert [c.tokens for c in window] == [10] * 5
    assert all(c.text.startswith("word") for c in window)


@pytest.mark.parametrize("strategy", ["token", "char", "paragraph", "sentence"])
def test_a_two_megabyte_document(strategy: Any) -> None:
    """A 2 MB document is cut (linearly: each chunk is measured a bounded number of times)."""
    doc = _document(400)
    doc = (doc * (2_000_000 // len(doc) + 1))[:2_000_000]
    calls: list[int] = []

    def counting(text: str) -> int:
        calls.append(len(text))
        return estimate_tokens(text)

    window = Window.create(doc, strategy=strategy, estimate_tokens=counting)
    _check_invariants(window, doc)
    assert sum(calls) < 12 * len(doc)
    assert window.find("gamma")[:2] == [0, 1]


def test_the_empty_document_has_no_chunks() -> None:
    """An empty document: no chunks, no current chunk, nowhere to move."""
    window = Window.create("")
    assert (len(window), window.current, window.next(), window.prev()) == (0, None, None, None)
    assert window.reset() is None


# --------------------------------------------------------------------------- configuration


def test_defaults_and_presets() -> None:
    """create() defaults to the medium preset; presets set size/overlap/strategy; keywords
    override them."""
    doc = _document(3)
    assert (Window.create(doc).size, Window.create(doc).overlap) == (2000, 200)
    expected = {
        "small": (1000, 100, "token"),
        "medium": (2000, 200, "token"),
        "large": (4000, 400, "token"),
        "paragraph": (2000, 200, "paragraph"),
        "sentence": (1000, 100, "sentence"),
    }
    for name, (size, overlap, strategy) in expected.items():
        by_method = getattr(Window, name)(doc)
        by_arg = Window.create(doc, preset=name)
        for w in (by_method, by_arg):
            assert (w.size, w.overlap, w.strategy) == (size, overlap, strategy)
        assert dict(Window.presets[name]) == {
            "size": size,
            "overlap": overlap,
            "strategy": strategy,
        }
    custom = Window.small(doc, size=50, overlap=5)
    assert (custom.size, custom.overlap, custom.strategy) == (50, 5, "token")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"size": 0}, "size"),
        ({"size": True}, "size"),
        ({"size": 1.5}, "size"),
        ({"overlap": -1}, "overlap"),
        ({"size": 10, "overlap": 10}, "smaller than size"),
        ({"strategy": "words"}, "strategy"),
        ({"preset": "huge"}, "preset"),
        ({"estimate_tokens": "bpe"}, "estimate_tokens"),
    ],
)
def test_invalid_configuration(kwargs: dict[str, Any], match: str) -> None:
    """Each invalid setting is a ConfigError naming it."""
    with pytest.raises(l0.ConfigError, match=match):
        Window.create("some text", **kwargs)


def test_a_document_must_be_text() -> None:
    """bytes are refused."""
    with pytest.raises(l0.ConfigError, match="str"):
        Window.create(b"bytes")  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [-1, 1.5, "3", True])
def test_a_misbehaving_estimator_is_reported(bad: Any) -> None:
    """An estimator must return an int >= 0."""
    with pytest.raises(l0.ConfigError, match="estimate_tokens"):
        Window.create("some text here", estimate_tokens=lambda _: bad)


# --------------------------------------------------------------------------- estimators


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("", 0),
        ("abcd", 1),
        ("abcde", 2),
        ("Hello, world!", 4),
        ("a\nb", 1),
        ("\u4f60\u597d", 2),
        ("caf\u00e9", 2),
        (SMILE, 2),
    ],
)
def test_heuristic_examples(text: str, tokens: int) -> None:
    """The documented weights: 1/4 per letter, 1/2 per punctuation/newline/accented, 1 per
    CJK or emoji code point, rounded up."""
    assert estimate_tokens(text) == tokens


@given(st.text(max_size=50), st.text(max_size=50))
def test_heuristic_is_subadditive(a: str, b: str) -> None:
    """estimate(a + b) <= estimate(a) + estimate(b), the property the chunkers rely on."""
    assert estimate_tokens(a + b) <= estimate_tokens(a) + estimate_tokens(b)


def test_the_heuristic_is_about_four_characters_per_token() -> None:
    """English prose comes out near 4-5 characters per token."""
    text = "The quick brown fox jumps over the lazy dog and keeps on running far away. " * 20
    assert 3.5 < len(text) / estimate_tokens(text) < 5


def test_auto_uses_the_heuristic_without_tiktoken(no_tiktoken: None) -> None:
    """No tiktoken: the default estimator is the heuristic; asking for tiktoken is
    FeatureNotEnabled."""
    assert Window.create("abc").estimator is estimate_tokens
    with pytest.raises(l0.FeatureNotEnabled, match="tiktoken"):
        Window.create("abc", estimate_tokens="tiktoken")


def test_auto_uses_tiktoken_when_installed(fake_tiktoken: list[str]) -> None:
    """With tiktoken importable, the default estimator counts with it."""
    window = Window.create("abcdefgh", size=3, overlap=0)
    assert [c.text for c in window] == ["abc", "def", "gh"]
    assert fake_tiktoken
    explicit = Window.create("abcd", size=2, overlap=0, estimate_tokens="tiktoken")
    assert [c.tokens for c in explicit] == [2, 2]


def test_an_unloadable_encoding_falls_back(monkeypatch: pytest.MonkeyPatch) -> None:
    """tiktoken installed but its encoding cannot load (offline): auto uses the heuristic."""

    def fail(name: str) -> Any:
        raise OSError("no network")

    module = types.ModuleType("tiktoken")
    module.get_encoding = fail  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "tiktoken", module)
    _tokens._encoding.cache_clear()
    _tokens._auto.cache_clear()
    try:
        assert Window.create("abc").estimator is estimate_tokens
        with pytest.raises(l0.FeatureNotEnabled, match="not available"):
            Window.create("abc", estimate_tokens="tiktoken")
    finally:
        _tokens._encoding.cache_clear()
        _tokens._auto.cache_clear()


def test_explicit_heuristic_and_callable() -> None:
    """estimate_tokens="heuristic" and a callable are used as given."""
    assert Window.create("abc", estimate_tokens="heuristic").estimator is estimate_tokens
    window = Window.create("a b c d e f", size=2, overlap=0, estimate_tokens=_words)
    assert [c.text for c in window] == ["a b ", "c d ", "e f"]


# --------------------------------------------------------------------------- navigation


@pytest.fixture
def window() -> Window:
    """Ten char chunks of "0123456789" * 5, overlap 0."""
    return Window.create("0123456789" * 5, size=5, overlap=0, strategy="char")


def test_sequence_access(window: Window) -> None:
    """len, iteration, indexing (negative too) and get() agree."""
    assert len(window) == 10
    assert list(window) == list(window.chunks)
    assert window[0].text == "01234"
    assert window.get(-1) is window.chunks[-1]
    assert window[-1].is_last
    assert window[0].is_first
    assert isinstance(window[3], DocumentChunk)


def test_get_errors(window: Window) -> None:
    """Out of range is an IndexError; a non-int index a TypeError."""
    with pytest.raises(IndexError, match="10 chunk"):
        window.get(10)
    with pytest.raises(TypeError):
        window.get("1")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        window.get(True)


def test_cursor(window: Window) -> None:
    """next/prev move one step and return the new chunk, None (not moving) at the ends;
    jump and reset set the position."""
    assert window.position == 0
    assert not window.has_prev
    assert window.prev() is None
    assert window.next() is window[1]
    assert (window.position, window.current) == (1, window[1])
    assert window.jump(-1) is window[9]
    assert not window.has_next
    assert window.next() is None
    assert window.position == 9
    assert window.prev() is window[8]
    assert window.reset() is window[0]
    with pytest.raises(IndexError):
        window.jump(99)
    assert window.position == 0
    assert "position=0" in repr(window)


def test_find() -> None:
    """Indices of chunks holding the text; a match across a cut counts for both sides;
    case-insensitive on request."""
    window = Window.create("alpha beta gamma delta", size=6, overlap=0, strategy="char")
    assert [c.text for c in window] == ["alpha ", "beta g", "amma d", "elta"]
    assert window.find("beta") == [1]
    assert window.find("gamma") == [1, 2]
    assert window.find("a") == [0, 1, 2, 3]
    assert window.find("BETA") == []
    assert window.find("BETA", case_sensitive=False) == [1]
    assert window.find("zeta") == []
    with pytest.raises(ValueError, match="non-empty"):
        window.find("")


def test_find_in_overlapping_chunks() -> None:
    """A match inside the shared part of two chunks belongs to both."""
    window = Window.create("aaaa XY bbbb", size=8, overlap=4, strategy="char")
    holders = [c.index for c in window if "XY" in c.text]
    assert window.find("XY") == holders
    assert len(holders) == 2


def test_context(window: Window) -> None:
    """context() is the document slice around a chunk, clamped at the edges."""
    doc = window.document
    assert window.context(0) == doc[0:10]
    assert window.context(5, before=2, after=1) == doc[15:35]
    assert window.context(9, before=0, after=3) == doc[45:50]
    assert window.context(-1, before=1, after=0) == doc[40:50]
    with pytest.raises(l0.ConfigError, match="before"):
        window.context(1, before=-1)


# --------------------------------------------------------------------------- process


def _char_window(
    doc: str = "alpha beta gamma delta epsilon zeta", size: int = 12, overlap: int = 0
) -> Window:
    return Window.create(doc, size=size, overlap=overlap, strategy="char")


def _echo(text: str, chunk: DocumentChunk) -> Any:
    async def stream() -> Any:
        for word in text.split(" "):
            yield word + " "

    return stream()


async def test_process_runs_every_chunk_in_order() -> None:
    """Each chunk becomes one l0 stream; results come back by chunk index."""
    window = _char_window()
    results = await window.process(lambda text, chunk: [text.upper()])
    assert [r.index for r in results] == list(range(len(window)))
    assert [r.text for r in results] == [c.text.upper() for c in window]
    assert all(r.ok and not r.restored and not r.drifted for r in results)
    assert all(r.state.completed for r in results)
    assert [r.context for r in results] == ["none"] * len(window)
    assert results[0].runs[0].start == 0


async def test_concurrency_is_bounded() -> None:
    """At most `concurrency` chunk streams run at once, and that many do."""
    window = Window.create("x" * 40, size=2, overlap=0, strategy="char")
    running = 0
    peak = 0

    def factory(text: str, chunk: DocumentChunk) -> Any:
        async def stream() -> Any:
            nonlocal running, peak
            running += 1
            peak = max(peak, running)
            try:
                for _ in range(3):
                    await anyio.lowlevel.checkpoint()
                yield text
            finally:
                running -= 1

        return stream()

    results = await window.process(factory, concurrency=3)
    assert len(results) == 20
    assert peak == 3
    peak = 0
    results = await window.process(factory, concurrency=1)
    assert peak == 1
    assert all(r.ok for r in results)


async def test_a_failed_chunk_is_rerun_with_adjacent_context() -> None:
    """A chunk whose stream fails is re-run with its neighbours; the runs are recorded."""
    window = _char_window()
    seen: list[tuple[int, str]] = []

    def factory(text: str, chunk: DocumentChunk) -> Any:
        seen.append((chunk.index, text))
        if chunk.index == 1 and text == chunk.text:
            raise ConnectionResetError("dropped")
        return [f"<{text}>"]

    results = await window.process(factory, context_restoration="adjacent", retry=None)
    middle = results[1]
    assert middle.ok
    assert middle.restored
    assert [r.context for r in middle.runs] == ["none", "adjacent"]
    assert isinstance(middle.runs[0].error, l0.L0Error)
    assert middle.text == f"<{window.context(1)}>"
    assert (middle.runs[1].start, middle.runs[1].end) == (window[0].start, window[2].end)
    assert middle.state.completed
    assert not results[0].restored
    assert not results[2].restored
    assert (1, window.context(1)) in seen


async def test_a_drifting_chunk_is_rerun(zero_backoff: None) -> None:
    """A stream that fails with DriftDetected counts as drift and triggers restoration."""
    window = _char_window()

    def factory(text: str, chunk: DocumentChunk) -> Any:
        async def stream() -> Any:
            yield "off topic"
            if text == chunk.text:
                raise l0.DriftDetected("the output drifted")

        return stream()

    results = await window.process(factory, context_restoration="full")
    assert all(r.restored for r in results)
    assert all(r.runs[0].drifted and r.runs[0].error is not None for r in results)
    assert all((r.runs[1].start, r.runs[1].end) == (0, len(window.document)) for r in results)
    assert all(r.ok and r.text == "off topic" and not r.drifted for r in results)


def _meta_commentary(text: str, chunk: DocumentChunk) -> Any:
    """A model that derails on a bare chunk and answers properly with context."""

    async def stream() -> Any:
        if text == chunk.text:
            for _ in range(20):  # enough tokens for the drift checks to run on the way
                yield "As an AI language model, I cannot help with that. "
        else:
            yield "A proper summary."

    return stream()


_META_DRIFT = l0.DriftConfig(types=frozenset({"meta_commentary"}), window=64)


async def test_drift_recorded_on_the_state_triggers_restoration() -> None:
    """drift= with action "record": the stream completes with state.drift_detected set, and
    the chunk is re-run with more context."""
    window = _char_window()
    results = await window.process(
        _meta_commentary, context_restoration="overlap", drift=_META_DRIFT
    )
    for result in results:
        assert [r.context for r in result.runs] == ["none", "overlap"]
        first = result.runs[0]
        assert first.error is None
        assert first.drifted
        assert first.state.drift_detected
        assert first.text.startswith("As an AI")
        assert result.ok
        assert not result.drifted
        assert result.text == "A proper summary."


async def test_drift_that_fails_the_attempt_triggers_restoration() -> None:
    """drift= with action "retry": the drifting attempt fails (DriftDetected), the chunk is
    re-run with context."""
    window = _char_window()
    config = l0.DriftConfig(types=frozenset({"meta_commentary"}), window=64, action="retry")
    results = await window.process(
        _meta_commentary, context_restoration="adjacent", drift=config, retry=None
    )
    for result in results:
        assert isinstance(result.runs[0].error, l0.AllStreamsExhausted)
        assert result.runs[0].drifted
        assert result.ok
        assert result.text == "A proper summary."


async def test_drift_that_persists_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    """If every run drifts, the result keeps the last output and says it drifted."""
    real_run = _process.run

    def drifting_run(factory: Any, **options: Any) -> l0.Stream:
        stream = real_run(factory, **options)
        stream.state.drift_detected = True
        return stream

    monkeypatch.setattr(_process, "run", drifting_run)
    window = _char_window()
    results = await window.process(lambda text, chunk: [text], context_restoration="overlap")
    first = results[0]
    assert [r.context for r in first.runs] == ["none", "overlap"]
    assert first.ok
    assert first.drifted
    assert first.text == first.runs[1].text


async def test_restoration_escalates_through_a_sequence() -> None:
    """A sequence of modes is tried in order until a run succeeds."""
    window = _char_window(size=8, overlap=2)

    def factory(text: str, chunk: DocumentChunk) -> Any:
        if len(text) < len(window.document):
            raise ValueError("not enough context")
        return ["understood"]

    results = await window.process(
        factory, context_restoration=["overlap", "adjacent", "full"], retry=None
    )
    assert all(
        [r.context for r in res.runs] == ["none", "overlap", "adjacent", "full"] for res in results
    )
    middle = results[2].runs[1]
    assert middle.start < window[2].start
    assert middle.end > window[2].end
    assert all(r.ok and r.text == "understood" for r in results)


async def test_without_restoration_a_failure_is_a_result() -> None:
    """context_restoration="none": a failed chunk is an unsuccessful result, not an error."""
    window = _char_window()

    def factory(text: str, chunk: DocumentChunk) -> Any:
        if chunk.index == 0:
            raise ValueError("broken")
        return [text]

    results = await window.process(factory, retry=None)
    assert not results[0].ok
    assert isinstance(results[0].error, l0.AllStreamsExhausted)
    assert results[0].text == ""
    assert len(results[0].runs) == 1
    assert all(r.ok for r in results[1:])


async def test_run_options_reach_every_stream(zero_backoff: None) -> None:
    """Keywords after the factory go to l0.run: retries and callbacks apply per chunk."""
    window = _char_window()
    calls: list[int] = []
    events: list[Any] = []

    def factory(text: str, chunk: DocumentChunk) -> Any:
        calls.append(chunk.index)
        if calls.count(chunk.index) == 1:
            raise ConnectionResetError("first attempt fails")
        return [text]

    results = await window.process(factory, retry=l0.Retry(attempts=2), on_event=events.append)
    assert all(r.ok and not r.restored for r in results)
    assert sorted(calls) == sorted(list(range(len(window))) * 2)
    assert any(type(e).__name__ == "RetryAttempt" for e in events)


async def test_process_validates_before_running() -> None:
    """Bad arguments fail before any stream starts."""
    window = _char_window()
    started: list[int] = []

    def factory(text: str, chunk: DocumentChunk) -> Any:
        started.append(chunk.index)
        return [text]

    with pytest.raises(l0.ConfigError, match="concurrency"):
        await window.process(factory, concurrency=0)
    with pytest.raises(l0.ConfigError, match="context_restoration"):
        await window.process(factory, context_restoration="more")
    with pytest.raises(TypeError, match="unexpected keyword"):
        await window.process(factory, retries=3)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="first argument"):
        await window.process(factory, stream=factory)  # type: ignore[call-arg]
    with pytest.raises(l0.ConfigError, match="retry"):
        await window.process(factory, retry=3)  # type: ignore[arg-type]
    with pytest.raises(l0.ConfigError, match="callable"):
        await window.process("not callable")  # type: ignore[arg-type]
    assert started == []


async def test_processing_an_empty_window() -> None:
    """No chunks, no streams, no results."""
    assert await Window.create("").process(_echo) == []


# --------------------------------------------------------------------------- merge


async def test_merge_joins_in_order_and_skips_failures() -> None:
    """merge() joins outputs by chunk index with the separator; failed chunks are left out,
    or raised with strict=True."""
    window = _char_window()

    def factory(text: str, chunk: DocumentChunk) -> Any:
        if chunk.index == 1:
            raise ValueError("broken")
        return [f"[{chunk.index}]"]

    results = await window.process(factory, retry=None)
    assert Window.merge(reversed(results)) == "[0]\n\n[2]"
    assert window.merge(results, separator=" | ") == "[0] | [2]"
    with pytest.raises(l0.AllStreamsExhausted):
        Window.merge(results, strict=True)


async def test_merge_dedupes_overlapping_outputs() -> None:
    """Echoing overlapping chunks and merging with dedupe_overlap gives the document back."""
    doc = " ".join(f"w{i}" for i in range(60))
    window = Window.create(doc, size=40, overlap=12, strategy="char")
    results = await window.process(lambda text, chunk: [text])
    assert Window.merge(results, dedupe_overlap=True, min_overlap=1) == doc
    assert len(Window.merge(results, separator="")) > len(doc)


def _result(index: int, text: str) -> ChunkResult:
    chunk = DocumentChunk(index=index, total=9, start=0, end=1, text="x", tokens=1)
    state = l0.State()
    run = ChunkRun(
        context="none", start=0, end=1, text=text, error=None, drifted=False, state=state
    )
    return ChunkResult(chunk=chunk, text=text, error=None, drifted=False, state=state, runs=(run,))


def test_merge_dedupe_is_whitespace_insensitive() -> None:
    """A repeated passage counts even if its spacing differs; the rest joins directly."""
    a = _result(0, "The quick brown fox\njumps over")
    b = _result(1, "fox  jumps over the lazy dog.")
    assert (
        Window.merge([a, b], dedupe_overlap=True) == "The quick brown fox\njumps over the lazy dog."
    )


def test_merge_dedupe_needs_min_overlap() -> None:
    """Shorter repeats than min_overlap are kept, with the separator."""
    a = _result(0, "ends with the.")
    b = _result(1, "the. starts here")
    assert (
        Window.merge([a, b], dedupe_overlap=True, min_overlap=8)
        == "ends with the.\n\nthe. starts here"
    )
    assert Window.merge([a, b], dedupe_overlap=True, min_overlap=4) == "ends with the. starts here"
    contained = _result(2, "the. starts")
    assert Window.merge([a, b, contained], dedupe_overlap=True, min_overlap=4) == (
        "ends with the. starts here\n\nthe. starts"
    )
    with pytest.raises(l0.ConfigError, match="min_overlap"):
        Window.merge([a], min_overlap=0)


def test_merge_of_a_fully_repeated_output() -> None:
    """An output that only repeats the end of the previous one adds nothing."""
    a = _result(0, "one two three four")
    b = _result(1, "three four")
    assert Window.merge([a, b], dedupe_overlap=True) == "one two three four"


def test_suffix_prefix_matches_a_naive_search() -> None:
    """The KMP overlap finder agrees with trying every length."""

    @settings(max_examples=300)
    @given(st.text(alphabet="ab ", max_size=20), st.text(alphabet="ab ", max_size=20))
    def check(a: str, b: str) -> None:
        naive = max((k for k in range(min(len(a), len(b)) + 1) if a.endswith(b[:k])), default=0)
        assert _process._suffix_prefix(a, b) == naive

    check()


def test_chunks_encode_to_json_and_back() -> None:
    """A DocumentChunk is a msgspec Struct: it round-trips through JSON."""
    chunk = Window.create("alpha beta", size=6, overlap=0, strategy="char")[1]
    wire = msgspec.json.encode(chunk)
    assert msgspec.json.decode(wire, type=DocumentChunk) == chunk
    assert msgspec.json.decode(wire)["text"] == "beta"
