"""2-D coordinates for the document map.

The default, ``auto``, is ``umap`` (a semantic map of the documents, :mod:`topicmap.hierarchy.builder.semantic_map`)
for corpora of ``MIN_MAP_DOCS`` (45) to ``AUTO_UMAP_MAX_DOCS`` documents (``topicmap.hierarchy.builder.choices``),
``anchored`` above and ``pca`` below.

``anchored`` follows the tree and is linear in the number of documents: the root's
children are placed by a 2-D PCA of their centroids (classical MDS, so similar topics sit close),
each given a disc whose area follows its size; every node's children are placed the same way inside
their parent's disc, and finally each document sits around its leaf's anchor by a shared 2-D
projection of its offset from the leaf centroid. Topics come out as contiguous islands nested like
the sunburst, at a cost that does not grow with the corpus the way a document-level UMAP or t-SNE
does, but distances inside and between the islands mean little. ``pca`` is the plain alternative.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.decomposition import PCA
from threadpoolctl import threadpool_limits

from topicmap.hierarchy.builder.engine import each_block
from topicmap.hierarchy.builder.choices import AUTO_UMAP_MAX_DOCS, LAYOUTS, MIN_MAP_DOCS as MIN_DOCS


def document_layout(
    reduced: np.ndarray,
    doc_node: np.ndarray,
    parent_index: np.ndarray,
    node_centres: np.ndarray,
    node_sizes: np.ndarray,
    method: str = "auto",
    seed: int = 0,
    cache_dir: Path | None = None,
    scan: Any = None,
) -> np.ndarray:
    """(n, 2) float32 coordinates scaled into [-1, 1].

    ``method`` is one of :data:`LAYOUTS` (``auto``: :func:`resolve_layout`); ``cache_dir`` keeps UMAP
    maps (``<cache_dir>/layouts``). ``doc_node[i]`` is document i's leaf (index into the node arrays); ``parent_index`` holds each
    node's parent (-1 for the root), parents listed before children; ``node_centres`` are the nodes'
    centres in the same space as ``reduced``. ``scan``: the same rows on an engine's workers
    (:class:`topicmap.hierarchy.builder.engine.PartitionedRows`), where the anchored map projects them.
    """
    n = reduced.shape[0]
    if n == 0:
        return np.zeros((0, 2), dtype=np.float32)
    if n < 3 or reduced.shape[1] < 2:
        coords = np.zeros((n, 2), dtype=np.float32)
        coords[:, 0] = np.arange(n)
        return _normalise(coords)
    if method == "auto":
        method = resolve_layout(method, n)
    if method == "umap" and n < MIN_DOCS:
        method = "pca"  # too few documents for a neighbour graph
    if method == "pca":
        return _normalise(_pca2(reduced, seed))
    if method == "umap":
        from topicmap.hierarchy.builder.semantic_map import umap_coordinates

        unit = reduced / np.maximum(np.linalg.norm(reduced, axis=1, keepdims=True), 1e-12)
        return _normalise(umap_coordinates(unit, seed=seed, cache_dir=cache_dir))
    if method != "anchored":
        raise ValueError(f"unknown layout {method!r}; choose one of {', '.join(LAYOUTS)}")
    anchors, radii = nested_discs(parent_index, node_centres, node_sizes)
    offsets = _residual_pca2(reduced, node_centres, doc_node, seed, scan=scan).astype(np.float64)
    counts = np.bincount(doc_node, minlength=parent_index.size).astype(np.float64)
    spread = np.sqrt(np.bincount(doc_node, weights=(offsets**2).sum(1), minlength=parent_index.size) / np.maximum(counts, 1.0))
    scale = 0.6 * radii / np.maximum(spread, 1e-12)
    return _normalise((anchors[doc_node] + offsets * scale[doc_node, None]).astype(np.float32))


def resolve_layout(method: str, n_documents: int) -> str:
    """The layout ``auto`` stands for at this corpus size (other names are returned as they are)."""
    if method != "auto":
        return method
    if n_documents < MIN_DOCS:
        return "pca"
    return "umap" if n_documents <= AUTO_UMAP_MAX_DOCS else "anchored"


def nested_discs(parent_index: np.ndarray, centres: np.ndarray, sizes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centre and radius of a disc per node, children inside their parent's disc.

    ``parent_index`` lists parents before children (pre-order or breadth-first, as the tree's arrays
    number them); each node's children are placed in increasing index.
    """
    n_nodes = parent_index.size
    anchors = np.zeros((n_nodes, 2))
    radii = np.ones(n_nodes)
    parents = np.asarray(parent_index, dtype=np.int64)
    by_parent = np.argsort(parents, kind="stable")  # children grouped by parent, each group in increasing index
    by_parent = by_parent[parents[by_parent] >= 0]
    bounds = np.searchsorted(parents[by_parent], np.arange(n_nodes + 1))
    for node in np.flatnonzero(np.diff(bounds)).tolist():  # parents come first, so a parent's disc is known
        kids = by_parent[bounds[node] : bounds[node + 1]]
        share = np.sqrt(sizes[kids] / max(float(sizes[kids].sum()), 1.0))
        child_r = radii[node] * 0.7 * share
        if len(kids) == 1:
            positions = np.zeros((1, 2))
        elif len(kids) == 2:
            positions = np.array([[-1.0, 0.0], [1.0, 0.0]]) * child_r[:, None]
        else:
            positions = _pca2(centres[kids], 0).astype(np.float64)
            positions -= positions.mean(axis=0)
            positions *= radii[node] * 0.5 / max(float(np.abs(positions).max()), 1e-12)
        positions = _separate(positions, child_r, radii[node])
        anchors[kids] = anchors[node] + positions
        radii[kids] = child_r
    return anchors, radii


