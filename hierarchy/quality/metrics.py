"""Tree quality against reference categories: dendrogram purity and per-level NMI/ARI.

Works on a bare parent array in any numbering (made into :class:`TreeArrays` inside), so the same
code scores our trees and baselines (Ward's dendrogram, flat k-means) alike.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from topicmap.hierarchy.tree.arrays import TreeArrays


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
    tree, source = TreeArrays.from_parents_with_source(parents, doc_node)
    below = tree.subtree_sums(counts[source])
    below_children = np.zeros_like(below)
    np.add.at(below_children, tree.parents[1:], below[1:] ** 2)
    back = np.argsort(source)  # the caller's numbering again: the sum below adds the nodes in the order it always has
    subtree, child_sq = below[back], below_children[back]
    sizes = subtree.sum(axis=1)
    # Ordered pairs whose lowest common node is this one: all pairs inside it minus pairs inside one
    # child, minus a document paired with itself (documents hanging directly from the node).
    pairs_here = subtree**2 - child_sq - counts
    purity = np.divide(subtree, sizes[:, None], out=np.zeros_like(subtree), where=sizes[:, None] > 0)
    total_pairs = float((np.bincount(class_index) * (np.bincount(class_index) - 1)).sum())
    if total_pairs == 0:
        return 1.0
    return float((pairs_here * purity).sum() / total_pairs)


def level_assignments(parents: Sequence[int], doc_node: np.ndarray) -> list[np.ndarray]:
    """For each depth 1..max, the node every document falls in at that depth (its leaf when shallower)."""
    tree, source = TreeArrays.from_parents_with_source(parents, doc_node)
    return [source[level] for level in tree.doc_levels()]


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
