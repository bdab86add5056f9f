"""Tree quality against reference categories: dendrogram purity and per-level NMI/ARI.

Works on a bare parent array so the same code scores our trees and baselines (Ward's dendrogram,
flat k-means) alike.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score


def dendrogram_purity(parents: Sequence[int], doc_node: np.ndarray, classes: np.ndarray) -> float:
    """Dendrogram purity (Heller & Ghahramani 2005), computed exactly.

    For every pair of documents of the same class, take the purity (share of that class) of the
    smallest node holding both, and average. ``parents[i]`` is node i's parent (-1 for the root);
    ``doc_node[d]`` is the node document d hangs from. Counting pairs per node in one bottom-up pass
    makes it O(nodes x classes) rather than O(pairs).
    """
    parents = np.asarray(parents, dtype=np.int64)
    n_nodes = parents.size
    _, class_index = np.unique(np.asarray(classes), return_inverse=True)
    n_classes = int(class_index.max()) + 1
    counts = np.zeros((n_nodes, n_classes), dtype=np.float64)
    np.add.at(counts, (np.asarray(doc_node), class_index), 1.0)
    order = _bottom_up_order(parents)
    subtree = counts.copy()
    child_sq = np.zeros_like(counts)
    for node in order:
        parent = parents[node]
        if parent >= 0:
            subtree[parent] += subtree[node]
            child_sq[parent] += subtree[node] ** 2
    sizes = subtree.sum(axis=1)
    # Ordered pairs whose lowest common node is this one: all pairs inside it minus pairs inside one
    # child, minus a document paired with itself (documents hanging directly from the node).
    pairs_here = subtree**2 - child_sq - counts
    purity = np.divide(subtree, sizes[:, None], out=np.zeros_like(subtree), where=sizes[:, None] > 0)
    total_pairs = float((np.bincount(class_index) * (np.bincount(class_index) - 1)).sum())
    if total_pairs == 0:
        return 1.0
    return float((pairs_here * purity).sum() / total_pairs)


def _bottom_up_order(parents: np.ndarray) -> np.ndarray:
    """Nodes ordered so every child comes before its parent."""
    depth = np.zeros(parents.size, dtype=np.int64)
    for node in range(parents.size):
        d, p = 0, parents[node]
        while p >= 0:
            d += 1
            p = parents[p]
        depth[node] = d
    return np.argsort(-depth, kind="stable")


def level_assignments(parents: Sequence[int], doc_node: np.ndarray) -> list[np.ndarray]:
    """For each depth 1..max, the node every document falls in at that depth (its leaf when shallower)."""
    parents = np.asarray(parents, dtype=np.int64)
    n_nodes = parents.size
    depth = np.zeros(n_nodes, dtype=np.int64)
    for node in range(n_nodes):
        p, d = parents[node], 0
        while p >= 0:
            d, p = d + 1, parents[p]
        depth[node] = d
    max_depth = int(depth[np.unique(np.asarray(doc_node))].max())
    # ancestor[node, d]: the node's ancestor at depth d (itself when it is not that deep)
    ancestor = np.tile(np.arange(n_nodes)[:, None], (1, max_depth + 1))
    for node in range(n_nodes):
        current = node
        while current >= 0:
            ancestor[node, min(depth[current], max_depth)] = current
            current = parents[current]
        for d in range(depth[node] + 1, max_depth + 1):
            ancestor[node, d] = node
    doc_node = np.asarray(doc_node)
    return [ancestor[doc_node, d] for d in range(1, max_depth + 1)]


def best_level_scores(parents: Sequence[int], doc_node: np.ndarray, classes: np.ndarray, target_k: int) -> dict[str, float]:
    """NMI and ARI at the tree level whose cluster count is closest to ``target_k``."""
    levels = level_assignments(parents, doc_node)
    counts = [np.unique(level).size for level in levels]
    best = min(range(len(levels)), key=lambda i: (abs(counts[i] - target_k), i))
    labels = levels[best]
    return {
        "depth": best + 1,
        "n_clusters": counts[best],
        "nmi": float(normalized_mutual_info_score(classes, labels)),
        "ari": float(adjusted_rand_score(classes, labels)),
    }
