"""Structured output: JSON healing and incremental (partial) JSON parsing.

Pure, synchronous and I/O-free: the streaming layer feeds text in and reads results out.
"""

from l0._structured._errors import InvalidJSON as InvalidJSON
from l0._structured._errors import StructuredError as StructuredError
from l0._structured._heal import Correction as Correction
from l0._structured._heal import CorrectionKind as CorrectionKind
from l0._structured._heal import Healed as Healed
from l0._structured._heal import heal as heal
from l0._structured._heal import parse as parse
from l0._structured._partial import Done as Done
from l0._structured._partial import FieldComplete as FieldComplete
from l0._structured._partial import PartialEvent as PartialEvent
from l0._structured._partial import PartialJSON as PartialJSON

__all__ = [
    "Correction",
    "CorrectionKind",
    "Done",
    "FieldComplete",
    "Healed",
    "InvalidJSON",
    "PartialEvent",
    "PartialJSON",
    "StructuredError",
    "heal",
    "parse",
]
