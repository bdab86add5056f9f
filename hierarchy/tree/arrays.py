"""The tree as arrays: one numbering of the nodes that every stage shares.

Nodes are numbered in pre-order (the root is 0, each node comes before its descendants, siblings
in display order: decreasing size at build time, the order of ``TopicTree.children``). Two facts
follow that make most questions an array slice: node ``i``'s subtree is the run ``i ..
subtree_end[i] - 1``, and documents sorted by their leaf's number make every node's documents one
run of ``doc_order`` too. Children are stored in CSR form (``child_indptr``, ``child_indices``), as
in ``scipy.sparse``.

The arrays are built once per tree: :attr:`TopicTree.arrays` keeps them (the tree file is read into
one), :meth:`TreeArrays.from_cluster_tree` makes them from the clusterer's output, and
:meth:`TreeArrays.from_parents` from any parent array (baselines such as a Ward dendrogram). They
are read-only: a stage that needs another tree builds another ``TreeArrays``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np

from topicmap.hierarchy.inputs.vectors import normalise_rows

if TYPE_CHECKING:  # no import at run time: topic_tree imports this module
    from topicmap.hierarchy.builder.cluster import ClusterTree
    from topicmap.hierarchy.tree.topic_tree import TopicTree

DESCENT_CHUNK_ROWS = 65536  # rows walked down together: bounds the copies of rows each step makes


class NotATreeError(ValueError):
    """A parent array that is not one rooted tree (no root, several roots, a cycle, an index out of range)."""


@dataclass(frozen=True, eq=False)
class TreeArrays:
    """A rooted tree and the documents on it, as read-only arrays in pre-order.

    ``node_ids[i]`` is node i's id; ``parents[i]`` its parent (-1 for the root, node 0); ``depth[i]``
    its depth (the root's is 0); node i's children are ``child_indices[child_indptr[i]:child_indptr[i + 1]]``
    (increasing, which is display order); its subtree is ``i .. subtree_end[i] - 1``; ``sizes[i]``
    counts the documents under it. ``doc_leaf[r]`` is the node document row r hangs from.
    """

    node_ids: tuple[str, ...]
    parents: np.ndarray
    depth: np.ndarray
    child_indptr: np.ndarray
    child_indices: np.ndarray
    subtree_end: np.ndarray
    doc_leaf: np.ndarray
    sizes: np.ndarray

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, np.ndarray):
                value.setflags(write=False)  # shared by every stage (and cached on the tree): nobody may change them

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TreeArrays):
            return NotImplemented
        return self.node_ids == other.node_ids and all(
            np.array_equal(getattr(self, f.name), getattr(other, f.name)) for f in fields(self) if f.name != "node_ids"
        )

    __hash__ = None  # type: ignore[assignment]

    # -- constructors ----------------------------------------------------------------------
    @classmethod
    def from_parents(
        cls,
        parents: Sequence[int] | np.ndarray,
        doc_leaf: Sequence[int] | np.ndarray,
        node_ids: Sequence[str] | None = None,
        sizes: Sequence[int] | np.ndarray | None = None,
    ) -> TreeArrays:
        """The arrays of a tree given as a parent array in any numbering (children in increasing index).

        ``doc_leaf`` indexes that numbering; ``node_ids`` default to the input indices as strings,
        ``sizes`` to the documents counted under each node. Raises :class:`NotATreeError`.
        """
        return cls.from_parents_with_source(parents, doc_leaf, node_ids, sizes)[0]

    @classmethod
    def from_parents_with_source(
        cls,
        parents: Sequence[int] | np.ndarray,
        doc_leaf: Sequence[int] | np.ndarray,
        node_ids: Sequence[str] | None = None,
        sizes: Sequence[int] | np.ndarray | None = None,
    ) -> tuple[TreeArrays, np.ndarray]:
        """:meth:`from_parents`, and for every node its index in the input numbering (to take results back there)."""
        parents = np.asarray(parents, dtype=np.int64)
        order, depth, counts = _preorder_layout(parents)
        n = parents.size
        rank = np.empty(n, dtype=np.int64)
        rank[order] = np.arange(n)
        old_parents = parents[order]
        new_parents = np.where(old_parents >= 0, rank[np.maximum(old_parents, 0)], -1)
        doc_leaf = np.asarray(doc_leaf, dtype=np.int64)
        if doc_leaf.size and (doc_leaf.min() < 0 or doc_leaf.max() >= n):
            raise NotATreeError(f"a document hangs from node {int(doc_leaf.max() if doc_leaf.max() >= n else doc_leaf.min())}, which is not in the tree")
        new_doc_leaf = rank[doc_leaf]
        subtree_end = np.arange(n, dtype=np.int64) + counts[order]
        if sizes is None:
            bounds = _doc_bounds(new_doc_leaf, n)
            new_sizes = bounds[subtree_end] - bounds[:-1]
        else:
            new_sizes = np.asarray(sizes, dtype=np.int64)[order]
        ids = tuple(str(i) for i in order.tolist()) if node_ids is None else tuple(node_ids[i] for i in order.tolist())
        indptr, indices = _children_csr(new_parents)
        return cls(ids, new_parents, depth[order], indptr, indices, subtree_end, new_doc_leaf, new_sizes), order

    @classmethod
    def from_cluster_tree(cls, shape: ClusterTree) -> TreeArrays:
        """The clusterer's tree (nodes in the order it made them) renumbered in pre-order."""
        return shape.to_arrays()[0]

    @classmethod
    def from_topic_tree(cls, tree: TopicTree) -> TreeArrays:
        """The arrays a :class:`TopicTree` keeps (built once per tree)."""
        return tree.arrays

    # -- lookups ---------------------------------------------------------------------------
    @property
    def n_nodes(self) -> int:
        return len(self.node_ids)

    @property
    def n_docs(self) -> int:
        return int(self.doc_leaf.size)

    @cached_property
    def index(self) -> dict[str, int]:
        """Node id -> node number."""
        return {node_id: i for i, node_id in enumerate(self.node_ids)}

    def index_of(self, node_ids: Sequence[str]) -> np.ndarray:
        """Node numbers of ``node_ids`` (KeyError for an unknown id)."""
        index = self.index
        return np.fromiter((index[i] for i in node_ids), dtype=np.int64, count=len(node_ids))

    @cached_property
    def n_children(self) -> np.ndarray:
        return _read_only(np.diff(self.child_indptr))

    @cached_property
    def is_leaf(self) -> np.ndarray:
        return _read_only(self.n_children == 0)

    @property
    def max_depth(self) -> int:
        return int(self.depth.max())

    def children(self, node: int) -> np.ndarray:
        return self.child_indices[self.child_indptr[node] : self.child_indptr[node + 1]]

    # -- orders ----------------------------------------------------------------------------
    def breadth_first(self) -> np.ndarray:
        """Nodes level by level, each level in display order (``TopicTree.iter_nodes``)."""
        return np.argsort(self.depth, kind="stable")

    def bottom_up(self) -> np.ndarray:
        """The deepest level first, each level in display order: every node after its children.

        Sums pushed up in this order reach each parent from its children in display order, the
        order the builder has always added them in (so centroids come out bit for bit the same).
        """
        return np.argsort(-self.depth, kind="stable")

    def levels(self) -> list[np.ndarray]:
        """The nodes of depth 0, 1, ... each in display order."""
        order = self.breadth_first()
        counts = np.bincount(self.depth, minlength=self.max_depth + 1)
        return np.split(order, np.cumsum(counts)[:-1])

    # -- documents -------------------------------------------------------------------------
    @cached_property
    def doc_order(self) -> np.ndarray:
        """Document rows sorted by their leaf's number (row order within a leaf): node i's rows are ``doc_order[doc_lo[i]:doc_hi[i]]``."""
        return _read_only(np.argsort(self.doc_leaf, kind="stable"))

    @cached_property
    def _bounds(self) -> np.ndarray:
        return _read_only(_doc_bounds(self.doc_leaf, self.n_nodes))

    @property
    def doc_lo(self) -> np.ndarray:
        return self._bounds[:-1]

    @cached_property
    def doc_hi(self) -> np.ndarray:
        return _read_only(self._bounds[self.subtree_end])

    def doc_rows(self, node: int) -> np.ndarray:
        """Rows of the documents under ``node``, grouped by leaf in display order."""
        return self.doc_order[self._bounds[node] : self.doc_hi[node]]

    # -- ancestors -------------------------------------------------------------------------
    def node_ancestors(self, depth: int) -> np.ndarray:
        """Every node's ancestor at ``depth`` (itself at its own depth); -1 for nodes shallower than that."""
        heads = np.flatnonzero(self.depth == depth)  # their subtrees are disjoint runs that cover every deeper node
        out = np.full(self.n_nodes, -1, dtype=np.int64)
        lengths = self.subtree_end[heads] - heads
        out[_runs(heads, lengths)] = np.repeat(heads, lengths)
        return out

    def doc_ancestors(self, depth: int, shallow_leaf: bool = False) -> np.ndarray:
        """Every document's node at ``depth``; a document whose leaf is shallower gets -1, or its leaf with ``shallow_leaf``."""
        out = self.node_ancestors(depth)[self.doc_leaf]
        if shallow_leaf:
            out = np.where(out < 0, self.doc_leaf, out)
        return out

    def doc_levels(self) -> list[np.ndarray]:
        """For depth 1 .. the deepest document: every document's node there, its leaf where the leaf is shallower.

        The flat clusterings a tree offers, one per level, as reference metrics (NMI, ARI, silhouette) compare them.
        """
        deepest = int(self.depth[self.doc_leaf].max()) if self.n_docs else 0
        return self.members_per_depth(shallow_leaf=True, first=1, last=deepest)

    def members_per_depth(self, shallow_leaf: bool = False, first: int = 0, last: int | None = None) -> list[np.ndarray]:
        """:meth:`doc_ancestors` for each depth ``first .. last`` (default: the tree's deepest level)."""
        last = self.max_depth if last is None else last
        return [self.doc_ancestors(d, shallow_leaf) for d in range(first, last + 1)]

    # -- sums ------------------------------------------------------------------------------
    def subtree_sums(self, values: np.ndarray) -> np.ndarray:
        """``values`` (one row per node) with every node's row replaced by the sum over its subtree.

        Pushed up level by level from the deepest; a parent adds its children in display order.
        """
        out = np.array(values, copy=True)
        for nodes in reversed(self.levels()[1:]):
            np.add.at(out, self.parents[nodes], out[nodes])
        return out

    # -- walking down by centres -----------------------------------------------------------
    def descend(
        self, rows: np.ndarray, unit_centres: np.ndarray, unit_rows: bool = True, chunk: int = DESCENT_CHUNK_ROWS
    ) -> list[np.ndarray]:
        """The node every row reaches at depth 1, 2, ... walking down from the root to the child of highest cosine.

        ``unit_centres`` has one unit-length row per node (rows of nodes without children are not
        read). With ``unit_rows=False`` each chunk of ``rows`` is scaled to unit length first. A row
        whose walk ended at a leaf stays there in the deeper levels; ties go to the earlier child.
        Rows are walked ``chunk`` at a time, so memory stays bounded whatever their number.
        """
        parts: list[tuple[int, list[np.ndarray]]] = []
        for start in range(0, rows.shape[0], chunk):
            block = rows[start : start + chunk]
            parts.append((block.shape[0], self._descend_chunk(block if unit_rows else normalise_rows(block), unit_centres)))
        steps = max((len(levels) for _, levels in parts), default=0)
        # a chunk whose walks all ended sooner stays where it ended (at the root if the root is a leaf)
        return [
            np.concatenate([levels[min(step, len(levels) - 1)] if levels else np.zeros(size, dtype=np.int64) for size, levels in parts])
            for step in range(steps)
        ]

    def _descend_chunk(self, rows: np.ndarray, unit_centres: np.ndarray) -> list[np.ndarray]:
        current = np.zeros(rows.shape[0], dtype=np.int64)
        per_level: list[np.ndarray] = []
        while True:
            order = np.argsort(current, kind="stable")
            nodes, starts = np.unique(current[order], return_index=True)
            bounds = np.append(starts, order.size)
            moved_down = False
            step = current.copy()
            for i, node in enumerate(nodes.tolist()):
                kids = self.children(node)
                if kids.size == 0:
                    continue
                members = order[bounds[i] : bounds[i + 1]]
                step[members] = kids[np.argmax(rows[members] @ unit_centres[kids].T, axis=1)]
                moved_down = True
            if not moved_down:
                return per_level
            current = step
            per_level.append(current.copy())


def preorder(parents: Sequence[int] | np.ndarray) -> np.ndarray:
    """The nodes of a parent array (any numbering; -1 marks the root) in pre-order, children by increasing index."""
    return _preorder_layout(np.asarray(parents, dtype=np.int64))[0]


def _preorder_layout(parents: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pre-order, depth and subtree node counts of a parent array, level by level (a few array operations per level)."""
    n = parents.size
    if n == 0:
        raise NotATreeError("a tree needs a root node")
    if parents.ndim != 1 or parents.min() < -1 or parents.max() >= n:
        raise NotATreeError("a parent index is out of range")
    roots = np.flatnonzero(parents < 0)
    if roots.size != 1:
        raise NotATreeError(f"a tree has exactly one root, found {roots.size}")
    indptr, indices = _children_csr(parents)
    levels = [roots]
    while True:
        frontier = levels[-1]
        starts = indptr[frontier]
        kids = indices[_runs(starts, indptr[frontier + 1] - starts)]
        if kids.size == 0:
            break
        levels.append(kids)
    reached = sum(level.size for level in levels)
    if reached != n:
        raise NotATreeError(f"{n - reached} of {n} nodes do not lead up to the root (a cycle)")
    depth = np.empty(n, dtype=np.int64)
    for d, level in enumerate(levels):
        depth[level] = d
    counts = np.ones(n, dtype=np.int64)  # nodes in each subtree
    for level in reversed(levels[1:]):
        np.add.at(counts, parents[level], counts[level])
    rank = np.empty(n, dtype=np.int64)
    rank[roots[0]] = 0
    for level in levels[1:]:  # each level lists its nodes grouped by parent, siblings by increasing index
        sizes = counts[level]
        before = np.cumsum(sizes) - sizes  # subtree nodes of the level's earlier nodes ...
        first = np.flatnonzero(np.r_[True, parents[level][1:] != parents[level][:-1]])
        group_start = np.repeat(before[first], np.diff(np.r_[first, level.size]))
        rank[level] = rank[parents[level]] + 1 + before - group_start  # ... counting only earlier siblings'
    order = np.empty(n, dtype=np.int64)
    order[rank] = np.arange(n)
    return order, depth, counts


def _children_csr(parents: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Children of every node as CSR (indptr, indices), each node's children in increasing index."""
    n = parents.size
    child = np.flatnonzero(parents >= 0)
    indices = child[np.argsort(parents[child], kind="stable")]
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(parents[child], minlength=n), out=indptr[1:])
    return indptr, indices.astype(np.int64)


def _runs(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The indices ``starts[k] .. starts[k] + lengths[k] - 1`` for every k, concatenated."""
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    offsets = np.repeat(starts - np.cumsum(lengths) + lengths, lengths)
    return offsets + np.arange(total, dtype=np.int64)


def _doc_bounds(doc_leaf: np.ndarray, n_nodes: int) -> np.ndarray:
    """``bounds[i]``: documents on nodes numbered below i (so node i's run of ``doc_order`` starts there)."""
    bounds = np.zeros(n_nodes + 1, dtype=np.int64)
    np.cumsum(np.bincount(doc_leaf, minlength=n_nodes), out=bounds[1:])
    return bounds


def _read_only(array: np.ndarray) -> np.ndarray:
    array.setflags(write=False)
    return array


__all__ = ["DESCENT_CHUNK_ROWS", "NotATreeError", "TreeArrays", "preorder"]
