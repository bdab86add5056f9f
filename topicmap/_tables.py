"""A tree as tables: one row per document or per topic, as a pandas DataFrame when pandas is installed.

Columns, not rows, are built first (a DataFrame takes them without copying per row); without pandas
the same columns become a list of dicts. Nothing here changes the tree.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from topicmap.hierarchy.base.errors import TopicmapError
from topicmap.hierarchy.tree.topic_tree import Node, TopicTree

Columns = dict[str, list[Any]]


def document_columns(tree: TopicTree) -> Columns:
    """Per document, in the order it was given: id, title, its leaf and that leaf's label, its topic at
    every depth (``level_1`` ids and ``level_1_label`` labels, as in ``topicmap export --format csv``;
    None below a shallower leaf), and its 2-D map position."""
    depth = tree.depth
    store, arrays = tree.store, tree.arrays
    # columns, not documents: a sidecar tree reads its id, title and x / y columns and never a text
    leaf_numbers = arrays.doc_leaf
    columns: Columns = {"id": store.strings("id"), "title": store.strings("title")}
    per_leaf: dict[int, tuple[str, str, list[Node]]] = {}
    for number in np.unique(leaf_numbers).tolist():
        leaf_id = arrays.node_ids[number]
        per_leaf[number] = (leaf_id, tree.node(leaf_id).label, tree.path(leaf_id)[1:])
    codes = leaf_numbers.tolist()
    columns["leaf"] = [per_leaf[c][0] for c in codes]
    columns["label"] = [per_leaf[c][1] for c in codes]
    for d in range(1, depth + 1):
        at_depth = {c: (path[d - 1] if d <= len(path) else None) for c, (_, _, path) in per_leaf.items()}
        columns[f"level_{d}"] = [None if at_depth[c] is None else at_depth[c].id for c in codes]  # type: ignore[union-attr]
        columns[f"level_{d}_label"] = [None if at_depth[c] is None else at_depth[c].label for c in codes]  # type: ignore[union-attr]
    xs, ys = store.xy()
    columns["x"] = xs.tolist()
    columns["y"] = ys.tolist()
    return columns


def topic_columns(tree: TopicTree) -> Columns:
    """Per node, parents before children: id, parent, depth, size, label, summary, keywords, whether it
    is a leaf, and how its label was made (``keywords`` or ``llm``; ``failed`` if the last try failed)."""
    columns: Columns = {name: [] for name in ("id", "parent", "depth", "size", "label", "summary", "keywords", "is_leaf", "labeler", "label_status")}
    for node in tree.iter_nodes():
        columns["id"].append(node.id)
        columns["parent"].append(node.parent)
        columns["depth"].append(node.depth)
        columns["size"].append(node.size)
        columns["label"].append(node.label)
        columns["summary"].append(node.summary)
        columns["keywords"].append(list(node.keywords))
        columns["is_leaf"].append(tree.is_leaf(node.id))
        columns["labeler"].append(node.label_meta.labeler)
        columns["label_status"].append(node.label_meta.status)
    return columns


def trend_columns(tree: TopicTree, trends: Any, max_depth: int) -> Columns:
    """Per topic down to ``max_depth`` (parents first) and period of a :class:`topicmap.hierarchy.analysis.trends.Trends`:
    the CSV of ``topicmap trends`` plus depth and the topic's growth (share multiplier, 95% interval)."""
    import math

    names = ("node", "label", "depth", "period", "count", "share", "growth", "growth_low", "growth_high")
    columns: Columns = {name: [] for name in names}
    growth = trends.growth
    for k, node_id in enumerate(trends.node_ids):
        depth = int(trends.depth[k])
        if depth > max_depth:
            continue
        label = tree.node(node_id).label
        ratio = growth.ratio(k) if math.isfinite(growth.slope[k]) else (None, None, None)
        for p, period in enumerate(trends.labels):
            total = int(trends.totals[p])
            count = int(trends.counts[k, p])
            values = (node_id, label, depth, period, count, count / total if total else None, *ratio)
            for name, value in zip(names, values):
                columns[name].append(value)
    return columns


def as_table(columns: Columns, as_frame: bool | None) -> Any:
    """A DataFrame (``as_frame`` True, or None with pandas installed) or a list of dicts (False, or no pandas)."""
    if as_frame is not False:
        try:
            import pandas
        except ImportError:
            if as_frame:
                raise TopicmapError("as_frame=True needs pandas (pip install pandas); as_frame=False gives a list of dicts") from None
        else:
            return pandas.DataFrame(columns)
    names = list(columns)
    return [dict(zip(names, values, strict=True)) for values in zip(*columns.values(), strict=True)]
