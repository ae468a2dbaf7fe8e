"""Drift detection: each drift type, once per attempt, bounded memory, any chunking."""

from __future__ import annotations

import itertools
import math
import random
import re
import string
from collections import Counter

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from l0._errors import ConfigError
from l0._guardrails import DRIFT_TYPES, DriftConfig, DriftDetector, DriftMonitor, DriftResult
from l0._guardrails._signals import (
    FORMAL,
    INFORMAL,
    NgramWindow,
    entropy,
    informal_signs,
    markdown_markers,
    tone_counts,
)
from l0._guardrails._text import ASCII_WORDS

_WORDS = (
    "the of and to in is that for it as with was on be by this are from or an at which not "
    "have has but all can more one will their they also its when there some into than other "
    "time these data model value first each new used such only two process output result "
    "example function between through where after most state number stream token request "
    "error retry network server client memory cache file line text code level point order "
    "case part form change test run build source design simple large small fast slow early "
    "late high low strong clear open short long method approach problem solution question "
    "answer reason detail section table figure measure compare improve reduce increase "
    "handle support provide include require allow return create update delete select define "
    "describe explain consider follow remain because while although instead often usually"
)
VOCABULARY = _WORDS.split()


def sentence(rng: random.Random) -> str:
    words = [rng.choice(VOCABULARY) for _ in range(rng.randint(6, 20))]
    text = " ".join(words)
    return text[0].upper() + text[1:] + rng.choice("...?")


def plain(chars: int, seed: int = 1) -> str:
    """Plain sentences on one line: no markdown, no line break."""
    rng = random.Random(seed)
    out = ""
    while len(out) < chars:
        out += sentence(rng) + " "
    return out


def document(chars: int, seed: int = 2) -> str:
    """Varied prose with markdown: headings, lists, code, tables, inline code, dollars."""
    rng = random.Random(seed)
    parts: list[str] = []
    size = 0
    n = 0
    while size < chars:
        n += 1
        roll = rng.random()
        if roll < 0.1:
            block = f"## {sentence(rng)[:-1]} {n}\n\n"
        elif roll < 0.2:
            block = "\n".join(f"- {sentence(rng)}" for _ in range(3)) + "\n\n"
        elif roll < 0.26:
            block = f"```python\ndef f{n}(x):\n    return {{'k': [x, {n}]}}\n```\n\n"
        elif roll < 0.3:
            block = f"| name | value |\n| --- | --- |\n| a{n} | {n} |\n\n"
        else:
            words = sentence(rng) + f" It costs ${n} with `opt{n}` set. " + sentence(rng)
            block = words + " " + " ".join(sentence(rng) for _ in range(3)) + "\n\n"
        parts.append(block)
        size += len(block)
    return "".join(parts)


def results(text: str, config: DriftConfig | None = None, step: int = 20) -> list[DriftResult]:
    monitor = DriftDetector(config or DriftConfig()).start()
    out = [monitor.feed(text[i : i + step]) for i in range(0, len(text), step)]
    return [r for r in out if r is not None]


def detected(text: str, config: DriftConfig | None = None, step: int = 20) -> list[str]:
    """Detected drift types, in the order they were first reported."""
    return [t for r in results(text, config, step) for t in r.types]


# --------------------------------------------------------------------------- basics


def test_result_only_when_a_block_completes() -> None:
    """feed() returns None until `window` characters are in, then a result per call."""
    monitor = DriftDetector(DriftConfig(window=100)).start()
    assert monitor.feed("") is None
    assert monitor.feed("x" * 99) is None
    result = monitor.feed("yy")
    assert result is not None
    assert result.position == 100
    assert result.threshold == 0.5
    big = monitor.feed("z" * 250)
    assert big is not None
    assert big.position == 300


def test_clean_output_detects_nothing() -> None:
    """Long varied markdown and prose raise no drift of any type."""
    text = document(60_000)
    found = results(text)
    assert found
    assert [r for r in found if r.detected] == []
    assert max(r.score for r in found) < 0.5


