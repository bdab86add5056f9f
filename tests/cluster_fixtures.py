"""Small seeded corpora for the clustering tests (no ../shared needed)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from topicmap.hierarchy.builder.cluster import ClusterTree
from topicmap.hierarchy.builder.synthetic import SyntheticCorpus, make_hierarchical_embeddings


@lru_cache(maxsize=4)
def corpus(n: int = 2400, branching: tuple[int, ...] = (5, 4), seed: int = 7) -> SyntheticCorpus:
    """A cached synthetic corpus; tests must not modify its arrays."""
    data = make_hierarchical_embeddings(n, branching=branching, dim=64, noise=1.0, random_state=seed)
    data.X.setflags(write=False)
    return data


def level_of(tree: ClusterTree, depth: int) -> np.ndarray:
    """Each document's node at ``depth`` (its leaf when the leaf is shallower)."""
    parents = tree.parent_indices()
    out = tree.doc_leaf.copy()
    node_depth = np.array([tree.depth_of(i) for i in range(len(tree.node_ids))])
    for _ in range(int(node_depth.max())):
        deeper = node_depth[out] > depth
        out[deeper] = parents[out[deeper]]
    return out
