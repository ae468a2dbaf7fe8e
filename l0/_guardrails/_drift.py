"""Drift detection: is the output derailing? Incremental, windowed, bounded memory.

The stream is evaluated in consecutive blocks of ``DriftConfig.window`` characters. Each
complete block updates running baselines (entropy, tone, markdown structure) and short
histories (recent blocks, sentences, word n-grams), and each drift type gets a score in
[0, 1] whose nominal trigger point is 0.5 (``DriftConfig.threshold``). Because blocks sit at
fixed offsets, the verdicts do not depend on how the stream is cut into deltas; the cost is
O(len(delta)) per call plus O(window) per completed block, whatever the output's length.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, TypeAlias, cast, get_args

import attrs
import msgspec

from l0._errors import ConfigError

if TYPE_CHECKING:
    from l0._guardrails._monitor import DriftMonitor

__all__ = [
    "DRIFT_TYPES",
    "DriftAction",
    "DriftConfig",
    "DriftDetector",
    "DriftResult",
    "DriftType",
]

DriftType: TypeAlias = Literal[
    "tone_shift",
    "meta_commentary",
    "repetition",
    "entropy_spike",
    "format_collapse",
    "markdown_collapse",
    "hedging",
]
DRIFT_TYPES: tuple[DriftType, ...] = get_args(DriftType)

DriftAction: TypeAlias = Literal["record", "retry", "halt"]
"""What the engine does on drift: record it, fail the attempt (retry), or stop the stream."""


def _positive_int(where: str) -> Any:
    def check(_inst: object, _attr: object, value: object) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"DriftConfig.{where} must be an int >= 1, got {value!r}")

    return check


def _positive_float(where: str) -> Any:
    def check(_inst: object, _attr: object, value: object) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise ConfigError(f"DriftConfig.{where} must be a number > 0, got {value!r}")

    return check


def _to_types(value: Any) -> frozenset[DriftType]:
    if isinstance(value, str):
        raise ConfigError("DriftConfig.types must be a collection of drift types, not a string")
    try:
        types = frozenset(value)
    except TypeError:
        raise ConfigError(
            f"DriftConfig.types must be a collection of drift types, got {type(value).__name__}"
        ) from None
    unknown = types - frozenset(DRIFT_TYPES)
    if unknown:
        raise ConfigError(
            f"DriftConfig.types has unknown types {sorted(unknown)}; valid: {list(DRIFT_TYPES)}"
        )
    return cast("frozenset[DriftType]", types)


def _check_action(_inst: object, _attr: object, value: object) -> None:
    if value not in get_args(DriftAction):
        raise ConfigError(
            f"DriftConfig.action must be one of {list(get_args(DriftAction))}, got {value!r}"
        )


def _check_threshold(_inst: object, _attr: object, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
        raise ConfigError(f"DriftConfig.threshold must be in (0, 1], got {value!r}")


@attrs.frozen(kw_only=True)
class DriftConfig:
    """What drift detection looks for, and what the stream does when it finds it.

    * ``types``: the drift types to detect (all by default): ``tone_shift`` (formal and
      informal markers of the recent blocks against the earlier ones), ``meta_commentary``
      ("as an AI language model"...), ``repetition`` (a sentence seen ``sentence_repeats``
      times among the last 64, or half of the last ``ngram_window`` word ``ngram``-grams
      repeated), ``entropy_spike`` (a block's character entropy away from the running mean
      of the earlier blocks by ``max(entropy_z`` standard deviations, ``entropy_delta``
      bits)), ``format_collapse`` (chat-template tokens, the model writing the user's turn),
      ``markdown_collapse`` (output that had markdown structure produces
      ``markdown_blocks`` blocks with no structure and no line break at all), ``hedging``
      (``hedging_limit`` hedges in the recent blocks).
    * ``window``: the block size in characters; drift is evaluated once per block.
    * ``recent_blocks``: how many blocks make up "recent" for tone and hedging.
    * ``threshold``: a type is detected when its score reaches it; every score is scaled so
      that its nominal limit above scores 0.5.
    * ``action``: ``record`` (report only), ``retry`` (fail the attempt) or ``halt``
      (stop the stream); carried for the engine.
    """

    types: frozenset[DriftType] = attrs.field(default=frozenset(DRIFT_TYPES), converter=_to_types)
    window: int = attrs.field(default=256, validator=_positive_int("window"))
    recent_blocks: int = attrs.field(default=2, validator=_positive_int("recent_blocks"))
    threshold: float = attrs.field(default=0.5, validator=_check_threshold)
    hedging_limit: int = attrs.field(default=3, validator=_positive_int("hedging_limit"))
    sentence_repeats: int = attrs.field(default=3, validator=_positive_int("sentence_repeats"))
    ngram: int = attrs.field(default=4, validator=_positive_int("ngram"))
    ngram_window: int = attrs.field(default=120, validator=_positive_int("ngram_window"))
    entropy_z: float = attrs.field(default=3.0, validator=_positive_float("entropy_z"))
    entropy_delta: float = attrs.field(default=1.2, validator=_positive_float("entropy_delta"))
    entropy_baseline: int = attrs.field(default=4, validator=_positive_int("entropy_baseline"))
    markdown_blocks: int = attrs.field(default=4, validator=_positive_int("markdown_blocks"))
    action: DriftAction = attrs.field(default="record", validator=_check_action)


class DriftResult(msgspec.Struct, frozen=True, kw_only=True):
    """The outcome of the drift checks on the blocks completed by one ``feed``.

    ``types`` lists the drift types detected for the first time in this attempt (each type
    is reported once), ``detected`` is whether there are any, ``confidence`` their highest
    score. ``score`` is the highest score of any type on the last block, ``threshold`` the
    configured one, ``details`` the per-type scores and raw measurements, ``position`` the
    number of characters evaluated so far.
    """

    detected: bool
    types: tuple[DriftType, ...] = ()
    confidence: float = 0.0
    score: float = 0.0
    threshold: float = 0.5
    details: dict[str, float] = msgspec.field(default_factory=dict[str, float])
    position: int = 0


def _check_config(_inst: object, _attr: object, value: object) -> None:
    if not isinstance(value, DriftConfig):
        raise ConfigError(
            f"DriftDetector.config must be an l0.DriftConfig, got {type(value).__name__}"
        )


@attrs.frozen
class DriftDetector:
    """Drift detection configured once; :meth:`start` gives the per-attempt monitor."""

    config: DriftConfig = attrs.field(factory=DriftConfig, validator=_check_config)

    @property
    def action(self) -> DriftAction:
        """``config.action``."""
        return self.config.action

    def start(self) -> DriftMonitor:
        """A fresh monitor for one attempt."""
        from l0._guardrails._monitor import DriftMonitor  # noqa: PLC0415 - (a cycle)

        return DriftMonitor(self.config)
