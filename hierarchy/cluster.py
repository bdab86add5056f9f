"""Recursive clustering of embeddings into a tree, as a scikit-learn style estimator.

Two ways to shape the tree:

* **automatic** (default), top-down: each node with enough documents is split by k-means. The number
  of children is searched in a window around the branching factor that would reach leaves of about
  ``2 * min_leaf_size`` documents in the depth still available (``max_depth``), capped at
  ``max_children``; inside the window the k with the best simplified silhouette on the node's sample
  wins. Clusters smaller than ``min_leaf_size`` are dissolved into their nearest sibling.
* **fixed schedule** (``levels=[6, 40, 276]``), bottom-up as in Science Hierarchography: documents are
  clustered into the last level's count, then those centroids (weighted by size) into the previous
  level's count, and so on, so each level has exactly the asked number of nodes (fewer only if a
  cluster comes out empty) and the levels nest.

Scale: every k-means is fitted on at most ``sample_size`` points and then assigns the node's
documents in one vectorised pass, so the cost of a fit does not grow with the corpus, and the number
of fits is bounded by the shape of the tree (``max_children`` and ``max_depth``), not by the number
of documents.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin

from hierarchy.kmeans import assign, kmeans, weighted_sums
from hierarchy.ward import Dendrogram, weighted_ward
from hierarchy.tree import ROOT_ID, child_id

ProgressFn = Callable[[int], None]


@dataclass
class ClusterTree:
    """The bare shape of a tree: node ids parents-first and each document's leaf."""

    node_ids: list[str]
    parents: list[str | None]
    centers: np.ndarray  # (n_nodes, d) centre of each node in the reduced space
    sizes: np.ndarray  # (n_nodes,) documents under each node
    doc_leaf: np.ndarray  # (n_docs,) index into node_ids

    def depth_of(self, index: int) -> int:
        node_id = self.node_ids[index]
        return 0 if node_id == ROOT_ID else node_id.count(".") + 1


