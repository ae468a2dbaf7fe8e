"""Resuming from the last good output: the configuration, the overlap remover, the prompt.

Pure and synchronous. The engine decides *when* to resume; this module says what to send the
model (:func:`continuation_messages`) and removes, exactly, the part of the new output that
repeats the end of the checkpoint (:class:`Deduper`), whatever the chunking.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs

from l0._errors import ConfigError

__all__ = ["DEFAULT_INSTRUCTION", "ContinuationConfig", "Deduper", "continuation_messages"]

DEFAULT_INSTRUCTION = (
    "Your previous reply was cut off. Continue it exactly where it stops, without repeating "
    "any of it and without any preamble."
)


def _positive(name: str) -> Callable[[Any, Any, int], None]:
    def check(_inst: Any, _attr: Any, value: int) -> None:
        if not isinstance(value, int) or isinstance(value, bool):  # pyright: ignore[reportUnnecessaryIsInstance]
            raise ConfigError(
                f"ContinuationConfig.{name} must be an int, got {type(value).__name__}"
            )
        if value < 0:
            raise ConfigError(f"ContinuationConfig.{name} must be >= 0, got {value}")

    return check


def _is_str(_inst: Any, attr: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, str):
        raise ConfigError(
            f"ContinuationConfig.{attr.name} must be a str, got {type(value).__name__}"
        )


def _callable(_inst: Any, attr: attrs.Attribute[Any], value: object) -> None:
    if value is not None and not callable(value):
        raise ConfigError(
            f"ContinuationConfig.{attr.name} must be a callable or None, got {type(value).__name__}"
        )


@attrs.frozen(kw_only=True)
class ContinuationConfig:
    """How a failed stream resumes from its last good output instead of starting over.

    * ``min_overlap`` / ``max_overlap``: the shortest and longest repeat (in characters) of the
      checkpoint's end that is removed from the start of the new output. A repeat shorter than
      ``min_overlap`` is kept (a one-letter coincidence is likelier than a one-letter repeat).
      The new output is held back until the overlap is decided, at most ``max_overlap``
      characters.
    * ``normalize_whitespace``: runs of whitespace compare equal to one space;
      ``ignore_case``: letters compare case-insensitively. Either way the text removed is
      exactly the new output's own characters that matched.
    * ``instruction``: the user message asking the model to continue (used by
      :func:`continuation_messages`, hence by ``l0.wrap``).
    * ``build_prompt``: your own ``checkpoint -> str`` builder; its result is what factories
      get as ``AttemptContext.continuation_prompt`` and what ``l0.wrap`` sends as the
      instruction.
    """

    min_overlap: int = attrs.field(default=2, validator=_positive("min_overlap"))
    max_overlap: int = attrs.field(default=2000, validator=_positive("max_overlap"))
    normalize_whitespace: bool = False
    ignore_case: bool = False
    instruction: str = attrs.field(default=DEFAULT_INSTRUCTION, validator=_is_str)
    build_prompt: Callable[[str], str] | None = attrs.field(default=None, validator=_callable)

    def __attrs_post_init__(self) -> None:
        if self.min_overlap > self.max_overlap:
            raise ConfigError(
                f"ContinuationConfig.min_overlap ({self.min_overlap}) exceeds max_overlap "
                f"({self.max_overlap})"
            )

    def prompt(self, checkpoint: str) -> str:
        """The continuation prompt for ``checkpoint``: the user's builder, or the instruction."""
        if self.build_prompt is not None:
            return self.build_prompt(checkpoint)
        return self.instruction


def continuation_messages(
    messages: Sequence[Mapping[str, Any]], checkpoint: str, prompt: str
) -> list[dict[str, Any]]:
    """Chat messages asking the model to continue ``checkpoint``: the original conversation,
    the partial reply as the assistant's turn, then ``prompt`` as the user's."""
    return [
        *(dict(m) for m in messages),
        {"role": "assistant", "content": checkpoint},
        {"role": "user", "content": prompt},
    ]


