"""Guardrails and drift detection: the pure, synchronous core.

Rules are immutable definitions (:class:`Rule`, grouped in :class:`Guardrails`); per
attempt they start checkers that consume the output incrementally, in time independent of
how long the output already is, and report each distinct violation once. Drift detection
(:class:`DriftDetector`) works the same way. Nothing here awaits, reads a clock or does I/O,
except the user's own ``async def`` rules, which the runtime awaits off the token path.
"""

from l0._guardrails._drift import DRIFT_TYPES as DRIFT_TYPES
from l0._guardrails._drift import DriftAction as DriftAction
from l0._guardrails._drift import DriftConfig as DriftConfig
from l0._guardrails._drift import DriftDetector as DriftDetector
from l0._guardrails._drift import DriftResult as DriftResult
from l0._guardrails._drift import DriftType as DriftType
from l0._guardrails._json import json_rule as json_rule
from l0._guardrails._json import strict_json_rule as strict_json_rule
from l0._guardrails._latex import latex_rule as latex_rule
from l0._guardrails._lexicon import CATEGORIES as CATEGORIES
from l0._guardrails._lexicon import Category as Category
from l0._guardrails._markdown import markdown_rule as markdown_rule
from l0._guardrails._monitor import DriftMonitor as DriftMonitor
from l0._guardrails._output import repetition_rule as repetition_rule
from l0._guardrails._output import zero_output_rule as zero_output_rule
from l0._guardrails._patterns import custom_pattern_rule as custom_pattern_rule
from l0._guardrails._patterns import pattern_rule as pattern_rule
from l0._guardrails._rule import AsyncRuleChecker as AsyncRuleChecker
from l0._guardrails._rule import Checker as Checker
from l0._guardrails._rule import CheckResult as CheckResult
from l0._guardrails._rule import Finding as Finding
from l0._guardrails._rule import Rule as Rule
from l0._guardrails._rule import RuleChecker as RuleChecker
from l0._guardrails._rule import Severity as Severity
from l0._guardrails._set import AsyncGuardrailsChecker as AsyncGuardrailsChecker
from l0._guardrails._set import Guardrails as Guardrails
from l0._guardrails._set import GuardrailsChecker as GuardrailsChecker
from l0._guardrails._stall import stall_rule as stall_rule

__all__ = [
    "CATEGORIES",
    "DRIFT_TYPES",
    "AsyncGuardrailsChecker",
    "AsyncRuleChecker",
    "Category",
    "CheckResult",
    "Checker",
    "DriftAction",
    "DriftConfig",
    "DriftDetector",
    "DriftMonitor",
    "DriftResult",
    "DriftType",
    "Finding",
    "Guardrails",
    "GuardrailsChecker",
    "Rule",
    "RuleChecker",
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
