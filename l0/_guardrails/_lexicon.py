"""Curated phrase lists: what meta commentary, hedging, refusals and the like look like.

Each :class:`Phrase` is a regex with its triggers: lowercase ``\\w+`` words, or lowercase
substrings without spaces, at least one of which every match contains (words as whole
words), so the regex only runs where one appears (see
:class:`~l0._guardrails._text.PhraseScanner`); they are chosen as rare as possible.
Every regex is at most :data:`MAX_PHRASE_LENGTH` characters long when it matches, uses
bounded repetition only, and separates words by a single whitespace character.
"""

from __future__ import annotations

import functools
import re
from typing import Literal, TypeAlias

import attrs

from l0._guardrails._phrases import match_width

__all__ = [
    "CATEGORIES",
    "MAX_PHRASE_LENGTH",
    "Category",
    "Phrase",
    "phrases",
    "phrases_of",
]

Category: TypeAlias = Literal[
    "meta_commentary",
    "hedging",
    "refusal",
    "instruction_leakage",
    "placeholders",
    "format_collapse",
]
CATEGORIES: tuple[Category, ...] = (
    "meta_commentary",
    "hedging",
    "refusal",
    "instruction_leakage",
    "placeholders",
    "format_collapse",
)

MAX_PHRASE_LENGTH = 96
"""No curated phrase matches more characters than this."""


@attrs.frozen
class Phrase:
    """One curated pattern: ``category``, a short ``label``, the compiled ``regex``."""

    category: Category
    label: str
    regex: re.Pattern[str]
    triggers: frozenset[str]
    width: int = attrs.field(
        default=attrs.Factory(lambda self: _width(self.regex), takes_self=True)
    )
    """The most characters ``regex`` matches."""


def _width(regex: re.Pattern[str]) -> int:
    width = match_width(regex)
    if width is None or width > MAX_PHRASE_LENGTH:  # pragma: no cover - a lexicon bug
        raise AssertionError(f"curated phrase {regex.pattern!r} is not bounded")
    return width


_S = r"\s"  # one whitespace character between words
_APOS = "['\u2019]"  # straight or typographic apostrophe
_IM = rf"I(?:{_APOS}m|{_S}am)"
_CANT = rf"(?:can{_APOS}t|cannot|can{_S}not)"
_WONT = rf"(?:won{_APOS}t|will{_S}not)"
_DONT = rf"(?:don{_APOS}t|do{_S}not)"


def _p(
    category: Category, label: str, pattern: str, triggers: str, *, ignore_case: bool = True
) -> Phrase:
    regex = re.compile(pattern.replace(" ", _S), re.IGNORECASE if ignore_case else 0)
    return Phrase(category, label, regex, frozenset(triggers.split()))


