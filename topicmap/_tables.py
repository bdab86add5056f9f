"""A tree as tables: one row per document or per topic, as a pandas DataFrame when pandas is installed.

Columns, not rows, are built first (a DataFrame takes them without copying per row); without pandas
the same columns become a list of dicts. Nothing here changes the tree.
"""

from __future__ import annotations

from typing import Any

from topicmap.hierarchy.base.errors import TopicmapError
from topicmap.hierarchy.tree.topic_tree import Node, TopicTree

Columns = dict[str, list[Any]]


def document_columns(tree: TopicTree) -> Columns:
    """Per document, in the order it was given: id, title, its leaf and that leaf's label, its topic at
    every depth (``level_1`` ids and ``level_1_label`` labels, as in ``topicmap export --format csv``;
    None below a shallower leaf), and its 2-D map position."""
    depth = tree.depth
    paths: dict[str, list[Node]] = {}
    columns: Columns = {"id": [], "title": [], "leaf": [], "label": []}
    for d in range(1, depth + 1):
        columns[f"level_{d}"] = []
        columns[f"level_{d}_label"] = []
    columns["x"] = []
    columns["y"] = []
    for doc in tree.documents:
        path = paths.get(doc.leaf)
        if path is None:
            path = paths[doc.leaf] = tree.path(doc.leaf)[1:]
        columns["id"].append(doc.id)
        columns["title"].append(doc.title)
        columns["leaf"].append(doc.leaf)
        columns["label"].append(tree.node(doc.leaf).label)
        for d in range(1, depth + 1):
            node = path[d - 1] if d <= len(path) else None
            columns[f"level_{d}"].append(node.id if node else None)
            columns[f"level_{d}_label"].append(node.label if node else None)
        columns["x"].append(doc.x)
        columns["y"].append(doc.y)
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
