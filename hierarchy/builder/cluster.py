"""Recursive clustering of embeddings into a tree, as a scikit-learn style estimator.

How the tree is built (both modes share steps 1-3):

1. **Reduce**: PCA to ``n_components`` (fitted on a sample, applied in chunks), then every row is
   scaled to unit length, so distances are cosine distances (UMAP is optional and slow).
2. **Leaf clusters**: one k-means (best of ``n_init`` starts), fitted on a sample and applied to all rows in one pass, with
   ``leaf_clusters`` clusters (default: about one per ``min_leaf_size`` documents, at most
   ``max_leaf_clusters``); the best of ``n_init`` starts, each run for up to ``kmeans_iterations``
   Lloyd steps (more than 30 means: until the inertia stops falling). With ``smoothing_neighbors``
   the sampled rows are first replaced by the mean of their nearest neighbours in the sample (at most
   a quarter of an average cluster; ``smoothing_neighbors_`` is the number used, 0 when skipped: on
   UMAP output, and when so many clusters are asked for that the sample outgrows ``sample_size``); k-means then sees topics rather than single documents' wording. Each sampled row
   joins the cluster of its smoothed vector, every other row the nearest mean of a cluster's raw
   sampled rows (see ``bench/results/quality.md`` for what smoothing changes).
   Clusters left with fewer than ``min_leaf_size`` documents are dissolved: their documents move to
   the nearest remaining centre.
3. **Linkage**: the leaf centroids are agglomerated bottom-up into a binary dendrogram, weighting
   each by its size. The default ``linkage="average"`` is group-average (UPGMA) over the documents,
   computed exactly from centroids and spreads: the mean distance between all document pairs of two
   clusters. ``"ward"`` is available.

**Automatic number of children** (default): the dendrogram is collapsed top-down into a multiway
tree. A node is opened by undoing its highest merges one at a time; the number of children is the
count after which the next merge height drops most (the largest ratio between consecutive merge
heights). The count is searched in a window around the branching factor ``b`` that would reach the
leaf clusters under the node within the depth still available (``b = leaves ** (1 / depth_left)``;
window ``[max(2, b // 2), min(max_children, ceil(2 b))]``, at least ``min_top_children`` at the
root), so the tree uses its depth budget evenly instead of making long chains of two-way splits or
one flat fan. A deeper budget (``max_depth``) keeps more of the dendrogram's nesting, which is what
dendrogram purity rewards; a shallower one gives wider, flatter nodes. A node whose documents
cannot be split without a part smaller than ``min_leaf_size`` stays a leaf; a node never gets a
single child.

**Leaves inside coarse clusters** (``coarse_clusters``, the map preset): step 2 first makes
``coarse_clusters`` clusters, then splits each one's rows alone into its share of ``leaf_clusters``
(in proportion to its size, by largest remainders; k-means on at most 40 sampled rows per leaf, one
start). Step 3 links the coarse clusters, and the tree is two collapsed levels above them, the coarse
clusters, then every leaf cluster as a leaf (at most ``max_depth`` = 4 levels). So each level groups
the one below, ``leaf_clusters`` is the number of leaves (less only what ``min_leaf_size``
dissolves), and each k-means step costs rows x (leaves per coarse cluster), not rows x leaves. With
fewer than twice ``coarse_clusters`` leaves there is no coarse stage: the leaves are linked directly
and still all become leaves of the tree.

**Fixed schedule** (``levels=[6, 40, 276]``), as in Science Hierarchography: the leaf clusters are the
last level's count, the dendrogram is cut at each earlier level's count, so each level has exactly
the asked number of nodes (fewer only if k-means leaves a cluster empty) and the levels nest.

**Descent rounds** (``descent_rounds``, default 0): afterwards every document can be moved to the leaf
it reaches when it walks down from the root, at each node taking the child with the nearest centre
(cosine); centres are then recomputed, and this repeats. Bottom-up clustering puts a document in its
nearest *leaf*, which is often not under its nearest *top-level* node, so a reader or an ``assign``
walking down by centroids misses it. The walk happens in the reduced space the tree is built in (the
navigators and ``assign`` use the stored centroids of the full embeddings, which point the same way
almost always). No preset uses them: they can help navigation on a shallow tree of plain k-means
leaves but cost purity on the presets' trees (docs/architecture.md has the measurements). Moved
documents can leave a leaf smaller than ``min_leaf_size`` and, with ``levels``, a level with fewer
nodes than asked.

Scale: there are ``n_init`` k-means fits per ``fit`` (``n_fits_``, whatever the number of rows; plus
one per coarse cluster with ``coarse_clusters``), on at most ``max(sample_size, 8 * k)`` rows,
followed by one vectorised assignment pass; smoothing is a
brute-force neighbour search within that sample only; the linkage works on at most
``max_leaf_clusters`` centroids. Nothing grows faster than linearly in the number of documents.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin
from threadpoolctl import threadpool_limits

from topicmap.hierarchy.builder.engine import PartitionedRows, each_block
from topicmap.hierarchy.builder.kmeans import ASSIGN_MAX_ROWS, assign, assign_block, kmeans, weighted_sums
from topicmap.hierarchy.tree.arrays import TreeArrays
from topicmap.hierarchy.tree.topic_tree import ROOT_ID, child_id
from topicmap.hierarchy.builder.params import check_estimator
from topicmap.hierarchy.builder.ward import Dendrogram, weighted_linkage
from topicmap.hierarchy.inputs.vectors import normalise_rows_in_place
from topicmap.hierarchy.builder.reduced_rows import ReducedRows, is_scratch, rows_of

# Inside a coarse cluster k-means fits on at most this many rows per leaf (at least NESTED_MIN_SAMPLE)
# with NESTED_N_INIT start(s): there are up to hundreds of such fits, and on smoothed rows inside one
# topic more starts bought no purity (docs/architecture.md has the measurements).
NESTED_ROWS_PER_LEAF = 40
NESTED_MIN_SAMPLE = 1000
NESTED_N_INIT = 1


@dataclass
class ClusterTree:
    """The bare shape of a tree: node ids parents-first and each document's leaf."""

    node_ids: list[str]
    parents: list[str | None]
    centres: np.ndarray  # (n_nodes, d) centre of each node in the reduced space
    sizes: np.ndarray  # (n_nodes,) documents under each node
    doc_leaf: np.ndarray  # (n_docs,) index into node_ids

    def depth_of(self, index: int) -> int:
        node_id = self.node_ids[index]
        return 0 if node_id == ROOT_ID else node_id.count(".") + 1

    def parent_indices(self) -> np.ndarray:
        """Parent of each node as an index (-1 for the root), the form the metrics take."""
        index = {node_id: i for i, node_id in enumerate(self.node_ids)}
        return np.array([-1 if p is None else index[p] for p in self.parents], dtype=np.int64)

    def to_arrays(self) -> tuple[TreeArrays, np.ndarray]:
        """This tree as :class:`TreeArrays` (pre-order), and for each of their nodes its index here.

        The builder keeps this numbering (the order the nodes were made in) for what it computes per
        node, so it asks the arrays questions and reads the answers through the second array.
        """
        return TreeArrays.from_parents_with_source(self.parent_indices(), self.doc_leaf, self.node_ids, self.sizes)


