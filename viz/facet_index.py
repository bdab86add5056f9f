"""Array views of several facet trees of one collection: each tree's :class:`TreeIndex`, and how a
document's row in one tree maps to its row in another, so "where do node A's documents sit in tree B"
is one vectorised count over B's nodes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from topicmap.hierarchy.analysis.crosstab import Crosstab, crosstab
from topicmap.hierarchy.analysis.facet_trees import FacetTree, check_facet_documents
from topicmap.hierarchy.tree.topic_tree import ROOT_ID
from topicmap.viz.index import TreeIndex

MAX_TABLE_DEPTH = 4  # deepest cut offered for the node x node table


@dataclass(frozen=True)
class CrossCounts:
    """Where the documents of ``node`` (facet ``source``) sit in facet ``target``.

    ``counts[i]``: how many of them lie under ``target``'s node at position ``i``;
    ``n_selected``: how many documents ``node`` holds (the denominator of every share)."""

    source: str
    node: str
    target: str
    counts: np.ndarray
    n_selected: int

    @property
    def shares(self) -> np.ndarray:
        return self.counts / max(self.n_selected, 1)


class FacetIndex:
    """The facets by name (in the order given), their indexes, and cached row maps and tables."""

    def __init__(self, facets: Sequence[FacetTree]) -> None:
        if len(facets) < 2:
            raise ValueError("a FacetIndex needs at least two facet trees")
        check_facet_documents(facets)
        self.facets: list[FacetTree] = list(facets)
        self.names: list[str] = [f.name for f in facets]
        self.by_name: dict[str, FacetTree] = {f.name: f for f in facets}
        self.indexes: dict[str, TreeIndex] = {f.name: TreeIndex(f.tree) for f in facets}
        self.n_docs = facets[0].tree.n_documents
        self._row_maps: dict[tuple[str, str], np.ndarray] = {}
        self._tables: dict[tuple[str, str, int, int], Crosstab] = {}

    def __contains__(self, name: object) -> bool:
        return name in self.by_name

    def index(self, name: str) -> TreeIndex:
        return self.indexes[name]

    def others(self, name: str) -> list[str]:
        """Every facet but ``name``, in the order given."""
        return [n for n in self.names if n != name]

    def row_map(self, source: str, target: str) -> np.ndarray:
        """``row_map(a, b)[row in a] = row of the same document in b`` (built once per pair)."""
        key = (source, target)
        if key not in self._row_maps:
            b_rows = self.indexes[target].doc_row_by_id
            self._row_maps[key] = np.fromiter((b_rows[i] for i in self.indexes[source].store.strings("id")), dtype=np.int64, count=self.n_docs)
        return self._row_maps[key]

    def cross_counts(self, source: str, node: str, target: str) -> CrossCounts:
        """For every node of ``target``, how many documents of ``source``'s ``node`` lie under it."""
        a = self.indexes[source]
        node = node if node in a else ROOT_ID
        rows_a = a.node_doc_rows(node)
        rows_b = self.row_map(source, target)[rows_a]
        return CrossCounts(source, node, target, self.indexes[target].counts_per_node(rows_b), int(len(rows_a)))

    def depth_for(self, name: str, depth: object) -> int:
        """A requested table depth made valid for the facet's tree (1 .. its depth, at most MAX_TABLE_DEPTH)."""
        deepest = max(1, min(self.indexes[name].max_depth, MAX_TABLE_DEPTH))
        value = int(depth) if isinstance(depth, (int, float)) and not isinstance(depth, bool) else 1
        return min(max(value, 1), deepest)

    def table(self, source: str, target: str, depth_a: int, depth_b: int) -> Crosstab:
        """``topicmap crosstab SOURCE TARGET --depth depth_a --depth-b depth_b``, computed once."""
        key = (source, target, depth_a, depth_b)
        if key not in self._tables:
            a, b = self.by_name[source], self.by_name[target]
            self._tables[key] = crosstab(a.tree, b.tree, depth_a, depth_b, a.source, b.source)
        return self._tables[key]


__all__ = ["MAX_TABLE_DEPTH", "CrossCounts", "FacetIndex"]
