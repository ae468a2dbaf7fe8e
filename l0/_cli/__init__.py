"""The ``python -m l0 demo`` command: a live tour of l0 against misbehaving streams.

Not imported by ``import l0``. Rich (the ``cli`` extra) is imported only for the live view.
"""

from l0._cli._main import main as main

__all__ = ["main"]