@functools.cache
def phrases() -> tuple[Phrase, ...]:
    """Every curated phrase (compiled on first use, not at import)."""
    return (
        # --- meta commentary: the model talking about itself instead of answering
        _p(
            "meta_commentary",
            "as an AI",
            r"\bas an AI\b(?:,| (?:language )?(?:model|assistant|system|chatbot)\b"
            r"| (?:developed|created|trained)\b| I\b)",
            "ai",
        ),
        _p(
            "meta_commentary",
            "as a language model",
            r"\bas a (?:large )?language model\b",
            "language",
        ),
        _p(
            "meta_commentary",
            "I am an AI",
            rf"\b{_IM} (?:just |only |merely )?an? (?:AI|artificial intelligence"
            r"|(?:large )?language model|LLM|chatbot|virtual assistant)\b",
            "ai artificial language llm chatbot virtual",
        ),
        _p(
            "meta_commentary",
            "no opinions or feelings",
            rf"\bI {_DONT} have (?:personal )?(?:opinions|feelings|emotions|beliefs"
            r"|consciousness|preferences|experiences)\b",
            "opinions feelings emotions beliefs consciousness preferences experiences",
        ),
        _p(
            "meta_commentary",
            "training data",
            r"\bmy (?:training data|knowledge cut-?off|training cut-?off|last training update)\b",
            "training knowledge",
        ),
        _p(
            "meta_commentary",
            "made by a lab",
            r"\bI (?:was|am) (?:trained|developed|created|made) by (?:OpenAI|Anthropic|Google"
            r"|Meta|Mistral)\b",
            "openai anthropic google meta mistral",
        ),
        _p(
            "meta_commentary",
            "no internet access",
            rf"\bI {_CANT} (?:browse|access) the (?:internet|web)\b",
            "internet web",
        ),
        # --- hedging
        _p(
            "hedging",
            "not sure",
            rf"\b{_IM} not (?:entirely |completely |totally |100% )?(?:sure|certain)\b",
            "sure certain",
        ),
        _p(
            "hedging",
            "think maybe",
            r"\bI (?:think|believe|guess) (?:maybe|perhaps|possibly)\b",
            "maybe perhaps possibly",
        ),
        _p(
            "hedging",
            "hard to say",
            rf"\bit(?:{_APOS}s| is) (?:hard|difficult|impossible) to (?:say|know|tell)"
            r" (?:for sure|with certainty|definitively)\b",
            "sure certainty definitively",
        ),
        _p("hedging", "cannot be sure", rf"\bI {_CANT} be (?:sure|certain)\b", "sure certain"),
        _p("hedging", "may or may not", r"\bmay or may not\b", "may"),
        _p("hedging", "could be wrong", r"\bI (?:could|might) be wrong\b", "wrong"),
        _p("hedging", "best of my knowledge", r"\bto the best of my knowledge\b", "knowledge"),
        _p("hedging", "perhaps maybe", r"\b(?:perhaps|possibly),? maybe\b", "maybe"),
        _p("hedging", "not an expert", rf"\b{_IM} not an expert\b", "expert"),
        _p("hedging", "grain of salt", r"\bwith a grain of salt\b", "salt"),
        # --- refusal
        _p(
            "refusal",
            "sorry, but I can't",
            rf"\b{_IM} (?:sorry|afraid),? (?:but )?I (?:{_CANT}|{_WONT}|am unable to"
            r"|am not able to|must decline)\b",
            "sorry afraid",
        ),
        _p(
            "refusal",
            "can't help with that",
            rf"\bI (?:{_CANT}|{_WONT}) (?:help|assist)(?: you)? with (?:that|this)\b",
            "help assist",
        ),
        _p(
            "refusal",
            "unable to help",
            rf"\b{_IM} (?:unable|not able) to (?:help|assist|comply|fulfill)\b",
            "help assist comply fulfill",
        ),
        _p(
            "refusal",
            "must decline",
            r"\bI must (?:respectfully )?(?:decline|refuse)\b",
            "decline refuse",
        ),
        _p(
            "refusal",
            "against my guidelines",
            r"\b(?:against|violates?) my (?:guidelines|policies|programming|content policy"
            r"|principles)\b",
            "guidelines policies programming policy principles",
        ),
        _p(
            "refusal",
            "not allowed to",
            rf"\b{_IM} not (?:allowed|permitted) to\b",
            "allowed permitted",
        ),
        # --- instruction leakage: the model quoting or discussing its own instructions
        _p(
            "instruction_leakage",
            "my system prompt",
            r"\bmy (?:system prompt|system message|system instructions|initial instructions"
            r"|original instructions|hidden instructions|secret instructions|initial prompt"
            r"|hidden prompt)\b",
            "prompt message instructions",
        ),
        _p(
            "instruction_leakage",
            "I was instructed",
            r"\bI (?:was|have been|am) (?:instructed|programmed) (?:to|not to)\b",
            "instructed programmed",
        ),
        _p(
            "instruction_leakage",
            "developer message",
            r"\b(?:the|my) developer (?:message|instructions)\b",
            "developer",
        ),
        _p(
            "instruction_leakage",
            "ignore previous instructions",
            r"\bignore (?:all )?(?:previous|prior|above|the above) instructions\b",
            "ignore",
        ),
        # --- placeholders: unfinished output
        _p(
            "placeholders",
            "[insert ...]",
            r"\[(?:insert|your|add|enter|placeholder|fill in|name of|todo|tbd)\b[^\]\n]{0,60}\]",
            "[",
        ),
        _p(
            "placeholders",
            "<insert ...>",
            r"<(?:insert|placeholder)\b[^>\n]{0,60}>",
            "<insert <placeholder",
        ),
        _p("placeholders", "lorem ipsum", r"\blorem ipsum\b", "lorem ipsum"),
        _p("placeholders", "TODO", r"\b(?:TODO|FIXME|TBD)\b", "todo fixme tbd", ignore_case=False),
        # --- format collapse: chat-template tokens, the model writing the other turn
        _p(
            "format_collapse",
            "chat template token",
            r"<\|(?:im_start|im_end|im_sep|endoftext|eot_id|start_header_id|end_header_id"
            r"|begin_of_text|end_of_text|system|user|assistant)\|>",
            "<|",
        ),
        _p(
            "format_collapse",
            "[INST]",
            r"\[/?INST\]|<</?SYS>>",
            "inst] <<sys <</sys",
            ignore_case=False,
        ),
        _p(
            "format_collapse",
            "role marker",
            r"(?m:^)(?:### ?)?(?:Human|Assistant):[ \t]",
            "human: assistant:",
            ignore_case=False,
        ),
        _p(
            "format_collapse",
            "prompt template heading",
            r"(?m:^)### (?:Instruction|Response):",
            "instruction: response:",
            ignore_case=False,
        ),
    )


def phrases_of(categories: frozenset[str]) -> tuple[Phrase, ...]:
    """The curated phrases of the given categories, in the order of :func:`phrases`."""
    return tuple(phrase for phrase in phrases() if phrase.category in categories)
