"""Node x node table of two trees over the same documents: where one tree's topics sit in the other's.

Two trees of one collection (facet trees built from different text columns, or a centroid tree and
its regrouped twin) are cut at a depth each; cell (a, b) counts the documents under node a of the
first cut and node b of the second. A document whose leaf is shallower than the cut counts at its
leaf, so every document is in exactly one row and one column. Row shares divide each row by its total:
"of this problem's documents, 40 % use this method".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from topicmap.hierarchy.base.errors import InputError
from topicmap.hierarchy.base.safe_text import clip, printable
from topicmap.hierarchy.tree.topic_tree import TopicTree

SHOWN_IDS = 3  # ids quoted in the error for trees over different documents


@dataclass(frozen=True)
class Crosstab:
    """``counts[i, j]``: documents under ``rows[i]`` (tree A) and ``columns[j]`` (tree B)."""

    rows: list[str]  # node ids of tree A at the cut, in tree order
    row_labels: list[str]
    columns: list[str]  # node ids of tree B at the cut
    column_labels: list[str]
    counts: np.ndarray  # (rows, columns) int64
    depth_a: int
    depth_b: int

    @property
    def row_totals(self) -> np.ndarray:
        return self.counts.sum(axis=1)

    @property
    def row_shares(self) -> np.ndarray:
        """Each row divided by its total (a row with no documents stays 0)."""
        totals = self.row_totals.astype(np.float64)
        return self.counts / np.maximum(totals, 1.0)[:, None]


def check_same_documents(a: TopicTree, b: TopicTree, name_a: str = "tree A", name_b: str = "tree B") -> None:
    """Refuse two trees whose document ids differ, saying how many differ and showing a few."""
    ids_a = set(a.store.strings("id"))
    ids_b = set(b.store.strings("id"))
    if ids_a == ids_b:
        return
    only_a = sorted(ids_a - ids_b)
    only_b = sorted(ids_b - ids_a)
    parts = []
    for name, only in ((name_a, only_a), (name_b, only_b)):
        if only:
            shown = ", ".join(repr(clip(i, 40)) for i in only[:SHOWN_IDS])
            parts.append(f"{len(only):,} only in {name} (e.g. {shown})")
    raise InputError(f"{name_a} and {name_b} are not over the same documents: {'; '.join(parts)}; build both trees from the same document ids")


def cut(tree: TopicTree, depth: int, name: str = "the tree", option: str = "--depth") -> tuple[list[str], dict[str, int]]:
    """The nodes of a cut at ``depth`` (a leaf above it stands for itself) and each leaf's position in it."""
    if depth < 1:
        raise InputError(f"{option} {depth}: must be at least 1 (depth 1 is the top level under the root)")
    arrays = tree.arrays
    deepest = arrays.max_depth
    if depth > deepest:
        raise InputError(f"{option} {depth}: {name} is only {deepest} level{'s' if deepest != 1 else ''} deep")
    order = arrays.breadth_first()  # parents first, each level in display order
    shallow_leaf = arrays.is_leaf & (arrays.depth > 0) & (arrays.depth < depth)
    cut_nodes = order[(arrays.depth[order] == depth) | shallow_leaf[order]]
    place = np.full(arrays.n_nodes, -1, dtype=np.int64)
    place[cut_nodes] = np.arange(cut_nodes.size)
    above = arrays.node_ancestors(depth)  # a leaf's node at the cut; -1 for a leaf above it, which stands for itself
    leaves = np.flatnonzero(arrays.is_leaf)
    under = place[np.where(above[leaves] >= 0, above[leaves], leaves)]
    nodes = [arrays.node_ids[i] for i in cut_nodes.tolist()]
    position = {arrays.node_ids[leaf]: int(k) for leaf, k in zip(leaves.tolist(), under.tolist())}
    return nodes, position


