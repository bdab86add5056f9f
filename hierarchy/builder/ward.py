"""Agglomeration of weighted cluster centroids by the nearest-neighbour chain (O(m^2) time, O(m d) memory).

Used to build the upper levels of a tree from leaf clusters. Each centroid stands for ``weight``
documents, and both linkages are computed *exactly* as if the documents themselves were merged:

* ``"average"`` (group average, UPGMA): the mean squared distance over all pairs of documents across
  the two clusters, ``|mu_a - mu_b|^2 + s_a + s_b`` where ``s`` is a cluster's mean squared distance
  to its own centroid. On unit vectors this is ``2 - 2 * (mean cosine between the groups)``, the
  classic document-clustering criterion.
* ``"ward"``: the increase in within-cluster sum of squares, reported as SciPy does
  (``sqrt(2 * cost)``).

Both are reducible, which is what makes the nearest-neighbour chain give the same tree as the
greedy algorithm.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from topicmap.hierarchy.builder.choices import LINKAGES


@dataclass
class Dendrogram:
    """A binary tree over ``m`` leaves: nodes 0..m-1 are the leaves, m..2m-2 the merges."""

    parents: np.ndarray  # (2m-1,) parent node, -1 for the root
    children: np.ndarray  # (m-1, 2) the two nodes merged into node m+i
    heights: np.ndarray  # (2m-1,) merge height (0 for leaves), monotone towards the root
    sizes: np.ndarray  # (2m-1,) total weight under each node

    @property
    def root(self) -> int:
        return self.parents.size - 1

    @property
    def n_leaves(self) -> int:
        return (self.parents.size + 1) // 2


def weighted_linkage(
    centroids: np.ndarray,
    weights: np.ndarray,
    scatter: np.ndarray | None = None,
    method: str = "average",
) -> Dendrogram:
    """Agglomerate weighted centroids; ties go to the lower index, so the result is deterministic.

    ``scatter[i]`` is cluster i's mean squared distance to its centroid (zero if omitted); only the
    average linkage needs it.
    """
    if method not in LINKAGES:
        raise ValueError(f"linkage must be one of {LINKAGES}, got {method!r}")
    m = centroids.shape[0]
    parents = np.full(2 * m - 1, -1, dtype=np.int64)
    children = np.zeros((max(m - 1, 0), 2), dtype=np.int64)
    heights = np.zeros(2 * m - 1, dtype=np.float64)
    sizes = np.zeros(2 * m - 1, dtype=np.float64)
    sizes[:m] = weights
    if m == 1:
        return Dendrogram(parents, children, heights, sizes)
    centres = np.asarray(centroids, dtype=np.float64).copy()
    mass = np.asarray(weights, dtype=np.float64).copy()
    spread = np.zeros(m) if scatter is None else np.asarray(scatter, dtype=np.float64).copy()
    node_of_slot = np.arange(m)  # a slot holds one active cluster; merges reuse the lower slot
    active = np.ones(m, dtype=bool)
    chain: list[int] = []
    next_node = m
    merges_done = 0
    while merges_done < m - 1:
        if not chain:
            chain.append(int(np.flatnonzero(active)[0]))
        a = chain[-1]
        diff = centres - centres[a]
        sq = (diff * diff).sum(axis=1)
        if method == "ward":
            cost = sq * (mass * mass[a]) / (mass + mass[a])
        else:
            cost = sq + spread + spread[a]
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
            if method == "ward":
                heights[node] = np.sqrt(2.0 * cost[b])
            else:
                heights[node] = cost[b]
            total = mass[low] + mass[high]
            sizes[node] = total
            spread[low] = (mass[low] * spread[low] + mass[high] * spread[high]) / total + mass[low] * mass[high] / total**2 * sq[b]
            centres[low] = (centres[low] * mass[low] + centres[high] * mass[high]) / total
            mass[low] = total
            active[high] = False
            node_of_slot[low] = node
            merges_done += 1
        else:
            chain.append(b)
    # Nearest-neighbour chains find merges out of height order; reducibility keeps the tree valid,
    # but enforce monotone heights against rounding so collapsing can trust them.
    for node in range(m, 2 * m - 1):
        left, right = children[node - m]
        heights[node] = max(heights[node], heights[left], heights[right])
    return Dendrogram(parents, children, heights, sizes)
