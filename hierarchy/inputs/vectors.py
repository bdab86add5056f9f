"""Rows scaled to unit length, the one way: every cosine in topicmap is a dot product of such rows."""

from __future__ import annotations

import numpy as np

TINY_NORM = 1e-12  # a row shorter than this is taken as zero: it stays (near) zero instead of blowing up


def normalise_rows(vectors: np.ndarray) -> np.ndarray:
    """A float32 copy of ``vectors`` with every row of unit length (zero rows stay zero)."""
    vectors = np.asarray(vectors, dtype=np.float32)
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), TINY_NORM)


def normalise_rows_in_place(Z: np.ndarray, chunk: int = 131072) -> None:
    """Scale the rows of ``Z`` to unit length in place (zero rows stay zero), in chunks to bound memory."""
    for start in range(0, Z.shape[0], chunk):
        block = Z[start : start + chunk]
        norms = np.linalg.norm(block, axis=1, keepdims=True)
        np.divide(block, norms, out=block, where=norms > 0)