class _Folded:
    """Text folded for comparison, with each folded character's offset in the original."""

    __slots__ = ("_case", "_length", "_pieces", "_space", "offsets", "text")

    def __init__(self, *, ignore_case: bool, normalize_whitespace: bool) -> None:
        self._case = ignore_case
        self._space = normalize_whitespace
        self.text = ""
        self.offsets: list[int] = []  # offsets[i]: original index of folded char i
        self._pieces: list[str] = []
        self._length = 0  # original characters seen

    def add(self, raw: str) -> None:
        if not (self._case or self._space):
            self.text += raw
            self._length += len(raw)
            return
        out = self._pieces
        out.clear()
        offsets = self.offsets
        after_space = bool(self.text) and self.text[-1] == " " and self._space
        base = self._length
        for i, ch in enumerate(raw):
            if self._space and ch.isspace():
                if after_space:
                    continue
                after_space = True
                out.append(" ")
                offsets.append(base + i)
                continue
            after_space = False
            folded = ch.lower() if self._case else ch
            for piece in folded:
                out.append(piece)
                offsets.append(base + i)
        self._length += len(raw)
        self.text += "".join(out)

    def original_end(self, folded_count: int) -> int:
        """How many original characters the first ``folded_count`` folded ones cover."""
        if not (self._case or self._space):
            return folded_count
        if folded_count == 0:
            return 0
        if folded_count >= len(self.offsets):
            return self._length
        return self.offsets[folded_count]


class Deduper:
    """Removes the new output's repeat of the checkpoint's end, across any chunking.

    Feed the resumed attempt's text deltas; each call returns the text to deliver (``""``
    while the overlap is still undecided). The overlap is the longest ``k`` with
    ``min_overlap <= k <= max_overlap`` such that the new output starts with the checkpoint's
    last ``k`` characters (compared after the configured folding); it is decided as soon as no
    longer repeat is possible, or at :meth:`finish`.
    """

    __slots__ = ("_buffer", "_config", "_done", "_new", "_tail", "removed")

    def __init__(self, checkpoint: str, config: ContinuationConfig) -> None:
        self._config = config
        tail = _Folded(
            ignore_case=config.ignore_case, normalize_whitespace=config.normalize_whitespace
        )
        tail.add(checkpoint[-config.max_overlap :] if config.max_overlap else "")
        self._tail = tail.text[-config.max_overlap :] if config.max_overlap else ""
        self._new = _Folded(
            ignore_case=config.ignore_case, normalize_whitespace=config.normalize_whitespace
        )
        self._buffer: list[str] = []
        self._done = config.max_overlap == 0 or not checkpoint
        self.removed = 0
        """Characters of the new output removed as a repeat (once decided)."""

    @property
    def done(self) -> bool:
        """Whether the overlap is decided (later text passes straight through)."""
        return self._done

    def feed(self, text: str) -> str:
        """The part of ``text`` (with anything held back before) to deliver now."""
        if self._done:
            return text
        self._buffer.append(text)
        self._new.add(text)
        overlap = self._decide(final=False)
        return "" if overlap is None else self._release(overlap)

    def finish(self) -> str:
        """The new output ended: decide with what there is; returns what is still held back."""
        if self._done:
            return ""
        overlap = self._decide(final=True)
        return self._release(overlap or 0)

    def _decide(self, *, final: bool) -> int | None:
        tail = self._tail
        new = self._new.text
        size = len(tail)
        have = len(new)
        if not final:
            for k in range(size, have, -1):  # repeats longer than what has arrived
                if tail.startswith(new, size - k):
                    return None  # still possible: wait for more
        for k in range(min(size, have), self._config.min_overlap - 1, -1):
            if k and new.startswith(tail[size - k :]):
                return k
        return 0

    def _release(self, overlap: int) -> str:
        self._done = True
        raw = "".join(self._buffer)
        self._buffer.clear()
        cut = self._new.original_end(overlap)
        self.removed = cut
        return raw[cut:]