def test_result_and_config_serialise() -> None:
    """DriftResult and DriftConfig are JSON data (msgspec)."""
    [result] = results(plain(300), DriftConfig(window=256))
    wire = msgspec.json.decode(msgspec.json.encode(result), type=DriftResult)
    assert wire == result
    config = msgspec.json.decode(msgspec.json.encode(DriftConfig(types={"hedging"})))
    assert config["types"] == ["hedging"]
    assert config["action"] == "record"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"window": 0},
        {"window": 2.5},
        {"types": {"nope"}},
        {"types": "hedging"},
        {"action": "stop"},
        {"threshold": 0},
        {"threshold": 1.5},
        {"entropy_z": -1},
        {"hedging_limit": True},
    ],
)
def test_config_validation(kwargs: dict[str, object]) -> None:
    """Invalid configuration raises ConfigError naming the field."""
    with pytest.raises(ConfigError):
        DriftConfig(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("action", ["record", "retry", "halt"])
def test_action_is_carried(action: str) -> None:
    """The action travels from the config to the detector and the monitor."""
    detector = DriftDetector(DriftConfig(action=action))  # type: ignore[arg-type]
    assert detector.action == action
    assert detector.start().action == action
    assert DriftDetector().action == "record"


def test_monitors_are_independent() -> None:
    """Each start() gives fresh state; one attempt's drift does not leak into another."""
    detector = DriftDetector()
    bad = plain(1_000) + " As an AI language model, I cannot. " + plain(600, seed=9)
    first = detector.start()
    assert "meta_commentary" in [
        t for i in range(0, len(bad), 50) for t in _types(first, bad[i : i + 50])
    ]
    second = detector.start()
    clean = plain(2_000, seed=5)
    assert [t for i in range(0, len(clean), 50) for t in _types(second, clean[i : i + 50])] == []


def _types(monitor: DriftMonitor, delta: str) -> tuple[str, ...]:
    result = monitor.feed(delta)
    return () if result is None else result.types


# --------------------------------------------------------------------------- each type


def test_meta_commentary() -> None:
    """Talking about being an AI mid-answer is drift; ordinary prose is not."""
    text = plain(1_500) + " As an AI language model, I don't have opinions. " + plain(800, 3)
    assert detected(text) == ["meta_commentary"]
    assert detected(plain(3_000)) == []


def test_format_collapse() -> None:
    """Chat-template tokens and role turns in the output are drift."""
    text = plain(1_200) + "\n<|im_end|>\n<|im_start|>user\nThanks!\n" + plain(600, 4)
    assert detected(text) == ["format_collapse"]
    text = document(1_500) + "\nHuman: and what about the rest?\n" + plain(600, 4)
    assert detected(text) == ["format_collapse"]


def test_hedging() -> None:
    """Several hedges in the recent window are drift; a single one is not."""
    hedges = (
        " I'm not entirely sure about this. It's hard to say for sure. It may or may not"
        " work, and I could be wrong. "
    )
    assert detected(plain(1_500) + hedges + plain(600, 6)) == ["hedging"]
    one = plain(1_500) + " I'm not sure this works. " + plain(1_500, 6)
    assert detected(one) == []


def test_hedging_limit_is_configurable() -> None:
    """hedging_limit sets how many hedges in the recent blocks score 0.5."""
    one = plain(1_500) + " I'm not sure this works. " + plain(600, 6)
    assert detected(one, DriftConfig(hedging_limit=1)) == ["hedging"]


def test_repetition_of_sentences() -> None:
    """The same sentence over and over is drift."""
    text = plain(1_500) + "I will check the logs again right now. " * 12
    assert detected(text) == ["repetition"]


def test_repetition_of_ngrams() -> None:
    """A phrase looping without sentence punctuation is drift (n-gram repetition)."""
    text = plain(1_500) + "and then we go back to the start of it " * 30
    found = results(text)
    assert "repetition" in [t for r in found for t in r.types]
    assert max(r.details["ngram_repetition"] for r in found) >= 0.5


def test_repetition_ignores_code_and_tables() -> None:
    """Repeated code lines and table rows are not drift."""
    code = "```python\n" + "    assert result == expected\n" * 40 + "```\n"
    table = "| yes | yes | no |\n" * 40
    assert detected(document(1_500) + code + table + document(1_000, 7)) == []


GARBAGE = string.ascii_letters + string.digits + string.punctuation


def test_entropy_spike_gibberish() -> None:
    """A burst of random characters after normal prose is an entropy spike."""
    rng = random.Random(3)
    gibberish = "".join(rng.choice(GARBAGE) for _ in range(800))
    types = detected(plain(2_000) + gibberish)
    assert "entropy_spike" in types


def test_entropy_spike_degenerate() -> None:
    """Output collapsing to one character is an entropy spike too."""
    assert "entropy_spike" in detected(plain(2_000) + "=" * 800)


def test_entropy_baseline_needed() -> None:
    """No entropy verdict before `entropy_baseline` blocks of history."""
    rng = random.Random(3)
    gibberish = "".join(rng.choice(GARBAGE) for _ in range(800))
    assert "entropy_spike" not in detected(plain(300) + gibberish)


def test_tone_shift() -> None:
    """Formal prose turning into slang is a tone shift; consistent tone is not."""
    rng = random.Random(8)
    formal = " ".join(
        f"{w.capitalize()}, {sentence(rng)}"
        for w in ["therefore", "furthermore", "moreover", "consequently", "thus", "hence"] * 5
    )
    slang = ["lol", "yeah", "dude", "gonna", "awesome", "kinda", "cool", "haha", "yep"]
    informal = " ".join(
        f"{rng.choice(slang)} {sentence(rng)} {rng.choice(slang)}!!" for _ in range(12)
    )
    assert detected(" " + formal + " " + informal) == ["tone_shift"]
    assert detected(formal + " " + formal) == []
    assert detected(informal) == []


def test_markdown_collapse() -> None:
    """Markdown output that turns into one structureless run of text has collapsed."""
    assert detected(document(2_000) + plain(1_400)) == ["markdown_collapse"]


def test_markdown_collapse_negatives() -> None:
    """Long paragraphs in markdown, or plain prose from the start, have not collapsed."""
    paragraphs = "".join(plain(700, seed) + "\n\n" for seed in range(6))
    assert detected(document(2_000) + paragraphs) == []
    assert detected(plain(5_000)) == []


def test_types_select_what_is_detected() -> None:
    """Only configured types are evaluated and reported."""
    text = plain(1_500) + " As an AI language model, I can't. " + "I will check it now. " * 30
    assert set(detected(text)) == {"meta_commentary", "repetition"}
    only = DriftConfig(types={"repetition"})
    assert detected(text, only) == ["repetition"]
    assert all("meta_commentary" not in r.details for r in results(text, only))


def test_each_type_reported_once_per_attempt() -> None:
    """A persisting drift is reported at its first block only."""
    text = (plain(600) + " As an AI language model, I cannot help. ") * 10
    found = results(text)
    assert [t for r in found for t in r.types] == ["meta_commentary", "repetition"]
    assert sum(r.detected for r in found) == 2
    assert any(r.details["meta_commentary"] == 1.0 for r in found[5:])
    first = next(r for r in found if r.detected)
    assert first.confidence >= 0.5
    assert first.score >= first.confidence


# --------------------------------------------------------------------------- bounded, chunking


def test_memory_is_bounded() -> None:
    """After 300k characters, every piece of state is within its window."""
    config = DriftConfig()
    monitor = DriftDetector(config).start()
    text = document(300_000) + "I will check again. " * 2_000
    for i in range(0, len(text), 20):
        monitor.feed(text[i : i + 20])
    assert monitor._buffered < config.window  # type: ignore[attr-defined]
    assert len(monitor._sentences) <= 64  # type: ignore[attr-defined]
    assert len(monitor._sentence_counts) <= 64  # type: ignore[attr-defined]
    assert len(monitor._ngrams) <= config.ngram_window  # type: ignore[attr-defined]
    assert len(monitor._ngram_counts) <= config.ngram_window  # type: ignore[attr-defined]
    assert len(monitor._recent_tone) <= config.recent_blocks  # type: ignore[attr-defined]
    assert len(monitor._recent_hedges) <= config.recent_blocks  # type: ignore[attr-defined]
    assert len(monitor._md_recent) <= config.markdown_blocks  # type: ignore[attr-defined]
    assert len(monitor._scanner._tail) <= 200  # type: ignore[attr-defined]


FRAGMENTS = [
    "The cache keeps recent entries for a while. ",
    "Each request is retried after a short delay. ",
    "I'm not entirely sure. ",
    "It may or may not work. ",
    "As an AI language model, I can't. ",
    "<|im_start|>user\n",
    "Therefore, the design holds. ",
    "lol yeah dude, gonna be awesome!! ",
    "## Heading\n",
    "- a list item with words\n",
    "```\ncode = 1\n```\n",
    "| a | b |\n",
    "\n\n",
    "\n",
    "and then again ",
    "x7$Q~@",
    "=====",
]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    parts=st.lists(st.sampled_from(FRAGMENTS), min_size=20, max_size=160),
    data=st.data(),
)
def test_any_chunking_same_verdict(parts: list[str], data: st.DataObject) -> None:
    """However the stream is cut, the same drift types are detected, at the same blocks."""
    text = "".join(parts)
    config = DriftConfig(window=128)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(text)), max_size=20)))
    whole = DriftDetector(config).start().feed(text)
    monitor = DriftDetector(config).start()
    pieces: list[DriftResult] = []
    for start, end in itertools.pairwise([0, *cuts, len(text)]):
        result = monitor.feed(text[start:end])
        if result is not None:
            pieces.append(result)
    whole_types = whole.types if whole is not None else ()
    assert sorted(t for r in pieces for t in r.types) == sorted(whole_types)
    if pieces:
        assert pieces[-1].position == (whole.position if whole else 0)
        assert pieces[-1].details == (whole.details if whole else {})


