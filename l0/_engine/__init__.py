"""The sans-I/O lifecycle engine (no awaits, no clock, no randomness of its own)."""

from l0._engine._classify import classify
from l0._engine._engine import Engine, Fail, Finish, Notice, StartAttempt

__all__ = ["Engine", "Fail", "Finish", "Notice", "StartAttempt", "classify"]
