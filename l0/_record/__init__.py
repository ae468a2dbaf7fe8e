"""Record and replay: see :mod:`l0.record` (the public module)."""
