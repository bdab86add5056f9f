"""Weighted Ward agglomeration of cluster centroids by the nearest-neighbour chain (O(m^2) time).

Used to build the upper levels of a tree from leaf clusters: each centroid stands for ``weight``
documents, and the merge cost is Ward's increase in within-cluster variance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Dendrogram:
    """A binary tree over ``m`` leaves: nodes 0..m-1 are the leaves, m..2m-2 the merges."""

    parents: np.ndarray  # (2m-1,) parent node, -1 for the root
    children: np.ndarray  # (m-1, 2) the two nodes merged into node m+i
    heights: np.ndarray  # (2m-1,) merge height (0 for leaves), sqrt(2 * Ward cost) as in SciPy
    sizes: np.ndarray  # (2m-1,) total weight under each node

    @property
    def root(self) -> int:
        return self.parents.size - 1


def weighted_ward(centroids: np.ndarray, weights: np.ndarray) -> Dendrogram:
    """Ward linkage of weighted points; ties broken towards the lower index for determinism."""
    m = centroids.shape[0]
    parents = np.full(2 * m - 1, -1, dtype=np.int64)
    children = np.zeros((max(m - 1, 0), 2), dtype=np.int64)
    heights = np.zeros(2 * m - 1, dtype=np.float64)
    sizes = np.zeros(2 * m - 1, dtype=np.float64)
    sizes[:m] = weights
    if m == 1:
        return Dendrogram(parents, children, heights, sizes)
    centers = np.asarray(centroids, dtype=np.float64).copy()
    mass = np.asarray(weights, dtype=np.float64).copy()
    node_of_slot = np.arange(m)  # a slot holds one active cluster; merges reuse the lower slot
    active = np.ones(m, dtype=bool)
    chain: list[int] = []
    next_node = m
    merges_done = 0
    while merges_done < m - 1:
        if not chain:
            chain.append(int(np.flatnonzero(active)[0]))
        a = chain[-1]
        diff = centers - centers[a]
        cost = (diff * diff).sum(axis=1) * (mass * mass[a]) / (mass + mass[a])
        cost[~active] = np.inf
        cost[a] = np.inf
        b = int(cost.argmin())
        if len(chain) > 1 and cost[chain[-2]] <= cost[b]:
            b = chain[-2]
        if len(chain) > 1 and b == chain[-2]:
            chain.pop()
            chain.pop()
            low, high = (a, b) if a < b else (b, a)
            node = next_node
            next_node += 1
            left, right = node_of_slot[low], node_of_slot[high]
            children[node - m] = (left, right)
            parents[left] = parents[right] = node
            heights[node] = np.sqrt(2.0 * cost[b]) if np.isfinite(cost[b]) else 0.0
            sizes[node] = mass[low] + mass[high]
            centers[low] = (centers[low] * mass[low] + centers[high] * mass[high]) / (mass[low] + mass[high])
            mass[low] += mass[high]
            active[high] = False
            node_of_slot[low] = node
            merges_done += 1
        else:
            chain.append(b)
    # Nearest-neighbour chains find merges out of height order; reducibility of Ward keeps the
    # tree valid, but enforce monotone heights against rounding so collapsing can trust them.
    for node in range(m, 2 * m - 1):
        left, right = children[node - m]
        heights[node] = max(heights[node], heights[left], heights[right])
    return Dendrogram(parents, children, heights, sizes)
