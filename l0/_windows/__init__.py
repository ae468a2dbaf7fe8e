"""Document windows: a long document cut into overlapping chunks, each run as an l0 stream."""

from l0._windows._process import ChunkResult as ChunkResult
from l0._windows._process import ChunkRun as ChunkRun
from l0._windows._process import ContextRestoration as ContextRestoration
from l0._windows._tokens import TokenEstimator as TokenEstimator
from l0._windows._tokens import estimate_tokens as estimate_tokens
from l0._windows._window import DocumentChunk as DocumentChunk
from l0._windows._window import Window as Window

__all__ = [
    "ChunkResult",
    "ChunkRun",
    "ContextRestoration",
    "DocumentChunk",
    "TokenEstimator",
    "Window",
    "estimate_tokens",
]