ADVERSARIAL = [
    *(ch * 100_000 for ch in 'a{["\\$`|. \n<#'),
    "the " * 25_000,
    "I'm sorry, but I " * 6_000,
    "```\n" * 25_000,
    ". " * 50_000,
    "lol " * 25_000,
]


@pytest.mark.parametrize("text", ADVERSARIAL, ids=lambda t: repr(t[:12]))
def test_adversarial_inputs_finish(text: str) -> None:
    """100k-character pathological inputs go through drift detection, whole and in batches."""
    DriftDetector().start().feed(text)
    monitor = DriftDetector().start()
    for i in range(0, len(text), 20):
        monitor.feed(text[i : i + 20])


def test_all_types_listed() -> None:
    """DRIFT_TYPES lists the seven types, all enabled by default."""
    assert set(DRIFT_TYPES) == set(DriftConfig().types)
    assert len(DRIFT_TYPES) == 7


# --------------------------------------------------------------------------- fast paths
#
# Each block's measurements are taken with whole-string operations where a regex or a
# per-word loop would be slow; each is checked here against the straightforward version.

_MARKDOWN = re.compile(
    r"(?m:^)[ \t]{0,3}(?:#{1,6}[ \t]|[-*+][ \t]|\d{1,3}[.)][ \t]|>|\||```|~~~)|\*\*|__|`"
)
_SIGNS = re.compile(r"!{2,}|:\)|:D|;\)|[\u2600-\u27bf\U0001f300-\U0001faff]")