def _separate(positions: np.ndarray, radii: np.ndarray, bound: float, steps: int = 60) -> np.ndarray:
    """Push overlapping discs apart and keep them inside the parent's disc (a few relaxation steps)."""
    positions = positions.copy()
    for _ in range(steps):
        delta = positions[:, None, :] - positions[None, :, :]
        dist = np.sqrt((delta**2).sum(-1)) + np.eye(len(positions))
        overlap = np.maximum(radii[:, None] + radii[None, :] - dist, 0.0)
        np.fill_diagonal(overlap, 0.0)
        if overlap.max() < 1e-3 * bound:
            break
        push = (delta / dist[..., None] * overlap[..., None] * 0.5).sum(axis=1)
        positions += push
        reach = np.sqrt((positions**2).sum(1)) + radii
        outside = reach > bound
        positions[outside] *= (bound - radii[outside, None]).clip(min=0) / np.maximum(reach[outside, None] - radii[outside, None], 1e-12)
    return positions


def _pca2(points: np.ndarray, seed: int, fit_rows: int = 20000) -> np.ndarray:
    return _pca2_of(points, lambda rows: points[rows], seed, fit_rows)


def _residual_pca2(reduced: np.ndarray, node_centres: np.ndarray, doc_node: np.ndarray, seed: int, fit_rows: int = 20000, scan: Any = None) -> np.ndarray:
    """``_pca2`` of each row minus its leaf's centre, without ever holding all the residuals (n x d) at once."""
    return _pca2_of(reduced, lambda rows: reduced[rows] - node_centres[doc_node[rows]], seed, fit_rows, node_centres, doc_node, scan)


def _pca2_of(
    points: Any, rows_of: Callable[[Any], np.ndarray], seed: int, fit_rows: int,
    centres: np.ndarray | None = None, doc_node: np.ndarray | None = None, scan: Any = None,
) -> np.ndarray:
    """2-D PCA of the rows of ``points`` (minus their node's centre with ``centres``): fitted on a sample
    that ``rows_of(index)`` gives, applied a block at a time (on an engine's workers with ``scan``)."""
    n = points.shape[0]
    rng = np.random.default_rng(seed)
    fit_on = rows_of(np.arange(n) if n <= fit_rows else rng.choice(n, fit_rows, replace=False))
    if np.ptp(fit_on, axis=0).max() == 0:  # all rows equal (e.g. one document per leaf): nothing to project
        return np.zeros((n, 2), dtype=np.float32)
    pca = PCA(n_components=2, random_state=seed).fit(fit_on)
    pca.components_ = np.ascontiguousarray(pca.components_)  # one layout wherever it is sent (BLAS rounds by layout)
    return np.concatenate(list(each_block(_projected, points if scan is None else scan, pca, centres, doc_node)))


def _projected(start: int, block: np.ndarray, pca: PCA, centres: np.ndarray | None, doc_node: np.ndarray | None) -> np.ndarray:
    """One block's rows (minus their node's centre) by a fitted 2-D PCA, on one BLAS thread (the same bits on any engine)."""
    rows = block if centres is None or doc_node is None else block - centres[doc_node[start : start + block.shape[0]]]
    with threadpool_limits(limits=1, user_api="blas"):
        return np.asarray(pca.transform(rows), dtype=np.float32)


def _normalise(coords: np.ndarray) -> np.ndarray:
    coords = coords - coords.mean(axis=0)
    scale = float(np.abs(coords).max())
    return (coords / scale if scale > 0 else coords).astype(np.float32)
