"""Guardrails and drift detection: rules checked on the output as it streams, and at the end.

``l0.run(..., guardrails=l0.Guardrails.recommended(), drift=True)``. A rule's severity decides
what a violation does: ``fatal`` stops the stream (no retry, no fallback), ``error`` fails the
attempt at once (retried or fallen back like any failure), ``warning`` is recorded
(``state.violations``, ``on_violation``). Each distinct violation is reported once per attempt.
Checks are incremental: their cost per token does not grow with the output. See the
"Guardrails and drift" docs page.
"""

# Not public: the re-exported msgspec Structs say they live here, so msgspec and
# inspect.signature() resolve their annotations (strings) in this module's namespace.
from typing import Any  # noqa: F401  # pyright: ignore[reportUnusedImport]

from l0._guardrails import CATEGORIES as CATEGORIES
from l0._guardrails import DRIFT_TYPES as DRIFT_TYPES
from l0._guardrails import Category as Category
from l0._guardrails import Checker as Checker
from l0._guardrails import DriftAction as DriftAction
from l0._guardrails import DriftConfig as DriftConfig
from l0._guardrails import DriftDetector as DriftDetector
from l0._guardrails import DriftResult as DriftResult
from l0._guardrails import DriftType as DriftType
from l0._guardrails import Finding as Finding
from l0._guardrails import Guardrails as Guardrails
from l0._guardrails import Rule as Rule
from l0._guardrails import Severity as Severity
from l0._guardrails import custom_pattern_rule as custom_pattern_rule
from l0._guardrails import json_rule as json_rule
from l0._guardrails import latex_rule as latex_rule
from l0._guardrails import markdown_rule as markdown_rule
from l0._guardrails import pattern_rule as pattern_rule
from l0._guardrails import repetition_rule as repetition_rule
from l0._guardrails import stall_rule as stall_rule
from l0._guardrails import strict_json_rule as strict_json_rule
from l0._guardrails import zero_output_rule as zero_output_rule

__all__ = [
    "CATEGORIES",
    "DRIFT_TYPES",
    "Category",
    "Checker",
    "DriftAction",
    "DriftConfig",
    "DriftDetector",
    "DriftResult",
    "DriftType",
    "Finding",
    "Guardrails",
    "Rule",
    "Severity",
    "custom_pattern_rule",
    "json_rule",
    "latex_rule",
    "markdown_rule",
    "pattern_rule",
    "repetition_rule",
    "stall_rule",
    "strict_json_rule",
    "zero_output_rule",
]


def _fixup_module_metadata() -> None:
    # Reprs, tracebacks and docs say l0.guardrails.Rule, not l0._guardrails._rule.Rule.
    namespace = globals()
    for name in __all__:
        obj = namespace[name]
        if getattr(obj, "__module__", "").startswith("l0._"):
            try:
                obj.__module__ = __name__
            except (AttributeError, TypeError):  # pragma: no cover - builtins refuse
                continue


_fixup_module_metadata()
del _fixup_module_metadata
