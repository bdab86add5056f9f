"""2-D coordinates for the document map.

The default, ``anchored``, is linear in the number of documents: the leaf centroids are laid out with
t-SNE (a few hundred to a few thousand points, so seconds), and each document is placed around its
leaf's anchor by a shared 2-D projection of its offset from the leaf centroid. Topics come out as
separated islands with neighbouring topics near each other, at a cost that does not grow with the
corpus the way a document-level UMAP or t-SNE does. ``pca`` and ``umap`` (slow) are the alternatives.
"""

from __future__ import annotations

import numpy as np
from sklearn.decomposition import PCA

LAYOUTS = ("anchored", "pca", "umap")


def document_layout(reduced: np.ndarray, leaf_of_doc: np.ndarray, method: str = "anchored", seed: int = 0) -> np.ndarray:
    """(n, 2) float32 coordinates, centred, scaled to unit spread.

    ``leaf_of_doc`` holds each document's leaf as a small integer (0..n_leaves-1).
    """
    n = reduced.shape[0]
    if n == 0:
        return np.zeros((0, 2), dtype=np.float32)
    if n < 3 or reduced.shape[1] < 2:
        coords = np.zeros((n, 2), dtype=np.float32)
        coords[:, 0] = np.arange(n)
        return _normalise(coords)
    if method == "pca":
        return _normalise(_pca2(reduced, seed))
    if method == "umap":
        import umap  # slow import (numba); only when asked for

        model = umap.UMAP(n_components=2, metric="cosine", n_neighbors=min(15, n - 1), random_state=seed)
        return _normalise(model.fit_transform(reduced).astype(np.float32))
    if method != "anchored":
        raise ValueError(f"unknown layout {method!r}; choose one of {', '.join(LAYOUTS)}")
    return _normalise(_anchored(reduced, leaf_of_doc, seed))


def _pca2(points: np.ndarray, seed: int, fit_rows: int = 20000) -> np.ndarray:
    rng = np.random.default_rng(seed)
    fit_on = points if points.shape[0] <= fit_rows else points[rng.choice(points.shape[0], fit_rows, replace=False)]
    pca = PCA(n_components=2, random_state=seed).fit(fit_on)
    return pca.transform(points).astype(np.float32)


def _anchored(reduced: np.ndarray, leaf_of_doc: np.ndarray, seed: int) -> np.ndarray:
    n_leaves = int(leaf_of_doc.max()) + 1
    counts = np.bincount(leaf_of_doc, minlength=n_leaves).astype(np.float64)
    sums = np.zeros((n_leaves, reduced.shape[1]), dtype=np.float64)
    for dim in range(reduced.shape[1]):
        sums[:, dim] = np.bincount(leaf_of_doc, weights=reduced[:, dim], minlength=n_leaves)
    centers = (sums / np.maximum(counts, 1.0)[:, None]).astype(np.float32)
    anchors = _anchor_positions(centers, seed)
    # Spacing: each leaf gets a disc proportional to its share of the nearest-anchor distance.
    if n_leaves > 1:
        d2 = ((anchors[:, None, :] - anchors[None, :, :]) ** 2).sum(-1)
        np.fill_diagonal(d2, np.inf)
        nearest = np.sqrt(d2.min(axis=1))
        radius = 0.45 * np.minimum(nearest, np.median(nearest) * 1.5)
    else:
        radius = np.ones(1)
    residual = reduced - centers[leaf_of_doc]
    offsets = _pca2(residual, seed).astype(np.float64)
    spread = np.sqrt(np.bincount(leaf_of_doc, weights=(offsets**2).sum(1), minlength=n_leaves) / np.maximum(counts, 1.0))
    scale = radius / np.maximum(2.0 * spread, 1e-12)
    return (anchors[leaf_of_doc] + offsets * scale[leaf_of_doc, None]).astype(np.float32)


def _anchor_positions(centers: np.ndarray, seed: int) -> np.ndarray:
    m = centers.shape[0]
    if m == 1:
        return np.zeros((1, 2))
    if m <= 3 or m > 4000:
        positions = _pca2(centers, seed).astype(np.float64)
    else:
        from sklearn.manifold import TSNE

        perplexity = float(min(30.0, max(2.0, (m - 1) / 3.0)))
        positions = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed, metric="cosine").fit_transform(centers)
    positions = positions - positions.mean(axis=0)
    return positions / max(float(positions.std()), 1e-12)


def _normalise(coords: np.ndarray) -> np.ndarray:
    coords = coords - coords.mean(axis=0)
    scale = float(np.abs(coords).max())
    return (coords / scale if scale > 0 else coords).astype(np.float32)