signal_texts = st.lists(
    st.sampled_from(
        [
            "therefore ",
            "Thus",
            "lol",
            "yeah ",
            "cool",
            "super",
            "yeah2",
            "lol_x",
            "x",
            " ",
            "\n",
            "\t",
            ",",
            ".",
            "!",
            "!!",
            ":)",
            ":D",
            ";)",
            ":",
            ";",
            ")",
            "1",
            "_",
            "__",
            "*",
            "**",
            "`",
            "```",
            "~~~",
            "#",
            "## ",
            "- ",
            "+ ",
            "12) ",
            "3. ",
            ">",
            "|",
            "caf\u00e9",
            "\u2600",
            "\U0001f600",
            "\u212a",
            "\u0130",
        ]
    ),
    min_size=1,
    max_size=30,
).map("".join)


@settings(max_examples=300, deadline=None)
@given(block=signal_texts, previous=st.sampled_from(["\n", "a", " ", "\u00e9", "1", "*", "`"]))
def test_block_signals_match_the_regex_versions(block: str, previous: str) -> None:
    """Tone words, informal signs, markdown markers and entropy, as the plain versions."""
    lowered = block.lower()
    words = re.findall(r"[a-z]+", lowered)
    if words and lowered[-1].isalpha():
        words.pop()
    if words and previous.isalpha() and lowered[0].isalpha():
        words.pop(0)
    expected = (sum(w in FORMAL for w in words), sum(w in INFORMAL for w in words))
    assert tone_counts(block, previous) == expected
    if block.isascii():
        coded = block.encode("ascii").translate(ASCII_WORDS)
        assert tone_counts(block, previous, (coded, coded.split())) == expected
    assert informal_signs(block) == len(_SIGNS.findall(block))
    assert markdown_markers(block, previous) == len(_MARKDOWN.findall(previous + block, 1))
    h = 0.0
    for count in Counter(block).values():
        p = count / len(block)
        h -= p * math.log2(p)
    assert entropy(block) == h  # to the last bit: same terms, same order


@settings(max_examples=200, deadline=None)
@given(
    blocks=st.lists(st.lists(st.sampled_from([b"a", b"b", b"c", b"the"]), max_size=30)),
    n=st.sampled_from([1, 2, 4]),
    limit=st.sampled_from([1, 5, 40]),
)
def test_ngram_window_counts_repeats(blocks: list[list[bytes]], n: int, limit: int) -> None:
    """dups is the window's size minus its distinct n-grams, after every block."""
    window = NgramWindow(n, limit)
    words: list[bytes] = []
    for block in blocks:
        window.add(list(block))
        words += block
        grams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)][-limit:]
        assert window.grams == grams
        assert window.dups == len(grams) - len(set(grams))
