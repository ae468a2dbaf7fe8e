"""Deterministic prose with markdown, and the tokens every throughput figure streams.

Standard library only: the ai2070-l0 side of the suite imports this module from a virtual
environment that does not have this project.
"""

from __future__ import annotations

import random
from functools import lru_cache

TOKEN_CHARS = 4
"""Characters per token (about what a model's tokenizer gives for English prose)."""

_VOCABULARY = (
    "the of and to in is that for it as with was on be by this are from or an at which "
    "not have has but all can more one will their they also its when there some into than "
    "other time these system data model value user first each new used may such only two "
    "process output result example function between through where after most state number "
    "stream token request response error retry policy network server client memory cache "
    "file line text code level point order case part form change test run build source "
    "design simple large small fast slow early late high low strong clear open short long "
    "method approach problem solution question answer reason detail section table figure "
    "measure compare improve reduce increase handle support provide include require allow "
    "return create update delete select define describe explain consider follow remain "
    "because however while although therefore instead often usually rarely always never "
    "quickly carefully directly entirely partly mostly nearly roughly exactly especially"
)
_WORDS = _VOCABULARY.split()


def prose(chars: int, seed: int = 7) -> str:
    """At least ``chars`` characters of varied prose and markdown (deterministic)."""
    rng = random.Random(seed)
    parts: list[str] = []
    size = 0

    def sentence() -> str:
        words = [rng.choice(_WORDS) for _ in range(rng.randint(6, 22))]
        if rng.random() < 0.3:
            words[rng.randrange(len(words))] += ","
        if rng.random() < 0.15:
            words[rng.randrange(len(words))] = f"`{rng.choice(_WORDS)}()`"
        if rng.random() < 0.1:
            words[rng.randrange(len(words))] = f"${rng.randint(2, 999)}"
        if rng.random() < 0.1:
            words[rng.randrange(len(words))] = f"**{rng.choice(_WORDS)}**"
        text = " ".join(words)
        return text[0].upper() + text[1:] + rng.choice(".....?!")

    section = 0
    while size < chars:
        roll = rng.random()
        if roll < 0.08:
            section += 1
            block = f"## {sentence()[:-1]} {section}\n\n"
        elif roll < 0.18:
            items = [f"- {sentence()}" for _ in range(rng.randint(3, 5))]
            block = "\n".join(items) + "\n\n"
        elif roll < 0.24:
            name = rng.choice(_WORDS)
            body = [
                f"def {name}_{section}(items, limit=10):",
                f'    """{sentence()}"""',
                "    out = {k: [v, v * 2] for k, v in items.items() if v > limit}",
                f'    return out.get("{rng.choice(_WORDS)}", [])',
            ]
            block = "```python\n" + "\n".join(body) + "\n```\n\n"
        elif roll < 0.28:
            rows = ["| name | value | note |", "| --- | ---: | --- |"]
            rows += [
                f"| {rng.choice(_WORDS)} | {rng.randint(1, 99)} | {rng.choice(_WORDS)} |"
                for _ in range(rng.randint(2, 5))
            ]
            block = "\n".join(rows) + "\n\n"
        else:
            block = " ".join(sentence() for _ in range(rng.randint(2, 6))) + "\n\n"
        parts.append(block)
        size += len(block)
    return "".join(parts)


@lru_cache(maxsize=4)
def prose_tokens(n: int, seed: int = 7) -> tuple[str, ...]:
    """``n`` tokens of ``TOKEN_CHARS`` characters cut from :func:`prose` (cached per ``n``).

    Real prose rather than one repeated string: both libraries' recommended guardrails reject a
    stream of ``"tok tok tok"`` as noise, and drift detection needs varied text to be honest work.
    """
    text = prose(n * TOKEN_CHARS, seed)
    return tuple(text[i * TOKEN_CHARS : (i + 1) * TOKEN_CHARS] for i in range(n))
