"""Test helpers for code that uses l0 (not imported by ``import l0``)."""

from l0._testing_mode import set_testing as set_testing

__all__ = ["set_testing"]