def crosstab(a: TopicTree, b: TopicTree, depth_a: int = 1, depth_b: int | None = None, name_a: str = "tree A", name_b: str = "tree B") -> Crosstab:
    """The node x node table of ``a`` cut at ``depth_a`` against ``b`` cut at ``depth_b`` (default: the same depth).

    Documents are matched by id; the trees must hold the same ids (:func:`check_same_documents`).
    """
    depth_b = depth_a if depth_b is None else depth_b
    check_same_documents(a, b, name_a, name_b)
    rows, row_of_leaf = cut(a, depth_a, name_a, "--depth")
    columns, column_of_leaf = cut(b, depth_b, name_b, "--depth-b")
    # ids and leaves only (a sidecar tree's texts are never read)
    node_ids_b, node_ids_a = b.arrays.node_ids, a.arrays.node_ids
    column_of_doc = {doc_id: column_of_leaf[node_ids_b[leaf]] for doc_id, leaf in zip(b.store.strings("id"), b.arrays.doc_leaf.tolist())}
    ids_a_rows = a.store.strings("id")
    r = np.fromiter((row_of_leaf[node_ids_a[leaf]] for leaf in a.arrays.doc_leaf.tolist()), dtype=np.int64, count=a.n_documents)
    c = np.fromiter((column_of_doc[doc_id] for doc_id in ids_a_rows), dtype=np.int64, count=a.n_documents)
    counts = np.bincount(r * len(columns) + c, minlength=len(rows) * len(columns)).reshape(len(rows), len(columns))
    return Crosstab(
        rows=rows,
        row_labels=[a.node(i).label for i in rows],
        columns=columns,
        column_labels=[b.node(i).label for i in columns],
        counts=counts.astype(np.int64),
        depth_a=depth_a,
        depth_b=depth_b,
    )


def long_rows(table: Crosstab, keep_zeros: bool = False) -> list[list[object]]:
    """One row per (node A, node B) pair: ids, labels, count, share of node A's documents, share of node B's."""
    shares = table.row_shares
    column_totals = table.counts.sum(axis=0)
    out: list[list[object]] = []
    for i, row in enumerate(table.rows):
        for j, column in enumerate(table.columns):
            count = int(table.counts[i, j])
            if count == 0 and not keep_zeros:
                continue
            out.append([
                row, table.row_labels[i], column, table.column_labels[j], count,
                round(float(shares[i, j]), 4), round(count / max(int(column_totals[j]), 1), 4),
            ])
    return out


LONG_HEADER = ["a_node", "a_label", "b_node", "b_label", "documents", "share_of_a", "share_of_b"]


def render(table: Crosstab, top: int = 5, label_chars: int = 40) -> str:
    """For a terminal: each node of A with its documents and the nodes of B holding the largest shares."""
    shares = table.row_shares
    totals = table.row_totals
    width = max((len(r) for r in table.rows), default=4)
    lines = [f"{len(table.rows)} nodes of A (depth {table.depth_a}) x {len(table.columns)} nodes of B (depth {table.depth_b}); "
             f"each row: A's documents, then the B nodes holding most of them"]
    for i, row in enumerate(table.rows):
        order = [j for j in np.argsort(-table.counts[i], kind="stable")[:top] if table.counts[i, j] > 0]
        cells = " · ".join(f"{printable(clip(table.column_labels[j], label_chars))} [{table.columns[j]}] {shares[i, j]:.0%}" for j in order)
        rest = int((table.counts[i] > 0).sum()) - len(order)
        lines.append(f"{row:<{width}}  {int(totals[i]):>7,}  {printable(clip(table.row_labels[i], label_chars))}")
        lines.append(f"{'':<{width}}  {'':>7}  -> {cells}{f' · +{rest} more' if rest > 0 else ''}")
    return "\n".join(lines)


__all__ = ["LONG_HEADER", "Crosstab", "check_same_documents", "crosstab", "cut", "long_rows", "render"]
