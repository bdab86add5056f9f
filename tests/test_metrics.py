"""Dendrogram purity and per-level scores on examples small enough to check by hand."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.cluster.hierarchy import linkage

from topicmap.hierarchy.quality.metrics import best_level_scores, dendrogram_purity, level_assignments


def test_perfect_tree_has_purity_one() -> None:
    # root(0) -> a(1), b(2); documents hang from the leaf of their own class
    parents = [-1, 0, 0]
    doc_node = np.array([1, 1, 1, 2, 2])
    classes = np.array(["x", "x", "x", "y", "y"])
    assert dendrogram_purity(parents, doc_node, classes) == pytest.approx(1.0)


def test_hand_computed_case() -> None:
    # leaf 1 holds docs 0, 1, 2 (classes a, a, b); leaf 2 holds doc 3 (class b).
    # Pair (0, 1) meets at leaf 1 where a has purity 2/3; pair (2, 3) meets at the root where b has 2/4.
    parents = [-1, 0, 0]
    doc_node = np.array([1, 1, 1, 2])
    classes = np.array(["a", "a", "b", "b"])
    assert dendrogram_purity(parents, doc_node, classes) == pytest.approx((2 / 3 + 1 / 2) / 2)


def test_flat_tree_purity_is_class_share() -> None:
    parents = [-1]
    doc_node = np.zeros(6, dtype=int)
    classes = np.array([0, 0, 0, 0, 1, 1])  # pairs: 6 of class 0 at purity 4/6, 1 of class 1 at 2/6
    expected = (6 * 4 / 6 + 1 * 2 / 6) / 7
    assert dendrogram_purity(parents, doc_node, classes) == pytest.approx(expected)


def test_matches_brute_force_on_a_scipy_dendrogram() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 3))
    classes = rng.integers(0, 3, size=30)
    Z = linkage(X, "average")
    n = 30
    parents = np.full(2 * n - 1, -1)
    for i, (a, b, _, _) in enumerate(Z):
        parents[int(a)] = parents[int(b)] = n + i

    def ancestors(node: int) -> list[int]:
        out = [node]
        while parents[out[-1]] >= 0:
            out.append(int(parents[out[-1]]))
        return out

    leaves_under: dict[int, list[int]] = {}
    for doc in range(n):
        for node in ancestors(doc):
            leaves_under.setdefault(node, []).append(doc)
    total, count = 0.0, 0
    for i in range(n):
        for j in range(i + 1, n):
            if classes[i] != classes[j]:
                continue
            lca = next(a for a in ancestors(i) if a in set(ancestors(j)))
            members = leaves_under[lca]
            total += np.mean(classes[members] == classes[i])
            count += 1
    assert dendrogram_purity(parents, np.arange(n), classes) == pytest.approx(total / count)


def test_level_assignments_keep_shallow_leaves() -> None:
    # root(0) -> 1 (leaf), 2 -> 3, 4
    parents = [-1, 0, 0, 2, 2]
    doc_node = np.array([1, 3, 4])
    level1, level2 = level_assignments(parents, doc_node)
    assert level1.tolist() == [1, 2, 2]
    assert level2.tolist() == [1, 3, 4]


def test_best_level_picks_the_closest_count() -> None:
    parents = [-1, 0, 0, 2, 2]
    doc_node = np.array([1, 1, 3, 4])
    classes = np.array([0, 0, 1, 2])
    scores = best_level_scores(parents, doc_node, classes, target_k=3)
    assert scores["depth"] == 2 and scores["n_clusters"] == 3
    assert scores["nmi"] == pytest.approx(1.0) and scores["ari"] == pytest.approx(1.0)
