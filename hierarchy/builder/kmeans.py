"""A small weighted k-means (k-means++ seeding, Lloyd iterations) for the many little fits of a tree.

scikit-learn's KMeans costs a few milliseconds of validation and thread-pool set-up per call; a tree
makes hundreds of small fits, so this lean NumPy version keeps that overhead out of the hot path.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse
from threadpoolctl import ThreadpoolController, threadpool_limits


@dataclass
class KMeansResult:
    centres: np.ndarray  # (k, d) float32
    labels: np.ndarray  # (n,) int of the fitted points
    inertia: float


def squared_distances(points: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """(n, k) squared Euclidean distances, clipped at zero against rounding."""
    d2 = (points * points).sum(axis=1)[:, None] - 2.0 * points @ centres.T + (centres * centres).sum(axis=1)[None, :]
    return np.maximum(d2, 0.0, out=d2)


ASSIGN_MAX_ROWS = 65536  # rows scored per block: a slice of rows on disk is read into memory, so it is bounded too
_BLAS = None  # one ThreadpoolController, made on first use (making one scans the loaded libraries)


def assign(points: np.ndarray, centres: np.ndarray, max_cells: int = 1 << 24) -> np.ndarray:
    """Index of the nearest centre for every point, a block of ``ASSIGN_MAX_ROWS`` rows at a time (:func:`assign_block`)."""
    labels = np.empty(points.shape[0], dtype=np.int32)
    for start in range(0, points.shape[0], ASSIGN_MAX_ROWS):
        block = points[start : start + ASSIGN_MAX_ROWS]
        labels[start : start + block.shape[0]] = assign_block(start, block, centres, max_cells)
    return labels


def assign_block(start: int, block: np.ndarray, centres: np.ndarray, max_cells: int = 1 << 24) -> np.ndarray:
    """Nearest centre of each row of one block, scored in chunks of a power of two rows (at most
    ``max_cells`` scores, 64 MB) on one BLAS thread.

    BLAS rounds a row's scores by the rows called with it and by its thread count; chunks that divide a
    block, on one thread, give the same labels for an array, a scratch file, or a block on a Dask
    worker (``start``, the block's first row, is not needed: the chunks start at the block's).
    """
    global _BLAS
    if _BLAS is None:
        _BLAS = ThreadpoolController()
    labels = np.empty(block.shape[0], dtype=np.int32)
    fits = max(256, min(ASSIGN_MAX_ROWS, max_cells // max(centres.shape[0], 1)))
    chunk = 1 << (fits.bit_length() - 1)
    centre_norms = (centres * centres).sum(axis=1)
    with _BLAS.limit(limits=1, user_api="blas"):
        for at in range(0, block.shape[0], chunk):
            scores = np.asarray(block[at : at + chunk]) @ centres.T
            scores *= -2.0
            scores += centre_norms[None, :]
            labels[at : at + chunk] = scores.argmin(axis=1)
    return labels


def weighted_sums(points: np.ndarray, labels: np.ndarray, weights: np.ndarray, k: int, chunk: int = 65536) -> np.ndarray:
    """Per-cluster weighted sums of points in float64, as sparse products (np.add.at is far slower).

    In row chunks: SciPy would otherwise upcast all of a float32 ``points`` to float64 at once
    (400 MB for a million 50-d rows).
    """
    n = points.shape[0]
    out = np.zeros((k, points.shape[1]), dtype=np.float64)
    weights = np.broadcast_to(np.asarray(weights, dtype=np.float64), (n,))
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        membership = sparse.csr_matrix((weights[start:stop], (labels[start:stop], np.arange(stop - start))), shape=(k, stop - start))
        out += membership @ points[start:stop].astype(np.float64)
    return out


def kmeans_plusplus(points: np.ndarray, k: int, rng: np.random.Generator, weights: np.ndarray) -> np.ndarray:
    """Greedy k-means++ seeding (several candidates per step, keep the one that lowers cost most).

    Point norms are computed once; each step then costs one thin (n, trials) product. Those
    products are far too small to share between BLAS threads: on a busy machine the threads'
    hand-offs cost more than the products themselves, so it runs on one.
    """
    with threadpool_limits(limits=1, user_api="blas"):
        return _greedy_seeds(points, k, rng, weights)


def _greedy_seeds(points: np.ndarray, k: int, rng: np.random.Generator, weights: np.ndarray) -> np.ndarray:
    n = points.shape[0]
    n_trials = 2 + int(np.log(k))
    probs = weights / weights.sum()
    point_sq = np.einsum("ij,ij->i", points, points)
    first = rng.choice(n, size=1, p=probs)
    chosen = [int(first[0])]
    closest = _distances_to(points, point_sq, first)[:, 0]
    for _ in range(1, k):
        weighted = closest * weights
        total = weighted.sum()
        candidates = rng.choice(n, size=n_trials, p=probs if total <= 0 else weighted / total)
        new_closest = np.minimum(closest[:, None], _distances_to(points, point_sq, candidates))
        best = int((new_closest * weights[:, None]).sum(axis=0).argmin())
        chosen.append(int(candidates[best]))
        closest = new_closest[:, best]
    return points[np.asarray(chosen)]


def _distances_to(points: np.ndarray, point_sq: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Squared distances from every point to the points at ``rows`` (float64, clipped at zero)."""
    d2 = (points @ points[rows].T).astype(np.float64)
    d2 *= -2.0
    d2 += point_sq[:, None]
    d2 += point_sq[rows][None, :]
    return np.maximum(d2, 0.0, out=d2)


def kmeans(
    points: np.ndarray,
    k: int,
    rng: np.random.Generator,
    weights: np.ndarray | None = None,
    max_iter: int = 60,
    tol: float = 1e-5,
) -> KMeansResult:
    """Weighted Lloyd's k-means. Empty clusters are re-seeded at the worst-served point."""
    points = np.asarray(points, dtype=np.float32)
    n = points.shape[0]
    k = min(k, n)
    w = np.ones(n, dtype=np.float64) if weights is None else np.asarray(weights, dtype=np.float64)
    centres = kmeans_plusplus(points, k, rng, w).astype(np.float32)
    labels = np.zeros(n, dtype=np.int64)
    previous = np.inf
    inertia = np.inf
    point_sq = np.einsum("ij,ij->i", points, points)
    for _ in range(max_iter):
        scores = points @ centres.T  # argmin of |c|^2 - 2 x.c is the nearest centre; |x|^2 is shared
        scores *= -2.0
        scores += (centres * centres).sum(axis=1)[None, :]
        labels = scores.argmin(axis=1)
        nearest = np.maximum(scores[np.arange(n), labels].astype(np.float64) + point_sq, 0.0)
        del scores
        inertia = float((nearest * w).sum())
        mass = np.bincount(labels, weights=w, minlength=k)
        sums = weighted_sums(points, labels, w, k)
        empty = mass == 0
        if empty.any():
            worst = np.argsort(-nearest * w)[: int(empty.sum())]
            sums[empty] = points[worst]
            mass[empty] = 1.0
        centres = (sums / mass[:, None]).astype(np.float32)
        if previous - inertia <= tol * max(previous, 1e-12):
            break
        previous = inertia
    return KMeansResult(centres=centres, labels=labels, inertia=inertia)