class RecursiveClusterer(ClusterMixin, BaseEstimator):
    """Cluster ``X`` into a topic tree.

    Fitted attributes: ``tree_`` (:class:`ClusterTree`), ``labels_`` (leaf index per row, into
    ``tree_.node_ids``), ``reduced_`` (the rows in the reduced space), ``n_fits_`` (k-means fits
    made), ``reducer_`` (the fitted PCA/UMAP, or None).
    """

    def __init__(
        self,
        levels: list[int] | None = None,
        max_children: int = 10,
        min_leaf_size: int = 10,
        max_depth: int = 4,
        reducer: str = "pca",
        n_components: int = 50,
        sample_size: int = 4096,
        max_leaf_clusters: int = 2048,
        random_state: int | None = 0,
    ) -> None:
        self.levels = levels
        self.max_children = max_children
        self.min_leaf_size = min_leaf_size
        self.max_depth = max_depth
        self.reducer = reducer
        self.n_components = n_components
        self.sample_size = sample_size
        self.max_leaf_clusters = max_leaf_clusters
        self.random_state = random_state

    # -- public API ----------------------------------------------------------------------
    def fit(self, X: np.ndarray, y: None = None, progress: ProgressFn | None = None) -> RecursiveClusterer:
        X = self._check_input(X)
        seed = 0 if self.random_state is None else int(self.random_state)
        self.reduced_, self.reducer_ = reduce_dimensions(X, self.reducer, self.n_components, seed)
        self.n_fits_ = 0
        if self.levels:
            self.tree_ = self._fit_schedule(self.reduced_, list(self.levels), seed, progress)
        else:
            self.tree_ = self._fit_auto(self.reduced_, seed, progress)
        self.labels_ = self.tree_.doc_leaf
        return self

    def fit_predict(self, X: np.ndarray, y: None = None, **kwargs: object) -> np.ndarray:
        return self.fit(X).labels_

    # -- validation ----------------------------------------------------------------------
    def _check_input(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float32)
        if X.ndim != 2:
            raise ValueError(f"X must be 2-D, got shape {X.shape}")
        if not np.isfinite(X).all():
            raise ValueError("X contains NaN or infinity")
        if self.min_leaf_size < 1:
            raise ValueError(f"min_leaf_size must be at least 1, got {self.min_leaf_size}")
        if self.max_depth < 1:
            raise ValueError(f"max_depth must be at least 1, got {self.max_depth}")
        if self.max_children < 2:
            raise ValueError(f"max_children must be at least 2, got {self.max_children}")
        if self.reducer not in ("pca", "umap", "none"):
            raise ValueError(f"reducer must be 'pca', 'umap' or 'none', got {self.reducer!r}")
        if self.levels:
            levels = list(self.levels)
            if any(int(k) < 1 for k in levels) or any(b <= a for a, b in zip(levels, levels[1:])):
                raise ValueError(f"levels must be increasing positive counts, got {levels}")
            if levels[-1] > X.shape[0]:
                raise ValueError(f"the last level asks for {levels[-1]} clusters but there are only {X.shape[0]} documents")
        elif X.shape[0] < self.min_leaf_size:
            raise ValueError(f"{X.shape[0]} documents is fewer than min_leaf_size={self.min_leaf_size}")
        return X

    # -- automatic: leaf clusters once, upper levels from their centroids ----------------
    def _leaf_clusters(self, Z: np.ndarray, k: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """k-means fitted on a sample, then one assignment pass; returns labels, centres, sizes."""
        n = Z.shape[0]
        k = max(1, min(k, n))
        sample_n = min(n, max(self.sample_size, 8 * k))
        sample = np.arange(n) if sample_n == n else np.sort(rng.choice(n, size=sample_n, replace=False))
        fitted = kmeans(Z[sample], k, rng, max_iter=30)
        self.n_fits_ += 1
        labels = assign(Z, fitted.centers)
        used, labels = np.unique(labels, return_inverse=True)
        sizes = np.bincount(labels)
        sums = weighted_sums(Z, labels, np.ones(n), used.size)
        return labels, (sums / sizes[:, None]).astype(np.float32), sizes

    def _fit_auto(self, Z: np.ndarray, seed: int, progress: ProgressFn | None) -> ClusterTree:
        n = Z.shape[0]
        rng = np.random.default_rng(seed)
        n_leaf_clusters = min(self.max_leaf_clusters, max(1, n // self.min_leaf_size))
        labels, centers, sizes = self._leaf_clusters(Z, n_leaf_clusters, rng)
        if progress:
            progress(n // 2)
        dendrogram = weighted_ward(centers, sizes.astype(np.float64))
        per_level = _collapse(dendrogram, self.max_children, self.min_leaf_size, self.max_depth)
        if progress:
            progress(n - n // 2)
        return _tree_from_level_labels(Z, [level[labels] for level in per_level], single_children=False)

    # -- fixed schedule ---------------------------------------------------------------------
    def _fit_schedule(self, Z: np.ndarray, levels: list[int], seed: int, progress: ProgressFn | None) -> ClusterTree:
        rng = np.random.default_rng(seed)
        labels, centers, sizes = self._leaf_clusters(Z, levels[-1], rng)
        dendrogram = weighted_ward(centers, sizes.astype(np.float64))
        per_level = [cut_dendrogram(dendrogram, k) for k in levels[:-1]]
        per_level.append(np.arange(centers.shape[0]))
        if progress:
            progress(Z.shape[0])
        return _tree_from_level_labels(Z, [level[labels] for level in per_level], single_children=True)


def cut_dendrogram(dendrogram: Dendrogram, k: int) -> np.ndarray:
    """Flat labels of the dendrogram's leaves when its ``k - 1`` highest merges are undone."""
    m = (dendrogram.parents.size + 1) // 2
    clusters = [dendrogram.root]
    while len(clusters) < k:
        internal = [c for c in clusters if c >= m]
        if not internal:
            break
        top = max(internal, key=lambda c: (dendrogram.heights[c], -c))
        clusters.remove(top)
        clusters.extend(int(x) for x in dendrogram.children[top - m])
    return _leaf_labels(dendrogram, clusters)


def _leaf_labels(dendrogram: Dendrogram, clusters: list[int]) -> np.ndarray:
    m = (dendrogram.parents.size + 1) // 2
    out = np.full(m, -1, dtype=np.int64)
    for label, node in enumerate(sorted(clusters)):
        stack = [node]
        while stack:
            current = stack.pop()
            if current < m:
                out[current] = label
            else:
                stack.extend(int(x) for x in dendrogram.children[current - m])
    return out


def _collapse(dendrogram: Dendrogram, max_children: int, min_leaf_size: int, max_depth: int) -> list[np.ndarray]:
    """Turn the binary dendrogram into a multiway tree, one label array (over leaf clusters) per depth.

    A node is opened by undoing its highest merges one at a time (never one that would split off a
    part smaller than ``min_leaf_size``), up to ``max_children`` parts; the number of children kept
    is where the merge height drops most (the largest ratio between consecutive merge heights).
    """
    m = (dendrogram.parents.size + 1) // 2
    heights, sizes, children = dendrogram.heights, dendrogram.sizes, dendrogram.children

    def splittable(node: int) -> bool:
        if node < m:
            return False
        left, right = children[node - m]
        return min(sizes[left], sizes[right]) >= min_leaf_size

    def open_node(node: int) -> tuple[list[float], list[list[int]]]:
        """Heights of the merges undone, and the parts after each undo."""
        parts = [node]
        cut_heights: list[float] = []
        snapshots: list[list[int]] = []
        while len(parts) < max_children:
            candidates = [p for p in parts if splittable(p)]
            if not candidates:
                break
            top = max(candidates, key=lambda c: (heights[c], -c))
            cut_heights.append(float(heights[top]))
            parts.remove(top)
            parts.extend(int(x) for x in children[top - m])
            snapshots.append(list(parts))
        remaining = [heights[p] for p in parts if splittable(p)]
        cut_heights.append(float(max(remaining)) if remaining else 0.0)  # the cut not taken
        return cut_heights, snapshots

    per_level: list[np.ndarray] = []
    frontier = [dendrogram.root]
    for _depth in range(max_depth):
        next_frontier: list[int] = []
        any_split = False
        for node in frontier:
            cut_heights, snapshots = open_node(node) if splittable(node) else ([], [])
            if not snapshots:
                next_frontier.append(node)
                continue
            # snapshots[i] has i + 2 parts; prefer the count after which the next cut is much lower
            ratios = [h / max(f, 1e-12) for h, f in zip(cut_heights, cut_heights[1:])]
            best = int(np.argmax(ratios))
            next_frontier.extend(snapshots[best])
            any_split = True
        if not any_split:
            break
        per_level.append(_leaf_labels(dendrogram, next_frontier))
        frontier = next_frontier
    if not per_level:
        per_level.append(np.zeros(m, dtype=np.int64))
    return per_level


def _tree_from_level_labels(Z: np.ndarray, per_level: list[np.ndarray], single_children: bool) -> ClusterTree:
    """Build ids (children numbered by decreasing size) from nested per-level labels.

    Without ``single_children`` a node whose documents all share one label at the next level stays
    a leaf instead of getting an only child identical to itself.
    """
    n = Z.shape[0]
    node_ids: list[str] = [ROOT_ID]
    parents: list[str | None] = [None]
    centers: list[np.ndarray] = [Z.mean(axis=0)]
    sizes: list[int] = [n]
    doc_leaf = np.zeros(n, dtype=np.int64)
    frontier: list[tuple[int, np.ndarray]] = [(0, np.arange(n))]
    for labels in per_level:
        next_frontier: list[tuple[int, np.ndarray]] = []
        for node_index, rows in frontier:
            values, inverse, counts = np.unique(labels[rows], return_inverse=True, return_counts=True)
            if values.size == 1 and not single_children:
                continue
            order = sorted(range(values.size), key=lambda i: (-counts[i], values[i]))
            groups = np.argsort(inverse, kind="stable")
            bounds = np.concatenate([[0], np.cumsum(counts)])
            for position, i in enumerate(order):
                child_rows = rows[groups[bounds[i] : bounds[i + 1]]]
                index = len(node_ids)
                node_ids.append(child_id(node_ids[node_index], position))
                parents.append(node_ids[node_index])
                centers.append(Z[child_rows].mean(axis=0))
                sizes.append(child_rows.size)
                doc_leaf[child_rows] = index
                next_frontier.append((index, child_rows))
        frontier = next_frontier
    return ClusterTree(node_ids, parents, np.vstack(centers).astype(np.float32), np.asarray(sizes), doc_leaf)


def _node_rng(seed: int, node_id: str) -> np.random.Generator:
    """A generator per node, so a node's split does not depend on the order nodes are visited."""
    return np.random.default_rng([seed, zlib.crc32(node_id.encode("utf-8"))])


def reduce_dimensions(X: np.ndarray, method: str, n_components: int, seed: int, fit_rows: int = 20000) -> tuple[np.ndarray, object | None]:
    """PCA (default, fitted on a sample, applied in chunks) or UMAP, to speed up every later step."""
    n, d = X.shape
    if method == "none":
        return X.astype(np.float32, copy=False), None
    if method == "umap":
        import umap  # slow import (numba); only when asked for

        components = max(2, min(n_components, 10, n - 2))
        model = umap.UMAP(n_components=components, metric="cosine", n_neighbors=min(15, n - 1), random_state=seed, low_memory=True)
        if n <= fit_rows:
            return model.fit_transform(X).astype(np.float32), model
        rng = np.random.default_rng(seed)
        model.fit(X[rng.choice(n, size=fit_rows, replace=False)])
        return model.transform(X).astype(np.float32), model
    from sklearn.decomposition import PCA

    components = min(n_components, d, n)
    if components >= d:
        return X.astype(np.float32, copy=False), None
    rng = np.random.default_rng(seed)
    fit_on = X if n <= fit_rows else X[rng.choice(n, size=fit_rows, replace=False)]
    pca = PCA(n_components=components, svd_solver="randomized" if min(fit_on.shape) > 200 else "full", random_state=seed)
    pca.fit(fit_on)
    out = np.empty((n, components), dtype=np.float32)
    for start in range(0, n, 100000):
        out[start : start + 100000] = pca.transform(X[start : start + 100000])
    return out, pca


def describe_parameters(estimator: RecursiveClusterer) -> dict[str, object]:
    params = estimator.get_params()
    params["mode"] = "levels" if estimator.levels else "auto"
    return params


__all__ = ["ClusterTree", "RecursiveClusterer", "reduce_dimensions", "describe_parameters"]