@dataclass
class LeafClusters:
    """The one flat clustering every tree is built from."""

    labels: np.ndarray  # (n,) leaf cluster of each row
    centres: np.ndarray  # (m, d) mean of each cluster's rows
    sizes: np.ndarray  # (m,) rows per cluster
    scatter: np.ndarray  # (m,) mean squared distance of a cluster's rows to its centre


class RecursiveClusterer(ClusterMixin, BaseEstimator):
    """Cluster ``X`` into a topic tree (see the module docstring for how).

    Fitted attributes: ``tree_`` (:class:`ClusterTree`), ``labels_`` (leaf index per row, into
    ``tree_.node_ids``), ``reduced_`` (the rows in the reduced, unit-length space), ``n_fits_``
    (k-means fits made), ``reducer_`` (the fitted PCA/UMAP, or None), ``dendrogram_`` (the binary
    tree over the leaf clusters) and ``leaf_clusters_`` (:class:`LeafClusters`).
    """

    def __init__(
        self,
        levels: list[int] | None = None,
        max_children: int = 10,
        min_top_children: int = 3,
        min_leaf_size: int = 10,
        max_depth: int = 10,
        linkage: str = "average",
        reducer: str = "pca",
        n_components: int = 50,
        sample_size: int = 4096,
        max_leaf_clusters: int = 2048,
        descent_rounds: int = 0,
        leaf_clusters: int | None = None,
        smoothing_neighbors: int = 0,
        n_init: int = 1,
        kmeans_iterations: int = 30,
        coarse_clusters: int | None = None,
        random_state: int | None = 0,
    ) -> None:
        self.levels = levels
        self.max_children = max_children
        self.min_top_children = min_top_children
        self.min_leaf_size = min_leaf_size
        self.max_depth = max_depth
        self.linkage = linkage
        self.reducer = reducer
        self.n_components = n_components
        self.sample_size = sample_size
        self.max_leaf_clusters = max_leaf_clusters
        self.descent_rounds = descent_rounds
        self.leaf_clusters = leaf_clusters
        self.smoothing_neighbors = smoothing_neighbors
        self.n_init = n_init
        self.kmeans_iterations = kmeans_iterations
        self.coarse_clusters = coarse_clusters
        self.random_state = random_state

    # -- public API ----------------------------------------------------------------------
    def fit(self, X: np.ndarray, y: None = None) -> RecursiveClusterer:
        X = self._check_input(X)
        seed = 0 if self.random_state is None else int(self.random_state)
        reduced, reducer = reduce_dimensions(X, self.reducer, self.n_components, seed)
        if self.reducer != "umap":
            normalise_rows_in_place(reduced)
        return self.fit_reduced(reduced, reducer)

    def fit_reduced(self, reduced: np.ndarray | ReducedRows, reducer: object | None, scan: PartitionedRows | None = None) -> RecursiveClusterer:
        """The rest of :meth:`fit` on rows already reduced (and scaled to unit length unless by UMAP).

        ``reduced`` may be a :class:`ReducedRows` scratch file (out-of-core builds): every step reads
        it by slices and index arrays only, so the tree is the one an array of the same rows gives.
        ``scan``: the same rows on an engine's workers, where every row's nearest centre is then found.
        """
        self.scan_ = scan
        check_estimator(self.get_params(), reduced.shape[0])
        seed = 0 if self.random_state is None else int(self.random_state)
        self.reduced_, self.reducer_ = reduced, reducer
        self.n_fits_ = 0
        self.smoothing_neighbors_ = 0
        rng = np.random.default_rng(seed)
        n = reduced.shape[0]
        self.coarse_ = None
        if self.levels:
            levels = [int(k) for k in self.levels]
            leaves = self._leaf_clusters(self.reduced_, levels[-1], rng, dissolve_below=0)
        else:
            k = self.leaf_clusters or min(self.max_leaf_clusters, max(1, n // self.min_leaf_size))
            if self.coarse_clusters and 2 * self.coarse_clusters <= k:
                self.coarse_ = self._leaf_clusters(self.reduced_, self.coarse_clusters, rng, dissolve_below=self.min_leaf_size)
                leaves, leaf_to_coarse = self._nested_leaves(self.reduced_, self.coarse_, k, rng)
            else:
                leaves = self._leaf_clusters(self.reduced_, k, rng, dissolve_below=self.min_leaf_size)
        self.leaf_clusters_ = leaves
        # the dendrogram is over the coarse clusters when there are any, else over the leaf clusters
        grouped = self.coarse_ if self.coarse_ is not None else leaves
        self.dendrogram_ = weighted_linkage(grouped.centres, grouped.sizes.astype(np.float64), grouped.scatter, self.linkage)
        min_top = min(self.min_top_children, self.max_children)
        m = leaves.centres.shape[0]
        if self.levels:
            per_level = [cut_dendrogram(self.dendrogram_, k) for k in levels[:-1]]
            per_level.append(np.arange(m))
        elif self.coarse_ is not None:
            # upper levels from the linkage of the coarse clusters; every leaf cluster is a leaf of the tree
            upper = collapse(self.dendrogram_, self.max_children, self.min_leaf_size, self._collapse_depth(self.coarse_.sizes.size), min_top)
            per_level = [labels[leaf_to_coarse] for labels in upper[: max(self.max_depth - 2, 0)]]
            per_level += [leaf_to_coarse, np.arange(m)] if self.max_depth >= 2 else [np.arange(m)]
        elif self.coarse_clusters:
            # too few leaves for a coarse stage: the upper levels come from the leaves' own linkage
            upper = collapse(self.dendrogram_, self.max_children, self.min_leaf_size, self._collapse_depth(m), min_top)
            per_level = upper[: self.max_depth - 1] + [np.arange(m)]
        else:
            per_level = collapse(self.dendrogram_, self.max_children, self.min_leaf_size, self.max_depth, min_top)
        self.tree_ = tree_from_level_labels(self.reduced_, [level[leaves.labels] for level in per_level], single_children=bool(self.levels))
        self.moved_fractions_: list[float] = []
        for _ in range(self.descent_rounds):
            per_level_docs, moved = descend_by_centres(self.reduced_, self.tree_)
            self.moved_fractions_.append(moved)
            self.tree_ = tree_from_level_labels(self.reduced_, per_level_docs, single_children=bool(self.levels))
        self.labels_ = self.tree_.doc_leaf
        return self

    def fit_predict(self, X: np.ndarray, y: None = None) -> np.ndarray:
        return self.fit(X).labels_

    # -- validation ----------------------------------------------------------------------
    def _check_input(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float32)
        if X.ndim != 2:
            raise ValueError(f"X must be 2-D, got shape {X.shape}")
        if X.shape[0] == 0:
            raise ValueError("X has no rows")
        for start in range(0, X.shape[0], 65536):  # chunked: a full-size boolean mask costs n*d bytes
            if not np.isfinite(X[start : start + 65536]).all():
                raise ValueError("X contains NaN or infinity")
        check_estimator(self.get_params(), X.shape[0])  # the build parameters' table (builder/params.py)
        return X

    # -- the one k-means ---------------------------------------------------------------------
    def _leaf_clusters(
        self, Z: np.ndarray, k: int, rng: np.random.Generator, dissolve_below: int,
        track_smoothing: bool = True, sample_size: int | None = None, n_init: int | None = None,
    ) -> LeafClusters:
        """k-means fitted on a sample (best of ``n_init``), then one assignment pass; small clusters dissolved.

        With ``smoothing_neighbors`` the sample rows are first replaced by the mean of their nearest
        neighbours in the sample, and k-means runs on those: see the module docstring.
        """
        n = Z.shape[0]
        k = max(1, min(k, n))
        sample_size = self.sample_size if sample_size is None else sample_size
        sample_n = min(n, max(sample_size, 8 * k))
        sample = np.arange(n) if sample_n == n else np.sort(rng.choice(n, size=sample_n, replace=False))
        fit_points = Z[sample]
        # at most a quarter of an average cluster, so small clusters are not averaged into their neighbours;
        # never on UMAP output, which is built from a neighbour graph already
        neighbours = min(self.smoothing_neighbors, sample_n // (4 * k))
        # the neighbour search is quadratic in the sample, so it never runs on more than sample_size
        # rows (a sample grows past that only when 8 rows per cluster need more)
        smooth = neighbours >= 2 and self.reducer != "umap" and sample_n <= sample_size
        if track_smoothing:
            self.smoothing_neighbors_ = neighbours if smooth else 0
        if smooth:
            fit_points = neighbour_means(fit_points, neighbours)
        tol = 1e-5 if self.kmeans_iterations <= 30 else 0.0  # a long budget stops only when the inertia stops falling
        fits = [kmeans(fit_points, k, rng, max_iter=self.kmeans_iterations, tol=tol) for _ in range(n_init or self.n_init)]
        self.n_fits_ += len(fits)
        fitted = min(fits, key=lambda f: f.inertia)
        if smooth:
            # Sampled rows join the cluster of their smoothed vector. The other rows have no smoothed
            # vector, so they go to the nearest mean of the *raw* sampled rows of each cluster: raw
            # rows sit farther from every centre than smoothed ones, and comparing them with the
            # smoothed centres would favour the loosest clusters.
            sample_labels = assign(fit_points, fitted.centres)
            counts = np.bincount(sample_labels, minlength=k)
            raw_centres = weighted_sums(Z[sample], sample_labels, np.ones(sample_n), k)[counts > 0] / counts[counts > 0, None]
            labels = np.flatnonzero(counts > 0)[self._assign_all(Z, raw_centres.astype(np.float32))] if sample_n < n else np.empty(n, dtype=np.int64)
            labels[sample] = sample_labels
        else:
            labels = self._assign_all(Z, fitted.centres)
        sizes = np.bincount(labels, minlength=fitted.centres.shape[0])
        keep = sizes >= max(dissolve_below, 1)
        if not keep.any():
            keep[int(sizes.argmax())] = True
        if not keep.all():
            centres = weighted_sums(Z, labels, np.ones(n), sizes.size)[keep] / sizes[keep, None]
            moved = ~keep[labels]
            labels[moved] = np.flatnonzero(keep)[assign(Z[moved], centres.astype(np.float32))]
        return summarise_clusters(Z, np.unique(labels, return_inverse=True)[1].astype(np.int64))

    def _assign_all(self, Z: np.ndarray, centres: np.ndarray) -> np.ndarray:
        """Nearest centre of every row of ``Z``: on the engine's workers when ``Z`` is all the rows and they hold them too."""
        scan = getattr(self, "scan_", None)
        if Z is self.reduced_ and (scan is not None or Z.shape[0] > ASSIGN_MAX_ROWS):  # a pass: on the engine's workers, or forked processes here
            return np.concatenate(list(each_block(assign_block, Z if scan is None else scan, centres)))
        return assign(Z, centres)

    def _collapse_depth(self, units: int) -> int:
        """Depth budget for collapsing ``units`` clusters: two levels under a dozen (a third would make groups of one or two)."""
        return min(self.max_depth, 2 if units < 12 else 4)

    def _nested_leaves(self, Z: np.ndarray, coarse: LeafClusters, k: int, rng: np.random.Generator) -> tuple[LeafClusters, np.ndarray]:
        """About ``k`` leaf clusters found by k-means *inside* each coarse cluster, in proportion to its size.

        Every leaf nests in one coarse cluster by construction, and each k-means sees only its coarse
        cluster's rows, so the cost per Lloyd step is rows x (k / coarse clusters) instead of rows x k.
        Returns the leaves (over all rows) and each leaf's coarse cluster.
        """
        n = Z.shape[0]
        counts = split_counts(coarse.sizes, k, np.maximum(coarse.sizes // self.min_leaf_size, 1))
        labels = np.empty(n, dtype=np.int64)
        order = np.argsort(coarse.labels, kind="stable")
        bounds = np.concatenate([[0], np.cumsum(coarse.sizes)])
        leaf_to_coarse: list[np.ndarray] = []
        offset = 0
        for c in range(coarse.sizes.size):
            rows = order[bounds[c] : bounds[c + 1]]
            if counts[c] <= 1:
                labels[rows] = offset
                leaf_to_coarse.append(np.array([c]))
                offset += 1
                continue
            inner = self._leaf_clusters(
                rows_of(Z, rows), int(counts[c]), rng, dissolve_below=self.min_leaf_size, track_smoothing=False,
                sample_size=min(self.sample_size, max(NESTED_MIN_SAMPLE, NESTED_ROWS_PER_LEAF * int(counts[c]))),
                n_init=min(self.n_init, NESTED_N_INIT),
            )
            labels[rows] = offset + inner.labels
            found = inner.sizes.size
            leaf_to_coarse.append(np.full(found, c))
            offset += found
        return summarise_clusters(Z, labels), np.concatenate(leaf_to_coarse)


def summarise_clusters(Z: np.ndarray, labels: np.ndarray) -> LeafClusters:
    """Sizes, centres and spreads of clusters numbered 0..k-1 with none empty."""
    k = int(labels.max()) + 1
    sizes = np.bincount(labels, minlength=k)
    centres = weighted_sums(Z, labels, np.ones(Z.shape[0]), k) / sizes[:, None]
    sq_norms = np.bincount(labels, weights=row_sq_norms(Z), minlength=k)
    scatter = np.maximum(sq_norms / sizes - (centres * centres).sum(axis=1), 0.0)
    return LeafClusters(labels=labels, centres=centres, sizes=sizes, scatter=scatter)


def row_sq_norms(Z: np.ndarray | ReducedRows, chunk: int = 65536) -> np.ndarray:
    """Squared length of every row in float64, a block of rows at a time (the same numbers for an array or a scratch file)."""
    if not is_scratch(Z):
        return np.einsum("ij,ij->i", Z, Z).astype(np.float64)
    return np.concatenate([np.einsum("ij,ij->i", block, block).astype(np.float64) for block in (Z[s : s + chunk] for s in range(0, Z.shape[0], chunk))] or [np.zeros(0)])


def rows_mean(Z: np.ndarray | ReducedRows, rows: np.ndarray | None, chunk: int = 65536) -> np.ndarray:
    """float64 mean of the given rows (all with None), summed a block of ``chunk`` rows at a time past one
    block, so an array and a scratch file of the same rows give the same bits."""
    count = Z.shape[0] if rows is None else rows.size
    if count <= chunk:
        return (Z[0:count] if rows is None else Z[rows]).mean(axis=0, dtype=np.float64)
    total = np.zeros(Z.shape[1], dtype=np.float64)
    for start in range(0, count, chunk):
        block = Z[start : start + chunk] if rows is None else Z[rows[start : start + chunk]]
        total += block.sum(axis=0, dtype=np.float64)
    return total / max(count, 1)


def split_counts(sizes: np.ndarray, total: int, most: np.ndarray) -> np.ndarray:
    """``total`` split over groups in proportion to ``sizes`` (largest remainders), each group getting 1 to ``most[i]``."""
    sizes = np.asarray(sizes, dtype=np.float64)
    most = np.maximum(np.asarray(most, dtype=np.int64), 1)
    total = int(min(max(total, sizes.size), most.sum()))
    share = sizes / sizes.sum() * total
    counts = np.clip(np.floor(share).astype(np.int64), 1, most)
    while counts.sum() < total:
        counts[int(np.argmax(np.where(counts < most, share - counts, -np.inf)))] += 1
    while counts.sum() > total:  # the floor of one lifted small groups past their share
        counts[int(np.argmin(np.where(counts > 1, share - counts, np.inf)))] -= 1
    return counts


def cut_dendrogram(dendrogram: Dendrogram, k: int) -> np.ndarray:
    """Flat labels of the dendrogram's leaves when its ``k - 1`` highest merges are undone."""
    m = dendrogram.n_leaves
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
    m = dendrogram.n_leaves
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


def collapse(dendrogram: Dendrogram, max_children: int, min_size: int, max_depth: int, min_top_children: int = 2) -> list[np.ndarray]:
    """Turn the binary dendrogram into a multiway tree, one label array (over leaf clusters) per depth.

    See the module docstring for the rule; a merge that would split off a part lighter than
    ``min_size`` is never undone.
    """
    m = dendrogram.n_leaves
    heights, sizes, children = dendrogram.heights, dendrogram.sizes, dendrogram.children
    leaves_under = np.ones(2 * m - 1)
    for node in range(m, 2 * m - 1):
        left, right = children[node - m]
        leaves_under[node] = leaves_under[left] + leaves_under[right]

    def splittable(node: int) -> bool:
        if node < m:
            return False
        left, right = children[node - m]
        return min(sizes[left], sizes[right]) >= min_size

    def open_node(node: int, most: int) -> tuple[list[float], list[list[int]]]:
        """Heights of the merges undone, and the parts after each undo (up to ``most`` parts)."""
        parts = [node]
        cut_heights: list[float] = []
        snapshots: list[list[int]] = []
        while len(parts) < most:
            candidates = [p for p in parts if splittable(p)]
            if not candidates:
                break
            top = max(candidates, key=lambda c: (heights[c], -c))
            cut_heights.append(float(heights[top]))
            parts.remove(top)
            parts.extend(int(x) for x in children[top - m])
            snapshots.append(list(parts))
        remaining = [heights[p] for p in parts if splittable(p)]
        cut_heights.append(float(max(remaining)) if remaining else 0.0)  # the next cut, not taken
        return cut_heights, snapshots

    per_level: list[np.ndarray] = []
    frontier = [dendrogram.root]
    for depth in range(max_depth):
        next_frontier: list[int] = []
        any_split = False
        for node in frontier:
            if not splittable(node):
                next_frontier.append(node)
                continue
            branching = leaves_under[node] ** (1.0 / (max_depth - depth))
            low = max(min_top_children if depth == 0 else 2, math.floor(branching / 2))
            high = min(max_children, max(low, math.ceil(2 * branching)))
            cut_heights, snapshots = open_node(node, high)
            # snapshots[i] has i + 2 parts; prefer the count after which the next cut is much lower
            ratios = [h / max(f, 1e-12) for h, f in zip(cut_heights, cut_heights[1:])]
            allowed = [i for i in range(len(snapshots)) if i + 2 >= low] or [len(snapshots) - 1]
            best = max(allowed, key=lambda i: (ratios[i], -i))
            next_frontier.extend(snapshots[best])
            any_split = True
        if not any_split:
            break
        per_level.append(_leaf_labels(dendrogram, next_frontier))
        frontier = next_frontier
    if not per_level:
        per_level.append(np.zeros(m, dtype=np.int64))
    return per_level


def tree_from_level_labels(Z: np.ndarray, per_level: list[np.ndarray], single_children: bool) -> ClusterTree:
    """Build ids (children numbered by decreasing size) from nested per-level labels.

    Without ``single_children`` a node whose documents all share one label at the next level stays
    a leaf instead of getting an only child identical to itself.
    """
    n = Z.shape[0]
    node_ids: list[str] = [ROOT_ID]
    parents: list[str | None] = [None]
    centres: list[np.ndarray] = [rows_mean(Z, None)]
    sizes: list[int] = [n]
    doc_leaf = np.zeros(n, dtype=np.int64)
    frontier: list[tuple[int, np.ndarray]] = [(0, np.arange(n))]
    for labels in per_level:
        next_frontier: list[tuple[int, np.ndarray]] = []
        for node_index, rows in frontier:
            values, inverse, counts = np.unique(labels[rows], return_inverse=True, return_counts=True)
            if values.size == 1 and not single_children:
                next_frontier.append((node_index, rows))  # no split at this level; a deeper one may still split
                continue
            order = sorted(range(values.size), key=lambda i: (-counts[i], values[i]))
            groups = np.argsort(inverse, kind="stable")
            bounds = np.concatenate([[0], np.cumsum(counts)])
            for position, i in enumerate(order):
                child_rows = rows[groups[bounds[i] : bounds[i + 1]]]
                index = len(node_ids)
                node_ids.append(child_id(node_ids[node_index], position))
                parents.append(node_ids[node_index])
                centres.append(rows_mean(Z, child_rows))
                sizes.append(child_rows.size)
                doc_leaf[child_rows] = index
                next_frontier.append((index, child_rows))
        frontier = next_frontier
    return ClusterTree(node_ids, parents, np.vstack(centres).astype(np.float32), np.asarray(sizes), doc_leaf)


def descend_by_centres(Z: np.ndarray, tree: ClusterTree) -> tuple[list[np.ndarray], float]:
    """Walk every row down from the root, taking the child with the nearest centre (cosine) each time.

    Returns the node reached at each depth (per-level labels for :func:`tree_from_level_labels`; a row
    whose walk ended keeps its leaf) and the fraction of rows that ended in another leaf than before.
    The walk is :meth:`TreeArrays.descend`, as ``topicmap assign``'s.
    """
    arrays, source = tree.to_arrays()
    centres = tree.centres[source]
    norms = np.linalg.norm(centres, axis=1, keepdims=True)
    per_level = [source[level] for level in arrays.descend(Z, (centres / np.maximum(norms, 1e-12)).astype(np.float32))]
    moved = float(np.mean(per_level[-1] != tree.doc_leaf)) if per_level and Z.shape[0] else 0.0
    return per_level or [np.zeros(Z.shape[0], dtype=np.int64)], moved


def neighbour_means(points: np.ndarray, neighbours: int, chunk: int = 256) -> np.ndarray:
    """Each unit-length row replaced by the unit-length mean of its ``neighbours`` nearest rows (itself included).

    Brute force in row chunks (O(rows^2 d)), so it is only ever given the k-means sample.
    """
    n = points.shape[0]
    m = min(neighbours, n)
    out = np.empty_like(points)
    for start in range(0, n, chunk):
        scores = points[start : start + chunk] @ points.T
        np.negative(scores, out=scores)
        nearest = np.argpartition(scores, m - 1, axis=1)[:, :m] if m < n else np.broadcast_to(np.arange(n), scores.shape)
        out[start : start + chunk] = points[nearest].mean(axis=1)
    normalise_rows_in_place(out)
    return out


def reduce_dimensions(X: np.ndarray, method: str, n_components: int, seed: int, fit_rows: int = 20000) -> tuple[np.ndarray, object | None]:
    """PCA (default, fitted on a sample, applied in chunks) or UMAP, to speed up every later step.

    Always returns a new array, so normalising it in place never touches the caller's data.
    """
    n, d = X.shape
    if method == "none":
        return X.astype(np.float32, copy=True), None
    if method == "umap":
        import umap  # slow import (numba); only when asked for

        components = max(2, min(n_components, 10, n - 2))
        model = umap.UMAP(n_components=components, metric="cosine", n_neighbors=min(15, n - 1), random_state=seed, low_memory=True, n_jobs=1)
        if n <= fit_rows:
            return model.fit_transform(X).astype(np.float32), model
        rng = np.random.default_rng(seed)
        model.fit(X[rng.choice(n, size=fit_rows, replace=False)])
        return model.transform(X).astype(np.float32), model
    components = min(n_components, d, n)
    if components >= d:
        return X.astype(np.float32, copy=True), None
    rng = np.random.default_rng(seed)
    pca = fit_pca(X if n <= fit_rows else X[np.sort(rng.choice(n, size=fit_rows, replace=False))], components, seed)
    out = np.empty((n, components), dtype=np.float32)
    with threadpool_limits(limits=1, user_api="blas"):  # as every engine's passes: the bits do not depend on the thread count
        for start in range(0, n, 16384):  # small chunks: transform makes centred float64 copies
            out[start : start + 16384] = pca.transform(X[start : start + 16384])
    return out, pca


def fit_pca(fit_on: np.ndarray, components: int, seed: int) -> Any:
    """PCA fitted on ``fit_on``, its components stored row by row.

    The randomized solver leaves them in a strided layout that a pickled copy (what a Dask worker gets)
    does not keep, and BLAS rounds a product differently by the layout of its operands: in one layout
    everywhere, every process transforms a row to the same bits.
    """
    from sklearn.decomposition import PCA

    pca = PCA(n_components=components, svd_solver="randomized" if min(fit_on.shape) > 200 else "full", random_state=seed)
    pca.fit(fit_on)
    pca.components_ = np.ascontiguousarray(pca.components_)
    pca.mean_ = np.ascontiguousarray(pca.mean_)
    return pca


__all__ = ["ClusterTree", "LeafClusters", "RecursiveClusterer", "collapse", "cut_dendrogram", "descend_by_centres", "fit_pca", "reduce_dimensions"]
